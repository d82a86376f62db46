// The training step: graph construction from a model's layers, its FLOP count, and the fp64 host
// reference of every op (forward and backward).
#include "model/model_train.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>

namespace suanli::model {

std::string_view top_kind_name(TOpKind k) {
  switch (k) {
    case TOpKind::conv_fwd:
      return "conv forward";
    case TOpKind::pool_fwd:
      return "pool forward";
    case TOpKind::matmul:
      return "matmul";
    case TOpKind::add:
      return "add";
    case TOpKind::relu:
      return "relu";
    case TOpKind::relu_bwd:
      return "relu backward";
    case TOpKind::conv_bwd_data:
      return "conv backward data";
    case TOpKind::conv_bwd_weights:
      return "conv backward weights";
    case TOpKind::pool_bwd:
      return "pool backward";
  }
  return "invalid";
}

double gradient_tolerance(Dtype dtype) {
  // Relative L2 error of each weight and bias gradient against the fp64 reference, which rounds
  // every tensor to fp32 as the device does. What remains: fp32 accumulation order in the forward
  // pass (~1e-7 relative), the same in the backward pass, where weight gradients sum n*p*q
  // products per element (up to ~10^5 at batch 32), and relu masks that flip where a
  // pre-activation lies within rounding of 0 (rare; each flips one gradient element). Observed
  // ~1e-6 on ResNet-50 and resnet_tiny; bound 1e-4 like the forward output's. A corrupted
  // gradient (tests/model_test.cpp) gives an error of order 1. Only fp32 has a training step.
  (void)dtype;
  return 1e-4;
}

namespace {

struct Builder {
  const Model& m;
  TrainStep t;

