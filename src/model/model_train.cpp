// The training step: graph construction from a model's layers, its FLOP count, and the fp64 host
// seeded inputs (the references of its ops are in reference.cpp).
#include "model/model_train.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <random>

#include <fmt/format.h>

namespace suanli::model {

std::string_view train_op_kind_name(TrainOpKind kind) {
  static constexpr std::string_view kNames[] = {"conv forward",
                                                "pool forward",
                                                "matmul",
                                                "add",
                                                "relu",
                                                "relu backward",
                                                "conv backward data",
                                                "conv backward weights",
                                                "pool backward",
                                                "batch norm forward training",
                                                "batch norm backward"};
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "invalid";
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

// Multiply-adds x 2 of a convolution over the taps that fall inside the input (src/core's
// count). Backward data pairs every such (output, tap) with one input element and backward
// weights with one weight: each is exactly the forward count.
double conv_flops(const Layer& layer) {
  return layer.flops;
}

// Weights of a conv (KCRS) or linear layer (k x n), also for shapes-only models.
uint64_t weight_count(const Layer& layer) {
  const Conv2dShape& c = layer.conv;
  return static_cast<uint64_t>(layer.kind == LayerKind::conv ? c.k * c.c * c.r * c.s
                                                             : layer.matmul.k * layer.matmul.n);
}

// A one-batch matmul C (m x n) = A (m x k) * B (k x n) with (row, column) element strides.
MatmulGeometry plain_matmul(int64_t m, int64_t n, int64_t k, std::array<int64_t, 2> a,
                            std::array<int64_t, 2> b, std::array<int64_t, 2> c) {
  MatmulGeometry g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a_stride[2] = a[0];
  g.a_stride[3] = a[1];
  g.b_stride[2] = b[0];
  g.b_stride[3] = b[1];
  g.c_stride[2] = c[0];
  g.c_stride[3] = c[1];
  return g;
}

// The forward tensors of one model layer the backward pass reads.
struct ForwardTensors {
  int x = -1, y = -1;     // input, output (after relu) tensors
  int pre = -1;           // conv / linear: the product (+ bias)
  int w = -1, bias = -1;  // parameters
  bool bn = false;        // conv: batch norm after it
  int gamma = -1, beta = -1, mean = -1, var = -1;
  int shortcut = -1;  // residual: the shortcut tensor
};

// Builds the step in named stages: forward (every layer), then backward in reverse.
class StepBuilder {
 public:
  explicit StepBuilder(const Model& m) : m_(m), forward_(m.layers.size()) {}

  TrainStep build() {
    for (const Layer& layer : m_.layers) {
      t_.shapes.push_back(layer.conv);
      t_.pool_max.push_back(layer.kind == LayerKind::maxpool ? 1 : 0);
    }
    forward();
    backward();
    for (const TrainTensor& x : t_.tensors) t_.bytes += x.elements * 4;
    return std::move(t_);
  }

 private:
  const Model& m_;
  TrainStep t_;
  std::vector<ForwardTensors> forward_;  // per model layer
  std::vector<int> grad_;                // step tensor -> its gradient so far (-1: none yet)

  int tensor(std::string name, uint64_t elements, TensorRole role, int layer = -1) {
    t_.tensors.push_back({std::move(name), elements, role, layer});
    return static_cast<int>(t_.tensors.size()) - 1;
  }
  TrainOp& op(std::string name, TrainOpKind kind, int layer, std::vector<int> bufs, int out) {
    TrainOp o;
    o.name = std::move(name);
    o.kind = kind;
    o.layer = layer;
    o.bufs = std::move(bufs);
    o.out = out;
    t_.ops.push_back(std::move(o));
    return t_.ops.back();
  }
  uint64_t elements(int tensor) const { return t_.tensors[static_cast<size_t>(tensor)].elements; }
  static uint64_t out_elements(const Layer& layer) {
    return layer.out_bytes / dtype_size(layer.dst_type);
  }
  const std::string& model_tensor_name(int tensor) const {
    return m_.tensors[static_cast<size_t>(tensor)].name;
  }

  // Forward: every layer output gets its own tensor (backward needs them all). A residual
  // layer's sum goes to a new tensor (the shortcut stays intact) and its relu follows as its own
  // op.
  void forward() {
    std::vector<int> current(m_.tensors.size(), -1);  // model tensor -> current step tensor
    const Tensor& input = m_.tensors[static_cast<size_t>(m_.input)];
    t_.input = tensor(input.name, input.bytes / dtype_size(input.type), TensorRole::input);
    current[static_cast<size_t>(m_.input)] = t_.input;
    for (size_t li = 0; li < m_.layers.size(); ++li) {
      const Layer& layer = m_.layers[li];
      ForwardTensors& f = forward_[li];
      f.x = current[static_cast<size_t>(layer.in)];
      switch (layer.kind) {
        case LayerKind::conv:
        case LayerKind::linear:
          forward_weighted(static_cast<int>(li), current);
          break;
        case LayerKind::maxpool:
        case LayerKind::avgpool:
          f.y = tensor(layer.name + ".out", out_elements(layer), TensorRole::activation,
                       static_cast<int>(li));
          op(layer.name + " forward", TrainOpKind::pool_fwd, static_cast<int>(li), {f.x, f.y}, f.y);
          break;
        default:
          throw DtypeUnsupported(fmt::format(
              "{}: layer '{}' ({}) has no backward pass in suanli's training step (conv, "
              "pooling and linear layers only)",
              m_.origin, layer.name, layer_kind_name(layer.kind)));
      }
      current[static_cast<size_t>(layer.out)] = f.y;
    }
    t_.logits = current[static_cast<size_t>(m_.output)];
    t_.loss_grad =
        tensor("dL/d" + model_tensor_name(m_.output), elements(t_.logits), TensorRole::loss_grad);
  }

  // A conv or linear layer forward: the product (with bias and relu when nothing comes
  // between), then batch norm, residual add and relu as their own ops where the layer has them.
  void forward_weighted(int l, const std::vector<int>& current) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    ForwardTensors& f = forward_[static_cast<size_t>(l)];
    const bool conv = layer.kind == LayerKind::conv;
    const uint64_t out_el = out_elements(layer);
    if (layer.act != 0 && !layer.relu)
      throw DtypeUnsupported(fmt::format(
          "{}: layer '{}': the training step takes relu or no activation", m_.origin, layer.name));
    f.w = tensor(layer.name + ".weights", weight_count(layer), TensorRole::weights, l);
    // A conv's bias is the model file's folded batch norm: training unfolds it into a conv
    // without bias and a batch norm with batch statistics (gamma seeded, beta = the bias).
    f.bn = conv && layer.bias;
    if (layer.bias && !f.bn)
      f.bias = tensor(layer.name + ".bias", layer.bias_values.size(), TensorRole::bias, l);
    // The epilogue takes bias and relu when nothing comes between them and the product.
    const bool fused = !f.bn && !layer.residual;
    const int dst = tensor(layer.name + ".out", out_el, TensorRole::activation, l);
    std::vector<int> bufs{f.x, f.w, dst};
    if (f.bias >= 0) bufs.push_back(f.bias);
    TrainOp& o = op(layer.name + " forward", conv ? TrainOpKind::conv_fwd : TrainOpKind::matmul, l,
                    bufs, dst);
    o.bias = f.bias >= 0;
    o.relu = layer.relu && fused;
    o.flops = conv ? conv_flops(layer) : layer.flops;
    if (!conv)
      o.matmul = plain_matmul(layer.matmul.m, layer.matmul.n, layer.matmul.k, {layer.matmul.k, 1},
                              {layer.matmul.n, 1}, {layer.matmul.n, 1});
    t_.flops_forward += o.flops;
    f.pre = dst;
    int y = dst;
    if (f.bn) y = forward_batch_norm(l, dst);
    if (layer.residual) {
      // The shortcut tensor (the block input, or the projection's output) stays intact for
      // backward: the sum goes to a new tensor.
      f.shortcut = current[static_cast<size_t>(layer.out)];
      const int sum = tensor(layer.name + ".sum", out_el, TensorRole::activation, l);
      op(layer.name + " residual add", TrainOpKind::add, l, {y, f.shortcut, sum}, sum).elements =
          static_cast<int64_t>(out_el);
      y = sum;
    }
    if (layer.relu && !fused) {
      const int r = tensor(layer.name + ".relu", out_el, TensorRole::activation, l);
      op(layer.name + " relu", TrainOpKind::relu, l, {y, r}, r).elements =
          static_cast<int64_t>(out_el);
      y = r;
    }
    f.y = y;
  }

  // Batch norm (batch statistics) after conv layer l's product `src`; returns its output.
  int forward_batch_norm(int l, int src) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    ForwardTensors& f = forward_[static_cast<size_t>(l)];
    const uint64_t ch = static_cast<uint64_t>(layer.conv.k);
    f.gamma = tensor(layer.name + ".bn.gamma", ch, TensorRole::gamma, l);
    f.beta = tensor(layer.name + ".bn.beta", ch, TensorRole::bias, l);
    f.mean = tensor(layer.name + ".bn.mean", ch, TensorRole::activation, l);
    f.var = tensor(layer.name + ".bn.var", ch, TensorRole::activation, l);
    const int y = tensor(layer.name + ".bn.out", out_elements(layer), TensorRole::activation, l);
    TrainOp& n = op(layer.name + " batch norm", TrainOpKind::bn_fwd, l,
                    {src, y, f.gamma, f.beta, f.mean, f.var}, y);
    n.rows = static_cast<int64_t>(out_elements(layer)) / layer.conv.k;
    n.channels = layer.conv.k;
    return y;
  }

