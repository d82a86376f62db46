// The training step: graph construction from a model's layers, its FLOP count, and the fp64 host
// reference of every op (forward and backward).
#include "model/model_train.h"

#include <algorithm>
#include <cmath>
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
    case TOpKind::bn_fwd:
      return "batch norm forward training";
    case TOpKind::bn_bwd:
      return "batch norm backward";
  }
  return "invalid";
}

double gradient_tolerance(Dtype dtype) {
  // Relative L2 error of each op's fp32 output against the fp64 evaluation of the same op on the
  // device's own (fp32) inputs, the output rounded to fp32: what remains is fp32 accumulation
  // order inside the op (~1e-7 relative; weight gradients sum n*p*q products per element) and
  // the cancellation in batch norm backward (dy - mean(dy) - xhat mean(dy xhat)); observed
  // <= ~1e-5. Bound 1e-4 like the forward output's. A corrupted op output
  // (tests/model_test.cpp) gives an error of order 1. Only fp32 has a training step.
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
  // Forward: every layer output gets its own tensor (backward needs them all). A residual layer's
  // sum goes to a new tensor (the shortcut stays intact) and its relu follows as its own op.
  std::vector<int> cur(m.tensors.size(), -1);  // model tensor -> current step tensor
  auto new_tensor = [&](const std::string& name, uint64_t el, TRole role, int layer) {
    return b.tensor(name, el, role, layer);
  };
  t.input = new_tensor(m.tensors[static_cast<size_t>(m.input)].name,
                       m.tensors[static_cast<size_t>(m.input)].bytes /
                           dtype_size(m.tensors[static_cast<size_t>(m.input)].type),
                       TRole::input, -1);
  cur[static_cast<size_t>(m.input)] = t.input;
  struct Fwd {
    int x = -1, y = -1;     // input, output (after relu) tensors
    int pre = -1;           // conv / linear: the product (+ bias)
    int w = -1, bias = -1;  // parameters
    bool bn = false;        // conv: batch norm after it
    int gamma = -1, beta = -1, mean = -1, var = -1;
    int shortcut = -1;  // residual: the shortcut tensor
  };
  std::vector<Fwd> fw(nl);
  for (size_t li = 0; li < nl; ++li) {
    const Layer& L = m.layers[li];
    const int l = static_cast<int>(li);
    Fwd& f = fw[li];
    f.x = cur[static_cast<size_t>(L.in)];
    const uint64_t out_el = L.out_bytes / dtype_size(L.dst_t);  // elements
    switch (L.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        const bool conv = L.kind == LayerKind::conv;
        if (L.act != 0 && !L.relu)
          throw DtypeUnsupported(fmt::format(
              "{}: layer '{}': the training step takes relu or no activation", m.origin, L.name));
        f.w = new_tensor(L.name + ".weights", weight_count(L), TRole::weights, l);
        // A conv's bias is the model file's folded batch norm: training unfolds it into a conv
        // without bias and a batch norm with batch statistics (gamma seeded, beta = the bias).
        f.bn = conv && L.bias;
        if (L.bias && !f.bn) f.bias = new_tensor(L.name + ".bias", L.bias_v.size(), TRole::bias, l);
        // The epilogue takes bias and relu when nothing comes between them and the product.
        const bool fused = !f.bn && !L.residual;
        const int dst = new_tensor(L.name + ".out", out_el, TRole::activation, l);
        std::vector<int> bufs{f.x, f.w, dst};
        if (f.bias >= 0) bufs.push_back(f.bias);
        TOp& o =
            b.op(L.name + " forward", conv ? TOpKind::conv_fwd : TOpKind::matmul, l, bufs, dst);
        o.bias = f.bias >= 0;
        o.relu = L.relu && fused;
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
        f.pre = dst;
        int y = dst;
        if (f.bn) {
          const uint64_t ch = static_cast<uint64_t>(L.conv.k);
          f.gamma = new_tensor(L.name + ".bn.gamma", ch, TRole::gamma, l);
          f.beta = new_tensor(L.name + ".bn.beta", ch, TRole::bias, l);
          f.mean = new_tensor(L.name + ".bn.mean", ch, TRole::activation, l);
          f.var = new_tensor(L.name + ".bn.var", ch, TRole::activation, l);
          y = new_tensor(L.name + ".bn.out", out_el, TRole::activation, l);
          TOp& n = b.op(L.name + " batch norm", TOpKind::bn_fwd, l,
                        {dst, y, f.gamma, f.beta, f.mean, f.var}, y);
          n.m = static_cast<int64_t>(out_el) / L.conv.k;
          n.n = L.conv.k;
        }
        if (L.residual) {
          // The shortcut tensor (the block input, or the projection's output) stays intact for
          // backward: the sum goes to a new tensor.
          f.shortcut = cur[static_cast<size_t>(L.out)];
          const int sum = new_tensor(L.name + ".sum", out_el, TRole::activation, l);
          b.op(L.name + " residual add", TOpKind::add, l, {y, f.shortcut, sum}, sum).elements =
              static_cast<int64_t>(out_el);
          y = sum;
        }
        if (L.relu && !fused) {
          const int r = new_tensor(L.name + ".relu", out_el, TRole::activation, l);
          b.op(L.name + " relu", TOpKind::relu, l, {y, r}, r).elements =
              static_cast<int64_t>(out_el);
          y = r;
        }
        f.y = y;
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
    int g = grad[static_cast<size_t>(f.y)];
    if (g < 0)
      throw InputError(fmt::format("{}: layer '{}': its output feeds nothing that reaches '{}'",
                                   m.origin, L.name,
                                   m.tensors[static_cast<size_t>(m.output)].name));
    const uint64_t out_el = L.out_bytes / dtype_size(L.dst_t);  // elements
    const bool need_dx = f.x != t.input;
    if (L.kind == LayerKind::maxpool || L.kind == LayerKind::avgpool) {
      const uint64_t in_el = t.tensors[static_cast<size_t>(f.x)].elements;
      const int dx = b.tensor("d" + L.name + ".in", in_el, TRole::gradient, l);
      b.op(L.name + " backward", TOpKind::pool_bwd, l, {g, f.x, dx}, dx);
      add_grad(f.x, dx, L.name, l);
      continue;
    }
    // conv / linear: relu backward (by the relu's output), the shortcut gets the same gradient,
    // batch norm backward, then weights and data.
    if (L.relu) {
      const int dz = b.tensor("d" + L.name + ".preact", out_el, TRole::gradient, l);
      b.op(L.name + " relu backward", TOpKind::relu_bwd, l, {g, f.y, dz}, dz).elements =
          static_cast<int64_t>(out_el);
      g = dz;
    }
    if (f.shortcut >= 0) add_grad(f.shortcut, g, L.name, l);
    if (f.bn) {
      const uint64_t ch = static_cast<uint64_t>(L.conv.k);
      const int dc = b.tensor("d" + L.name + ".out", out_el, TRole::gradient, l);
      const int dg = b.tensor(L.name + ".bn.gamma.grad", ch, TRole::weight_grad, l);
      const int dbeta = b.tensor(L.name + ".bn.beta.grad", ch, TRole::bias_grad, l);
      TOp& n = b.op(L.name + " batch norm backward", TOpKind::bn_bwd, l,
                    {f.pre, g, f.gamma, f.mean, f.var, dc, dg, dbeta}, dc);
      n.out2 = dg;
      n.out3 = dbeta;
      n.m = static_cast<int64_t>(out_el) / L.conv.k;
      n.n = L.conv.k;
      g = dc;
    }
    const int dw = b.tensor(L.name + ".weights.grad", weight_count(L), TRole::weight_grad, l);
    const int db =
        f.bias >= 0 ? b.tensor(L.name + ".bias.grad", L.bias_v.size(), TRole::bias_grad, l) : -1;
    const uint64_t in_el = t.tensors[static_cast<size_t>(f.x)].elements;
    if (L.kind == LayerKind::conv) {
      std::vector<int> bufs{f.x, g, dw};
      if (db >= 0) bufs.push_back(db);
      TOp& o = b.op(L.name + " backward weights", TOpKind::conv_bwd_weights, l, bufs, dw);
      o.out2 = db;
      o.bias = db >= 0;
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
      case TRole::gamma: {
        std::mt19937_64 g(seed ^ (0x9a33aULL + static_cast<uint64_t>(x.layer)));
        std::uniform_real_distribution<float> u(0.9f, 1.1f);
        v[i].resize(x.elements);
        for (float& e : v[i]) e = u(g);
        break;
      }
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

// Rounding of every op's output to fp32, as the device stores it (exact: none, for finite
// differences of the reference itself).
struct Rounder {
  bool exact = false;
  double operator()(double v) const {
    return exact ? v : static_cast<double>(static_cast<float>(v));
  }
};

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
                  const std::vector<double>* bias, bool relu, std::vector<double>& y, Rounder rnd) {
  const int64_t P = c.p(), Q = c.q();
  y.assign(static_cast<size_t>(c.n * P * Q * c.k), 0.0);
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
            const std::vector<double>* bias, std::vector<double>& c, Rounder rnd) {
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

// Batch norm over rows x channels with batch statistics (biased variance, as oneDNN and
// frameworks use for normalizing): y = gamma (x - mean) / sqrt(var + eps) + beta.
void batch_norm_forward(const TOp& o, const std::vector<double>& x, const std::vector<double>& g,
                        const std::vector<double>& beta, std::vector<double>& y,
                        std::vector<double>& mean, std::vector<double>& var, Rounder rnd) {
  const int64_t rows = o.m, ch = o.n;
  const double nr = static_cast<double>(rows);
  y.resize(x.size());
  mean.assign(static_cast<size_t>(ch), 0.0);
  var.assign(static_cast<size_t>(ch), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < ch; ++c) {
    const size_t cc = static_cast<size_t>(c);
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
  }
}

// With xhat = (x - mean) istd: dbeta = sum dy, dgamma = sum dy xhat,
// dx = gamma istd (dy - dbeta / N - xhat dgamma / N); mean and var are the forward's outputs.
void batch_norm_backward(const TOp& o, const std::vector<double>& x, const std::vector<double>& dy,
                         const std::vector<double>& g, const std::vector<double>& mean,
                         const std::vector<double>& var, std::vector<double>& dx,
                         std::vector<double>& dg, std::vector<double>& dbeta, Rounder rnd) {
  const int64_t rows = o.m, ch = o.n;
  const double nr = static_cast<double>(rows);
  dx.resize(x.size());
  dg.assign(static_cast<size_t>(ch), 0.0);
  dbeta.assign(static_cast<size_t>(ch), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < ch; ++c) {
    const size_t cc = static_cast<size_t>(c);
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
  }
}

}  // namespace

void reference_op(const TrainStep& t, size_t oi, std::vector<std::vector<double>>& v, bool exact) {
  const Rounder rnd{exact};
  const TOp& o = t.ops[oi];
  auto at = [&](size_t i) -> std::vector<double>& { return v[static_cast<size_t>(o.bufs[i])]; };
  std::vector<double>& out = v[static_cast<size_t>(o.out)];
  const Conv2dShape& c = t.shapes[static_cast<size_t>(o.layer)];
  switch (o.kind) {
    case TOpKind::conv_fwd:
      conv_forward(c, at(0), krsc(at(1), c), o.bias ? &at(3) : nullptr, o.relu, out, rnd);
      break;
    case TOpKind::conv_bwd_data:
      conv_backward_data(c, at(0), krsc(at(1), c), out, rnd);
      break;
    case TOpKind::conv_bwd_weights:
      conv_backward_weights(c, at(0), at(1), out, o.out2 >= 0 ? &at(3) : nullptr, rnd);
      break;
    case TOpKind::pool_fwd:
      pool(c, t.pool_max[static_cast<size_t>(o.layer)], at(0), nullptr, out, rnd);
      break;
    case TOpKind::pool_bwd:
      pool(c, t.pool_max[static_cast<size_t>(o.layer)], at(1), &at(0), out, rnd);
      break;
    case TOpKind::matmul:
      matmul(o, at(0), at(1), o.bias ? &at(3) : nullptr, out, rnd);
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
    case TOpKind::bn_fwd:
      batch_norm_forward(o, at(0), at(2), at(3), out, at(4), at(5), rnd);
      break;
    case TOpKind::bn_bwd:
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
