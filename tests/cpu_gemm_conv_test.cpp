// Tests of the CPU backend's GEMM and convolution (OpenBLAS, oneDNN) against references in double.
#include <gtest/gtest.h>
#include <suanli/plugin_kit.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu_op.h"

namespace suanli::cpu {
namespace {

constexpr const char* kLibraries[] = {"openblas", "onednn", "auto"};

CpuConfig config(const std::string& library, const std::string& b_layout = "packed") {
  CpuConfig cfg;
  cfg.threads = 2;
  cfg.gemm_library = library;
  cfg.gemm_b_layout = b_layout;
  return cfg;
}

uint16_t to_half(double d) {
  return __builtin_bit_cast(uint16_t, static_cast<_Float16>(d));
}

double from_half(uint16_t h) {
  return static_cast<double>(__builtin_bit_cast(_Float16, h));
}

bool cpu_has(const char* feature) {
  __builtin_cpu_init();
  if (std::string(feature) == "avx512bf16") return __builtin_cpu_supports("avx512bf16");
  if (std::string(feature) == "avx512vnni") return __builtin_cpu_supports("avx512vnni");
  return false;
}

// fp32 -> bf16 with round-to-nearest-even (inputs here are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A buffer in its storage type, and the same values as doubles for the reference.
struct Tensor {
  std::vector<unsigned char> bytes;
  std::vector<double> values;
};

Tensor random_tensor(suanli_dtype t, size_t count, std::mt19937& rng) {
  Tensor x;
  x.bytes.resize(count * suanli::kit::dtype_bytes(t));
  x.values.resize(count);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  // Full int8 ranges where vpdpbusd does the work; without VNNI, oneDNN's u8 x s8 path goes
  // through 16-bit intermediate sums that saturate, so keep products small there.
  const bool vnni = cpu_has("avx512vnni");
  std::uniform_int_distribution<int> u8(0, vnni ? 255 : 63), s8(vnni ? -128 : -64, vnni ? 127 : 63);
  for (size_t i = 0; i < count; ++i) {
    switch (t) {
      case SUANLI_DTYPE_FP64: {
        const double v = real(rng);
        std::memcpy(&x.bytes[i * 8], &v, 8);
        x.values[i] = v;
        break;
      }
      case SUANLI_DTYPE_FP32: {
        const float v = real(rng);
        std::memcpy(&x.bytes[i * 4], &v, 4);
        x.values[i] = v;
        break;
      }
      case SUANLI_DTYPE_BF16: {
        const uint16_t h = to_bf16(real(rng));
        std::memcpy(&x.bytes[i * 2], &h, 2);
        x.values[i] = from_bf16(h);
        break;
      }
      case SUANLI_DTYPE_FP16: {
        const uint16_t h = to_half(real(rng));
        std::memcpy(&x.bytes[i * 2], &h, 2);
        x.values[i] = from_half(h);
        break;
      }
      case SUANLI_DTYPE_UINT8: {
        const uint8_t v = static_cast<uint8_t>(u8(rng));
        x.bytes[i] = v;
        x.values[i] = v;
        break;
      }
      case SUANLI_DTYPE_INT8: {
        const int8_t v = static_cast<int8_t>(s8(rng));
        std::memcpy(&x.bytes[i], &v, 1);
        x.values[i] = v;
        break;
      }
      default:
        ADD_FAILURE() << "no generator for dtype " << t;
    }
  }
  return x;
}

double element(suanli_dtype t, const std::vector<unsigned char>& bytes, size_t i) {
  switch (t) {
    case SUANLI_DTYPE_FP64: {
      double v;
      std::memcpy(&v, &bytes[i * 8], 8);
      return v;
    }
    case SUANLI_DTYPE_FP32: {
      float v;
      std::memcpy(&v, &bytes[i * 4], 4);
      return v;
    }
    case SUANLI_DTYPE_INT32: {
      int32_t v;
      std::memcpy(&v, &bytes[i * 4], 4);
      return v;
    }
    case SUANLI_DTYPE_FP16: {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      return from_half(h);
    }
    default:
      ADD_FAILURE() << "no reader for dtype " << t;
      return 0;
  }
}

// Unit roundoff of the accumulation: results must lie within 4 * terms * u * sum |a*b| of the
// exact value (a forward error bound for any summation order), integers exactly.
double unit_roundoff(suanli_dtype c_type) {
  if (c_type == SUANLI_DTYPE_FP64) return std::ldexp(1.0, -53);
  if (c_type == SUANLI_DTYPE_FP32) return std::ldexp(1.0, -24);
  if (c_type == SUANLI_DTYPE_FP16) return std::ldexp(1.0, -11);
  return 0;
}

// Compares out against ref; bound[i] is sum |a*b| of element i, terms the products summed.
void expect_close(suanli_dtype c_type, suanli_dtype compute, const std::vector<unsigned char>& out,
                  const std::vector<double>& ref, const std::vector<double>& bound, int64_t terms) {
  const double u = std::max(unit_roundoff(c_type), unit_roundoff(compute));
  int bad = 0;
  for (size_t i = 0; i < ref.size() && bad < 5; ++i) {
    const double got = element(c_type, out, i);
    const double tol = 4.0 * static_cast<double>(terms) * u * bound[i];
    if (!(std::fabs(got - ref[i]) <= tol)) {
      ADD_FAILURE() << "element " << i << ": got " << got << ", expected " << ref[i]
                    << " (tolerance " << tol << ")";
      ++bad;
    }
  }
}

struct GemmTypes {
  suanli_dtype a, b, c, compute;
};

constexpr GemmTypes kFp64{SUANLI_DTYPE_FP64, SUANLI_DTYPE_FP64, SUANLI_DTYPE_FP64,
                          SUANLI_DTYPE_FP64};
constexpr GemmTypes kFp32{SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32,
                          SUANLI_DTYPE_FP32};
constexpr GemmTypes kBf16{SUANLI_DTYPE_BF16, SUANLI_DTYPE_BF16, SUANLI_DTYPE_FP32,
                          SUANLI_DTYPE_FP32};
constexpr GemmTypes kInt8{SUANLI_DTYPE_UINT8, SUANLI_DTYPE_INT8, SUANLI_DTYPE_INT32,
                          SUANLI_DTYPE_INT32};
constexpr GemmTypes kFp16{SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP32,
                          SUANLI_DTYPE_FP32};

suanli_gemm_desc gemm_desc(const GemmTypes& t, int64_t m, int64_t n, int64_t k, int64_t batch,
                           bool ta, bool tb) {
  suanli_gemm_desc d{};
  d.struct_size = SUANLI_GEMM_DESC_SIZE;
  d.m = m;
  d.n = n;
  d.k = k;
  d.batch = batch;
  d.trans_a = ta ? 1 : 0;
  d.trans_b = tb ? 1 : 0;
  d.a_type = t.a;
  d.b_type = t.b;
  d.c_type = t.c;
  d.compute_type = t.compute;
  return d;
}

// Runs one GEMM through make_gemm and checks it. Returns whether the library supported it.
bool check_gemm(const GemmTypes& t, const std::string& library, bool ta, bool tb,
                const std::string& b_layout = "packed") {
  SCOPED_TRACE(library + (ta ? " A^T" : " A") + (tb ? " B^T" : " B") + ", B " + b_layout);
  const int64_t m = 37, n = 29, k = 53, batch = 2;
  std::mt19937 rng(1234);
  const Tensor a = random_tensor(t.a, batch * m * k, rng);
  const Tensor b = random_tensor(t.b, batch * k * n, rng);
  std::vector<unsigned char> c(batch * m * n * suanli::kit::dtype_bytes(t.c),
                               0x7f);  // poison, like the harness
  const suanli_gemm_desc d = gemm_desc(t, m, n, k, batch, ta, tb);
  std::string reason;
  auto a_mut = a.bytes, b_mut = b.bytes;
  std::unique_ptr<CpuOp> op =
      make_gemm(d, a_mut.data(), b_mut.data(), c.data(), config(library, b_layout), &reason);
  if (!op) {
    EXPECT_FALSE(reason.empty());
    return false;
  }
  EXPECT_FALSE(op->library.empty());
  EXPECT_FALSE(op->implementation.empty());
  op->run();
  EXPECT_EQ(a_mut, a.bytes) << "A changed";
  EXPECT_EQ(b_mut, b.bytes) << "B changed";
  std::vector<double> ref(batch * m * n), bound(batch * m * n);
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0, abs_sum = 0;
        for (int64_t l = 0; l < k; ++l) {
          const double av = a.values[p * m * k + (ta ? l * m + i : i * k + l)];
          const double bv = b.values[p * k * n + (tb ? j * k + l : l * n + j)];
          sum += av * bv;
          abs_sum += std::fabs(av * bv);
        }
        ref[(p * m + i) * n + j] = sum;
        bound[(p * m + i) * n + j] = abs_sum;
      }
  expect_close(t.c, t.compute, c, ref, bound, k);
  return true;
}

// Checks every transpose with every library; returns which libraries ran it.
std::vector<std::string> check_gemm_all(const GemmTypes& t) {
  std::vector<std::string> ran;
  for (const char* library : kLibraries) {
    int supported = 0;
    for (const char* layout : {"packed", "plain"})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) supported += check_gemm(t, library, ta, tb, layout);
    EXPECT_TRUE(supported == 0 || supported == 8) << library << ": support depends on transposes";
    if (supported) ran.push_back(library);
  }
  return ran;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

bool openblas_present() {
  return !openblas_version().empty();
}

TEST(CpuGemm, Fp64MatchesReference) {
  const auto ran = check_gemm_all(kFp64);
  EXPECT_EQ(contains(ran, "openblas"), openblas_present());
  EXPECT_FALSE(contains(ran, "onednn")) << "oneDNN 2.x has no fp64";
}

TEST(CpuGemm, Fp32MatchesReference) {
  const auto ran = check_gemm_all(kFp32);
  EXPECT_EQ(contains(ran, "openblas"), openblas_present());
  EXPECT_TRUE(contains(ran, "onednn"));
  EXPECT_TRUE(contains(ran, "auto"));
}

TEST(CpuGemm, Bf16MatchesReference) {
  const auto ran = check_gemm_all(kBf16);
  // Native bf16 only: on a CPU without AVX512_BF16 (or AMX) nothing may run it.
  EXPECT_EQ(contains(ran, "onednn"), cpu_has("avx512bf16"));
  EXPECT_EQ(contains(ran, "auto"), !ran.empty());
}

TEST(CpuGemm, Int8MatchesReferenceExactly) {
  const auto ran = check_gemm_all(kInt8);
  EXPECT_FALSE(contains(ran, "openblas")) << "OpenBLAS has no int8 GEMM";
  EXPECT_TRUE(contains(ran, "onednn"));
}

TEST(CpuGemm, AutoSaysHowItChose) {
  std::vector<float> a(64 * 64, 1.0f), b(64 * 64, 1.0f), c(64 * 64);
  std::string reason;
  auto op = make_gemm(gemm_desc(kFp32, 64, 64, 64, 1, false, false), a.data(), b.data(), c.data(),
                      config("auto"), &reason);
  ASSERT_TRUE(op) << reason;
  EXPECT_NE(op->implementation.find("(auto: "), std::string::npos) << op->implementation;
  if (openblas_present()) {
    EXPECT_NE(op->implementation.find(" vs onednn "), std::string::npos) << op->implementation;
  }
}

TEST(CpuGemm, OpenBlasSaysWhichKernels) {
  if (!openblas_present()) GTEST_SKIP() << "OpenBLAS not installed";
  std::string reason;
  auto op = make_gemm(gemm_desc(kFp64, 8, 8, 8, 1, false, false), nullptr, nullptr, nullptr,
                      config("openblas"), &reason);
  ASSERT_TRUE(op) << reason;
  EXPECT_EQ(op->library.rfind("openblas ", 0), 0u) << op->library;
  EXPECT_NE(op->library.find("(core "), std::string::npos) << op->library;
  EXPECT_NE(op->implementation.find("cblas_dgemm"), std::string::npos) << op->implementation;
}

TEST(CpuGemm, UnsupportedTypesSayWhy) {
  for (const char* library : kLibraries) {
    std::string reason;
    EXPECT_FALSE(make_gemm(gemm_desc(kFp16, 16, 16, 16, 1, false, false), nullptr, nullptr, nullptr,
                           config(library), &reason));
    EXPECT_NE(reason.find("fp16"), std::string::npos) << reason;
    reason.clear();
    const GemmTypes tf32{SUANLI_DTYPE_TF32, SUANLI_DTYPE_TF32, SUANLI_DTYPE_FP32,
                         SUANLI_DTYPE_FP32};
    EXPECT_FALSE(make_gemm(gemm_desc(tf32, 16, 16, 16, 1, false, false), nullptr, nullptr, nullptr,
                           config(library), &reason));
    EXPECT_FALSE(reason.empty());
    reason.clear();
    const GemmTypes bf16_acc{SUANLI_DTYPE_BF16, SUANLI_DTYPE_BF16, SUANLI_DTYPE_BF16,
                             SUANLI_DTYPE_BF16};
    EXPECT_FALSE(make_gemm(gemm_desc(bf16_acc, 16, 16, 16, 1, false, false), nullptr, nullptr,
                           nullptr, config(library), &reason));
    EXPECT_FALSE(reason.empty());
  }
}

constexpr GemmTypes kFp16Acc16{SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16,
                               SUANLI_DTYPE_FP16};

TEST(CpuGemm, Fp16WithFp16AccumulationMatchesReferenceOrSaysWhy) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512fp16")) {
    std::string reason;
    EXPECT_FALSE(make_gemm(gemm_desc(kFp16Acc16, 16, 16, 16, 1, false, false), nullptr, nullptr,
                           nullptr, config("auto"), &reason));
    EXPECT_NE(reason.find("lacks AVX512_FP16"), std::string::npos) << reason;
    GTEST_SKIP() << "CPU lacks AVX512_FP16, fp16 GEMM is unsupported here: " << reason;
  }
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) EXPECT_TRUE(check_gemm(kFp16Acc16, "auto", ta, tb));
  const GemmTypes c32{SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP16};
  EXPECT_TRUE(check_gemm(c32, "auto", false, false));
}

