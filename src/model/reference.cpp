// The host references of src/model, as benchdnn keeps its references apart from its drivers:
// the inference graph (reference) and every op of the training step (reference_op), each
// multiply-add accumulated in fp64 and each output rounded to its storage type. One direct
// convolution serves both.
#include "model/reference.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include <suanli/backend.h>

#include "model/model.h"
#include "model/model_train.h"

namespace suanli::model {

Dtype activation_type(Dtype model, bool nonnegative) {
  if (model == Dtype::int8) return nonnegative ? Dtype::uint8 : Dtype::int8;
  return model;
}

double round_to(double v, Dtype t, float scale) {
  switch (t) {
    case Dtype::fp32:
      return static_cast<double>(static_cast<float>(v));
    case Dtype::bf16:
      return static_cast<double>(bf16_to_float(float_to_bf16(static_cast<float>(v))));
    case Dtype::fp16:
      return static_cast<double>(fp16_to_float(float_to_fp16(static_cast<float>(v))));
    case Dtype::int8:
      return std::clamp(std::nearbyint(v / scale), -128.0, 127.0) * scale;
    case Dtype::uint8:
      return std::clamp(std::nearbyint(v / scale), 0.0, 255.0) * scale;
    default:
      return v;
  }
}

namespace {

// ---- kernels shared by inference and training ------------------------------------------------

// Rounding of an op's output to fp32, as the device stores it (exact: none, for finite
// differences of the reference itself and for sums an epilogue rounds later).
struct Rounder {
  bool exact = false;
  double operator()(double v) const {
    return exact ? v : static_cast<double>(static_cast<float>(v));
  }
};

double apply_act(int act, double v) {
  switch (act) {
    case SUANLI_ACT_RELU:
      return std::max(v, 0.0);
    case SUANLI_ACT_GELU_TANH:
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case SUANLI_ACT_GELU_ERF:
      return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case SUANLI_ACT_SILU:
      return v / (1 + std::exp(-v));
    default:
      return v;
  }
}

// Weights KCRS -> [k][r][s][c] (channels innermost, like NHWC activations).
template <typename T>
std::vector<double> krsc(const std::vector<T>& w, const Conv2dShape& c) {
  std::vector<double> o(w.size());
  const int64_t taps = c.r * c.s;
  for (int64_t k = 0; k < c.k; ++k)
    for (int64_t ci = 0; ci < c.c; ++ci)
      for (int64_t t = 0; t < taps; ++t)
        o[static_cast<size_t>((k * taps + t) * c.c + ci)] =
            w[static_cast<size_t>((k * c.c + ci) * taps + t)];
  return o;
}

// Calls tap(r, s, ih, iw) for every filter tap (r, s) of output position (p, q) that falls
// inside the input (ih, iw), in the order r, then s.
template <typename Tap>
inline void for_each_tap(const Conv2dShape& c, int64_t p, int64_t q, Tap tap) {
  for (int64_t r = 0; r < c.r; ++r) {
    const int64_t ih = p * c.stride_h - c.pad_h + r;
    if (ih < 0 || ih >= c.h) continue;
    for (int64_t s = 0; s < c.s; ++s) {
      const int64_t iw = q * c.stride_w - c.pad_w + s;
      if (iw < 0 || iw >= c.w) continue;
      tap(r, s, ih, iw);
    }
  }
}

// The direct convolution, NHWC activations and KRSC weights (wk), y = the sums (no epilogue).
// Channels are summed in `Lanes` interleaved accumulators (inference 4, training 2: the order
// each reference has always used, so that its values stay bit for bit).
template <int Lanes>
void conv_sums(const Conv2dShape& c, const std::vector<double>& x, const std::vector<double>& wk,
               std::vector<double>& y) {
  static_assert(Lanes == 2 || Lanes == 4);
  const int64_t P = c.p(), Q = c.q();
  y.assign(static_cast<size_t>(c.n * P * Q * c.k), 0.0);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t k = 0; k < c.k; ++k) {
          double a[Lanes] = {};
          for_each_tap(c, p, q, [&](int64_t r, int64_t s, int64_t ih, int64_t iw) {
            const double* xp = &x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
            const double* wp = &wk[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c)];
            int64_t ci = 0;
            for (; ci + Lanes <= c.c; ci += Lanes)
              for (int l = 0; l < Lanes; ++l) a[l] += xp[ci + l] * wp[ci + l];
            for (; ci < c.c; ++ci) a[0] += xp[ci] * wp[ci];
          });
          double sum = a[0] + a[1];
          if constexpr (Lanes == 4) sum = (a[0] + a[1]) + (a[2] + a[3]);
          y[static_cast<size_t>(((n * P + p) * Q + q) * c.k + k)] = sum;
        }
}

