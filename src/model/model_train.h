// The training step of a convolutional model (suites/models/*.json: conv, pooling, linear
// layers): forward with training props, the loss gradient, backward through every layer in
// reverse (backward data where an input gradient is needed, backward weights and bias for every
// conv and linear layer, gradients summed where a tensor feeds several layers: the residual
// shortcuts). One list of ops over fp32 tensors, run on the device (model_run.cpp) and on the
// host with fp64 accumulation (reference_train) for verification.
//
// The loss gradient dL/dlogits is seeded data uploaded before timing (no loss evaluation, no
// optimizer update: the step ends with the weight gradients). A conv's bias in the model files is
// its folded batch norm: the step unfolds it into the conv (no bias) and a batch norm with batch
// statistics (forward training and backward), as a framework trains ResNet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace suanli::model {

// Batch norm epsilon of the training step (PyTorch's ResNet default).
inline constexpr double kBatchNormEps = 1e-5;

enum class TensorRole {
  input,        // the model's input (seeded)
  activation,   // forward tensors
  gradient,     // gradients of activations
  weights,      // conv KCRS, linear k x n (seeded, the model's)
  bias,         // linear bias, batch norm beta (the model's bias, seeded)
  gamma,        // batch norm gamma (seeded, 1 +- 0.1)
  weight_grad,  // outputs of the step: gradients of weights
  bias_grad,    // and of biases
  loss_grad,    // dL/dlogits (seeded)
  ones          // a row of ones (bias gradient of a linear layer as a matmul)
};

struct TrainTensor {
  std::string name;
  uint64_t elements = 0;
  TensorRole role = TensorRole::activation;
  int layer = -1;  // the model layer whose weights / gradients it holds
};

// The ops of the step. A model layer (LayerKind) is what a model file names; a training op is one
// ABI op with its propagation: conv_fwd / conv_bwd_data / conv_bwd_weights are
// SUANLI_OP_CONV2D_LAYER forward training / backward data / backward weights, pool_*
// SUANLI_OP_POOL, matmul SUANLI_OP_MATMUL (one batch), add / relu / relu_bwd SUANLI_OP_ELTWISE,
// bn_* SUANLI_OP_NORM (batch). Layers and training ops translate to descriptors through the same
// per-ABI-kind builders (layer_ops.cpp) and share MatmulGeometry.
enum class TrainOpKind {
  conv_fwd,          // bufs: src, weights, dst, [bias]
  pool_fwd,          // bufs: src, dst
  matmul,            // linear forward and backward: A, B, C, [bias]
  add,               // bufs: a, b, dst
  relu,              // bufs: src, dst
  relu_bwd,          // bufs: diff_dst, forward relu output, diff_src
  conv_bwd_data,     // bufs: diff_dst, weights, diff_src
  conv_bwd_weights,  // bufs: src, diff_dst, diff_weights, [diff_bias]
  pool_bwd,          // bufs: diff_dst, src, diff_src
  bn_fwd,            // batch norm, batch statistics: src, dst, gamma, beta, mean, var
  bn_bwd             // src, diff_dst, gamma, mean, var, diff_src, diff_gamma, diff_beta
};
std::string_view train_op_kind_name(TrainOpKind kind);

struct TrainOp {
  std::string name;  // "s2b1.conv1 backward weights"
  TrainOpKind kind = TrainOpKind::conv_fwd;
  int layer = -1;                   // the model layer it belongs to
  std::vector<int> bufs;            // tensor indices, in the ABI's buffer order
  int out = -1;                     // the tensor it writes (conv_bwd_weights: diff weights)
  int out2 = -1;                    // conv_bwd_weights: diff bias; bn_bwd: diff gamma
  int out3 = -1;                    // bn_bwd: diff beta
  bool bias = false, relu = false;  // epilogue of conv_fwd / matmul
  MatmulGeometry matmul;            // matmul: C (m x n) = A (m x k) * B (k x n), one batch
  int64_t rows = 0, channels = 0;   // batch norm
  int64_t elements = 0;             // add, relu, relu_bwd
  double flops = 0;                 // multiply-adds x 2 (0 for data-movement ops)
};

struct TrainStep {
  std::vector<TrainTensor> tensors;
  std::vector<TrainOp> ops;
  int input = -1, logits = -1, loss_grad = -1;
  std::vector<Conv2dShape> shapes;  // per model layer: the conv's shape, the pooling window
  std::vector<char> pool_max;       // per model layer: max (1) or average pooling
  // FLOPs of the whole batch: forward (the inference count), backward data, backward weights
  // (bias gradients of linear layers are matmuls with a row of ones and count as such).
  double flops_forward = 0, flops_backward_data = 0, flops_backward_weights = 0;
  double flops() const { return flops_forward + flops_backward_data + flops_backward_weights; }
  uint64_t bytes = 0;  // all tensors
};

// The training step of `m` (its ops are fp32: run_training records other dtypes unsupported).
// Throws DtypeUnsupported for layers that have no backward here (norm, attention: transformers),
// naming the layer.
TrainStep build_train_step(const Model& m);

// Initial contents of the seeded tensors (input, weights, biases, loss gradient, ones) in real
// values; empty for the others.
std::vector<std::vector<float>> train_inputs(const Model& m, const TrainStep& t, uint64_t seed);

// One op of the step on the host: reads its input tensors from v, writes its outputs (out, out2,
// out3) into v. Every multiply-add accumulated in fp64, every output rounded to fp32 as the
// device stores it (exact: no rounding, for finite-difference checks).
void reference_op(const TrainStep& t, size_t op, std::vector<std::vector<double>>& v,
                  bool exact = false);

// The whole step on the host from `inputs` (train_inputs): every tensor's final contents.
std::vector<std::vector<double>> reference_train(const TrainStep& t,
                                                 const std::vector<std::vector<float>>& inputs,
                                                 bool exact = false);

// Tolerance of the relative L2 error of each op's output against reference_op on the device's
// own inputs (see model_train.cpp).
double gradient_tolerance(Dtype dtype);

}  // namespace suanli::model
