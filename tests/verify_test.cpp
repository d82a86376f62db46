// Tests of src/verify: correct results of simulated kernels pass, corrupted or mislabelled ones
// fail, for gemm (Freivalds), conv2d (reference), peak and stream (closed forms), and the inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/dtype.h"
#include "core/op.h"
#include "verify/verify.h"
#include "verify/verify_internal.h"

namespace suanli::verify {
namespace {

constexpr uint64_t kSeed = 20240611;

// ---- buffers ---------------------------------------------------------------------------------

using Buffers = std::vector<std::vector<char>>;

Buffers allocate(const OpDesc& op) {
  Buffers b;
  for (uint64_t bytes : op_buffer_bytes(op)) b.emplace_back(bytes, 0);
  return b;
}

Buffers filled(const OpDesc& op, uint64_t seed = kSeed) {
  Buffers b = allocate(op);
  std::vector<void*> ptrs;
  for (auto& v : b) ptrs.push_back(v.data());
  fill_inputs(op, ptrs.data(), seed);
  return b;
}

double get(const std::vector<char>& buf, Dtype t, int64_t i) {
  return internal::load_one(t, buf.data(), i);
}
void set(std::vector<char>& buf, Dtype t, int64_t i, double v) {
  store_from_double(buf.data(), t, static_cast<size_t>(i), v);
}

double rms(const std::vector<char>& buf, Dtype t, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += get(buf, t, i) * get(buf, t, i);
  return std::sqrt(s / static_cast<double>(n));
}

// ---- simulated kernels -----------------------------------------------------------------------

// How a simulated kernel accumulates.
enum class Acc {
  kFp64,       // fp64, natural order
  kFp32,       // fp32, natural order, product rounded then added (no FMA)
  kFp32Trunc,  // tensor-core-like: 8 exact products per step, added with truncation
  kFp16,       // fp16 accumulator
  kInt32,      // exact
};

Acc default_acc(Dtype d) {
  switch (d) {
    case Dtype::fp64:
      return Acc::kFp64;
    case Dtype::int8:
      return Acc::kInt32;
    default:
      return Acc::kFp32;
  }
}

using InputMap = double (*)(double);
double identity(double v) {
  return v;
}
double to_tf32(double v) {
  return round_to_tf32(static_cast<float>(v));
}
double to_tf32_truncated(double v) {
  auto f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u &= ~0x1fffu;
  std::memcpy(&f, &u, 4);
  return f;
}
double to_bf16(double v) {
  return bf16_to_float(float_to_bf16(static_cast<float>(v)));
}

InputMap default_input(Dtype d) {
  return d == Dtype::tf32 ? to_tf32 : identity;
}

// fp32 rounding toward zero of a double.
float truncate_to_float(double x) {
  float f = static_cast<float>(x);
  if (std::fabs(static_cast<double>(f)) > std::fabs(x)) f = std::nextafter(f, 0.0f);
  return f;
}

// op(X) of one batch as a row-major rows x cols matrix of doubles, mapped by `input`.
std::vector<double> op_matrix(const std::vector<char>& buf, Dtype t, int64_t offset, int64_t rows,
                              int64_t cols, bool trans, InputMap input) {
  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[static_cast<size_t>(r * cols + c)] =
          input(get(buf, t, offset + (trans ? c * rows + r : r * cols + c)));
  return out;
}

// c (m x n) = a (m x k) b (k x n), accumulated as `acc` does, in the natural k order.
void gemm_kernel(const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t n,
                 int64_t k, Acc acc, double* c) {
  std::vector<double> row(static_cast<size_t>(n));
  std::vector<float> rowf(static_cast<size_t>(n));
  std::vector<float> bf(b.begin(), b.end());
  std::vector<double> block(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    const double* ai = &a[static_cast<size_t>(i * k)];
    switch (acc) {
      case Acc::kFp64:
      case Acc::kInt32:  // int8 products and sums are exact in fp64 at these sizes
        std::fill(row.begin(), row.end(), 0.0);
        for (int64_t kk = 0; kk < k; ++kk)
          for (int64_t j = 0; j < n; ++j) row[j] += ai[kk] * b[static_cast<size_t>(kk * n + j)];
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = row[j];
        break;
      case Acc::kFp32:
        std::fill(rowf.begin(), rowf.end(), 0.0f);
        for (int64_t kk = 0; kk < k; ++kk) {
          const auto aik = static_cast<float>(ai[kk]);
          const float* bk = &bf[static_cast<size_t>(kk * n)];
          for (int64_t j = 0; j < n; ++j) rowf[j] += aik * bk[j];
        }
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = rowf[j];
        break;
      case Acc::kFp32Trunc:
        std::fill(rowf.begin(), rowf.end(), 0.0f);
        for (int64_t k0 = 0; k0 < k; k0 += 8) {
          std::fill(block.begin(), block.end(), 0.0);
          for (int64_t kk = k0; kk < std::min(k, k0 + 8); ++kk)
            for (int64_t j = 0; j < n; ++j) block[j] += ai[kk] * b[static_cast<size_t>(kk * n + j)];
          for (int64_t j = 0; j < n; ++j) rowf[j] = truncate_to_float(rowf[j] + block[j]);
        }
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = rowf[j];
        break;
      case Acc::kFp16:
        std::fill(rowf.begin(), rowf.end(), 0.0f);
        for (int64_t kk = 0; kk < k; ++kk) {
          const auto aik = static_cast<float>(ai[kk]);
          const float* bk = &bf[static_cast<size_t>(kk * n)];
          for (int64_t j = 0; j < n; ++j)
            rowf[j] = fp16_to_float(float_to_fp16(rowf[j] + aik * bk[j]));
        }
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = rowf[j];
        break;
    }
  }
}

OpDesc gemm_op(Dtype d, GemmShape s) {
  OpDesc op;
  op.kind = OpKind::gemm;
  op.dtype = d;
  op.shape = s;
  return op;
}

// Inputs from fill_inputs and C from a simulated kernel, for every batch.
struct GemmCase {
  OpDesc op;
  Buffers buf;
  OperandTypes t;
  int64_t c_elements() const { return op_buffer_elements(op)[2]; }
  Verification verify() const {
    return verify_gemm(op, buf[0].data(), buf[1].data(), buf[2].data(), kSeed + 1);
  }
};

GemmCase make_gemm(Dtype d, GemmShape s, Acc acc, InputMap input) {
  GemmCase g{gemm_op(d, s), {}, {}};
  g.buf = filled(g.op);
  g.t = operand_types(g.op);
  std::vector<double> c(static_cast<size_t>(s.m * s.n));
  for (int64_t batch = 0; batch < s.batch; ++batch) {
    const auto a = op_matrix(g.buf[0], g.t.a, batch * s.m * s.k, s.m, s.k, s.trans_a, input);
    const auto b = op_matrix(g.buf[1], g.t.b, batch * s.k * s.n, s.k, s.n, s.trans_b, input);
    gemm_kernel(a, b, s.m, s.n, s.k, acc, c.data());
    for (int64_t i = 0; i < s.m * s.n; ++i) set(g.buf[2], g.t.c, batch * s.m * s.n + i, c[i]);
  }
  return g;
}

GemmCase make_gemm(Dtype d, GemmShape s) {
  return make_gemm(d, s, default_acc(d), default_input(d));
}

const std::vector<Dtype> kGemmDtypes = {Dtype::fp64, Dtype::fp32, Dtype::tf32,    Dtype::fp16,
                                        Dtype::bf16, Dtype::int8, Dtype::fp8_e4m3};

// Correct cases are built once and shared (each 200x200x1000 one costs tens of milliseconds).
const GemmCase& shared_gemm(Dtype d, GemmShape s) {
  static std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, bool, bool>, GemmCase> cache;
  const auto key =
      std::make_tuple(static_cast<int>(d), s.m, s.n, s.k, s.batch, s.trans_a, s.trans_b);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_gemm(d, s)).first;
  return it->second;
}

const GemmShape kMedium{200, 200, 1000, 1, false, false};

// ---- gemm: correct results pass -------------------------------------------------------------

class GemmDtypeShape : public ::testing::TestWithParam<std::tuple<Dtype, int>> {};

const std::vector<GemmShape> kGemmShapes = {
    {64, 48, 300, 1, false, false}, {200, 200, 1000, 1, false, false},
    {64, 48, 300, 1, true, false},  {64, 48, 300, 1, false, true},
    {37, 53, 129, 3, true, true},   {1, 300, 17, 2, false, true},
};

TEST_P(GemmDtypeShape, CorrectResultPasses) {
  const auto [d, shape] = GetParam();
  const GemmCase& g = shared_gemm(d, kGemmShapes[static_cast<size_t>(shape)]);
  const Verification v = g.verify();
  EXPECT_TRUE(v.passed) << v.detail << " error " << v.error;
  EXPECT_EQ(v.method, "freivalds");
  if (d == Dtype::int8) {
    EXPECT_EQ(v.error, 0.0);
    EXPECT_EQ(v.bound, 0.0);
  } else {
    EXPECT_EQ(v.bound, 16.0);
    EXPECT_LT(v.error, 4.0) << "a kernel with plain rounding should keep well inside the bound";
  }
}

TEST_P(GemmDtypeShape, OneCorruptedElementFails) {
  const auto [d, shape] = GetParam();
  const GemmShape s = kGemmShapes[static_cast<size_t>(shape)];
  GemmCase g = shared_gemm(d, s);
  // 1% of the typical magnitude; tf32 needs 50%: its inputs are rounded to 11 bits, and
  // Freivalds sees the rounding noise of a whole row (sqrt(N) u_in |C|, about 11% at N = 200).
  const double typical = rms(g.buf[2], g.t.c, g.c_elements());
  const double delta = d == Dtype::int8 ? 1.0 : (d == Dtype::tf32 ? 0.5 : 0.01) * typical;
  const int64_t at = g.c_elements() - 1 - (s.m * s.n) / 3;  // in the last batch when batched
  set(g.buf[2], g.t.c, at, get(g.buf[2], g.t.c, at) + delta);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
  EXPECT_GT(v.error, v.bound);
}

std::string dtype_shape_name(const ::testing::TestParamInfo<std::tuple<Dtype, int>>& info) {
  return std::string(dtype_name(std::get<0>(info.param))) + "_shape" +
         std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, GemmDtypeShape,
                         ::testing::Combine(::testing::ValuesIn(kGemmDtypes),
                                            ::testing::Range(0, 6)),
                         dtype_shape_name);

// ---- gemm: faults and mislabels fail --------------------------------------------------------

class GemmDtype : public ::testing::TestWithParam<Dtype> {};

std::string dtype_param_name(const ::testing::TestParamInfo<Dtype>& info) {
  return std::string(dtype_name(info.param));
}

TEST_P(GemmDtype, ZeroedRowFails) {
  GemmCase g = shared_gemm(GetParam(), kMedium);
  for (int64_t j = 0; j < kMedium.n; ++j) set(g.buf[2], g.t.c, 77 * kMedium.n + j, 0.0);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
  EXPECT_NE(v.detail.find("row 77"), std::string::npos) << v.detail;
}

TEST_P(GemmDtype, PoisonedOrUntouchedOutputFails) {
  // The runner fills C with 0x7f bytes before the run: a huge finite value in fp32 and fp64
  // (whose squares overflow fp64), NaN in fp16, 2139062143 in int32.
  GemmCase g = shared_gemm(GetParam(), kGemmShapes[0]);
  std::fill(g.buf[2].begin(), g.buf[2].end(), static_cast<char>(0x7f));
  EXPECT_FALSE(g.verify().passed) << g.verify().detail;
  std::fill(g.buf[2].begin(), g.buf[2].end(), static_cast<char>(0));
  EXPECT_FALSE(g.verify().passed) << g.verify().detail;
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, GemmDtype, ::testing::ValuesIn(kGemmDtypes), dtype_param_name);

class GemmSubtleFault : public ::testing::TestWithParam<Dtype> {};

TEST_P(GemmSubtleFault, RowMissingItsLastTermFails) {
  // An off-by-one in the k loop of one row of tiles: C_ij lacks A_i,K-1 B_K-1,j, about
  // 1/sqrt(K) of |C_ij|. (Not for tf32: at this size it is within tf32's input rounding noise
  // summed over a row.)
  GemmCase g = shared_gemm(GetParam(), kMedium);
  const int64_t i = 123, k = kMedium.k, n = kMedium.n;
  const double a = get(g.buf[0], g.t.a, i * k + k - 1);
  for (int64_t j = 0; j < n; ++j) {
    const double b = get(g.buf[1], g.t.b, (k - 1) * n + j);
    set(g.buf[2], g.t.c, i * n + j, get(g.buf[2], g.t.c, i * n + j) - a * b);
  }
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
  EXPECT_NE(v.detail.find("row 123"), std::string::npos) << v.detail;
}

INSTANTIATE_TEST_SUITE_P(AllButTf32, GemmSubtleFault,
                         ::testing::Values(Dtype::fp64, Dtype::fp32, Dtype::fp16, Dtype::bf16,
                                           Dtype::int8, Dtype::fp8_e4m3),
                         dtype_param_name);

class GemmFloat : public ::testing::TestWithParam<Dtype> {};

TEST_P(GemmFloat, NanAndInfinityFail) {
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    GemmCase g = shared_gemm(GetParam(), kGemmShapes[0]);
    set(g.buf[2], g.t.c, 5, bad);
    const Verification v = g.verify();
    EXPECT_FALSE(v.passed) << v.detail;
    EXPECT_TRUE(std::isinf(v.error));
    EXPECT_NE(v.detail.find("NaN"), std::string::npos) << v.detail;
  }
}