  // Adds gradient g to what tensor x has so far; a second contribution is summed into a new
  // tensor.
  void add_grad(int x, int g, const std::string& who, int layer) {
    int& current = grad_[static_cast<size_t>(x)];
    if (current < 0) {
      current = g;
      return;
    }
    const uint64_t el = elements(x);
    const int s = tensor("d" + t_.tensors[static_cast<size_t>(x)].name + ".sum", el,
                         TensorRole::gradient, layer);
    op(who + " gradient sum", TrainOpKind::add, layer, {current, g, s}, s).elements =
        static_cast<int64_t>(el);
    current = s;
  }

  // Backward, layers in reverse.
  void backward() {
    grad_.assign(t_.tensors.size(), -1);
    grad_[static_cast<size_t>(t_.logits)] = t_.loss_grad;
    for (size_t li = m_.layers.size(); li-- > 0;) {
      const Layer& layer = m_.layers[li];
      const int l = static_cast<int>(li);
      const ForwardTensors& f = forward_[li];
      const int g = grad_[static_cast<size_t>(f.y)];
      if (g < 0)
        throw InputError(fmt::format("{}: layer '{}': its output feeds nothing that reaches '{}'",
                                     m_.origin, layer.name, model_tensor_name(m_.output)));
      if (layer.kind == LayerKind::maxpool || layer.kind == LayerKind::avgpool) {
        const int dx = tensor("d" + layer.name + ".in", elements(f.x), TensorRole::gradient, l);
        op(layer.name + " backward", TrainOpKind::pool_bwd, l, {g, f.x, dx}, dx);
        add_grad(f.x, dx, layer.name, l);
        continue;
      }
      const int dy = backward_epilogue(l, g);
      if (layer.kind == LayerKind::conv)
        backward_conv(l, dy);
      else
        backward_linear(l, dy);
    }
  }