  int tensor(std::string name, uint64_t elements, TRole role, int layer = -1) {
    t.tensors.push_back({std::move(name), elements, role, layer});
    return static_cast<int>(t.tensors.size()) - 1;
  }
  TOp& op(std::string name, TOpKind kind, int layer, std::vector<int> bufs, int out) {
    TOp o;
    o.name = std::move(name);
    o.kind = kind;
    o.layer = layer;
    o.bufs = std::move(bufs);
    o.out = out;
    t.ops.push_back(std::move(o));
    return t.ops.back();
  }
};

// Multiply-adds x 2 of a convolution over the taps that fall inside the input (src/core's
// count). Backward data pairs every such (output, tap) with one input element and backward
// weights with one weight: each is exactly the forward count.
double conv_flops(const Layer& L) {
  return L.flops;
}

// Weights of a conv (KCRS) or linear layer (k x n), also for shapes-only models.
uint64_t weight_count(const Layer& L) {
  const Conv2dShape& c = L.conv;
  return static_cast<uint64_t>(L.kind == LayerKind::conv ? c.k * c.c * c.r * c.s : L.k * L.n);
}

}  // namespace

TrainStep build_train_step(const Model& m) {
  Builder b{m, {}};
  TrainStep& t = b.t;
  const size_t nl = m.layers.size();
  for (const Layer& L : m.layers) {
    t.shapes.push_back(L.conv);
    t.pool_max.push_back(L.kind == LayerKind::maxpool ? 1 : 0);
  }
  // Forward: every layer output gets its own tensor (backward needs them all), except that a
  // residual layer adds in place into its shortcut's output when nothing else reads it and its
  // producer needs it for nothing in backward (no relu); otherwise (identity shortcuts) the
  // layer's result goes to a new tensor, the shortcut is added by an add op and the relu follows
  // as its own op.
  std::vector<int> cur(m.tensors.size(), -1);  // model tensor -> current step tensor
  std::vector<int> producer;                   // step tensor -> layer that wrote it (-1)
  std::vector<char> read;                      // step tensor -> read by a later layer
  auto new_tensor = [&](const std::string& name, uint64_t el, TRole role, int layer) {
    const int i = b.tensor(name, el, role, layer);
    producer.push_back(-1);
    read.push_back(0);
    return i;
  };
  t.input = new_tensor(m.tensors[static_cast<size_t>(m.input)].name,
                       m.tensors[static_cast<size_t>(m.input)].bytes / 4, TRole::input, -1);
  cur[static_cast<size_t>(m.input)] = t.input;
  struct Fwd {
    int x = -1, y = -1;     // input, output (after relu) tensors
    int w = -1, bias = -1;  // parameters
    int shortcut = -1;      // split residual: the shortcut tensor added by an add op
    int inplace_into = -1;  // in-place residual: the layer whose output it added into
  };
  std::vector<Fwd> fw(nl);
  std::vector<int> grad_override(nl, -1);  // layer -> gradient of its output (in-place residual)
  for (size_t li = 0; li < nl; ++li) {
    const Layer& L = m.layers[li];
    const int l = static_cast<int>(li);
    Fwd& f = fw[li];
    f.x = cur[static_cast<size_t>(L.in)];
    const uint64_t out_el = L.out_bytes / 4;
    switch (L.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        const bool conv = L.kind == LayerKind::conv;
        if (L.act != 0 && !L.relu)
          throw DtypeUnsupported(fmt::format(
              "{}: layer '{}': the training step takes relu or no activation", m.origin, L.name));
        f.w = new_tensor(L.name + ".weights", weight_count(L), TRole::weights, l);
        if (L.bias) f.bias = new_tensor(L.name + ".bias", L.bias_v.size(), TRole::bias, l);
        int r = L.residual ? cur[static_cast<size_t>(L.out)] : -1;
        const bool inplace = L.residual && conv && !read[static_cast<size_t>(r)] &&
                             producer[static_cast<size_t>(r)] >= 0 &&
                             !m.layers[static_cast<size_t>(producer[static_cast<size_t>(r)])].relu;
        int dst;
        if (inplace) {
          dst = r;
          f.inplace_into = producer[static_cast<size_t>(r)];
        } else {
          dst = new_tensor(L.name + ".out", out_el, TRole::activation, l);
        }
        const bool split = L.residual && !inplace;
        std::vector<int> bufs{f.x, f.w, dst};
        if (L.bias) bufs.push_back(f.bias);
        TOp& o =
            b.op(L.name + " forward", conv ? TOpKind::conv_fwd : TOpKind::matmul, l, bufs, dst);
        o.bias = L.bias;
        o.residual = inplace;
        o.relu = L.relu && !split;
        o.flops = conv ? conv_flops(L) : L.flops;
        if (!conv) {
          o.m = L.rows;
          o.n = L.n;
          o.k = L.k;
          o.a_stride[0] = L.k;
          o.b_stride[0] = L.n;
          o.c_stride[0] = L.n;
        }
        t.flops_forward += o.flops;
        f.y = dst;
        if (split) {
          f.shortcut = r;
          read[static_cast<size_t>(r)] = 1;
          const int sum = new_tensor(L.name + ".sum", out_el, TRole::activation, l);
          b.op(L.name + " residual add", TOpKind::add, l, {dst, r, sum}, sum).elements =
              static_cast<int64_t>(out_el);
          f.y = sum;
          if (L.relu) {
            const int y = new_tensor(L.name + ".relu", out_el, TRole::activation, l);
            b.op(L.name + " relu", TOpKind::relu, l, {sum, y}, y).elements =
                static_cast<int64_t>(out_el);
            f.y = y;
          }
        }
        break;
      }
      case LayerKind::maxpool:
      case LayerKind::avgpool: {
        f.y = new_tensor(L.name + ".out", out_el, TRole::activation, l);
        b.op(L.name + " forward", TOpKind::pool_fwd, l, {f.x, f.y}, f.y);
        break;
      }
      default:
        throw DtypeUnsupported(fmt::format(
            "{}: layer '{}' ({}) has no backward pass in suanli's training step (conv, pooling "
            "and linear layers only)",
            m.origin, L.name, layer_kind_name(L.kind)));
    }
    read[static_cast<size_t>(f.x)] = 1;
    producer[static_cast<size_t>(f.y)] = l;
    cur[static_cast<size_t>(L.out)] = f.y;
  }
  t.logits = cur[static_cast<size_t>(m.output)];
  t.loss_grad = new_tensor("dL/d" + m.tensors[static_cast<size_t>(m.output)].name,
                           t.tensors[static_cast<size_t>(t.logits)].elements, TRole::loss_grad, -1);