INSTANTIATE_TEST_SUITE_P(FloatDtypes, GemmFloat,
                         ::testing::Values(Dtype::fp64, Dtype::fp32, Dtype::tf32, Dtype::fp16,
                                           Dtype::bf16, Dtype::fp8_e4m3),
                         dtype_param_name);

class GemmMatrixUnit : public ::testing::TestWithParam<Dtype> {};

TEST_P(GemmMatrixUnit, PassesWithTruncatingAccumulation) {
  // Matrix units that add blocks of exact products with truncation have a biased error that
  // grows like K; the model must still accept them, at a larger K too.
  const Dtype d = GetParam();
  for (const GemmShape& s : {kMedium, GemmShape{24, 24, 8192, 1, false, true}}) {
    const GemmCase g = make_gemm(d, s, Acc::kFp32Trunc, default_input(d));
    const Verification v = g.verify();
    EXPECT_TRUE(v.passed) << v.detail << " error " << v.error;
  }
}

INSTANTIATE_TEST_SUITE_P(NarrowInputs, GemmMatrixUnit,
                         ::testing::Values(Dtype::tf32, Dtype::fp16, Dtype::bf16, Dtype::fp8_e4m3),
                         dtype_param_name);

TEST(GemmMislabel, Fp32AccumulationCheckedAsFp64Fails) {
  const GemmCase g = make_gemm(Dtype::fp64, kMedium, Acc::kFp32, identity);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
  EXPECT_GT(v.error, 1e6) << "fp32 rounding is 2^29 times fp64's";
}