  // Conv / linear: relu backward (by the relu's output), the shortcut gets the same gradient,
  // batch norm backward. Returns the gradient of the product.
  int backward_epilogue(int l, int g) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    const ForwardTensors& f = forward_[static_cast<size_t>(l)];
    const uint64_t out_el = out_elements(layer);
    if (layer.relu) {
      const int dz = tensor("d" + layer.name + ".preact", out_el, TensorRole::gradient, l);
      op(layer.name + " relu backward", TrainOpKind::relu_bwd, l, {g, f.y, dz}, dz).elements =
          static_cast<int64_t>(out_el);
      g = dz;
    }
    if (f.shortcut >= 0) add_grad(f.shortcut, g, layer.name, l);
    if (!f.bn) return g;
    const uint64_t ch = static_cast<uint64_t>(layer.conv.k);
    const int dc = tensor("d" + layer.name + ".out", out_el, TensorRole::gradient, l);
    const int dg = tensor(layer.name + ".bn.gamma.grad", ch, TensorRole::weight_grad, l);
    const int dbeta = tensor(layer.name + ".bn.beta.grad", ch, TensorRole::bias_grad, l);
    TrainOp& n = op(layer.name + " batch norm backward", TrainOpKind::bn_bwd, l,
                    {f.pre, g, f.gamma, f.mean, f.var, dc, dg, dbeta}, dc);
    n.out2 = dg;
    n.out3 = dbeta;
    n.rows = static_cast<int64_t>(out_el) / layer.conv.k;
    n.channels = layer.conv.k;
    return dc;
  }

  // The weights (and bias) gradient tensors of layer l.
  std::pair<int, int> parameter_grads(int l) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    const int dw =
        tensor(layer.name + ".weights.grad", weight_count(layer), TensorRole::weight_grad, l);
    const int db =
        forward_[static_cast<size_t>(l)].bias >= 0
            ? tensor(layer.name + ".bias.grad", layer.bias_values.size(), TensorRole::bias_grad, l)
            : -1;
    return {dw, db};
  }

  void backward_conv(int l, int g) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    const ForwardTensors& f = forward_[static_cast<size_t>(l)];
    const auto [dw, db] = parameter_grads(l);
    std::vector<int> bufs{f.x, g, dw};
    if (db >= 0) bufs.push_back(db);
    TrainOp& o = op(layer.name + " backward weights", TrainOpKind::conv_bwd_weights, l, bufs, dw);
    o.out2 = db;
    o.bias = db >= 0;
    o.flops = conv_flops(layer);
    t_.flops_backward_weights += o.flops;
    if (f.x == t_.input) return;  // no gradient of the model's input
    const int dx = tensor("d" + layer.name + ".in", elements(f.x), TensorRole::gradient, l);
    TrainOp& d = op(layer.name + " backward data", TrainOpKind::conv_bwd_data, l, {g, f.w, dx}, dx);
    d.flops = conv_flops(layer);
    t_.flops_backward_data += d.flops;
    add_grad(f.x, dx, layer.name, l);
  }

  // Linear (x: rows x k, W: k x n, g: rows x n): dW = x^T g, db = ones^T g, dx = g W^T.
  void backward_linear(int l, int g) {
    const Layer& layer = m_.layers[static_cast<size_t>(l)];
    const ForwardTensors& f = forward_[static_cast<size_t>(l)];
    const int64_t rows = layer.matmul.m, n = layer.matmul.n, k = layer.matmul.k;
    const auto [dw, db] = parameter_grads(l);
    TrainOp& o = op(layer.name + " backward weights", TrainOpKind::matmul, l, {f.x, g, dw}, dw);
    o.matmul = plain_matmul(k, n, rows, {1, k} /* x^T */, {n, 1}, {n, 1});
    o.flops = 2.0 * static_cast<double>(k * n * rows);
    t_.flops_backward_weights += o.flops;
    if (db >= 0) {
      const int ones =
          tensor(layer.name + ".ones", static_cast<uint64_t>(rows), TensorRole::ones, l);
      TrainOp& b = op(layer.name + " backward bias", TrainOpKind::matmul, l, {ones, g, db}, db);
      b.matmul = plain_matmul(1, n, rows, {rows, 1}, {n, 1}, {n, 1});
      b.flops = 2.0 * static_cast<double>(n * rows);
      t_.flops_backward_weights += b.flops;
    }
    if (f.x == t_.input) return;
    const int dx = tensor("d" + layer.name + ".in", elements(f.x), TensorRole::gradient, l);
    TrainOp& d = op(layer.name + " backward data", TrainOpKind::matmul, l, {g, f.w, dx}, dx);
    d.matmul = plain_matmul(rows, k, n, {n, 1}, {1, n} /* W^T */, {k, 1});
    d.flops = 2.0 * static_cast<double>(rows * k * n);
    t_.flops_backward_data += d.flops;
    add_grad(f.x, dx, layer.name, l);
  }
};

}  // namespace