  // Backward, layers in reverse. grad[x]: the gradient of step tensor x so far; a second
  // contribution is summed into a new tensor.
  std::vector<int> grad(t.tensors.size(), -1);
  grad[static_cast<size_t>(t.logits)] = t.loss_grad;
  auto add_grad = [&](int x, int g, const std::string& who, int layer) {
    int& cur_g = grad[static_cast<size_t>(x)];
    if (cur_g < 0) {
      cur_g = g;
      return;
    }
    const uint64_t el = t.tensors[static_cast<size_t>(x)].elements;
    const int s =
        b.tensor("d" + t.tensors[static_cast<size_t>(x)].name + ".sum", el, TRole::gradient, layer);
    b.op(who + " gradient sum", TOpKind::add, layer, {cur_g, g, s}, s).elements =
        static_cast<int64_t>(el);
    cur_g = s;
  };
  for (size_t li = nl; li-- > 0;) {
    const Layer& L = m.layers[li];
    const int l = static_cast<int>(li);
    const Fwd& f = fw[li];
    int g = grad_override[li] >= 0 ? grad_override[li] : grad[static_cast<size_t>(f.y)];
    if (g < 0)
      throw InputError(fmt::format("{}: layer '{}': its output feeds nothing that reaches '{}'",
                                   m.origin, L.name,
                                   m.tensors[static_cast<size_t>(m.output)].name));
    const uint64_t out_el = L.out_bytes / 4;
    const bool need_dx = f.x != t.input;
    if (L.kind == LayerKind::maxpool || L.kind == LayerKind::avgpool) {
      const uint64_t in_el = t.tensors[static_cast<size_t>(f.x)].elements;
      const int dx = b.tensor("d" + L.name + ".in", in_el, TRole::gradient, l);
      b.op(L.name + " backward", TOpKind::pool_bwd, l, {g, f.x, dx}, dx);
      add_grad(f.x, dx, L.name, l);
      continue;
    }
    // conv / linear: relu backward (by the relu's output), then the residual's shortcut gets the
    // same gradient, then weights and data.
    if (L.relu) {
      const int dz = b.tensor("d" + L.name + ".preact", out_el, TRole::gradient, l);
      b.op(L.name + " relu backward", TOpKind::relu_bwd, l, {g, f.y, dz}, dz).elements =
          static_cast<int64_t>(out_el);
      g = dz;
    }
    if (f.shortcut >= 0) add_grad(f.shortcut, g, L.name, l);
    if (f.inplace_into >= 0) grad_override[static_cast<size_t>(f.inplace_into)] = g;
    const int dw = b.tensor(L.name + ".weights.grad", weight_count(L), TRole::weight_grad, l);
    const int db =
        L.bias ? b.tensor(L.name + ".bias.grad", L.bias_v.size(), TRole::bias_grad, l) : -1;
    const uint64_t in_el = t.tensors[static_cast<size_t>(f.x)].elements;
    if (L.kind == LayerKind::conv) {
      std::vector<int> bufs{f.x, g, dw};
      if (db >= 0) bufs.push_back(db);
      TOp& o = b.op(L.name + " backward weights", TOpKind::conv_bwd_weights, l, bufs, dw);
      o.out2 = db;
      o.bias = L.bias;
      o.flops = conv_flops(L);
      t.flops_backward_weights += o.flops;
      if (need_dx) {
        const int dx = b.tensor("d" + L.name + ".in", in_el, TRole::gradient, l);
        TOp& d = b.op(L.name + " backward data", TOpKind::conv_bwd_data, l, {g, f.w, dx}, dx);
        d.flops = conv_flops(L);
        t.flops_backward_data += d.flops;
        add_grad(f.x, dx, L.name, l);
      }
      continue;
    }
    // linear (x: rows x k, W: k x n, g: rows x n): dW = x^T g, db = ones^T g, dx = g W^T.
    {
      TOp& o = b.op(L.name + " backward weights", TOpKind::matmul, l, {f.x, g, dw}, dw);
      o.m = L.k;
      o.n = L.n;
      o.k = L.rows;
      o.a_stride[0] = 1;
      o.a_stride[1] = L.k;  // x^T
      o.b_stride[0] = L.n;
      o.c_stride[0] = L.n;
      o.flops = 2.0 * static_cast<double>(L.k * L.n * L.rows);
      t.flops_backward_weights += o.flops;
    }
    if (db >= 0) {
      const int ones = b.tensor(L.name + ".ones", static_cast<uint64_t>(L.rows), TRole::ones, l);
      TOp& o = b.op(L.name + " backward bias", TOpKind::matmul, l, {ones, g, db}, db);
      o.m = 1;
      o.n = L.n;
      o.k = L.rows;
      o.a_stride[0] = L.rows;
      o.b_stride[0] = L.n;
      o.c_stride[0] = L.n;
      o.flops = 2.0 * static_cast<double>(L.n * L.rows);
      t.flops_backward_weights += o.flops;
    }
    if (need_dx) {
      const int dx = b.tensor("d" + L.name + ".in", in_el, TRole::gradient, l);
      TOp& o = b.op(L.name + " backward data", TOpKind::matmul, l, {g, f.w, dx}, dx);
      o.m = L.rows;
      o.n = L.k;
      o.k = L.n;
      o.a_stride[0] = L.n;
      o.b_stride[0] = 1;
      o.b_stride[1] = L.n;  // W^T
      o.c_stride[0] = L.k;
      o.flops = 2.0 * static_cast<double>(L.rows * L.k * L.n);
      t.flops_backward_data += o.flops;
      add_grad(f.x, dx, L.name, l);
    }
  }
  for (const TTensor& x : t.tensors) t.bytes += x.elements * 4;
  return t;
}

