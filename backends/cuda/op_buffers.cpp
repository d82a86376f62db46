// Buffer sizes of every op kind (see op_buffers.h); the layouts are backend.h's.
#include "op_buffers.h"

#include <initializer_list>
#include <limits>

namespace suanli::cuda {
namespace {

constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();

// Product of non-negative factors, saturating at kHuge; a negative factor gives 0 (the factory
// refuses negative shapes itself).
uint64_t product(std::initializer_list<int64_t> factors) {
  uint64_t p = 1;
  for (int64_t f : factors) {
    if (f <= 0) return 0;
    uint64_t next = 0;
    if (__builtin_mul_overflow(p, static_cast<uint64_t>(f), &next)) return kHuge;
    p = next;
  }
  return p;
}

uint64_t sum(uint64_t a, uint64_t b) {
  uint64_t s = 0;
  return __builtin_add_overflow(a, b, &s) ? kHuge : s;
}

// Elements a strided tensor spans: offset of its last element + 1 (0 if any extent is < 1).
uint64_t strided_elements(std::initializer_list<int64_t> extents,
                          std::initializer_list<int64_t> strides) {
  uint64_t last = 0;
  auto s = strides.begin();
  for (int64_t e : extents) {
    const int64_t st = *s++;
    if (e < 1 || st < 0) return 0;
    last = sum(last, product({e - 1, st}));  // 0 when e == 1 or st == 0
  }
  return sum(last, 1);
}

uint64_t times(uint64_t elements, uint64_t bytes) {
  uint64_t r = 0;
  return __builtin_mul_overflow(elements, bytes, &r) ? kHuge : r;
}

int64_t conv_out(int64_t in, int64_t pad, int64_t dil, int64_t taps, int64_t stride) {
  if (stride < 1 || dil < 1) return 0;
  return (in + 2 * pad - dil * (taps - 1) - 1) / stride + 1;
}

std::vector<uint64_t> gemm_bytes(const suanli_gemm_desc& g) {
  if (g.struct_size < SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type)) return {};
  return {times(product({g.batch, g.m, g.k}), dtype_bytes(g.a_type)),
          times(product({g.batch, g.k, g.n}), dtype_bytes(g.b_type)),
          times(product({g.batch, g.m, g.n}), dtype_bytes(g.c_type))};
}

// src (n,h,w,c), weights (k,c/g,r,s), dst (n,p,q,k) of a convolution.
struct ConvSizes {
  uint64_t src, wei, dst;
};

bool conv_elements(const suanli_conv2d_desc& d, ConvSizes* out) {
  if (d.groups < 1 || d.c % d.groups != 0) return false;
  const int64_t p = conv_out(d.h, d.pad_h, d.dil_h, d.r, d.stride_h);
  const int64_t q = conv_out(d.w, d.pad_w, d.dil_w, d.s, d.stride_w);
  *out = {product({d.n, d.h, d.w, d.c}), product({d.k, d.c / d.groups, d.r, d.s}),
          product({d.n, p, q, d.k})};
  return true;
}

std::vector<uint64_t> conv_bytes(const suanli_conv2d_desc& d) {
  ConvSizes e{};
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_desc, dst_type) || !conv_elements(d, &e))
    return {};
  return {times(e.src, dtype_bytes(d.src_type)), times(e.wei, dtype_bytes(d.weight_type)),
          times(e.dst, dtype_bytes(d.dst_type))};
}

std::vector<uint64_t> conv_layer_bytes(const suanli_conv2d_layer_desc& L) {
  if (L.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, epilogue)) return {};
  const suanli_conv2d_desc& d = L.conv;
  ConvSizes e{};
  if (!conv_elements(d, &e)) return {};
  const uint64_t src = times(e.src, dtype_bytes(d.src_type));
  const uint64_t wei = times(e.wei, dtype_bytes(d.weight_type));
  const uint64_t dst = times(e.dst, dtype_bytes(d.dst_type));
  const uint64_t bias = times(static_cast<uint64_t>(d.k > 0 ? d.k : 0), 4);
  std::vector<uint64_t> v;
  switch (L.prop) {
    case SUANLI_PROP_FORWARD_INFERENCE:
    case SUANLI_PROP_FORWARD_TRAINING:
      v = {src, wei, dst};
      break;
    case SUANLI_PROP_BACKWARD_DATA:  // diff_dst, weights, diff_src
      return {dst, wei, src};
    case SUANLI_PROP_BACKWARD_WEIGHTS:  // src, diff_dst, diff_weights (fp32 for bf16), [diff_bias]
      v = {src, dst,
           times(e.wei, d.weight_type == SUANLI_DTYPE_BF16 ? 4 : dtype_bytes(d.weight_type))};
      break;
    default:
      return {};
  }
  if (L.epilogue.bias) v.push_back(bias);
  return v;
}

std::vector<uint64_t> matmul_bytes(const suanli_matmul_desc& d) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_matmul_desc, epilogue)) return {};
  const int64_t *a = d.a_stride, *b = d.b_stride, *c = d.c_stride;
  std::vector<uint64_t> v = {
      times(strided_elements({d.batch0, d.batch1, d.m, d.k}, {a[0], a[1], a[2], a[3]}),
            dtype_bytes(d.a_type)),
      times(strided_elements({d.batch0, d.batch1, d.k, d.n}, {b[0], b[1], b[2], b[3]}),
            dtype_bytes(d.b_type)),
      times(strided_elements({d.batch0, d.batch1, d.m, d.n}, {c[0], c[1], c[2], c[3]}),
            dtype_bytes(d.c_type))};
  if (d.epilogue.bias) v.push_back(times(product({d.n}), 4));
  if (d.epilogue.mask) v.push_back(times(product({d.m, d.n}), 4));
  return v;
}