TrainStep build_train_step(const Model& m) {
  return StepBuilder(m).build();
}

std::vector<std::vector<float>> train_inputs(const Model& m, const TrainStep& t, uint64_t seed) {
  std::vector<std::vector<float>> v(t.tensors.size());
  v[static_cast<size_t>(t.input)] = make_input(m, seed);
  std::mt19937_64 rng(seed ^ 0x10557ULL);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    const TrainTensor& x = t.tensors[i];
    switch (x.role) {
      case TensorRole::weights:
        v[i] = m.layers[static_cast<size_t>(x.layer)].weights;
        break;
      case TensorRole::bias:
        v[i] = m.layers[static_cast<size_t>(x.layer)].bias_values;
        break;
      case TensorRole::ones:
        v[i].assign(x.elements, 1.f);
        break;
      case TensorRole::gamma: {
        std::mt19937_64 g(seed ^ (0x9a33aULL + static_cast<uint64_t>(x.layer)));
        std::uniform_real_distribution<float> u(0.9f, 1.1f);
        v[i].resize(x.elements);
        for (float& e : v[i]) e = u(g);
        break;
      }
      case TensorRole::loss_grad:
        v[i].resize(x.elements);
        for (float& g : v[i]) g = ud(rng);
        break;
      default:
        break;
    }
  }
  return v;
}

}  // namespace suanli::model