// Pooling forward and backward (max: the first largest tap, as oneDNN; average: padding
// excluded).
void pool(const Conv2dShape& c, bool max, const std::vector<double>& x,
          const std::vector<double>* dy, std::vector<double>& out, Rounder rnd) {
  const int64_t P = c.p(), Q = c.q();
  if (dy)
    out.assign(x.size(), 0.0);
  else
    out.assign(static_cast<size_t>(c.n * P * Q * c.c), 0.0);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t ch = 0; ch < c.c; ++ch) {
          double acc = max ? -HUGE_VAL : 0.0;
          size_t best = 0;
          int64_t taps = 0;
          for_each_tap(c, p, q, [&](int64_t, int64_t, int64_t ih, int64_t iw) {
            const size_t i = static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c + ch);
            if (max && x[i] > acc) acc = x[i], best = i;
            if (!max) acc += x[i];
            ++taps;
          });
          const size_t o = static_cast<size_t>(((n * P + p) * Q + q) * c.c + ch);
          if (!dy) {
            out[o] = rnd(max ? acc : acc / static_cast<double>(taps));
            continue;
          }
          const double g = (*dy)[o];
          if (max) {
            out[best] += g;
            continue;
          }
          for_each_tap(c, p, q, [&](int64_t, int64_t, int64_t ih, int64_t iw) {
            out[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c + ch)] +=
                g / static_cast<double>(taps);
          });
        }
  if (dy)
    for (double& v : out) v = rnd(v);
}

// ---- training ops -----------------------------------------------------------------------------

void conv_forward(const Conv2dShape& c, const std::vector<double>& x, const std::vector<double>& wk,
                  const std::vector<double>* bias, bool relu, std::vector<double>& y, Rounder rnd) {
  conv_sums<2>(c, x, wk, y);
  for (size_t at = 0; at < y.size(); ++at) {
    double v = y[at];
    if (bias) v += (*bias)[at % static_cast<size_t>(c.k)];
    if (relu) v = std::max(v, 0.0);
    y[at] = rnd(v);
  }
}

// dx(n,ih,iw,c) = sum over taps (r,s) whose output (p,q) exists of dy(n,p,q,k) W(k,c,r,s).
void conv_backward_data(const Conv2dShape& c, const std::vector<double>& dy,
                        const std::vector<double>& wk, std::vector<double>& dx, Rounder rnd) {
  const int64_t P = c.p(), Q = c.q();
  dx.assign(static_cast<size_t>(c.n * c.h * c.w * c.c), 0.0);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t ih = 0; ih < c.h; ++ih) {
      std::vector<double> acc(static_cast<size_t>(c.c));
      for (int64_t iw = 0; iw < c.w; ++iw) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t r = 0; r < c.r; ++r) {
          const int64_t tp = ih + c.pad_h - r;
          if (tp < 0 || tp % c.stride_h || tp / c.stride_h >= P) continue;
          const int64_t p = tp / c.stride_h;
          for (int64_t s = 0; s < c.s; ++s) {
            const int64_t tq = iw + c.pad_w - s;
            if (tq < 0 || tq % c.stride_w || tq / c.stride_w >= Q) continue;
            const int64_t q = tq / c.stride_w;
            const double* g = &dy[static_cast<size_t>(((n * P + p) * Q + q) * c.k)];
            for (int64_t k = 0; k < c.k; ++k) {
              if (g[k] == 0) continue;
              const double* wp = &wk[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c)];
              for (int64_t ci = 0; ci < c.c; ++ci) acc[static_cast<size_t>(ci)] += g[k] * wp[ci];
            }
          }
        }
        double* o = &dx[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
        for (int64_t ci = 0; ci < c.c; ++ci) o[ci] = rnd(acc[static_cast<size_t>(ci)]);
      }
    }
}