std::vector<uint64_t> pool_bytes(const suanli_pool_desc& d) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_pool_desc, prop)) return {};
  const int64_t p = conv_out(d.h, d.pad_h, 1, d.r, d.stride_h);
  const int64_t q = conv_out(d.w, d.pad_w, 1, d.s, d.stride_w);
  const uint64_t esz = dtype_bytes(d.type);
  const uint64_t in = times(product({d.n, d.h, d.w, d.c}), esz);
  const uint64_t out = times(product({d.n, p, q, d.c}), esz);
  if (d.prop == SUANLI_PROP_BACKWARD_DATA) return {out, in, in};  // diff_dst, src, diff_src
  return {in, out};
}

std::vector<uint64_t> norm_bytes(const suanli_norm_desc& d) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_norm_desc, prop)) return {};
  const uint64_t data = times(product({d.rows, d.channels}), dtype_bytes(d.type));
  const uint64_t per_channel = times(product({d.channels}), 4);
  const bool rms = d.kind == SUANLI_NORM_RMS, batch = d.kind == SUANLI_NORM_BATCH;
  if (d.prop == SUANLI_PROP_BACKWARD_DATA)  // src, diff_dst, gamma, mean, var, diff_src, dg, db
    return {data, data, per_channel, per_channel, per_channel, data, per_channel, per_channel};
  std::vector<uint64_t> v = {data, data, per_channel};
  if (!rms) v.push_back(per_channel);
  if (d.prop == SUANLI_PROP_FORWARD_TRAINING && !rms) {
    const uint64_t stats = batch ? per_channel : times(product({d.rows}), 4);
    v.push_back(stats);
    v.push_back(stats);
  } else if (batch) {
    v.push_back(per_channel);
    v.push_back(per_channel);
  }
  return v;
}

std::vector<uint64_t> stream_bytes(const suanli_stream_desc& s) {
  if (s.struct_size < SUANLI_STRUCT_SIZE(suanli_stream_desc, scalar)) return {};
  const uint64_t n = times(product({s.n}), dtype_bytes(s.type));
  const bool reads_b = s.kind == SUANLI_STREAM_ADD || s.kind == SUANLI_STREAM_TRIAD;
  return {n, reads_b ? n : 0, n};
}

std::vector<uint64_t> model_op_bytes(const suanli_op_desc& op) {
  auto has = [&](size_t end) { return op.struct_size >= end; };
  switch (op.kind) {
    case SUANLI_OP_MATMUL:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, matmul)) && op.matmul)
        return matmul_bytes(*op.matmul);
      break;
    case SUANLI_OP_CONV2D_LAYER:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, conv2d_layer)) && op.conv2d_layer)
        return conv_layer_bytes(*op.conv2d_layer);
      break;
    case SUANLI_OP_POOL:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, pool)) && op.pool) return pool_bytes(*op.pool);
      break;
    case SUANLI_OP_NORM:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, norm)) && op.norm) return norm_bytes(*op.norm);
      break;
    case SUANLI_OP_SOFTMAX:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, softmax)) && op.softmax &&
          op.softmax->struct_size >= SUANLI_STRUCT_SIZE(suanli_softmax_desc, type)) {
        const uint64_t b =
            times(product({op.softmax->rows, op.softmax->cols}), dtype_bytes(op.softmax->type));
        return {b, b};
      }
      break;
    case SUANLI_OP_ELTWISE:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, eltwise)) && op.eltwise &&
          op.eltwise->struct_size >= SUANLI_STRUCT_SIZE(suanli_eltwise_desc, type)) {
        const uint64_t b = times(product({op.eltwise->n}), dtype_bytes(op.eltwise->type));
        if (op.eltwise->kind == SUANLI_ELTWISE_ACTIVATION) return {b, b};
        return {b, b, b};
      }
      break;
    default:
      break;
  }
  return {};
}

}  // namespace

uint64_t dtype_bytes(suanli_dtype t) {
  switch (t) {
    case SUANLI_DTYPE_FP64:
      return 8;
    case SUANLI_DTYPE_FP32:
    case SUANLI_DTYPE_TF32:
    case SUANLI_DTYPE_INT32:
      return 4;
    case SUANLI_DTYPE_FP16:
    case SUANLI_DTYPE_BF16:
      return 2;
    default:
      return 1;
  }
}

std::vector<uint64_t> op_buffer_bytes(const suanli_op_desc* op) {
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream)) return {};
  switch (op->kind) {
    case SUANLI_OP_GEMM:
      return op->gemm ? gemm_bytes(*op->gemm) : std::vector<uint64_t>{};
    case SUANLI_OP_CONV2D:
      return op->conv2d ? conv_bytes(*op->conv2d) : std::vector<uint64_t>{};
    case SUANLI_OP_PEAK:
      if (op->peak && op->peak->struct_size >= SUANLI_STRUCT_SIZE(suanli_peak_desc, acc_type)) {
        const uint64_t b = times(product({op->peak->elements}), dtype_bytes(op->peak->acc_type));
        return {b, b};
      }
      return {};
    case SUANLI_OP_STREAM:
      return op->stream ? stream_bytes(*op->stream) : std::vector<uint64_t>{};
    default:
      return model_op_bytes(*op);
  }
}

std::string check_buffer_sizes(const suanli_op_desc* op, const uint64_t* sizes, size_t count) {
  const std::vector<uint64_t> need = op_buffer_bytes(op);
  for (size_t i = 0; i < count && i < need.size(); ++i)
    if (sizes[i] < need[i])
      return "buffer " + std::to_string(i) + " holds " + std::to_string(sizes[i]) +
             " bytes; the op needs " +
             (need[i] == kHuge ? std::string("more than 2^64") : std::to_string(need[i]));
  return "";
}

}  // namespace suanli::cuda
