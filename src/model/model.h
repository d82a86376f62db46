// Model workloads: a model description (suites/models/*.json) resolved at a batch and dtype into
// tensors and layers, its FLOP count, seeded weights, and a host reference of the whole graph
// with fp64 accumulation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/op.h"

namespace suanli::model {

// One named activation buffer; layers read and write it by index. Its size is the largest use.
struct Tensor {
  std::string name;
  uint64_t bytes = 0;
  bool input = false;  // the model's input: filled with seeded data, never written by a layer
  bool cache = false;  // a KV cache: seeded (earlier tokens); decode writes position 0
  Dtype type = Dtype::fp32;
};

// linear: activations x weights (dense, or into position 0 of a KV cache); matmul: attention,
// both operands activations read in place through strides; norm: RMS / layer norm per token;
// softmax: over the last dimension; act_mul: act(in) * in2 (SwiGLU).
// mask_add: scores + a causal mask as its own element-wise add (for backends whose matmul has
// no broadcast mask epilogue; the mask is stored per (sample, head) in the activation type).
enum class LayerKind { conv, maxpool, avgpool, linear, matmul, norm, softmax, act_mul, mask_add };
std::string_view layer_kind_name(LayerKind kind);

// A strided batched matmul as backend.h's suanli_matmul_desc states it:
// C[b0,b1](i,j) = sum_l A[b0,b1](i,l) * B[b0,b1](l,j), element (i,l) of A[b0,b1] at offset
// b0*a_stride[0] + b1*a_stride[1] + i*a_stride[2] + l*a_stride[3] (B and C likewise).
struct MatmulGeometry {
  int64_t batch0 = 1, batch1 = 1, m = 0, n = 0, k = 0;
  int64_t a_stride[4] = {0, 0, 0, 1}, b_stride[4] = {0, 0, 0, 1}, c_stride[4] = {0, 0, 0, 1};
};

// One resolved layer. The fields in the first group hold for every kind; the others belong to
// the kinds named beside them and keep their defaults elsewhere.
struct Layer {
  // -- every kind
  std::string name;
  LayerKind kind = LayerKind::conv;
  int in = -1, out = -1;  // tensor indices
  bool residual = false;  // conv, linear, matmul: out holds a shortcut, added in place
  int act = 0;            // suanli_activation of the epilogue (act_mul: of the multiplicand)
  bool relu = false;      // act == SUANLI_ACT_RELU
  Dtype src_type = Dtype::fp32, weight_type = Dtype::fp32, dst_type = Dtype::fp32;  // storage
  // int8: real = scale * stored; filled by calibration in reference().
  float src_scale = 1, weight_scale = 1, dst_scale = 1, residual_scale = 1;
  double flops = 0;       // src/core's count (conv: taps on padding not counted)
  double macs_dense = 0;  // multiply-adds counting every tap (what model-zoo tables publish)
  uint64_t out_bytes = 0;
  // -- conv, maxpool, avgpool: the convolution, or the pooling window (k = c)
  Conv2dShape conv;
  // -- conv, linear: weights (conv: KCRS; linear: k x n row-major, real values) and bias
  bool bias = false;
  std::vector<float> weights;
  std::vector<float> bias_values;  // conv: k; linear: n
  // -- linear (rows x k times k x n) and matmul (attention) as a strided batched matmul
  MatmulGeometry matmul;
  int in2 = -1;                    // matmul: B (K or V); act_mul: the multiplier
  double alpha = 1;                // matmul: 1/sqrt(d_head)
  std::vector<float> mask_values;  // matmul: causal mask, m x n; mask_add: per element
                                   // (0 or -1e30)
  // -- norm (rows of a tensor), softmax (rows)
  int64_t rows = 0;
  bool rms = true;  // norm: RMS (gamma only) or layer norm (gamma, beta)
  double eps = 1e-5;
  std::vector<float> gamma, beta;
  // -- act_mul, mask_add: elements of the output
  int64_t elements = 0;
};

struct Model {
  std::string name, description, sample;  // sample: "image", ...
  std::string origin;                     // "builtin:resnet50" or a path
  Dtype dtype = Dtype::fp32;
  int64_t batch = 1;
  std::vector<Tensor> tensors;
  std::vector<Layer> layers;
  int input = -1, output = -1;
  std::vector<int64_t> input_shape;  // per sample
  double flops = 0;                  // per batch, sum over layers
  double macs_dense = 0;             // per batch
  uint64_t weight_bytes = 0;         // weights + biases as stored on the device
  float input_scale = 1;             // int8: the input's scale (set by reference())
  int64_t tokens = 0;                // tokens per sample (transformers: input rows)
  int64_t blocks = 0;                // repeated blocks (decoder/encoder layers) after scaling
  uint64_t cache_bytes = 0;          // KV caches on the device
  double bytes_per_step = 0;         // weights + KV caches read per forward (memory-bound floor)
  uint64_t cache_seed = 1;           // the KV caches' contents (make_cache)
  int64_t verify_tokens = 0;  // the model file's reduced token count for verification (0: same)
};

// Scaling of a model at load time: `layers` replaces the count of its repeated block (0: the
// file's), `tokens` the input's token count (0: the file's).
struct Scale {
  int64_t layers = 0;
  int64_t tokens = 0;
  bool shapes_only = false;  // no weight values (FLOP and byte counts of full-size models)
};

// The model has no form in the requested dtype (int8 transformer layers): recorded unsupported.
struct DtypeUnsupported : InputError {
  using InputError::InputError;
};

// Loads model NAME (built in: suites/models/NAME.json) or a .json path, validated against
// reports/schema/model.schema.json, and resolves it at `batch` for `dtype` (fp32, bf16, fp16,
// int8) with weights drawn from `seed`. Throws InputError naming the file and JSON path.
Model build_model(const std::string& name_or_path, Dtype dtype, int64_t batch, uint64_t seed,
                  Scale scale = {});

// Seeded initial contents of a KV cache tensor (real values), the same on host and device.
std::vector<float> make_cache(const Model& m, int tensor, uint64_t seed);

// Names of the built-in models.
std::vector<std::string> builtin_model_names();

// The model's input at its batch, in real values (seeded).
std::vector<float> make_input(const Model& m, uint64_t seed);

// Runs the graph on the host: every multiply-add accumulated in fp64, every tensor rounded to
// its storage type after each layer as the device stores it. For int8 it first calibrates
// (sets each layer's activation scales from the real values it computes: max |x| / 127 or
// 255) -- call it before planning the device graph. Returns the output tensor (real values).
// trace, when given, receives every layer's output (real values) in layer order.
std::vector<double> reference(Model& m, const std::vector<float>& input,
                              std::vector<std::vector<double>>* trace = nullptr);

// Per-dtype tolerance of the relative L2 error ||device - reference|| / ||reference|| of the
// model's output (see model.cpp for why each value).
double output_tolerance(Dtype dtype);

// Device bytes of tensor t holding values stored as `type` (for the upload of inputs/weights).
std::vector<char> encode(const std::vector<float>& real, Dtype type, float scale);

}  // namespace suanli::model