std::vector<std::vector<float>> train_inputs(const Model& m, const TrainStep& t, uint64_t seed) {
  std::vector<std::vector<float>> v(t.tensors.size());
  v[static_cast<size_t>(t.input)] = make_input(m, seed);
  std::mt19937_64 rng(seed ^ 0x10557ULL);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    const TTensor& x = t.tensors[i];
    switch (x.role) {
      case TRole::weights:
        v[i] = m.layers[static_cast<size_t>(x.layer)].weights;
        break;
      case TRole::bias:
        v[i] = m.layers[static_cast<size_t>(x.layer)].bias_v;
        break;
      case TRole::ones:
        v[i].assign(x.elements, 1.f);
        break;
      case TRole::loss_grad:
        v[i].resize(x.elements);
        for (float& g : v[i]) g = ud(rng);
        break;
      default:
        break;
    }
  }
  return v;
}

namespace {

double rnd(double v) {
  return static_cast<double>(static_cast<float>(v));
}

// Weights KCRS -> [k][r][s][c] (channels innermost, like NHWC activations).
std::vector<double> krsc(const std::vector<double>& w, const Conv2dShape& c) {
  std::vector<double> o(w.size());
  for (int64_t k = 0; k < c.k; ++k)
    for (int64_t ci = 0; ci < c.c; ++ci)
      for (int64_t r = 0; r < c.r; ++r)
        for (int64_t s = 0; s < c.s; ++s)
          o[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c + ci)] =
              w[static_cast<size_t>(((k * c.c + ci) * c.r + r) * c.s + s)];
  return o;
}

void conv_forward(const Conv2dShape& c, const std::vector<double>& x, const std::vector<double>& wk,
                  const std::vector<double>* bias, bool residual, bool relu,
                  std::vector<double>& y) {
  const int64_t P = c.p(), Q = c.q();
  if (!residual) y.assign(static_cast<size_t>(c.n * P * Q * c.k), 0.0);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t k = 0; k < c.k; ++k) {
          double a0 = 0, a1 = 0;
          for (int64_t r = 0; r < c.r; ++r) {
            const int64_t ih = p * c.stride_h - c.pad_h + r;
            if (ih < 0 || ih >= c.h) continue;
            for (int64_t s = 0; s < c.s; ++s) {
              const int64_t iw = q * c.stride_w - c.pad_w + s;
              if (iw < 0 || iw >= c.w) continue;
              const double* xp = &x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
              const double* wp = &wk[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c)];
              int64_t ci = 0;
              for (; ci + 2 <= c.c; ci += 2) {
                a0 += xp[ci] * wp[ci];
                a1 += xp[ci + 1] * wp[ci + 1];
              }
              for (; ci < c.c; ++ci) a0 += xp[ci] * wp[ci];
            }
          }
          const size_t at = static_cast<size_t>(((n * P + p) * Q + q) * c.k + k);
          double v = a0 + a1;
          if (bias) v += (*bias)[static_cast<size_t>(k)];
          if (residual) v += y[at];
          if (relu) v = std::max(v, 0.0);
          y[at] = rnd(v);
        }
}