// dW(k,c,r,s) = sum over n,p,q of dy(n,p,q,k) x(n,ih,iw,c); db(k) = sum of dy(n,p,q,k).
void conv_backward_weights(const Conv2dShape& c, const std::vector<double>& x,
                           const std::vector<double>& dy, std::vector<double>& dw,
                           std::vector<double>* db, Rounder rnd) {
  const int64_t P = c.p(), Q = c.q();
  dw.assign(static_cast<size_t>(c.k * c.c * c.r * c.s), 0.0);
  if (db) db->assign(static_cast<size_t>(c.k), 0.0);
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < c.k; ++k) {
    std::vector<double> acc(static_cast<size_t>(c.r * c.s * c.c), 0.0);
    double bsum = 0;
    for (int64_t n = 0; n < c.n; ++n)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const double g = dy[static_cast<size_t>(((n * P + p) * Q + q) * c.k + k)];
          bsum += g;
          if (g == 0) continue;
          for_each_tap(c, p, q, [&](int64_t r, int64_t s, int64_t ih, int64_t iw) {
            const double* xp = &x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
            double* ap = &acc[static_cast<size_t>((r * c.s + s) * c.c)];
            for (int64_t ci = 0; ci < c.c; ++ci) ap[ci] += g * xp[ci];
          });
        }
    const int64_t taps = c.r * c.s;  // acc is [r][s][c]; dw KCRS
    for (int64_t ci = 0; ci < c.c; ++ci)
      for (int64_t t = 0; t < taps; ++t)
        dw[static_cast<size_t>((k * c.c + ci) * taps + t)] =
            rnd(acc[static_cast<size_t>(t * c.c + ci)]);
    if (db) (*db)[static_cast<size_t>(k)] = rnd(bsum);
  }
}

// One batch of the step's matmul (strides [2] and [3] of the geometry), with bias and relu.
void matmul(const TrainOp& o, const std::vector<double>& a, const std::vector<double>& b,
            const std::vector<double>* bias, std::vector<double>& c, Rounder rnd) {
  const MatmulGeometry& g = o.matmul;
  c.assign(static_cast<size_t>(g.m * g.n), 0.0);
#pragma omp parallel for schedule(static) if (g.m > 1)
  for (int64_t i = 0; i < g.m; ++i) {
    std::vector<double> acc(static_cast<size_t>(g.n), 0.0);
    for (int64_t l = 0; l < g.k; ++l) {
      const double av = a[static_cast<size_t>(i * g.a_stride[2] + l * g.a_stride[3])];
      if (av == 0) continue;
      for (int64_t j = 0; j < g.n; ++j)
        acc[static_cast<size_t>(j)] +=
            av * b[static_cast<size_t>(l * g.b_stride[2] + j * g.b_stride[3])];
    }
    for (int64_t j = 0; j < g.n; ++j) {
      double v = acc[static_cast<size_t>(j)];
      if (bias) v += (*bias)[static_cast<size_t>(j)];
      if (o.relu) v = std::max(v, 0.0);
      c[static_cast<size_t>(i * g.c_stride[2] + j * g.c_stride[3])] = rnd(v);
    }
  }
}

// Sizes `full` like x (elements) and zeroes the per-channel outputs, then calls
// per_channel(c, size_t(c)) for every channel of the op's rows x channels, in parallel.
template <typename F>
void for_each_channel(const TrainOp& o, size_t elements, std::vector<double>& full,
                      std::initializer_list<std::vector<double>*> per_channel_outputs,
                      F per_channel) {
  full.resize(elements);
  for (std::vector<double>* v : per_channel_outputs) v->assign(static_cast<size_t>(o.channels), 0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < o.channels; ++c) per_channel(c, static_cast<size_t>(c));
}