// oneDNN's choice of B layout is recorded; B packed at plan time is packed again when the
// harness writes B (fresh inputs), so the next run computes with the new B.
TEST(CpuGemm, OneDnnRecordsTheBLayoutAndRepacksWrittenB) {
  const int64_t n = 64;
  std::vector<float> a(n * n), b(n * n, 1.0f), c(n * n);
  for (int64_t i = 0; i < n * n; ++i) a[i] = static_cast<float>(i % 7);
  std::string reason;
  auto plain = make_gemm(gemm_desc(kFp32, n, n, n, 1, false, false), a.data(), b.data(), c.data(),
                         config("onednn", "plain"), &reason);
  ASSERT_TRUE(plain) << reason;
  EXPECT_NE(plain->implementation.find("B plain row-major (gemm_b_layout=plain)"),
            std::string::npos)
      << plain->implementation;
  auto op = make_gemm(gemm_desc(kFp32, n, n, n, 1, false, false), a.data(), b.data(), c.data(),
                      config("onednn"), &reason);
  ASSERT_TRUE(op) << reason;
  const bool packed = op->implementation.find("B packed once") != std::string::npos;
  EXPECT_TRUE(packed || op->implementation.find("oneDNN's choice") != std::string::npos)
      << op->implementation;
  std::fill(b.begin(), b.end(), 2.0f);
  op->input_written(b.data());
  op->run();
  for (int64_t i = 0; i < n; ++i) {
    double want = 0;
    for (int64_t k = 0; k < n; ++k) want += 2.0 * a[i * n + k];
    ASSERT_EQ(c[i * n], want) << "row " << i << " (" << op->implementation << ")";
  }
}