// dx(n,ih,iw,c) = sum over taps (r,s) whose output (p,q) exists of dy(n,p,q,k) W(k,c,r,s).
void conv_backward_data(const Conv2dShape& c, const std::vector<double>& dy,
                        const std::vector<double>& wk, std::vector<double>& dx) {
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
                           std::vector<double>* db) {
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
          for (int64_t r = 0; r < c.r; ++r) {
            const int64_t ih = p * c.stride_h - c.pad_h + r;
            if (ih < 0 || ih >= c.h) continue;
            for (int64_t s = 0; s < c.s; ++s) {
              const int64_t iw = q * c.stride_w - c.pad_w + s;
              if (iw < 0 || iw >= c.w) continue;
              const double* xp = &x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
              double* ap = &acc[static_cast<size_t>((r * c.s + s) * c.c)];
              for (int64_t ci = 0; ci < c.c; ++ci) ap[ci] += g * xp[ci];
            }
          }
        }
    for (int64_t ci = 0; ci < c.c; ++ci)
      for (int64_t r = 0; r < c.r; ++r)
        for (int64_t s = 0; s < c.s; ++s)
          dw[static_cast<size_t>(((k * c.c + ci) * c.r + r) * c.s + s)] =
              rnd(acc[static_cast<size_t>((r * c.s + s) * c.c + ci)]);
    if (db) (*db)[static_cast<size_t>(k)] = rnd(bsum);
  }
}

// Pooling forward and backward (max: the first largest tap, as oneDNN; average: padding
// excluded).
void pool(const Conv2dShape& c, bool max, const std::vector<double>& x,
          const std::vector<double>* dy, std::vector<double>& out) {
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
          for (int64_t r = 0; r < c.r; ++r) {
            const int64_t ih = p * c.stride_h - c.pad_h + r;
            if (ih < 0 || ih >= c.h) continue;
            for (int64_t s = 0; s < c.s; ++s) {
              const int64_t iw = q * c.stride_w - c.pad_w + s;
              if (iw < 0 || iw >= c.w) continue;
              const size_t i = static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c + ch);
              if (max && x[i] > acc) acc = x[i], best = i;
              if (!max) acc += x[i];
              ++taps;
            }
          }
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
          for (int64_t r = 0; r < c.r; ++r) {
            const int64_t ih = p * c.stride_h - c.pad_h + r;
            if (ih < 0 || ih >= c.h) continue;
            for (int64_t s = 0; s < c.s; ++s) {
              const int64_t iw = q * c.stride_w - c.pad_w + s;
              if (iw < 0 || iw >= c.w) continue;
              out[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c + ch)] +=
                  g / static_cast<double>(taps);
            }
          }
        }
  if (dy)
    for (double& v : out) v = rnd(v);
}

void matmul(const TOp& o, const std::vector<double>& a, const std::vector<double>& b,
            const std::vector<double>* bias, std::vector<double>& c) {
  c.assign(static_cast<size_t>(o.m * o.n), 0.0);
#pragma omp parallel for schedule(static) if (o.m > 1)
  for (int64_t i = 0; i < o.m; ++i) {
    std::vector<double> acc(static_cast<size_t>(o.n), 0.0);
    for (int64_t l = 0; l < o.k; ++l) {
      const double av = a[static_cast<size_t>(i * o.a_stride[0] + l * o.a_stride[1])];
      if (av == 0) continue;
      for (int64_t j = 0; j < o.n; ++j)
        acc[static_cast<size_t>(j)] +=
            av * b[static_cast<size_t>(l * o.b_stride[0] + j * o.b_stride[1])];
    }
    for (int64_t j = 0; j < o.n; ++j) {
      double v = acc[static_cast<size_t>(j)];
      if (bias) v += (*bias)[static_cast<size_t>(j)];
      if (o.relu) v = std::max(v, 0.0);
      c[static_cast<size_t>(i * o.c_stride[0] + j * o.c_stride[1])] = rnd(v);
    }
  }
}

}  // namespace

