// The CPU backend's backward ops (the training step's: convolution backward data / weights with
// diff bias, max/avg pooling backward, relu backward) through the plugin ABI, against host
// references in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "harness/backend_host.h"

using namespace suanli;

namespace {

std::unique_ptr<Backend> cpu() {
  return load_backend_file(std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cpu.so",
                           {{"threads", "2"}});
}

std::vector<float> seeded(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  std::vector<float> v(n);
  std::generate(v.begin(), v.end(), [&] { return ud(rng); });
  return v;
}

// Plans `op` over fp32 buffers holding `bufs` (outputs: any contents), runs it once and returns
// the buffers' contents after the run.
std::vector<std::vector<float>> run_op(Backend& b, const suanli_op_desc& op,
                                       std::vector<std::vector<float>> bufs) {
  std::vector<std::unique_ptr<DeviceBuffer>> dev;
  std::vector<suanli_buffer> handles;
  for (const auto& v : bufs) {
    dev.push_back(b.alloc(0, v.size() * sizeof(float)));
    dev.back()->upload(v.data());
    handles.push_back(dev.back()->handle());
  }
  suanli_plan h = nullptr;
  b.check(b.api()->plan(b.context(), 0, &op, handles.data(), handles.size(), &h, nullptr), "plan");
  DevicePlan plan(&b, h, "", "");
  b.execute({&plan}, 1);
  for (size_t i = 0; i < bufs.size(); ++i) dev[i]->download(bufs[i].data());
  return bufs;
}

double rel_l2(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

struct ConvCase {
  int64_t n, c, h, w, k, r, stride, pad;
};

suanli_conv2d_layer_desc conv_desc(const ConvCase& t, suanli_prop prop, bool bias,
                                   suanli_dtype type = SUANLI_DTYPE_FP32) {
  suanli_conv2d_layer_desc d{};
  d.struct_size = SUANLI_CONV2D_LAYER_DESC_SIZE;
  d.conv = {SUANLI_CONV2D_DESC_SIZE,
            t.n,
            t.c,
            t.h,
            t.w,
            t.k,
            t.r,
            t.r,
            t.stride,
            t.stride,
            t.pad,
            t.pad,
            1,
            1,
            1,
            type,
            type,
            type};
  d.prop = prop;
  d.epilogue.struct_size = SUANLI_EPILOGUE_SIZE;
  d.epilogue.alpha = 1;
  d.epilogue.bias = bias ? 1 : 0;
  d.quant = {SUANLI_QUANT_SIZE, 1, 1, 1, 1};
  return d;
}

// The op descriptor whose `member` points at `d`.
template <typename Desc>
suanli_op_desc op_of(suanli_op_kind kind, const Desc* suanli_op_desc::*member, const Desc* d) {
  suanli_op_desc op{};
  op.struct_size = SUANLI_OP_DESC_SIZE;
  op.kind = kind;
  op.*member = d;
  return op;
}

suanli_op_desc op_of(const suanli_conv2d_layer_desc* c) {
  return op_of(SUANLI_OP_CONV2D_LAYER, &suanli_op_desc::conv2d_layer, c);
}

}  // namespace

// diff_src(n,ih,iw,c) = sum over (p,q,r,s) with ih = p*stride - pad + r (and likewise w) of
// diff_dst(n,p,q,k) * W(k,c,r,s); diff_W(k,c,r,s) = sum over n,p,q of src * diff_dst;
// diff_bias(k) = sum over n,p,q of diff_dst.
TEST(ModelBackwardOps, ConvolutionBackwardDataAndWeightsMatchReference) {
  auto b = cpu();
  for (const ConvCase& t : {ConvCase{2, 5, 7, 6, 4, 3, 2, 1}, ConvCase{3, 16, 8, 8, 24, 1, 2, 0},
                            ConvCase{1, 3, 11, 11, 8, 7, 2, 3}}) {
    const int64_t P = (t.h + 2 * t.pad - t.r) / t.stride + 1,
                  Q = (t.w + 2 * t.pad - t.r) / t.stride + 1;
    const auto src = seeded(static_cast<size_t>(t.n * t.h * t.w * t.c), 1);
    const auto wei = seeded(static_cast<size_t>(t.k * t.c * t.r * t.r), 2);
    const auto dd = seeded(static_cast<size_t>(t.n * P * Q * t.k), 3);
    std::vector<double> rdx(src.size(), 0.0), rdw(wei.size(), 0.0), rdb(t.k, 0.0);
    for (int64_t n = 0; n < t.n; ++n)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t k = 0; k < t.k; ++k) {
            const double g = dd[static_cast<size_t>(((n * P + p) * Q + q) * t.k + k)];
            rdb[static_cast<size_t>(k)] += g;
            for (int64_t r = 0; r < t.r; ++r)
              for (int64_t s = 0; s < t.r; ++s) {
                const int64_t ih = p * t.stride - t.pad + r, iw = q * t.stride - t.pad + s;
                if (ih < 0 || ih >= t.h || iw < 0 || iw >= t.w) continue;
                for (int64_t c = 0; c < t.c; ++c) {
                  const size_t xi = static_cast<size_t>(((n * t.h + ih) * t.w + iw) * t.c + c);
                  const size_t wi = static_cast<size_t>(((k * t.c + c) * t.r + r) * t.r + s);
                  rdx[xi] += g * wei[wi];
                  rdw[wi] += g * src[xi];
                }
              }
          }
    const auto bd = conv_desc(t, SUANLI_PROP_BACKWARD_DATA, false);
    auto out = run_op(*b, op_of(&bd), {dd, wei, std::vector<float>(src.size(), 7.f)});
    EXPECT_LT(rel_l2(out[2], rdx), 1e-6) << "backward data, c=" << t.c << " r=" << t.r;
    EXPECT_EQ(out[1], wei);  // inputs unchanged
    const auto bw = conv_desc(t, SUANLI_PROP_BACKWARD_WEIGHTS, true);
    out = run_op(*b, op_of(&bw),
                 {src, dd, std::vector<float>(wei.size(), 7.f), std::vector<float>(t.k, 7.f)});
    EXPECT_LT(rel_l2(out[2], rdw), 1e-6) << "backward weights, c=" << t.c << " r=" << t.r;
    EXPECT_LT(rel_l2(out[3], rdb), 1e-6) << "diff bias";
    // Without bias: three buffers, the same diff weights.
    const auto bw2 = conv_desc(t, SUANLI_PROP_BACKWARD_WEIGHTS, false);
    out = run_op(*b, op_of(&bw2), {src, dd, std::vector<float>(wei.size(), 7.f)});
    EXPECT_LT(rel_l2(out[2], rdw), 1e-6);
  }
}