suanli_status thrown_status(const std::function<void()>& f) {
  try {
    f();
  } catch (const BackendError& e) {
    return e.status;
  }
  return SUANLI_OK;
}

TEST(CpuGemm, BadDescriptorsAreInvalidArguments) {
  std::string reason;
  auto status = [&](suanli_gemm_desc d) {
    return thrown_status([&] { make_gemm(d, nullptr, nullptr, nullptr, config("auto"), &reason); });
  };
  EXPECT_EQ(status(gemm_desc(kFp32, 0, 8, 8, 1, false, false)), SUANLI_INVALID_ARGUMENT);
  EXPECT_EQ(status(gemm_desc(kFp32, 8, -1, 8, 1, false, false)), SUANLI_INVALID_ARGUMENT);
  EXPECT_EQ(status(gemm_desc(kFp32, 8, 8, 8, 0, false, false)), SUANLI_INVALID_ARGUMENT);
  suanli_gemm_desc d = gemm_desc(kFp32, 8, 8, 8, 1, false, false);
  d.b_type = SUANLI_DTYPE_FP64;
  EXPECT_EQ(status(d), SUANLI_INVALID_ARGUMENT);
  d = gemm_desc(kInt8, 8, 8, 8, 1, false, false);
  d.a_type = SUANLI_DTYPE_INT8;  // backend.h allows s8 x s8; this backend answers UNSUPPORTED
  reason.clear();
  EXPECT_EQ(status(d), SUANLI_OK);
  EXPECT_NE(reason.find("u8 x s8"), std::string::npos) << reason;
  d.b_type = SUANLI_DTYPE_UINT8;  // no such int8 GEMM in backend.h
  EXPECT_EQ(status(d), SUANLI_INVALID_ARGUMENT);
  d = gemm_desc(kFp32, 8, 8, 8, 1, false, false);
  d.trans_a = 2;
  EXPECT_EQ(status(d), SUANLI_INVALID_ARGUMENT);
  d = gemm_desc(kFp32, 8, 8, 8, 1, false, false);
  d.struct_size = 8;
  EXPECT_EQ(status(d), SUANLI_INVALID_ARGUMENT);
}