// Batch norm over rows x channels with batch statistics (biased variance, as oneDNN and
// frameworks use for normalizing): y = gamma (x - mean) / sqrt(var + eps) + beta.
void batch_norm_forward(const TrainOp& o, const std::vector<double>& x,
                        const std::vector<double>& g, const std::vector<double>& beta,
                        std::vector<double>& y, std::vector<double>& mean, std::vector<double>& var,
                        Rounder rnd) {
  const int64_t rows = o.rows, ch = o.channels;
  const double nr = static_cast<double>(rows);
  for_each_channel(o, x.size(), y, {&mean, &var}, [&](int64_t c, size_t cc) {
    double mu = 0, v = 0;
    for (int64_t r = 0; r < rows; ++r) mu += x[static_cast<size_t>(r * ch + c)];
    mu /= nr;
    for (int64_t r = 0; r < rows; ++r) {
      const double d = x[static_cast<size_t>(r * ch + c)] - mu;
      v += d * d;
    }
    v /= nr;
    const double istd = 1 / std::sqrt(v + kBatchNormEps);
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r * ch + c);
      y[i] = rnd(g[cc] * (x[i] - mu) * istd + beta[cc]);
    }
    mean[cc] = rnd(mu);
    var[cc] = rnd(v);
  });
}

// With xhat = (x - mean) istd: dbeta = sum dy, dgamma = sum dy xhat,
// dx = gamma istd (dy - dbeta / N - xhat dgamma / N); mean and var are the forward's outputs.
void batch_norm_backward(const TrainOp& o, const std::vector<double>& x,
                         const std::vector<double>& dy, const std::vector<double>& g,
                         const std::vector<double>& mean, const std::vector<double>& var,
                         std::vector<double>& dx, std::vector<double>& dg,
                         std::vector<double>& dbeta, Rounder rnd) {
  const int64_t rows = o.rows, ch = o.channels;
  const double nr = static_cast<double>(rows);
  for_each_channel(o, x.size(), dx, {&dg, &dbeta}, [&](int64_t c, size_t cc) {
    const double istd = 1 / std::sqrt(var[cc] + kBatchNormEps);
    double sg = 0, sgx = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r * ch + c);
      sg += dy[i];
      sgx += dy[i] * (x[i] - mean[cc]) * istd;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r * ch + c);
      const double xh = (x[i] - mean[cc]) * istd;
      dx[i] = rnd(g[cc] * istd * (dy[i] - sg / nr - xh * sgx / nr));
    }
    dg[cc] = rnd(sgx);
    dbeta[cc] = rnd(sg);
  });
}

// ---- inference layers -------------------------------------------------------------------------

double qmax(Dtype t) {
  return t == Dtype::uint8 ? 255.0 : 127.0;
}