TEST(ModelBackwardOps, PoolingBackwardMatchesReference) {
  auto b = cpu();
  const int64_t N = 2, C = 5, H = 9, W = 8;
  for (suanli_pool_kind kind : {SUANLI_POOL_MAX, SUANLI_POOL_AVG}) {
    const int64_t R = 3, S = 2, PAD = 1;
    const int64_t P = (H + 2 * PAD - R) / S + 1, Q = (W + 2 * PAD - R) / S + 1;
    const auto src = seeded(static_cast<size_t>(N * H * W * C), 4);
    const auto dd = seeded(static_cast<size_t>(N * P * Q * C), 5);
    std::vector<double> ref(src.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < C; ++c) {
            std::vector<size_t> taps;
            size_t best = 0;
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < R; ++s) {
                const int64_t ih = p * S - PAD + r, iw = q * S - PAD + s;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const size_t i = static_cast<size_t>(((n * H + ih) * W + iw) * C + c);
                if (taps.empty() || src[i] > src[best]) best = i;
                taps.push_back(i);
              }
            const double g = dd[static_cast<size_t>(((n * P + p) * Q + q) * C + c)];
            if (kind == SUANLI_POOL_MAX)
              ref[best] += g;
            else
              for (size_t i : taps) ref[i] += g / static_cast<double>(taps.size());
          }
    suanli_pool_desc d{
        SUANLI_POOL_DESC_SIZE,    kind, N, C, H, W, R, R, S, S, PAD, PAD, SUANLI_DTYPE_FP32,
        SUANLI_PROP_BACKWARD_DATA};
    const suanli_op_desc op = op_of(SUANLI_OP_POOL, &suanli_op_desc::pool, &d);
    const auto out = run_op(*b, op, {dd, src, std::vector<float>(src.size(), 7.f)});
    EXPECT_LT(rel_l2(out[2], ref), 1e-6) << (kind == SUANLI_POOL_MAX ? "max" : "avg");
  }
}

TEST(ModelBackwardOps, ReluBackwardMasksByForwardTensor) {
  auto b = cpu();
  const int64_t n = 1000;
  const auto dd = seeded(n, 6), x = seeded(n, 7);
  suanli_eltwise_desc d{SUANLI_ELTWISE_DESC_SIZE, SUANLI_ELTWISE_RELU_BACKWARD, SUANLI_ACT_NONE, n,
                        SUANLI_DTYPE_FP32};
  const suanli_op_desc op = op_of(SUANLI_OP_ELTWISE, &suanli_op_desc::eltwise, &d);
  const auto out = run_op(*b, op, {dd, x, std::vector<float>(n, 7.f)});
  int zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(out[2][i], x[i] > 0 ? dd[i] : 0.f) << i;
    zeros += out[2][i] == 0.f;
  }
  EXPECT_GT(zeros, 300);
  EXPECT_LT(zeros, 700);
}