// ---- conv2d ------------------------------------------------------------------------------------

struct ConvTypes {
  suanli_dtype src, wei, dst;
};

suanli_conv2d_desc conv_desc(const ConvTypes& t, int64_t n, int64_t c, int64_t h, int64_t w,
                             int64_t k, int64_t r, int64_t s, int64_t stride, int64_t pad,
                             int64_t dil, int64_t groups) {
  suanli_conv2d_desc d{};
  d.struct_size = SUANLI_CONV2D_DESC_SIZE;
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.k = k;
  d.r = r;
  d.s = s;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.dil_h = d.dil_w = dil;
  d.groups = groups;
  d.src_type = t.src;
  d.weight_type = t.wei;
  d.dst_type = t.dst;
  return d;
}

bool check_conv(const suanli_conv2d_desc& d) {
  const int64_t p = (d.h + 2 * d.pad_h - d.dil_h * (d.r - 1) - 1) / d.stride_h + 1;
  const int64_t q = (d.w + 2 * d.pad_w - d.dil_w * (d.s - 1) - 1) / d.stride_w + 1;
  const int64_t cg = d.c / d.groups, kg = d.k / d.groups;
  std::mt19937 rng(99);
  const Tensor src = random_tensor(d.src_type, d.n * d.h * d.w * d.c, rng);
  const Tensor wei = random_tensor(d.weight_type, d.k * cg * d.r * d.s, rng);
  std::vector<unsigned char> dst(d.n * p * q * d.k * suanli::kit::dtype_bytes(d.dst_type), 0x7f);
  auto src_mut = src.bytes, wei_mut = wei.bytes;
  std::string reason;
  auto op = make_conv2d(d, src_mut.data(), wei_mut.data(), dst.data(), config("auto"), &reason);
  if (!op) {
    EXPECT_FALSE(reason.empty());
    return false;
  }
  EXPECT_EQ(op->library.rfind("onednn ", 0), 0u) << op->library;
  op->run();
  EXPECT_EQ(src_mut, src.bytes) << "src changed";
  EXPECT_EQ(wei_mut, wei.bytes) << "weights changed";
  std::vector<double> ref(dst.size() / suanli::kit::dtype_bytes(d.dst_type)), bound(ref.size());
  for (int64_t in = 0; in < d.n; ++in)
    for (int64_t ip = 0; ip < p; ++ip)
      for (int64_t iq = 0; iq < q; ++iq)
        for (int64_t ik = 0; ik < d.k; ++ik) {
          const int64_t g = ik / kg;
          double sum = 0, abs_sum = 0;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t ir = 0; ir < d.r; ++ir)
              for (int64_t is = 0; is < d.s; ++is) {
                const int64_t ih = ip * d.stride_h - d.pad_h + ir * d.dil_h;
                const int64_t iw = iq * d.stride_w - d.pad_w + is * d.dil_w;
                if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                const double sv = src.values[((in * d.h + ih) * d.w + iw) * d.c + g * cg + ic];
                const double wv = wei.values[((ik * cg + ic) * d.r + ir) * d.s + is];
                sum += sv * wv;
                abs_sum += std::fabs(sv * wv);
              }
          const size_t o = ((in * p + ip) * q + iq) * d.k + ik;
          ref[o] = sum;
          bound[o] = abs_sum;
        }
  expect_close(d.dst_type, d.dst_type, dst, ref, bound, cg * d.r * d.s);
  return true;
}