// A strided batched matmul with its epilogue (backend.h), every product accumulated in fp64,
// each written element rounded to dst's type; y holds dst on entry (residual, KV cache).
template <typename BT>
void reference_matmul(const Layer& layer, const std::vector<double>& a, const BT* b,
                      std::vector<double>& y) {
  const MatmulGeometry& g = layer.matmul;
  const int64_t rows = g.batch0 * g.batch1 * g.m;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r % g.m, b1 = (r / g.m) % g.batch1, b0 = r / (g.m * g.batch1);
    std::vector<double> acc(static_cast<size_t>(g.n), 0.0);
    const int64_t abase = b0 * g.a_stride[0] + b1 * g.a_stride[1] + i * g.a_stride[2];
    const int64_t bbase = b0 * g.b_stride[0] + b1 * g.b_stride[1];
    for (int64_t l = 0; l < g.k; ++l) {
      const double av = a[static_cast<size_t>(abase + l * g.a_stride[3])];
      const BT* bp = b + bbase + l * g.b_stride[2];
      if (g.b_stride[3] == 1)
        for (int64_t j = 0; j < g.n; ++j) acc[static_cast<size_t>(j)] += av * bp[j];
      else
        for (int64_t j = 0; j < g.n; ++j)
          acc[static_cast<size_t>(j)] += av * static_cast<double>(bp[j * g.b_stride[3]]);
    }
    const int64_t cbase = b0 * g.c_stride[0] + b1 * g.c_stride[1] + i * g.c_stride[2];
    for (int64_t j = 0; j < g.n; ++j) {
      const size_t at = static_cast<size_t>(cbase + j * g.c_stride[3]);
      double v = acc[static_cast<size_t>(j)] * layer.alpha;
      if (!layer.bias_values.empty()) v += layer.bias_values[static_cast<size_t>(j)];
      if (!layer.mask_values.empty()) v += layer.mask_values[static_cast<size_t>(i * g.n + j)];
      if (layer.residual) v += y[at];
      y[at] = round_to(apply_act(layer.act, v), layer.dst_type, 1.f);
    }
  }
}

// RMS / layer norm or softmax per row.
std::vector<double> row_layer(const Layer& layer, const std::vector<double>& x) {
  const int64_t cols = static_cast<int64_t>(x.size()) / layer.rows;
  std::vector<double> y(x.size());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < layer.rows; ++r) {
    const double* xr = &x[static_cast<size_t>(r * cols)];
    double* yr = &y[static_cast<size_t>(r * cols)];
    if (layer.kind == LayerKind::softmax) {
      double mx = -HUGE_VAL, sum = 0;
      for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xr[c]);
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(xr[c] - mx);
      for (int64_t c = 0; c < cols; ++c) yr[c] = std::exp(xr[c] - mx) / sum;
      continue;
    }
    double mean = 0, sq = 0;
    for (int64_t c = 0; c < cols; ++c) mean += xr[c];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double d = layer.rms ? xr[c] : xr[c] - mean;
      sq += d * d;
    }
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + layer.eps);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t cc = static_cast<size_t>(c);
      yr[c] = layer.rms ? layer.gamma[cc] * xr[c] * inv
                        : layer.gamma[cc] * (xr[c] - mean) * inv + layer.beta[cc];
    }
  }
  for (double& v : y) v = round_to(v, layer.dst_type, 1.f);
  return y;
}

// The activations of the reference run: every tensor's values (real) and int8 scale.
struct HostTensors {
  std::vector<std::vector<double>> values;
  std::vector<float> scale;
};

// The layers the reference computes and rounds in one go, with no int8 calibration: all but
// conv, pooling and int8 linear layers.
bool rounds_in_place(const Model& m, const Layer& layer) {
  switch (layer.kind) {
    case LayerKind::conv:
    case LayerKind::maxpool:
    case LayerKind::avgpool:
      return false;
    case LayerKind::linear:
      return m.dtype != Dtype::int8;
    default:
      return true;
  }
}

std::vector<double> rounded_layer(const Layer& layer, const HostTensors& t) {
  const std::vector<double>& x = t.values[static_cast<size_t>(layer.in)];
  std::vector<double> y;
  switch (layer.kind) {
    case LayerKind::linear:
    case LayerKind::matmul:
      y = t.values[static_cast<size_t>(layer.out)];  // the residual or the KV cache (or empty)
      y.resize(layer.out_bytes / dtype_size(layer.dst_type), 0.0);
      if (layer.kind == LayerKind::matmul)
        reference_matmul(layer, x, t.values[static_cast<size_t>(layer.in2)].data(), y);
      else
        reference_matmul(layer, x, layer.weights.data(), y);
      return y;
    case LayerKind::norm:
    case LayerKind::softmax:
      return row_layer(layer, x);
    case LayerKind::mask_add:
      y.resize(x.size());
      for (size_t k = 0; k < y.size(); ++k)
        y[k] = round_to(x[k] + round_to(layer.mask_values[k], layer.dst_type, 1.f), layer.dst_type,
                        1.f);
      return y;
    case LayerKind::act_mul: {
      const std::vector<double>& x2 = t.values[static_cast<size_t>(layer.in2)];
      y.resize(x.size());
      for (size_t k = 0; k < y.size(); ++k)
        y[k] = round_to(apply_act(layer.act, x[k]) * x2[k], layer.dst_type, 1.f);
      return y;
    }
    default:
      return y;
  }
}