TEST(GemmMislabel, Bf16InputsCheckedAsFp32Fails) {
  const GemmCase g = make_gemm(Dtype::fp32, kMedium, Acc::kFp32, to_bf16);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
}

TEST(GemmMislabel, Tf32InputsCheckedAsFp32Fails) {
  for (InputMap tf32 : {to_tf32, to_tf32_truncated}) {
    const GemmCase g = make_gemm(Dtype::fp32, kMedium, Acc::kFp32, tf32);
    const Verification v = g.verify();
    EXPECT_FALSE(v.passed) << v.detail;
  }
}

TEST(GemmMislabel, Fp16AccumulationCheckedAsFp32AccumulationFails) {
  const GemmCase g = make_gemm(Dtype::fp16, kMedium, Acc::kFp16, identity);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
  // Labelled honestly (accumulate fp16, so C is fp16 too), the same arithmetic passes.
  GemmCase honest{gemm_op(Dtype::fp16, kMedium), {}, {}};
  honest.op.accumulate = Dtype::fp16;
  honest.t = operand_types(honest.op);
  ASSERT_EQ(honest.t.c, Dtype::fp16);
  honest.buf = allocate(honest.op);
  honest.buf[0] = g.buf[0];
  honest.buf[1] = g.buf[1];
  for (int64_t i = 0; i < g.c_elements(); ++i)
    set(honest.buf[2], Dtype::fp16, i, get(g.buf[2], g.t.c, i));
  const Verification h = honest.verify();
  EXPECT_TRUE(h.passed) << h.detail << " error " << h.error;
}