constexpr ConvTypes kConvFp32{SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32};
constexpr ConvTypes kConvBf16{SUANLI_DTYPE_BF16, SUANLI_DTYPE_BF16, SUANLI_DTYPE_FP32};
constexpr ConvTypes kConvInt8{SUANLI_DTYPE_UINT8, SUANLI_DTYPE_INT8, SUANLI_DTYPE_INT32};

void check_conv_shapes(const ConvTypes& t, bool must_run) {
  {
    SCOPED_TRACE("stride 2, pad 1, dilation 2, groups 2");
    EXPECT_EQ(check_conv(conv_desc(t, 2, 8, 11, 9, 6, 3, 3, 2, 1, 2, 2)), must_run);
  }
  {
    SCOPED_TRACE("dense 3x3, stride 1, pad 1");
    EXPECT_EQ(check_conv(conv_desc(t, 1, 16, 7, 7, 32, 3, 3, 1, 1, 1, 1)), must_run);
  }
  {
    SCOPED_TRACE("1x1, 64 channels");
    EXPECT_EQ(check_conv(conv_desc(t, 1, 64, 5, 5, 64, 1, 1, 1, 0, 1, 1)), must_run);
  }
}

TEST(CpuConv, Fp32MatchesReference) {
  check_conv_shapes(kConvFp32, true);
}
TEST(CpuConv, Bf16MatchesReference) {
  check_conv_shapes(kConvBf16, cpu_has("avx512bf16"));
}
TEST(CpuConv, Int8MatchesReferenceExactly) {
  check_conv_shapes(kConvInt8, true);
}

