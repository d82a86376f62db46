// Model layers and training-step ops -> ABI op descriptors, one function per ABI op kind.
#include "model/layer_ops.h"

#include "core/op_traits.h"

#include <algorithm>
#include <tuple>

namespace suanli::model {

namespace {

// The geometry the conv and pool descriptors share: input n, c, h, w; window r x s; strides;
// padding.
template <typename Desc>
void set_window(Desc& d, const Conv2dShape& c) {
  std::tie(d.n, d.c, d.h, d.w, d.r, d.s) = std::tie(c.n, c.c, c.h, c.w, c.r, c.s);
  std::tie(d.stride_h, d.stride_w) = std::tie(c.stride_h, c.stride_w);
  std::tie(d.pad_h, d.pad_w) = std::tie(c.pad_h, c.pad_w);
}

}  // namespace

namespace {

suanli_epilogue make_epilogue(bool bias, bool residual, int activation, bool mask, double alpha) {
  suanli_epilogue e{};
  e.struct_size = SUANLI_EPILOGUE_SIZE;
  e.alpha = alpha;
  e.bias = bias ? 1 : 0;
  e.residual = residual ? 1 : 0;
  e.activation = static_cast<suanli_activation>(activation);
  e.mask = mask ? 1 : 0;
  return e;
}

suanli_quant layer_quant(const Layer& layer) {
  return {SUANLI_QUANT_SIZE, layer.src_scale, layer.weight_scale, layer.dst_scale,
          layer.residual_scale};
}

constexpr suanli_quant kNoQuant{SUANLI_QUANT_SIZE, 1, 1, 1, 1};

void set_conv(OpDescriptor& op, const suanli_conv2d_desc& conv, suanli_prop prop,
              const suanli_epilogue& epilogue, const suanli_quant& quant) {
  op.conv.struct_size = SUANLI_CONV2D_LAYER_DESC_SIZE;
  op.conv.conv = conv;
  op.conv.prop = prop;
  op.conv.epilogue = epilogue;
  op.conv.quant = quant;
  op.desc.kind = SUANLI_OP_CONV2D_LAYER;
  op.desc.conv2d_layer = &op.conv;
}

void set_pool(OpDescriptor& op, const Conv2dShape& c, bool max, Dtype type, suanli_prop prop) {
  op.pool.struct_size = SUANLI_POOL_DESC_SIZE;
  op.pool.kind = max ? SUANLI_POOL_MAX : SUANLI_POOL_AVG;
  set_window(op.pool, c);
  op.pool.type = abi::dtype(type);
  op.pool.prop = prop;
  op.desc.kind = SUANLI_OP_POOL;
  op.desc.pool = &op.pool;
}

void set_matmul(OpDescriptor& op, const MatmulGeometry& g, Dtype a, Dtype b, Dtype c,
                const suanli_epilogue& epilogue, const suanli_quant& quant) {
  suanli_matmul_desc& d = op.matmul;
  d.struct_size = SUANLI_MATMUL_DESC_SIZE;
  std::tie(d.batch0, d.batch1, d.m, d.n, d.k) = std::tie(g.batch0, g.batch1, g.m, g.n, g.k);
  std::copy(g.a_stride, g.a_stride + 4, d.a_stride);
  std::copy(g.b_stride, g.b_stride + 4, d.b_stride);
  std::copy(g.c_stride, g.c_stride + 4, d.c_stride);
  d.a_type = abi::dtype(a);
  d.b_type = abi::dtype(b);
  d.c_type = abi::dtype(c);
  d.epilogue = epilogue;
  d.quant = quant;
  op.desc.kind = SUANLI_OP_MATMUL;
  op.desc.matmul = &d;
}

void set_norm(OpDescriptor& op, suanli_norm_kind kind, int64_t rows, int64_t cols, double eps,
              Dtype type, suanli_prop prop) {
  op.norm = {SUANLI_NORM_DESC_SIZE, kind, rows, cols, eps, abi::dtype(type), prop, SUANLI_ACT_NONE};
  op.desc.kind = SUANLI_OP_NORM;
  op.desc.norm = &op.norm;
}

void set_softmax(OpDescriptor& op, int64_t rows, int64_t cols, Dtype type) {
  op.softmax = {SUANLI_SOFTMAX_DESC_SIZE, rows, cols, abi::dtype(type)};
  op.desc.kind = SUANLI_OP_SOFTMAX;
  op.desc.softmax = &op.softmax;
}

void set_eltwise(OpDescriptor& op, suanli_eltwise_kind kind, int activation, int64_t elements,
                 Dtype type) {
  op.eltwise = {SUANLI_ELTWISE_DESC_SIZE, kind, static_cast<suanli_activation>(activation),
                elements, abi::dtype(type)};
  op.desc.kind = SUANLI_OP_ELTWISE;
  op.desc.eltwise = &op.eltwise;
}

suanli_prop conv_prop(TrainOpKind kind) {
  return kind == TrainOpKind::conv_fwd        ? SUANLI_PROP_FORWARD_TRAINING
         : kind == TrainOpKind::conv_bwd_data ? SUANLI_PROP_BACKWARD_DATA
                                              : SUANLI_PROP_BACKWARD_WEIGHTS;
}

suanli_eltwise_kind eltwise_kind(TrainOpKind kind) {
  return kind == TrainOpKind::add    ? SUANLI_ELTWISE_ADD
         : kind == TrainOpKind::relu ? SUANLI_ELTWISE_ACTIVATION
                                     : SUANLI_ELTWISE_RELU_BACKWARD;
}

}  // namespace

OpDescriptor::OpDescriptor(const Layer& layer) {
  desc.struct_size = SUANLI_OP_DESC_SIZE;
  const suanli_epilogue epilogue =
      make_epilogue(layer.bias, layer.residual, layer.act, !layer.mask_values.empty(), layer.alpha);
  const suanli_prop inference = SUANLI_PROP_FORWARD_INFERENCE;
  switch (layer.kind) {
    case LayerKind::conv:
      set_conv(*this,
               abi::conv2d_desc(layer.conv, layer.src_type, layer.weight_type, layer.dst_type),
               inference, epilogue, layer_quant(layer));
      break;
    case LayerKind::maxpool:
    case LayerKind::avgpool:
      set_pool(*this, layer.conv, layer.kind == LayerKind::maxpool, layer.src_type, inference);
      break;
    case LayerKind::linear:
    case LayerKind::matmul:
      set_matmul(*this, layer.matmul, layer.src_type, layer.weight_type, layer.dst_type, epilogue,
                 layer_quant(layer));
      break;
    case LayerKind::norm:
      set_norm(*this, layer.rms ? SUANLI_NORM_RMS : SUANLI_NORM_LAYER, layer.rows,
               static_cast<int64_t>(layer.gamma.size()), layer.eps, layer.src_type, inference);
      break;
    case LayerKind::softmax:
      set_softmax(*this, layer.rows,
                  static_cast<int64_t>(layer.out_bytes / dtype_size(layer.dst_type)) / layer.rows,
                  layer.src_type);
      break;
    case LayerKind::act_mul:
      set_eltwise(*this, SUANLI_ELTWISE_ACT_MUL, layer.act, layer.elements, layer.src_type);
      break;
    case LayerKind::mask_add:
      set_eltwise(*this, SUANLI_ELTWISE_ADD, SUANLI_ACT_NONE, layer.elements, layer.src_type);
      break;
  }
}

OpDescriptor::OpDescriptor(const Model& model, const TrainOp& op) {
  desc.struct_size = SUANLI_OP_DESC_SIZE;
  const Layer& layer = model.layers[static_cast<size_t>(op.layer)];
  const suanli_epilogue epilogue =
      make_epilogue(op.bias, false, op.relu ? SUANLI_ACT_RELU : SUANLI_ACT_NONE, false, 1.0);
  const Dtype f32 = Dtype::fp32;
  switch (op.kind) {
    case TrainOpKind::conv_fwd:
    case TrainOpKind::conv_bwd_data:
    case TrainOpKind::conv_bwd_weights:
      set_conv(*this, abi::conv2d_desc(layer.conv, f32, f32, f32), conv_prop(op.kind), epilogue,
               kNoQuant);
      break;
    case TrainOpKind::pool_fwd:
    case TrainOpKind::pool_bwd:
      set_pool(*this, layer.conv, layer.kind == LayerKind::maxpool, f32,
               op.kind == TrainOpKind::pool_fwd ? SUANLI_PROP_FORWARD_TRAINING
                                                : SUANLI_PROP_BACKWARD_DATA);
      break;
    case TrainOpKind::matmul:
      set_matmul(*this, op.matmul, f32, f32, f32, epilogue, kNoQuant);
      break;
    case TrainOpKind::add:
    case TrainOpKind::relu:
    case TrainOpKind::relu_bwd:
      set_eltwise(*this, eltwise_kind(op.kind),
                  op.kind == TrainOpKind::relu ? SUANLI_ACT_RELU : SUANLI_ACT_NONE, op.elements,
                  f32);
      break;
    case TrainOpKind::bn_fwd:
    case TrainOpKind::bn_bwd:
      set_norm(*this, SUANLI_NORM_BATCH, op.rows, op.channels, kBatchNormEps, f32,
               op.kind == TrainOpKind::bn_fwd ? SUANLI_PROP_FORWARD_TRAINING
                                              : SUANLI_PROP_BACKWARD_DATA);
      break;
  }
}

}  // namespace suanli::model