TEST(GemmTf32, TruncatedInputsPass) {
  // Some units drop the low 13 bits of fp32 inputs instead of rounding them.
  const GemmCase g = make_gemm(Dtype::tf32, kMedium, Acc::kFp32, to_tf32_truncated);
  const Verification v = g.verify();
  EXPECT_TRUE(v.passed) << v.detail << " error " << v.error;
}

TEST(GemmFp64, TinyCorruptionFails) {
  // fp64's tolerance is tight: a relative change of 1e-9 of one element is far outside it.
  GemmCase g = shared_gemm(Dtype::fp64, kMedium);
  const double typical = rms(g.buf[2], Dtype::fp64, g.c_elements());
  set(g.buf[2], Dtype::fp64, 4321, get(g.buf[2], Dtype::fp64, 4321) + 1e-9 * typical);
  const Verification v = g.verify();
  EXPECT_FALSE(v.passed) << v.detail;
}

TEST(GemmEveryBatch, CorruptionInAnyBatchFails) {
  const GemmShape s{37, 53, 129, 3, true, true};
  for (int64_t batch = 0; batch < s.batch; ++batch) {
    GemmCase g = shared_gemm(Dtype::fp32, s);
    const int64_t at = batch * s.m * s.n + 100;
    set(g.buf[2], Dtype::fp32, at, get(g.buf[2], Dtype::fp32, at) + 0.05);
    const Verification v = g.verify();
    EXPECT_FALSE(v.passed) << "batch " << batch << ": " << v.detail;
    EXPECT_NE(v.detail.find("of batch " + std::to_string(batch)), std::string::npos) << v.detail;
  }
}

TEST(GemmVectors, DetailAndDeterminism) {
  const GemmCase& g = shared_gemm(Dtype::fp32, kGemmShapes[0]);
  const Verification a = g.verify();
  const Verification b = g.verify();
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.detail, b.detail);
  EXPECT_NE(a.detail.find("3 vectors"), std::string::npos) << a.detail;
  const Verification one =
      verify_gemm(g.op, g.buf[0].data(), g.buf[1].data(), g.buf[2].data(), kSeed, 1);
  EXPECT_TRUE(one.passed);
  EXPECT_NE(one.detail.find("1 vectors"), std::string::npos) << one.detail;
}

// ---- conv2d ---------------------------------------------------------------------------------

OpDesc conv_op(Dtype d, Conv2dShape c) {
  OpDesc op;
  op.kind = OpKind::conv2d;
  op.dtype = d;
  op.shape = c;
  return op;
}

// dst of buf from a direct convolution of its src and weights accumulated in the op's compute
// precision, in (r, s, c) order.
Buffers make_conv_from(const OpDesc& op, Buffers buf) {
  const Conv2dShape& c = op.conv2d();
  const OperandTypes t = operand_types(op);
  const int64_t cg = c.c / c.groups, kg = c.k / c.groups, p = c.p(), q = c.q();
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t ip = 0; ip < p; ++ip)
      for (int64_t iq = 0; iq < q; ++iq)
        for (int64_t k = 0; k < c.k; ++k) {
          double acc64 = 0;
          float acc32 = 0;
          for (int64_t r = 0; r < c.r; ++r)
            for (int64_t s = 0; s < c.s; ++s) {
              const int64_t h = ip * c.stride_h - c.pad_h + r * c.dil_h;
              const int64_t w = iq * c.stride_w - c.pad_w + s * c.dil_w;
              if (h < 0 || h >= c.h || w < 0 || w >= c.w) continue;
              for (int64_t ic = 0; ic < cg; ++ic) {
                const double x =
                    get(buf[0], t.a, ((n * c.h + h) * c.w + w) * c.c + (k / kg) * cg + ic);
                const double wv = get(buf[1], t.b, ((k * cg + ic) * c.r + r) * c.s + s);
                acc64 += x * wv;
                acc32 += static_cast<float>(x) * static_cast<float>(wv);
              }
            }
          const double y = t.compute == Dtype::fp32 ? acc32 : acc64;
          set(buf[2], t.c, ((n * p + ip) * q + iq) * c.k + k, y);
        }
  return buf;
}

Buffers make_conv(const OpDesc& op) {
  return make_conv_from(op, filled(op));
}

Conv2dShape conv_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t r, int64_t s,
                       int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  Conv2dShape x;
  x.n = n, x.c = c, x.h = h, x.w = w, x.k = k, x.r = r, x.s = s;
  x.stride_h = x.stride_w = stride;
  x.pad_h = x.pad_w = pad;
  x.dil_h = x.dil_w = dil;
  x.groups = groups;
  return x;
}