TEST(CpuConv, Fp16IsUnsupportedWithAReason) {
  std::string reason;
  const ConvTypes fp16{SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP32};
  EXPECT_FALSE(make_conv2d(conv_desc(fp16, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1), nullptr, nullptr,
                           nullptr, config("auto"), &reason));
  EXPECT_NE(reason.find("fp16"), std::string::npos) << reason;
}

TEST(CpuConv, SupportCheckNeedsNoBuffers) {
  std::string reason;
  auto op = make_conv2d(conv_desc(kConvFp32, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1), nullptr, nullptr,
                        nullptr, config("auto"), &reason);
  ASSERT_TRUE(op) << reason;
  EXPECT_FALSE(op->implementation.empty());
}

TEST(CpuConv, BadDescriptorsAreInvalidArguments) {
  std::string reason;
  auto status = [&](suanli_conv2d_desc d) {
    return thrown_status(
        [&] { make_conv2d(d, nullptr, nullptr, nullptr, config("auto"), &reason); });
  };
  EXPECT_EQ(status(conv_desc(kConvFp32, 1, 6, 8, 8, 8, 3, 3, 1, 1, 1, 4)), SUANLI_INVALID_ARGUMENT)
      << "groups must divide c";
  EXPECT_EQ(status(conv_desc(kConvFp32, 0, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1)), SUANLI_INVALID_ARGUMENT);
  EXPECT_EQ(status(conv_desc(kConvFp32, 1, 8, 8, 8, 8, 3, 3, 0, 1, 1, 1)), SUANLI_INVALID_ARGUMENT);
  EXPECT_EQ(status(conv_desc(kConvFp32, 1, 8, 2, 2, 8, 5, 5, 1, 0, 1, 1)), SUANLI_INVALID_ARGUMENT)
      << "filter larger than input";
  suanli_conv2d_desc d = conv_desc(kConvFp32, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1);
  d.weight_type = SUANLI_DTYPE_BF16;
  EXPECT_EQ(status(d), SUANLI_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace suanli::cpu