// bf16 backward passes have no path in the CPU backend: UNSUPPORTED with the reason, never
// computed in fp32.
TEST(ModelBackwardOps, Bf16BackwardIsUnsupportedWithReason) {
  auto b = cpu();
  const auto d =
      conv_desc({1, 16, 8, 8, 16, 3, 1, 1}, SUANLI_PROP_BACKWARD_WEIGHTS, false, SUANLI_DTYPE_BF16);
  const suanli_op_desc op = op_of(&d);
  const char* reason = nullptr;
  EXPECT_EQ(b->api()->supports(b->context(), 0, &op, &reason), SUANLI_UNSUPPORTED);
  ASSERT_NE(reason, nullptr);
  EXPECT_NE(std::string(reason).find("fp32 only"), std::string::npos) << reason;
  // Backward data with an epilogue is an invalid descriptor, not a silent fallback.
  auto bad = conv_desc({1, 16, 8, 8, 16, 3, 1, 1}, SUANLI_PROP_BACKWARD_DATA, true);
  const suanli_op_desc op2 = op_of(&bad);
  EXPECT_EQ(b->api()->supports(b->context(), 0, &op2, &reason), SUANLI_INVALID_ARGUMENT);
}

// Batch norm of training over rows x channels: mean and biased variance per channel,
// y = gamma (x - mean) / sqrt(var + eps) + beta; backward with xhat = (x - mean) * istd:
// dbeta = sum dy, dgamma = sum dy xhat, dx = gamma istd (dy - dbeta/N - xhat dgamma/N).
TEST(ModelBackwardOps, BatchNormTrainingForwardAndBackwardMatchReference) {
  auto b = cpu();
  const int64_t rows = 50, ch = 19;
  const double eps = 1e-5;
  auto x = seeded(static_cast<size_t>(rows * ch), 8);
  for (float& v : x) v = 3 * v + 0.5f;  // a mean and variance away from 0 and 1
  const auto gamma = seeded(ch, 9), beta = seeded(ch, 10), dy = seeded(x.size(), 11);
  std::vector<double> mean(ch, 0.0), var(ch, 0.0), y(x.size()), dx(x.size()), dg(ch, 0.0),
      dbeta(ch, 0.0);
  for (int64_t c = 0; c < ch; ++c) {
    for (int64_t r = 0; r < rows; ++r) mean[c] += x[r * ch + c] / static_cast<double>(rows);
    for (int64_t r = 0; r < rows; ++r)
      var[c] += (x[r * ch + c] - mean[c]) * (x[r * ch + c] - mean[c]) / static_cast<double>(rows);
    const double istd = 1 / std::sqrt(var[c] + eps);
    for (int64_t r = 0; r < rows; ++r) {
      const double xh = (x[r * ch + c] - mean[c]) * istd;
      y[r * ch + c] = gamma[c] * xh + beta[c];
      dbeta[c] += dy[r * ch + c];
      dg[c] += dy[r * ch + c] * xh;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const double xh = (x[r * ch + c] - mean[c]) * istd;
      dx[r * ch + c] = gamma[c] * istd *
                       (dy[r * ch + c] - dbeta[c] / rows - xh * dg[c] / static_cast<double>(rows));
    }
  }
  suanli_norm_desc d{
      SUANLI_NORM_DESC_SIZE,        SUANLI_NORM_BATCH, rows, ch, eps, SUANLI_DTYPE_FP32,
      SUANLI_PROP_FORWARD_TRAINING, SUANLI_ACT_NONE};
  const suanli_op_desc op = op_of(SUANLI_OP_NORM, &suanli_op_desc::norm, &d);
  const std::vector<float> junk(x.size(), 7.f), pjunk(ch, 7.f);
  auto out = run_op(*b, op, {x, junk, gamma, beta, pjunk, pjunk});
  EXPECT_LT(rel_l2(out[1], y), 1e-6);
  EXPECT_LT(rel_l2(out[4], mean), 1e-6);
  EXPECT_LT(rel_l2(out[5], var), 1e-6);
  d.prop = SUANLI_PROP_BACKWARD_DATA;
  out = run_op(*b, op, {x, dy, gamma, out[4], out[5], junk, pjunk, pjunk});
  EXPECT_LT(rel_l2(out[5], dx), 1e-5);
  EXPECT_LT(rel_l2(out[6], dg), 1e-6);
  EXPECT_LT(rel_l2(out[7], dbeta), 1e-6);
  // Layer norm has no training pass here: an honest UNSUPPORTED.
  d.kind = SUANLI_NORM_LAYER;
  const char* reason = nullptr;
  EXPECT_EQ(b->api()->supports(b->context(), 0, &op, &reason), SUANLI_UNSUPPORTED);
  EXPECT_NE(std::string(reason).find("inference only"), std::string::npos) << reason;
}