// Conv, pooling and int8 linear layers before their epilogue: the sums (pooling: the pooled
// values).
std::vector<double> layer_sums(const Layer& layer, const std::vector<double>& x) {
  std::vector<double> y;
  if (layer.kind == LayerKind::conv) {
    conv_sums<4>(layer.conv, x, krsc(layer.weights, layer.conv), y);
  } else if (layer.kind == LayerKind::linear) {
    const MatmulGeometry& g = layer.matmul;
    y.assign(static_cast<size_t>(g.m * g.n), 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t l = 0; l < g.k; ++l) {
        const double a = x[static_cast<size_t>(i * g.k + l)];
        for (int64_t j = 0; j < g.n; ++j)
          y[static_cast<size_t>(i * g.n + j)] +=
              a * layer.weights[static_cast<size_t>(l * g.n + j)];
      }
  } else {
    pool(layer.conv, layer.kind == LayerKind::maxpool, x, nullptr, y, Rounder{true});
  }
  return y;
}

// Epilogue of a conv, pooling or int8 linear layer (bias, in-place residual, relu), the int8
// calibration of its output's scale from the real values (pooling keeps its input's), and the
// rounding to the output's storage type.
void epilogue_and_calibrate(Layer& layer, std::vector<double>& y, HostTensors& t) {
  const int64_t ch = static_cast<int64_t>(layer.bias_values.size());
  const std::vector<double>& res = t.values[static_cast<size_t>(layer.out)];
  layer.residual_scale = t.scale[static_cast<size_t>(layer.out)];
  double mx = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    double v = y[i];
    if (ch) v += layer.bias_values[i % static_cast<size_t>(ch)];
    if (layer.residual) v += res[i];
    if (layer.relu) v = std::max(v, 0.0);
    y[i] = v;
    mx = std::max(mx, std::fabs(v));
  }
  if (layer.dst_type == Dtype::int8 || layer.dst_type == Dtype::uint8) {
    if (layer.kind == LayerKind::maxpool || layer.kind == LayerKind::avgpool)
      layer.dst_scale = layer.src_scale;
    else
      layer.dst_scale = mx > 0 ? static_cast<float>(mx / qmax(layer.dst_type)) : 1.f;
  } else {
    layer.dst_scale = 1.f;
  }
  for (double& v : y) v = round_to(v, layer.dst_type, layer.dst_scale);
}

// The input rounded to its storage type (int8: scale from max |x|) and the seeded KV caches.
HostTensors initial_tensors(Model& m, const std::vector<float>& input) {
  HostTensors t{std::vector<std::vector<double>>(m.tensors.size()),
                std::vector<float>(m.tensors.size(), 1.f)};
  const size_t in = static_cast<size_t>(m.input);
  const Dtype in_type = activation_type(m.dtype, false);
  float mx = 0;
  for (float v : input) mx = std::max(mx, std::fabs(v));
  if (in_type == Dtype::int8) t.scale[in] = mx > 0 ? mx / 127.f : 1.f;
  m.input_scale = t.scale[in];
  t.values[in].resize(input.size());
  for (size_t i = 0; i < input.size(); ++i)
    t.values[in][i] = round_to(input[i], in_type, t.scale[in]);
  for (size_t i = 0; i < m.tensors.size(); ++i)
    if (m.tensors[i].cache) {
      const std::vector<float> c = make_cache(m, static_cast<int>(i), m.cache_seed);
      t.values[i].resize(c.size());
      for (size_t k = 0; k < c.size(); ++k) t.values[i][k] = round_to(c[k], m.tensors[i].type, 1.f);
    }
  return t;
}

}  // namespace