std::vector<std::vector<double>> reference_train(
    const TrainStep& t, const std::vector<std::vector<float>>& inputs,
    const std::function<void(size_t op, int tensor, const std::vector<double>& out)>& each) {
  std::vector<std::vector<double>> v(t.tensors.size());
  for (size_t i = 0; i < t.tensors.size(); ++i)
    if (!inputs[i].empty()) {
      v[i].resize(inputs[i].size());
      for (size_t k = 0; k < inputs[i].size(); ++k) v[i][k] = inputs[i][k];
    }
  std::map<int, std::vector<double>> packed;  // weights tensor -> [k][r][s][c]
  for (size_t oi = 0; oi < t.ops.size(); ++oi) {
    const TOp& o = t.ops[oi];
    auto at = [&](size_t i) -> std::vector<double>& { return v[static_cast<size_t>(o.bufs[i])]; };
    std::vector<double>& out = v[static_cast<size_t>(o.out)];
    switch (o.kind) {
      case TOpKind::conv_fwd:
      case TOpKind::conv_bwd_data:
      case TOpKind::conv_bwd_weights:
      case TOpKind::pool_fwd:
      case TOpKind::pool_bwd:
        break;
      case TOpKind::matmul:
        matmul(o, at(0), at(1), o.bias ? &at(3) : nullptr, out);
        break;
      case TOpKind::add:
        out.resize(at(0).size());
        for (size_t k = 0; k < out.size(); ++k) out[k] = rnd(at(0)[k] + at(1)[k]);
        break;
      case TOpKind::relu:
        out.resize(at(0).size());
        for (size_t k = 0; k < out.size(); ++k) out[k] = std::max(at(0)[k], 0.0);
        break;
      case TOpKind::relu_bwd:
        out.resize(at(0).size());
        for (size_t k = 0; k < out.size(); ++k) out[k] = at(1)[k] > 0 ? at(0)[k] : 0.0;
        break;
    }
    if (o.kind == TOpKind::conv_fwd || o.kind == TOpKind::conv_bwd_data ||
        o.kind == TOpKind::conv_bwd_weights || o.kind == TOpKind::pool_fwd ||
        o.kind == TOpKind::pool_bwd) {
      const Conv2dShape& c = t.shapes[static_cast<size_t>(o.layer)];
      if (o.kind == TOpKind::pool_fwd || o.kind == TOpKind::pool_bwd) {
        const bool mx = t.pool_max[static_cast<size_t>(o.layer)];
        if (o.kind == TOpKind::pool_fwd)
          pool(c, mx, at(0), nullptr, out);
        else
          pool(c, mx, at(1), &at(0), out);
      } else if (o.kind == TOpKind::conv_bwd_weights) {
        std::vector<double> db;
        conv_backward_weights(c, at(0), at(1), out, o.out2 >= 0 ? &db : nullptr);
        if (o.out2 >= 0) v[static_cast<size_t>(o.out2)] = std::move(db);
      } else {
        const int wt = o.bufs[1];
        auto it = packed.find(wt);
        if (it == packed.end()) it = packed.emplace(wt, krsc(v[static_cast<size_t>(wt)], c)).first;
        if (o.kind == TOpKind::conv_fwd)
          conv_forward(c, at(0), it->second, o.bias ? &at(3) : nullptr, o.residual, o.relu, out);
        else
          conv_backward_data(c, at(0), it->second, out);
      }
    }
    if (each) {
      each(oi, o.out, out);
      if (o.out2 >= 0) each(oi, o.out2, v[static_cast<size_t>(o.out2)]);
    }
  }
  return v;
}

}  // namespace suanli::model