const std::vector<Conv2dShape> kConvShapes = {
    conv_shape(2, 8, 9, 7, 6, 3, 3, 2, 1, 1, 2),    // strided, padded, 2 groups
    conv_shape(1, 4, 10, 11, 4, 3, 2, 1, 2, 2, 1),  // dilated, non-square filter
    conv_shape(2, 6, 8, 8, 6, 3, 3, 1, 1, 1, 6),    // depthwise
    conv_shape(1, 64, 6, 6, 8, 3, 3, 1, 1, 1, 1),   // K = 576 terms per point
};

class ConvDtypeShape : public ::testing::TestWithParam<std::tuple<Dtype, int>> {};

TEST_P(ConvDtypeShape, CorrectPassesOneCorruptedPointFails) {
  const auto [d, shape] = GetParam();
  const OpDesc op = conv_op(d, kConvShapes[static_cast<size_t>(shape)]);
  const OperandTypes t = operand_types(op);
  Buffers buf = make_conv(op);
  const Verification ok = verify_conv2d(op, buf[0].data(), buf[1].data(), buf[2].data(), kSeed);
  EXPECT_TRUE(ok.passed) << ok.detail << " error " << ok.error;
  EXPECT_EQ(ok.method, "reference");
  EXPECT_NE(ok.detail.find("all "), std::string::npos) << ok.detail;
  if (d == Dtype::int8) {
    EXPECT_EQ(ok.error, 0.0);
  }

  const int64_t outputs = op_buffer_elements(op)[2];
  const double typical = rms(buf[2], t.c, outputs);
  for (int64_t at : {int64_t{0}, outputs / 2 + 1, outputs - 1}) {
    Buffers bad = buf;
    const double delta = d == Dtype::int8 ? 1.0 : 0.01 * typical;
    set(bad[2], t.c, at, get(bad[2], t.c, at) + delta);
    const Verification v = verify_conv2d(op, bad[0].data(), bad[1].data(), bad[2].data(), kSeed);
    EXPECT_FALSE(v.passed) << "point " << at << ": " << v.detail;
    EXPECT_GT(v.error, v.bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvDtypeShape,
                         ::testing::Combine(::testing::Values(Dtype::fp32, Dtype::bf16, Dtype::fp16,
                                                              Dtype::int8),
                                            ::testing::Range(0, 4)),
                         dtype_shape_name);

TEST(Conv, SampleAlwaysHoldsTheCorners) {
  const OpDesc op = conv_op(Dtype::fp32, conv_shape(2, 16, 20, 20, 8, 3, 3, 1, 1, 1, 1));
  const Conv2dShape& c = op.conv2d();
  Buffers buf = make_conv(op);
  const int64_t points = 512;  // of 6400
  const Verification ok =
      verify_conv2d(op, buf[0].data(), buf[1].data(), buf[2].data(), kSeed, points);
  EXPECT_TRUE(ok.passed) << ok.detail;
  EXPECT_NE(ok.detail.find("of 6400 points"), std::string::npos) << ok.detail;
  // A corrupted corner of any (image, channel) plane is caught, whatever the seed.
  for (uint64_t seed : {1, 2, 3}) {
    Buffers bad = buf;
    const int64_t at = ((1 * c.p() + c.p() - 1) * c.q() + 0) * c.k + 5;  // (1, P-1, 0, 5)
    set(bad[2], Dtype::fp32, at, get(bad[2], Dtype::fp32, at) * 1.01 + 0.01);
    const Verification v =
        verify_conv2d(op, bad[0].data(), bad[1].data(), bad[2].data(), seed, points);
    EXPECT_FALSE(v.passed) << v.detail;
    EXPECT_NE(v.detail.find("(1,19,0,5)"), std::string::npos) << v.detail;
  }
}

TEST(Conv, NanAnywhereFailsEvenOutsideTheSample) {
  const OpDesc op = conv_op(Dtype::fp32, conv_shape(2, 16, 20, 20, 8, 3, 3, 1, 1, 1, 1));
  Buffers buf = make_conv(op);
  set(buf[2], Dtype::fp32, 3333, std::numeric_limits<double>::quiet_NaN());
  const Verification v = verify_conv2d(op, buf[0].data(), buf[1].data(), buf[2].data(), kSeed, 16);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.detail.find("NaN"), std::string::npos) << v.detail;
}

TEST(Conv, Bf16InputsCheckedAsFp32Fails) {
  // fp32 conv whose kernel rounded src and weights to bf16 (a mislabelled bf16 kernel).
  const OpDesc op = conv_op(Dtype::fp32, kConvShapes[3]);
  Buffers buf = make_conv(op);
  Buffers rounded = buf;
  for (int i = 0; i < 2; ++i)
    for (int64_t e = 0; e < op_buffer_elements(op)[static_cast<size_t>(i)]; ++e)
      set(rounded[static_cast<size_t>(i)], Dtype::fp32, e, to_bf16(get(buf[i], Dtype::fp32, e)));
  const Buffers out = make_conv_from(op, rounded);
  const Verification v = verify_conv2d(op, buf[0].data(), buf[1].data(), out[2].data(), kSeed);
  EXPECT_FALSE(v.passed) << v.detail;
}

// ---- peak -----------------------------------------------------------------------------------

OpDesc peak_op(Dtype d, int64_t elements, int64_t depth, Dtype acc = Dtype::invalid) {
  OpDesc op;
  op.kind = OpKind::peak;
  op.dtype = d;
  op.accumulate = acc;
  op.shape = PeakShape{elements, depth};
  return op;
}

// C from the ABI's chain, run in the native types.
Buffers make_peak(const OpDesc& op, double alpha, double beta) {
  Buffers buf = filled(op);
  const Dtype acc = operand_types(op).c;
  const PeakShape& p = op.peak();
  for (int64_t e = 0; e < p.elements; ++e) {
    const double a0 = get(buf[0], acc, e);
    double x = a0;
    if (op.dtype == Dtype::int8) {
      int32_t xi = static_cast<int32_t>(a0);
      for (int64_t t = 0; t < p.depth; ++t)
        xi += static_cast<int32_t>(static_cast<uint8_t>(alpha)) * static_cast<int8_t>(beta);
      x = xi;
    } else if (acc == Dtype::fp64) {
      for (int64_t t = 0; t < p.depth; ++t) x = std::fma(alpha, beta, x);
    } else if (acc == Dtype::fp32) {
      float in_a, in_b;
      if (op.dtype == Dtype::bf16) {
        in_a = bf16_to_float(float_to_bf16(static_cast<float>(alpha)));
        in_b = bf16_to_float(float_to_bf16(static_cast<float>(beta)));
      } else if (op.dtype == Dtype::fp16) {
        in_a = fp16_to_float(float_to_fp16(static_cast<float>(alpha)));
        in_b = fp16_to_float(float_to_fp16(static_cast<float>(beta)));
      } else {
        in_a = static_cast<float>(alpha), in_b = static_cast<float>(beta);
      }
      auto xf = static_cast<float>(x);
      for (int64_t t = 0; t < p.depth; ++t) xf = std::fma(in_a, in_b, xf);
      x = xf;
    } else {  // fp16 accumulator: the float sum of an fp16 value and an exact product, rounded
      const float in_a = fp16_to_float(float_to_fp16(static_cast<float>(alpha)));
      const float in_b = fp16_to_float(float_to_fp16(static_cast<float>(beta)));
      auto xf = static_cast<float>(x);
      for (int64_t t = 0; t < p.depth; ++t) xf = fp16_to_float(float_to_fp16(xf + in_a * in_b));
      x = xf;
    }
    set(buf[1], acc, e, x);
  }
  return buf;
}

struct PeakParam {
  Dtype dtype;
  Dtype accumulate;
  double alpha, beta;
};

class Peak : public ::testing::TestWithParam<PeakParam> {};

TEST_P(Peak, CorrectPassesCorruptedFails) {
  const PeakParam pp = GetParam();
  const OpDesc op = peak_op(pp.dtype, 4096, 4096, pp.accumulate);
  Buffers buf = make_peak(op, pp.alpha, pp.beta);
  const Verification ok = verify_peak(op, buf[0].data(), buf[1].data(), pp.alpha, pp.beta);
  EXPECT_TRUE(ok.passed) << ok.detail;
  EXPECT_EQ(ok.error, 0.0);
  EXPECT_EQ(ok.bound, 0.0);
  EXPECT_NE(ok.detail.find("16 distinct"), std::string::npos) << ok.detail;

  const Dtype acc = operand_types(op).c;
  // 8 is a few ulps even where an fp16 chain stalls (2048, ulp 2).
  set(buf[1], acc, 777, get(buf[1], acc, 777) + 8);
  const Verification v = verify_peak(op, buf[0].data(), buf[1].data(), pp.alpha, pp.beta);
  EXPECT_FALSE(v.passed) << v.detail;
  EXPECT_NE(v.detail.find("element 777"), std::string::npos) << v.detail;
  // A backend that skipped the work leaves A's values (or the poison) in C.
  Buffers skipped = buf;
  skipped[1] = skipped[0];
  EXPECT_FALSE(verify_peak(op, skipped[0].data(), skipped[1].data(), pp.alpha, pp.beta).passed);
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, Peak,
    ::testing::Values(PeakParam{Dtype::fp64, Dtype::invalid, 1, 1},
                      PeakParam{Dtype::fp64, Dtype::invalid, 0.1, 0.3},  // simulated chain
                      PeakParam{Dtype::fp32, Dtype::invalid, 1, 1},
                      PeakParam{Dtype::fp32, Dtype::invalid, 0.1, 0.3},
                      PeakParam{Dtype::fp16, Dtype::fp32, 1, 1},     // fp32 accumulator on request
                      PeakParam{Dtype::fp16, Dtype::fp16, 1, 1},     // stalls at 2048
                      PeakParam{Dtype::fp16, Dtype::fp16, 0.1, 0.3},
                      PeakParam{Dtype::bf16, Dtype::invalid, 1, 1},
                      PeakParam{Dtype::bf16, Dtype::invalid, 0.1, 0.3},
                      PeakParam{Dtype::int8, Dtype::invalid, 3, -2}),
    [](const ::testing::TestParamInfo<PeakParam>& info) {
      return std::string(dtype_name(info.param.dtype)) + "_acc" +
             std::string(dtype_name(
                 operand_types(peak_op(info.param.dtype, 1, 1, info.param.accumulate)).c)) +
             (info.param.alpha == 1 || info.param.alpha == 3 ? "_exact" : "_rounded");
    });

TEST(PeakChain, Fp16AccumulatorStallsAt2048) {
  // 2048 + 1 is a tie in fp16 and rounds back to 2048: the expected value is not A + depth.
  const OpDesc op = peak_op(Dtype::fp16, 4096, 4096, Dtype::fp16);
  Buffers buf = make_peak(op, 1, 1);
  EXPECT_EQ(get(buf[1], Dtype::fp16, 0), 2048.0);
  const Verification v = verify_peak(op, buf[0].data(), buf[1].data(), 1, 1);
  EXPECT_TRUE(v.passed) << v.detail;
  EXPECT_NE(v.detail.find("simulated"), std::string::npos) << v.detail;
  // The naive closed form A + depth would be wrong; it must fail.
  for (int64_t e = 0; e < 4096; ++e)
    set(buf[1], Dtype::fp16, e, get(buf[0], Dtype::fp16, e) + 4096);
  EXPECT_FALSE(verify_peak(op, buf[0].data(), buf[1].data(), 1, 1).passed);
}

// ---- stream ---------------------------------------------------------------------------------

OpDesc stream_op(Dtype d, StreamKind k, int64_t n) {
  OpDesc op;
  op.kind = OpKind::stream;
  op.dtype = d;
  op.shape = StreamShape{k, n};
  return op;
}

// C as a backend computes it; `fused` triad uses one FMA.
Buffers make_stream(const OpDesc& op, double s, bool fused) {
  Buffers buf = filled(op);
  const Dtype t = op.dtype;
  for (int64_t i = 0; i < op.stream().n; ++i) {
    const double a = get(buf[0], t, i), b = get(buf[1], t, i);
    double c = 0;
    if (t == Dtype::fp64) {
      switch (op.stream().kind) {
        case StreamKind::copy:
          c = a;
          break;
        case StreamKind::scale:
          c = s * a;
          break;
        case StreamKind::add:
          c = a + b;
          break;
        case StreamKind::triad:
          c = fused ? std::fma(s, b, a) : a + s * b;
          break;
      }
    } else {  // fp32
      const auto af = static_cast<float>(a), bf = static_cast<float>(b);
      const auto sf = static_cast<float>(s);
      switch (op.stream().kind) {
        case StreamKind::copy:
          c = af;
          break;
        case StreamKind::scale:
          c = sf * af;
          break;
        case StreamKind::add:
          c = af + bf;
          break;
        case StreamKind::triad:
          c = fused ? std::fma(sf, bf, af) : af + sf * bf;
          break;
      }
    }
    set(buf[2], t, i, c);
  }
  return buf;
}

class Stream : public ::testing::TestWithParam<std::tuple<Dtype, StreamKind>> {};

TEST_P(Stream, CorrectPassesOffByAFewUlpFails) {
  const auto [d, kind] = GetParam();
  const OpDesc op = stream_op(d, kind, 100000);
  for (bool fused : {false, true}) {
    Buffers buf = make_stream(op, 3.0, fused);
    const Verification ok = verify_stream(op, buf[0].data(), buf[1].data(), buf[2].data(), 3.0);
    EXPECT_TRUE(ok.passed) << ok.detail << " error " << ok.error;
    if (kind != StreamKind::triad) {
      EXPECT_EQ(ok.error, 0.0) << ok.detail;
    }

    // Four ulps off in one element (a wrong value, not a rounding difference).
    const double c = get(buf[2], d, 4242);
    double bad = c;
    for (int i = 0; i < 4; ++i)
      bad = d == Dtype::fp64 ? std::nextafter(bad, 1e300)
                             : std::nextafter(static_cast<float>(bad), 1e30f);
    set(buf[2], d, 4242, bad);
    const Verification v = verify_stream(op, buf[0].data(), buf[1].data(), buf[2].data(), 3.0);
    EXPECT_FALSE(v.passed) << v.detail;
    EXPECT_NE(v.detail.find("element 4242"), std::string::npos) << v.detail;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, Stream,
                         ::testing::Combine(::testing::Values(Dtype::fp64, Dtype::fp32),
                                            ::testing::Values(StreamKind::copy, StreamKind::scale,
                                                              StreamKind::add, StreamKind::triad)),
                         [](const ::testing::TestParamInfo<std::tuple<Dtype, StreamKind>>& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_" +
                                  std::string(stream_kind_name(std::get<1>(info.param)));
                         });

TEST(StreamCopy, OneUlpAndNanFail) {
  const OpDesc op = stream_op(Dtype::fp32, StreamKind::copy, 5000);
  Buffers buf = make_stream(op, 3.0, false);
  Buffers ulp = buf;
  set(ulp[2], Dtype::fp32, 17,
      std::nextafter(static_cast<float>(get(ulp[2], Dtype::fp32, 17)), 9.f));
  EXPECT_FALSE(verify_stream(op, ulp[0].data(), ulp[1].data(), ulp[2].data(), 3.0).passed);
  set(buf[2], Dtype::fp32, 4999, std::numeric_limits<double>::quiet_NaN());
  const Verification v = verify_stream(op, buf[0].data(), buf[1].data(), buf[2].data(), 3.0);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.detail.find("NaN"), std::string::npos) << v.detail;
}

TEST(StreamTriad, UnfusedAgainstTheWrongScalarFails) {
  const OpDesc op = stream_op(Dtype::fp64, StreamKind::triad, 1000);
  Buffers buf = make_stream(op, 3.0, false);
  EXPECT_FALSE(verify_stream(op, buf[0].data(), buf[1].data(), buf[2].data(), 3.0000001).passed);
}

// ---- inputs ---------------------------------------------------------------------------------

TEST(Inputs, DeterministicPerSeedAndIndependentOfThreads) {
  const OpDesc op = gemm_op(Dtype::bf16, GemmShape{300, 200, 700});
  const Buffers a = filled(op, 7), b = filled(op, 7), c = filled(op, 8);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(a[1], b[1]);
  EXPECT_NE(a[0], c[0]);
  EXPECT_NE(a[0], std::vector<char>(a[0].size(), 0)) << "filled at all";
  EXPECT_EQ(a[2], std::vector<char>(a[2].size(), 0)) << "the output is left alone";
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Buffers single = filled(op, 7);
  omp_set_num_threads(threads);
  EXPECT_EQ(single[0], a[0]);
  EXPECT_EQ(single[1], a[1]);
#endif
}

TEST(Inputs, RangesPerType) {
  {  // floating: [-1, 1], both signs, values of the type
    const OpDesc op = gemm_op(Dtype::fp16, GemmShape{100, 100, 100});
    const Buffers buf = filled(op);
    double lo = 2, hi = -2;
    for (int64_t i = 0; i < 10000; ++i) {
      const double v = get(buf[0], Dtype::fp16, i);
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    EXPECT_GE(lo, -1.0);
    EXPECT_LT(lo, -0.99);
    EXPECT_LE(hi, 1.0);
    EXPECT_GT(hi, 0.99);
  }
  {  // int8 gemm: A uint8 over 0..255, B int8 over -128..127
    const OpDesc op = gemm_op(Dtype::int8, GemmShape{100, 100, 100});
    const Buffers buf = filled(op);
    double alo = 1e9, ahi = -1e9, blo = 1e9, bhi = -1e9;
    for (int64_t i = 0; i < 10000; ++i) {
      alo = std::min(alo, get(buf[0], Dtype::uint8, i)),
      ahi = std::max(ahi, get(buf[0], Dtype::uint8, i));
      blo = std::min(blo, get(buf[1], Dtype::int8, i)),
      bhi = std::max(bhi, get(buf[1], Dtype::int8, i));
    }
    EXPECT_EQ(alo, 0);
    EXPECT_EQ(ahi, 255);
    EXPECT_EQ(blo, -128);
    EXPECT_EQ(bhi, 127);
  }
  {  // peak: integers 0..15 in the accumulator type
    const OpDesc op = peak_op(Dtype::bf16, 4096, 64);
    const Buffers buf = filled(op);
    ASSERT_EQ(buf[0].size(), 4096u * 4);  // fp32 accumulators
    for (int64_t i = 0; i < 4096; ++i) {
      const double v = get(buf[0], Dtype::fp32, i);
      EXPECT_TRUE(v >= 0 && v <= 15 && v == std::floor(v)) << v;
    }
  }
  {  // stream: [0.5, 2]
    const OpDesc op = stream_op(Dtype::fp64, StreamKind::triad, 10000);
    const Buffers buf = filled(op);
    for (int b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 10000; ++i) {
        const double v = get(buf[static_cast<size_t>(b)], Dtype::fp64, i);
        EXPECT_TRUE(v >= 0.5 && v <= 2.0) << v;
      }
  }
}

// ---- internals ------------------------------------------------------------------------------

TEST(Rounding, MatchesTheCoreConversions) {
  uint64_t state = 99;
  for (int i = 0; i < 100000; ++i) {
    const double v = std::ldexp(
        2.0 * static_cast<double>(internal::splitmix64(state) >> 11) / 9007199254740992.0 - 1.0,
        static_cast<int>(internal::splitmix64(state) % 60) - 30);
    const auto f = static_cast<float>(v);
    EXPECT_EQ(internal::round_to_type(f, Dtype::bf16), bf16_to_float(float_to_bf16(f)));
    EXPECT_EQ(internal::round_to_type(f, Dtype::fp16), fp16_to_float(float_to_fp16(f)));
    EXPECT_EQ(internal::round_to_type(f, Dtype::tf32), round_to_tf32(f));
  }
  EXPECT_EQ(internal::round_to_type(70000, Dtype::fp16), std::numeric_limits<double>::infinity());
  EXPECT_EQ(internal::round_to_type(1000, Dtype::fp8_e4m3), 448.0);  // saturates
}

TEST(Rounding, AddRoundsOnce) {
  EXPECT_EQ(internal::add_rounded(2048, 1, Dtype::fp16), 2048);  // tie to even
  EXPECT_EQ(internal::add_rounded(2050, 1, Dtype::fp16), 2052);  // tie to even, upwards
  // 1 + 2^-11 + 2^-60 is just above the fp16 tie: the fp64 sum alone would round to the tie.
  EXPECT_EQ(internal::add_rounded(1 + std::ldexp(1.0, -11), std::ldexp(1.0, -60), Dtype::fp16),
            1 + std::ldexp(1.0, -10));
}

TEST(Fp8, TableRoundTrips) {
  for (Dtype t : {Dtype::fp8_e4m3, Dtype::fp8_e5m2}) {
    const float* table = internal::fp8_table(t);
    for (int b = 0; b < 256; ++b) {
      if (!std::isfinite(table[b])) continue;
      if (table[b] == 0 && b != 0) continue;  // -0 maps to itself but compares equal to +0
      EXPECT_EQ(internal::fp8_from_double(t, table[b]), b) << dtype_name(t) << " " << b;
    }
  }
  EXPECT_EQ(internal::fp8_table(Dtype::fp8_e4m3)[0x7e], 448.0f);
  EXPECT_EQ(internal::fp8_table(Dtype::fp8_e5m2)[0x7b], 57344.0f);
}

}  // namespace
}  // namespace suanli::verify