std::vector<double> reference(Model& m, const std::vector<float>& input,
                              std::vector<std::vector<double>>* trace) {
  HostTensors t = initial_tensors(m, input);
  for (Layer& layer : m.layers) {
    const size_t out = static_cast<size_t>(layer.out);
    layer.src_scale = t.scale[static_cast<size_t>(layer.in)];
    std::vector<double> y;
    if (rounds_in_place(m, layer)) {
      y = rounded_layer(layer, t);
      layer.dst_scale = 1.f;
      layer.residual_scale = 1.f;
    } else {
      y = layer_sums(layer, t.values[static_cast<size_t>(layer.in)]);
      epilogue_and_calibrate(layer, y, t);
    }
    t.scale[out] = layer.dst_scale;
    if (trace) trace->push_back(y);
    t.values[out] = std::move(y);
  }
  return t.values[static_cast<size_t>(m.output)];
}

void reference_op(const TrainStep& t, size_t index, std::vector<std::vector<double>>& v,
                  bool exact) {
  const Rounder rnd{exact};
  const TrainOp& o = t.ops[index];
  auto at = [&](size_t i) -> std::vector<double>& { return v[static_cast<size_t>(o.bufs[i])]; };
  std::vector<double>& out = v[static_cast<size_t>(o.out)];
  const Conv2dShape& c = t.shapes[static_cast<size_t>(o.layer)];
  const bool max_pool = t.pool_max[static_cast<size_t>(o.layer)];
  switch (o.kind) {
    case TrainOpKind::conv_fwd:
      conv_forward(c, at(0), krsc(at(1), c), o.bias ? &at(3) : nullptr, o.relu, out, rnd);
      break;
    case TrainOpKind::conv_bwd_data:
      conv_backward_data(c, at(0), krsc(at(1), c), out, rnd);
      break;
    case TrainOpKind::conv_bwd_weights:
      conv_backward_weights(c, at(0), at(1), out, o.out2 >= 0 ? &at(3) : nullptr, rnd);
      break;
    case TrainOpKind::pool_fwd:
      pool(c, max_pool, at(0), nullptr, out, rnd);
      break;
    case TrainOpKind::pool_bwd:
      pool(c, max_pool, at(1), &at(0), out, rnd);
      break;
    case TrainOpKind::matmul:
      matmul(o, at(0), at(1), o.bias ? &at(3) : nullptr, out, rnd);
      break;
    case TrainOpKind::add:
      out.resize(at(0).size());
      for (size_t k = 0; k < out.size(); ++k) out[k] = rnd(at(0)[k] + at(1)[k]);
      break;
    case TrainOpKind::relu:
      out.resize(at(0).size());
      for (size_t k = 0; k < out.size(); ++k) out[k] = std::max(at(0)[k], 0.0);
      break;
    case TrainOpKind::relu_bwd:
      out.resize(at(0).size());
      for (size_t k = 0; k < out.size(); ++k) out[k] = at(1)[k] > 0 ? at(0)[k] : 0.0;
      break;
    case TrainOpKind::bn_fwd:
      batch_norm_forward(o, at(0), at(2), at(3), out, at(4), at(5), rnd);
      break;
    case TrainOpKind::bn_bwd:
      batch_norm_backward(o, at(0), at(1), at(2), at(3), at(4), out, at(6), at(7), rnd);
      break;
  }
}

std::vector<std::vector<double>> reference_train(const TrainStep& t,
                                                 const std::vector<std::vector<float>>& inputs,
                                                 bool exact) {
  std::vector<std::vector<double>> v(t.tensors.size());
  for (size_t i = 0; i < t.tensors.size(); ++i)
    if (!inputs[i].empty()) v[i].assign(inputs[i].begin(), inputs[i].end());
  for (size_t oi = 0; oi < t.ops.size(); ++oi) reference_op(t, oi, v, exact);
  return v;
}

}  // namespace suanli::model
