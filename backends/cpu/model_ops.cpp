// Model ops on the CPU through oneDNN primitives: strided batched matmul and convolution with
// their epilogues (output scale, bias, attention mask, in-place residual via the sum post-op,
// activation), pooling, batch/layer normalization, softmax and element-wise ops; RMS norm and
// act(a)*b (SwiGLU), which oneDNN 2.6 lacks, are plain OpenMP loops.
//
// Every primitive is created once at plan time over the harness's buffers (weights of a
// convolution reordered once into the primitive's blocked layout, like every inference engine
// does); run() only executes it. The training step's ops are oneDNN's backward primitives too:
// convolution backward data / weights (+ diff bias), max/avg pooling backward (max recomputes
// its argmax from src), relu backward, batch norm forward training (batch statistics) and
// backward, fp32 only (other types are answered UNSUPPORTED with the reason); in training the
// convolution weights are repacked on every run. Layer/RMS norm stay inference-only.
#include "model_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <unordered_map>
#include <vector>

#include "onednn.h"

namespace suanli::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

[[noreturn]] void invalid(const char* op, const std::string& msg) {
  throw BackendError(SUANLI_INVALID_ARGUMENT, std::string(op) + ": " + msg);
}

const char* tname(suanli_dtype t) {
  const char* n = suanli_dtype_name(t);
  return n ? n : "invalid";
}

// oneDNN type of an ABI type; false with *reason when this CPU cannot compute in it natively.
bool to_dnnl(suanli_dtype t, dt* out, std::string* reason) {
  switch (t) {
    case SUANLI_DTYPE_FP32:
      *out = dt::f32;
      return true;
    case SUANLI_DTYPE_BF16:
      if (!cpu_has_native_bf16()) {
        *reason = bf16_refusal("");
        return false;
      }
      *out = dt::bf16;
      return true;
    case SUANLI_DTYPE_UINT8:
      *out = dt::u8;
      return true;
    case SUANLI_DTYPE_INT8:
      *out = dt::s8;
      return true;
    case SUANLI_DTYPE_INT32:
      *out = dt::s32;
      return true;
    case SUANLI_DTYPE_FP16:
      *reason = fp16_refusal();
      return false;
    default:
      *reason = std::string("the CPU backend's model ops have no ") + tname(t) + " path";
      return false;
  }
}

dnnl::algorithm act_alg(suanli_activation a, const char* op) {
  switch (a) {
    case SUANLI_ACT_RELU:
      return dnnl::algorithm::eltwise_relu;
    case SUANLI_ACT_GELU_TANH:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case SUANLI_ACT_GELU_ERF:
      return dnnl::algorithm::eltwise_gelu_erf;
    case SUANLI_ACT_SILU:
      return dnnl::algorithm::eltwise_swish;  // swish with alpha 1 = silu
    default:
      invalid(op, "unknown activation " + std::to_string(static_cast<int>(a)));
  }
}

// A never-run op for supports().
class ProbeOp : public CpuOp {
 public:
  void run() override { throw BackendError(SUANLI_INTERNAL, "model op: a probe op was run"); }
};

// One oneDNN primitive with its arguments bound to the harness's buffers.
class PrimOp : public CpuOp {
 public:
  PrimOp(dnnl::primitive p, std::unordered_map<int, dnnl::memory> args, int threads)
      : prim_(std::move(p)), args_(std::move(args)), threads_(threads) {}
  void run() override {
    set_omp_threads(threads_);
    prim_.execute(dnnl_stream(), args_);
    dnnl_stream().wait();
  }

 private:
  dnnl::primitive prim_;
  std::unordered_map<int, dnnl::memory> args_;
  int threads_;
};

// Checks the implementation oneDNN chose: no reference kernels, real bf16 for bf16.
bool acceptable_impl(const std::string& impl, bool bf16, const char* what, std::string* reason) {
  if (is_reference_impl(impl)) {
    *reason = onednn_library() + " has only a reference implementation (" + impl + ") for this " +
              what + "; suanli does not measure reference kernels";
    return false;
  }
  if (bf16) {
    const std::string why = bf16_refusal(impl);
    // Pooling, normalization, softmax and eltwise move data: their bf16 kernels are the AVX-512
    // ones that load/store bf16 ("jit:avx512_core"), not dot-product kernels.
    if (!why.empty() && !cpu_has_native_bf16()) {
      *reason = why;
      return false;
    }
  }
  return true;
}

std::unique_ptr<CpuOp> finish(std::unique_ptr<CpuOp> op, const std::string& impl,
                              const std::string& note) {
  op->library = onednn_library();
  op->implementation = impl + note;
  return op;
}

dnnl::memory mem(const dnnl::memory::desc& md, void* p) {
  return dnnl::memory(md, dnnl_engine(), p);
}

// The last steps of an op that is one oneDNN primitive: its implementation accepted (no reference
// kernel), a probe op without buffers, else the primitive over args() and a scratchpad.
template <class Primitive, class PrimitiveDesc, class Args>
std::unique_ptr<CpuOp> primitive_op(const PrimitiveDesc& pd, bool bf16, const char* what,
                                    void* const* bufs, int threads, Args&& args,
                                    const std::string& name, const std::string& note,
                                    std::string* reason) {
  const std::string impl = pd.impl_info_str();
  if (!acceptable_impl(impl, bf16, what, reason)) return nullptr;
  if (!bufs) return std::make_unique<ProbeOp>();
  std::unordered_map<int, dnnl::memory> arguments = args();
  arguments[DNNL_ARG_SCRATCHPAD] = dnnl::memory(pd.scratchpad_desc(), dnnl_engine());
  return finish(std::make_unique<PrimOp>(Primitive(pd), std::move(arguments), threads),
                name + " " + impl, note);
}

// The output scale and post-ops of an epilogue (backend.h's order): acc * os + bias' -> + mask
// -> + residual (sum) -> act.
struct Epi {
  dnnl::primitive_attr attr = strict_attr();
  float bias_factor = 1;  // oneDNN adds bias before the output scale: bias' = bias / (os*ds)
};

Epi make_epi(const suanli_epilogue& e, const suanli_quant& q, bool quantized, bool has_mask_md,
             const dnnl::memory::desc& mask_md, const char* op) {
  Epi r;
  const float ss = quantized ? q.src_scale : 1.f, ws = quantized ? q.wei_scale : 1.f;
  const float ds = quantized ? q.dst_scale : 1.f;
  if (!(ss > 0) || !(ws > 0) || !(ds > 0)) invalid(op, "quant scales must be > 0");
  const float os = static_cast<float>(e.alpha) * ss * ws / ds;
  if (os != 1.f) r.attr.set_output_scales(0, {os});
  r.bias_factor = 1.f / (os * ds);
  dnnl::post_ops po;
  if (has_mask_md) po.append_binary(dnnl::algorithm::binary_add, mask_md);
  if (e.residual) {
    const float rs = quantized ? q.residual_scale : 1.f;
    if (!(rs > 0)) invalid(op, "quant.residual_scale must be > 0");
    po.append_sum(rs / ds);
  }
  // eltwise alpha: relu's negative slope (0), swish's beta (1 = silu); gelu ignores it.
  if (e.activation != SUANLI_ACT_NONE)
    po.append_eltwise(1.f, act_alg(e.activation, op), e.activation == SUANLI_ACT_RELU ? 0.f : 1.f,
                      0.f);
  r.attr.set_post_ops(po);
  return r;
}

// A oneDNN error while planning: "unimplemented" is an answer (UNSUPPORTED, naming what oneDNN
// lacks), anything else a failure of `what`.
std::unique_ptr<CpuOp> no_primitive(const dnnl::error& ex, const std::string& what,
                                    const std::string& missing, std::string* reason) {
  if (ex.status != dnnl_unimplemented) throw_dnnl(ex, what);
  *reason = onednn_library() + " has no " + missing + " on this CPU";
  return nullptr;
}

// ---- matmul ---------------------------------------------------------------------------------

std::unique_ptr<CpuOp> make_layer(const suanli_matmul_desc& d, void* const* bufs, size_t nbufs,
                                  const CpuConfig& cfg, std::string* reason) {
  const char* op = "matmul";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_matmul_desc, quant))
    invalid(op, "struct_size too small");
  if (d.batch0 < 1 || d.batch1 < 1 || d.m < 1 || d.n < 1 || d.k < 1)
    invalid(op, "batch0, batch1, m, n, k must be >= 1");
  dt ta, tb, tc;
  if (!to_dnnl(d.a_type, &ta, reason) || !to_dnnl(d.b_type, &tb, reason) ||
      !to_dnnl(d.c_type, &tc, reason))
    return nullptr;
  const bool quant = ta == dt::u8 || ta == dt::s8;
  if (quant != (tb == dt::s8)) invalid(op, "int8 matmul takes a uint8/int8 A and an int8 B");
  if (!quant && ta != tb) invalid(op, "A and B must have one type");
  const suanli_epilogue& e = d.epilogue;
  const size_t need = 3 + (e.bias ? 1 : 0) + (e.mask ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  // One batch: plain 2-D operands (oneDNN's fast kernels take those); batched: 4-D with the
  // strides given (a stride on a dimension of size 1 is irrelevant and set to a dense value).
  const bool flat = d.batch0 == 1 && d.batch1 == 1;
  auto md_of = [&](int64_t rows, int64_t cols, const int64_t* st, dt t) {
    if (flat) return dnnl::memory::desc({rows, cols}, t, dims{st[2], st[3]});
    dims strides(st, st + 4);
    const int64_t extent = std::max(st[2] * rows, st[3] * cols);
    if (d.batch1 == 1) strides[1] = extent;
    if (d.batch0 == 1) strides[0] = extent * d.batch1;
    return dnnl::memory::desc({d.batch0, d.batch1, rows, cols}, t, strides);
  };
  const dnnl::memory::desc a_md = md_of(d.m, d.k, d.a_stride, ta);
  const dnnl::memory::desc b_md = md_of(d.k, d.n, d.b_stride, tb);
  const dnnl::memory::desc c_md = md_of(d.m, d.n, d.c_stride, tc);
  const dnnl::memory::desc bias_md = flat ? dnnl::memory::desc({1, d.n}, dt::f32, tag::ab)
                                          : dnnl::memory::desc({1, 1, 1, d.n}, dt::f32, tag::abcd);
  const dnnl::memory::desc mask_md = flat
                                         ? dnnl::memory::desc({d.m, d.n}, dt::f32, tag::ab)
                                         : dnnl::memory::desc({1, 1, d.m, d.n}, dt::f32, tag::abcd);
  Epi epi = make_epi(e, d.quant, quant, e.mask != 0, mask_md, op);
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  dnnl::matmul::primitive_desc pd;
  try {
    const dnnl::matmul::desc md = e.bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md)
                                         : dnnl::matmul::desc(a_md, b_md, c_md);
    pd = dnnl::matmul::primitive_desc(md, epi.attr, dnnl_engine());
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "matmul: primitive descriptor", "matmul for these types/strides",
                        reason);
  }
  const std::string impl = pd.impl_info_str();
  if (!acceptable_impl(impl, ta == dt::bf16, "matmul", reason)) return nullptr;
  if (!bufs) return std::make_unique<ProbeOp>();
  size_t next = 3;
  // Bias is handed over in real units; oneDNN adds it before the output scale.
  class MatmulOp : public CpuOp {
   public:
    std::unique_ptr<PrimOp> prim;
    std::vector<float> bias;
    void run() override { prim->run(); }
  };
  auto m = std::make_unique<MatmulOp>();
  std::unordered_map<int, dnnl::memory> extra;
  if (e.bias) {
    const float* b = static_cast<const float*>(bufs[next++]);
    m->bias.assign(b, b + d.n);
    if (epi.bias_factor != 1.f)
      for (float& x : m->bias) x *= epi.bias_factor;
    extra[DNNL_ARG_BIAS] = mem(bias_md, m->bias.data());
  }
  if (e.mask)
    extra[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = mem(mask_md, bufs[next++]);
  std::unordered_map<int, dnnl::memory> all = {{DNNL_ARG_SRC, mem(a_md, bufs[0])},
                                               {DNNL_ARG_WEIGHTS, mem(b_md, bufs[1])},
                                               {DNNL_ARG_DST, mem(c_md, bufs[2])}};
  for (auto& kv : extra) all.insert(kv);
  dnnl::memory scratch(pd.scratchpad_desc(), dnnl_engine());
  all[DNNL_ARG_SCRATCHPAD] = scratch;
  m->prim = std::make_unique<PrimOp>(dnnl::matmul(pd), std::move(all), threads);
  return finish(std::move(m), "matmul " + impl, "");
}

// ---- conv2d layer ---------------------------------------------------------------------------

class ConvLayerOp : public CpuOp {
 public:
  std::unique_ptr<PrimOp> prim;
  dnnl::memory wei, scratch, user_wei;
  std::vector<float> bias;
  bool reorder_each_run = false;  // training: the weights change every step
  int threads = 1;
  void run() override {
    if (reorder_each_run) {
      set_omp_threads(threads);
      dnnl::reorder(user_wei, wei).execute(dnnl_stream(), user_wei, wei);
    }
    prim->run();
  }
};

// All fp32: the backward passes have no bf16/int8 path in this backend.
bool backward_fp32(std::initializer_list<suanli_dtype> types, const char* what,
                   std::string* reason) {
  for (suanli_dtype t : types)
    if (t != SUANLI_DTYPE_FP32) {
      *reason = std::string("the CPU backend implements ") + what + " in fp32 only (asked for " +
                tname(t) + "); suanli does not compute it in another precision";
      return false;
    }
  return true;
}

// Several primitives run in order (a backward pass with the reorders around it).
class SeqOp : public CpuOp {
 public:
  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, dnnl::memory> args;
  };
  std::vector<Step> steps;
  std::vector<dnnl::memory> keep;  // scratchpads, workspaces and packed tensors the steps use
  int threads = 1;
  void run() override {
    set_omp_threads(threads);
    for (Step& s : steps) s.prim.execute(dnnl_stream(), s.args);
    dnnl_stream().wait();
  }
};

// Convolution backward data (diff_src from diff_dst and the weights) or backward weights
// (diff_weights and diff_bias from src and diff_dst), oneDNN's primitives with the forward
// training primitive as their hint. Weights are reordered into (backward data) and diff weights
// out of (backward weights) the primitive's blocked layout on every run: in training they change
// every step, so the reorder is part of the step's cost.
std::unique_ptr<CpuOp> make_conv_backward(const suanli_conv2d_layer_desc& L, void* const* bufs,
                                          size_t nbufs, const CpuConfig& cfg, std::string* reason) {
  const bool data = L.prop == SUANLI_PROP_BACKWARD_DATA;
  const char* op = data ? "conv2d_layer backward data" : "conv2d_layer backward weights";
  const suanli_conv2d_desc& d = L.conv;
  const suanli_epilogue& e = L.epilogue;
  if (e.residual || e.mask || e.activation != SUANLI_ACT_NONE || (data && e.bias))
    invalid(op, data ? "takes no epilogue" : "takes no epilogue except bias (diff_bias)");
  if (!backward_fp32({d.src_type, d.weight_type, d.dst_type}, "convolution backward passes",
                     reason))
    return nullptr;
  const size_t need = 3 + (!data && e.bias ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  const int64_t p = kit::conv2d_output(d).first, q = kit::conv2d_output(d).second;
  const dnnl::memory::desc src_md({d.n, d.c, d.h, d.w}, dt::f32, tag::nhwc);
  const dnnl::memory::desc dst_md({d.n, d.k, p, q}, dt::f32, tag::nhwc);
  const dnnl::memory::desc wei_md =
      d.groups == 1 ? dnnl::memory::desc({d.k, d.c, d.r, d.s}, dt::f32, tag::oihw)
                    : dnnl::memory::desc({d.groups, d.k / d.groups, d.c / d.groups, d.r, d.s},
                                         dt::f32, tag::goihw);
  const dnnl::memory::desc wei_any(wei_md.dims(), dt::f32, tag::any);
  const dnnl::memory::desc bias_md({d.k}, dt::f32, tag::a);
  const dims strides{d.stride_h, d.stride_w}, dil{d.dil_h - 1, d.dil_w - 1}, pad{d.pad_h, d.pad_w};
  const auto alg = dnnl::algorithm::convolution_direct;
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  try {
    const dnnl::convolution_forward::desc fd =
        e.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src_md,
                                                 wei_any, bias_md, dst_md, strides, dil, pad, pad)
               : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src_md,
                                                 wei_any, dst_md, strides, dil, pad, pad);
    const dnnl::convolution_forward::primitive_desc fpd(fd, strict_attr(), dnnl_engine());
    auto s = std::make_unique<SeqOp>();
    s->threads = threads;
    std::string impl;
    if (data) {
      const dnnl::convolution_backward_data::desc bd(alg, src_md, wei_any, dst_md, strides, dil,
                                                     pad, pad);
      const dnnl::convolution_backward_data::primitive_desc pd(bd, strict_attr(), dnnl_engine(),
                                                               fpd);
      impl = pd.impl_info_str();
      if (!acceptable_impl(impl, false, "convolution backward data", reason)) return nullptr;
      if (!bufs) return std::make_unique<ProbeOp>();
      dnnl::memory user_wei = mem(wei_md, bufs[1]), wei = user_wei;
      if (pd.weights_desc() != wei_md) {
        wei = dnnl::memory(pd.weights_desc(), dnnl_engine());
        s->steps.push_back(
            {dnnl::reorder(user_wei, wei), {{DNNL_ARG_FROM, user_wei}, {DNNL_ARG_TO, wei}}});
      }
      dnnl::memory scratch(pd.scratchpad_desc(), dnnl_engine());
      s->steps.push_back({dnnl::convolution_backward_data(pd),
                          {{DNNL_ARG_DIFF_DST, mem(dst_md, bufs[0])},
                           {DNNL_ARG_WEIGHTS, wei},
                           {DNNL_ARG_DIFF_SRC, mem(src_md, bufs[2])},
                           {DNNL_ARG_SCRATCHPAD, scratch}}});
      s->keep = {wei, scratch};
      return finish(std::move(s), "convolution_backward_data " + impl,
                    " (NHWC, weights reordered every run)");
    }
    const dnnl::convolution_backward_weights::desc bd =
        e.bias ? dnnl::convolution_backward_weights::desc(alg, src_md, wei_any, bias_md, dst_md,
                                                          strides, dil, pad, pad)
               : dnnl::convolution_backward_weights::desc(alg, src_md, wei_any, dst_md, strides,
                                                          dil, pad, pad);
    const dnnl::convolution_backward_weights::primitive_desc pd(bd, strict_attr(), dnnl_engine(),
                                                                fpd);
    impl = pd.impl_info_str();
    if (!acceptable_impl(impl, false, "convolution backward weights", reason)) return nullptr;
    if (!bufs) return std::make_unique<ProbeOp>();
    dnnl::memory user_dw = mem(wei_md, bufs[2]), dw = user_dw;
    if (pd.diff_weights_desc() != wei_md) dw = dnnl::memory(pd.diff_weights_desc(), dnnl_engine());
    dnnl::memory scratch(pd.scratchpad_desc(), dnnl_engine());
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, mem(src_md, bufs[0])},
                                                  {DNNL_ARG_DIFF_DST, mem(dst_md, bufs[1])},
                                                  {DNNL_ARG_DIFF_WEIGHTS, dw},
                                                  {DNNL_ARG_SCRATCHPAD, scratch}};
    if (e.bias) args[DNNL_ARG_DIFF_BIAS] = mem(bias_md, bufs[3]);
    s->steps.push_back({dnnl::convolution_backward_weights(pd), std::move(args)});
    if (dw != user_dw)
      s->steps.push_back(
          {dnnl::reorder(dw, user_dw), {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, user_dw}}});
    s->keep = {dw, scratch};
    return finish(std::move(s), "convolution_backward_weights " + impl,
                  " (NHWC, diff weights reordered to KCRS every run)");
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, std::string(op) + ": primitive", std::string(op) + " for this shape",
                        reason);
  }
}

std::unique_ptr<CpuOp> make_layer(const suanli_conv2d_layer_desc& L, void* const* bufs,
                                  size_t nbufs, const CpuConfig& cfg, std::string* reason) {
  const char* op = "conv2d_layer";
  if (L.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, quant))
    invalid(op, "struct_size too small");
  const suanli_conv2d_desc& d = L.conv;
  kit::check_conv2d_shape(d, op);
  if (L.prop == SUANLI_PROP_BACKWARD_DATA || L.prop == SUANLI_PROP_BACKWARD_WEIGHTS)
    return make_conv_backward(L, bufs, nbufs, cfg, reason);
  if (L.prop != SUANLI_PROP_FORWARD_INFERENCE && L.prop != SUANLI_PROP_FORWARD_TRAINING)
    invalid(op, "unknown prop");
  dt ts, tw, td;
  if (!to_dnnl(d.src_type, &ts, reason) || !to_dnnl(d.weight_type, &tw, reason) ||
      !to_dnnl(d.dst_type, &td, reason))
    return nullptr;
  const bool quant = ts == dt::u8 || ts == dt::s8;
  if (quant != (tw == dt::s8)) invalid(op, "int8 conv takes uint8/int8 src and int8 weights");
  const suanli_epilogue& e = L.epilogue;
  kit::check_conv_epilogue(e, op);
  const size_t need = 3 + (e.bias ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  const int64_t p = kit::conv2d_output(d).first, q = kit::conv2d_output(d).second;
  const dnnl::memory::desc src_md({d.n, d.c, d.h, d.w}, ts, tag::nhwc);
  const dnnl::memory::desc dst_md({d.n, d.k, p, q}, td, tag::nhwc);
  const dnnl::memory::desc wei_md =
      d.groups == 1 ? dnnl::memory::desc({d.k, d.c, d.r, d.s}, tw, tag::oihw)
                    : dnnl::memory::desc({d.groups, d.k / d.groups, d.c / d.groups, d.r, d.s}, tw,
                                         tag::goihw);
  const dnnl::memory::desc wei_any(wei_md.dims(), tw, tag::any);
  const dnnl::memory::desc bias_md({d.k}, dt::f32, tag::a);
  Epi epi = make_epi(e, L.quant, quant, false, bias_md, op);
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  dnnl::convolution_forward::primitive_desc pd;
  try {
    const auto prop = dnnl::prop_kind::forward_inference;
    const dnnl::convolution_forward::desc cd =
        e.bias ? dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, src_md,
                                                 wei_any, bias_md, dst_md, {d.stride_h, d.stride_w},
                                                 {d.dil_h - 1, d.dil_w - 1}, {d.pad_h, d.pad_w},
                                                 {d.pad_h, d.pad_w})
               : dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, src_md,
                                                 wei_any, dst_md, {d.stride_h, d.stride_w},
                                                 {d.dil_h - 1, d.dil_w - 1}, {d.pad_h, d.pad_w},
                                                 {d.pad_h, d.pad_w});
    pd = dnnl::convolution_forward::primitive_desc(cd, epi.attr, dnnl_engine());
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "conv2d_layer: primitive descriptor", "convolution for these types",
                        reason);
  }
  const std::string impl = pd.impl_info_str();
  if (is_reference_impl(impl)) {
    *reason = onednn_library() + " has only a reference implementation (" + impl +
              ") for this convolution; suanli does not measure reference kernels";
    return nullptr;
  }
  if (ts == dt::bf16) {
    const std::string why = bf16_refusal(impl);
    if (!why.empty()) {
      *reason = why;
      return nullptr;
    }
  }
  if (!bufs) return std::make_unique<ProbeOp>();
  auto c = std::make_unique<ConvLayerOp>();
  try {
    dnnl::memory user_wei = mem(wei_md, bufs[1]);
    if (pd.weights_desc() == wei_md) {
      c->wei = user_wei;
    } else {  // inference: once, at plan time; training: on every run as well
      c->wei = dnnl::memory(pd.weights_desc(), dnnl_engine());
      dnnl::reorder(user_wei, c->wei).execute(dnnl_stream(), user_wei, c->wei);
      dnnl_stream().wait();
      c->user_wei = user_wei;
      c->reorder_each_run = L.prop == SUANLI_PROP_FORWARD_TRAINING;
      c->threads = threads;
    }
    c->scratch = dnnl::memory(pd.scratchpad_desc(), dnnl_engine());
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, mem(src_md, bufs[0])},
                                                  {DNNL_ARG_WEIGHTS, c->wei},
                                                  {DNNL_ARG_DST, mem(dst_md, bufs[2])},
                                                  {DNNL_ARG_SCRATCHPAD, c->scratch}};
    if (e.bias) {
      const float* b = static_cast<const float*>(bufs[3]);
      c->bias.assign(b, b + d.k);
      for (float& x : c->bias) x *= epi.bias_factor;
      args[DNNL_ARG_BIAS] = mem(bias_md, c->bias.data());
    }
    c->prim = std::make_unique<PrimOp>(dnnl::convolution_forward(pd), std::move(args), threads);
  } catch (const dnnl::error& ex) {
    throw_dnnl(ex, "conv2d_layer: primitive");
  }
  return finish(std::move(c), "convolution_direct " + impl,
                L.prop == SUANLI_PROP_FORWARD_TRAINING && c->reorder_each_run
                    ? " (NHWC, weights packed on every run)"
                    : " (NHWC, weights packed at plan)");
}

// ---- pooling --------------------------------------------------------------------------------

std::unique_ptr<CpuOp> make_layer(const suanli_pool_desc& d, void* const* bufs, size_t nbufs,
                                  const CpuConfig& cfg, std::string* reason) {
  const char* op = "pool";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_pool_desc, prop)) invalid(op, "struct_size");
  if (d.n < 1 || d.c < 1 || d.h < 1 || d.w < 1 || d.r < 1 || d.s < 1 || d.stride_h < 1 ||
      d.stride_w < 1 || d.pad_h < 0 || d.pad_w < 0)
    invalid(op, "bad shape");
  if (d.prop == SUANLI_PROP_BACKWARD_WEIGHTS) invalid(op, "pooling has no weights");
  const bool backward = d.prop == SUANLI_PROP_BACKWARD_DATA;
  if (backward && !backward_fp32({d.type}, "pooling backward", reason)) return nullptr;
  dt t;
  if (!to_dnnl(d.type, &t, reason)) return nullptr;
  if (bufs && nbufs < (backward ? 3u : 2u))
    invalid(op, backward ? "backward needs 3 buffers" : "needs 2 buffers");
  const int64_t p = (d.h + 2 * d.pad_h - d.r) / d.stride_h + 1;
  const int64_t q = (d.w + 2 * d.pad_w - d.s) / d.stride_w + 1;
  const dnnl::memory::desc src_md({d.n, d.c, d.h, d.w}, t, tag::nhwc);
  const dnnl::memory::desc dst_md({d.n, d.c, p, q}, t, tag::nhwc);
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  if (backward) {
    // Max: the forward pass runs again in training mode (into a scratch dst) to recompute the
    // argmax workspace from src, as backend.h says; then oneDNN's pooling backward.
    const auto alg = d.kind == SUANLI_POOL_MAX ? dnnl::algorithm::pooling_max
                                               : dnnl::algorithm::pooling_avg_exclude_padding;
    try {
      const dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, alg, src_md, dst_md,
                                           {d.stride_h, d.stride_w}, {d.r, d.s}, {d.pad_h, d.pad_w},
                                           {d.pad_h, d.pad_w});
      const dnnl::pooling_forward::primitive_desc fpd(fd, strict_attr(), dnnl_engine());
      const dnnl::pooling_backward::desc bd(alg, src_md, dst_md, {d.stride_h, d.stride_w},
                                            {d.r, d.s}, {d.pad_h, d.pad_w}, {d.pad_h, d.pad_w});
      const dnnl::pooling_backward::primitive_desc pd(bd, strict_attr(), dnnl_engine(), fpd);
      const std::string impl = pd.impl_info_str();
      if (!acceptable_impl(impl, false, "pooling backward", reason)) return nullptr;
      if (!acceptable_impl(fpd.impl_info_str(), false, "pooling forward", reason)) return nullptr;
      if (!bufs) return std::make_unique<ProbeOp>();
      auto s = std::make_unique<SeqOp>();
      s->threads = threads;
      std::unordered_map<int, dnnl::memory> bargs = {{DNNL_ARG_DIFF_DST, mem(dst_md, bufs[0])},
                                                     {DNNL_ARG_DIFF_SRC, mem(src_md, bufs[2])}};
      if (d.kind == SUANLI_POOL_MAX) {
        dnnl::memory ws(fpd.workspace_desc(), dnnl_engine()), tmp(dst_md, dnnl_engine());
        dnnl::memory fscratch(fpd.scratchpad_desc(), dnnl_engine());
        s->steps.push_back({dnnl::pooling_forward(fpd),
                            {{DNNL_ARG_SRC, mem(src_md, bufs[1])},
                             {DNNL_ARG_DST, tmp},
                             {DNNL_ARG_WORKSPACE, ws},
                             {DNNL_ARG_SCRATCHPAD, fscratch}}});
        bargs[DNNL_ARG_WORKSPACE] = ws;
        s->keep = {ws, tmp, fscratch};
      }
      dnnl::memory scratch(pd.scratchpad_desc(), dnnl_engine());
      bargs[DNNL_ARG_SCRATCHPAD] = scratch;
      s->keep.push_back(scratch);
      s->steps.push_back({dnnl::pooling_backward(pd), std::move(bargs)});
      return finish(std::move(s), "pooling_backward " + impl,
                    d.kind == SUANLI_POOL_MAX ? " (NHWC, argmax recomputed from src)" : " (NHWC)");
    } catch (const dnnl::error& ex) {
      return no_primitive(ex, "pool backward: primitive", "pooling backward for this shape",
                          reason);
    }
  }
  dnnl::pooling_forward::primitive_desc pd;
  try {
    const dnnl::pooling_forward::desc pdsc(dnnl::prop_kind::forward_inference,
                                           d.kind == SUANLI_POOL_MAX
                                               ? dnnl::algorithm::pooling_max
                                               : dnnl::algorithm::pooling_avg_exclude_padding,
                                           src_md, dst_md, {d.stride_h, d.stride_w}, {d.r, d.s},
                                           {d.pad_h, d.pad_w}, {d.pad_h, d.pad_w});
    pd = dnnl::pooling_forward::primitive_desc(pdsc, strict_attr(), dnnl_engine());
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "pool: primitive descriptor", "pooling for this type", reason);
  }
  return primitive_op<dnnl::pooling_forward>(
      pd, t == dt::bf16, "pooling", bufs, threads,
      [&] {
        return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, mem(src_md, bufs[0])},
                                                     {DNNL_ARG_DST, mem(dst_md, bufs[1])}};
      },
      "pooling", " (NHWC)", reason);
}

// ---- softmax --------------------------------------------------------------------------------

std::unique_ptr<CpuOp> make_layer(const suanli_softmax_desc& d, void* const* bufs, size_t nbufs,
                                  const CpuConfig& cfg, std::string* reason) {
  const char* op = "softmax";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_softmax_desc, type)) invalid(op, "struct_size");
  if (d.rows < 1 || d.cols < 1) invalid(op, "rows and cols must be >= 1");
  dt t;
  if (!to_dnnl(d.type, &t, reason)) return nullptr;
  if (t != dt::f32 && t != dt::bf16) invalid(op, "softmax takes fp32 or bf16");
  if (bufs && nbufs < 2) invalid(op, "needs 2 buffers");
  const dnnl::memory::desc md({d.rows, d.cols}, t, tag::ab);
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  dnnl::softmax_forward::primitive_desc pd;
  try {
    const dnnl::softmax_forward::desc sd(dnnl::prop_kind::forward_inference, md, 1);
    pd = dnnl::softmax_forward::primitive_desc(sd, strict_attr(), dnnl_engine());
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "softmax: primitive descriptor", "softmax for this type", reason);
  }
  return primitive_op<dnnl::softmax_forward>(
      pd, t == dt::bf16, "softmax", bufs, threads,
      [&] {
        return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, mem(md, bufs[0])},
                                                     {DNNL_ARG_DST, mem(md, bufs[1])}};
      },
      "softmax", "", reason);
}

// ---- element access for the loops oneDNN 2.6 lacks --------------------------------------------

inline float load(const void* p, int64_t i, bool bf16) {
  if (!bf16) return static_cast<const float*>(p)[i];
  const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void store(void* p, int64_t i, float v, bool bf16) {
  if (!bf16) {
    static_cast<float*>(p)[i] = v;
    return;
  }
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest even (finite values)
  static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(bits >> 16);
}

class RmsNormOp : public CpuOp {
 public:
  const void* src;
  void* dst;
  const float* gamma;
  int64_t rows, cols;
  double eps;
  bool bf16;
  int threads;
  void run() override {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      float ss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const float x = load(src, i * cols + j, bf16);
        ss += x * x;
      }
      const float inv = 1.f / std::sqrt(ss / static_cast<float>(cols) + static_cast<float>(eps));
      for (int64_t j = 0; j < cols; ++j)
        store(dst, i * cols + j, load(src, i * cols + j, bf16) * inv * gamma[j], bf16);
    }
  }
};

class ActMulOp : public CpuOp {
 public:
  const void* a;
  const void* b;
  void* c;
  int64_t n;
  suanli_activation act;
  bool bf16;
  int threads;
  void run() override {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float x = load(a, i, bf16);
      float y = x;
      switch (act) {
        case SUANLI_ACT_RELU:
          y = x > 0 ? x : 0;
          break;
        case SUANLI_ACT_SILU:
          y = x / (1.f + std::exp(-x));
          break;
        case SUANLI_ACT_GELU_TANH:
          y = 0.5f * x * (1.f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
          break;
        case SUANLI_ACT_GELU_ERF:
          y = 0.5f * x * (1.f + std::erf(x * 0.70710678f));
          break;
        default:
          break;
      }
      store(c, i, y * load(b, i, bf16), bf16);
    }
  }
};

// ---- normalization --------------------------------------------------------------------------

// Batch norm of training: forward with batch statistics (mean and biased variance per channel,
// written out) and backward (diff src, diff gamma, diff beta), oneDNN's primitives, fp32.
std::unique_ptr<CpuOp> make_batch_norm_training(const suanli_norm_desc& d, void* const* bufs,
                                                size_t nbufs, const CpuConfig& cfg,
                                                std::string* reason) {
  const bool fwd = d.prop == SUANLI_PROP_FORWARD_TRAINING;
  const char* op = fwd ? "batch norm forward training" : "batch norm backward";
  if (d.activation != SUANLI_ACT_NONE) {
    *reason =
        "the CPU backend's training batch norm has no fused activation (run relu as its "
        "own op)";
    return nullptr;
  }
  if (!backward_fp32({d.type}, "batch norm training", reason)) return nullptr;
  const size_t need = fwd ? 6 : 8;
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  // NHWC activations: rows x channels is (rows, 1, 1) x channels for oneDNN.
  const dnnl::memory::desc md({d.rows, d.channels, 1, 1}, dt::f32, tag::nhwc);
  const dnnl::memory::desc pmd({d.channels}, dt::f32, tag::a);
  const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  const float eps = static_cast<float>(d.epsilon);
  const int threads = std::max(1, cfg.threads);
  set_omp_threads(threads);
  try {
    const dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, md, eps,
                                                     flags);
    const dnnl::batch_normalization_forward::primitive_desc fpd(fd, strict_attr(), dnnl_engine());
    if (fwd) {
      return primitive_op<dnnl::batch_normalization_forward>(
          fpd, false, op, bufs, threads,
          [&] {
            return std::unordered_map<int, dnnl::memory>{
                {DNNL_ARG_SRC, mem(md, bufs[0])},    {DNNL_ARG_DST, mem(md, bufs[1])},
                {DNNL_ARG_SCALE, mem(pmd, bufs[2])}, {DNNL_ARG_SHIFT, mem(pmd, bufs[3])},
                {DNNL_ARG_MEAN, mem(pmd, bufs[4])},  {DNNL_ARG_VARIANCE, mem(pmd, bufs[5])}};
          },
          "batch_normalization forward_training", " (batch statistics)", reason);
    }
    const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, md, md, eps,
                                                      flags);
    const dnnl::batch_normalization_backward::primitive_desc pd(bd, strict_attr(), dnnl_engine(),
                                                                fpd);
    const std::string impl = pd.impl_info_str();
    if (!acceptable_impl(impl, false, op, reason)) return nullptr;
    if (!bufs) return std::make_unique<ProbeOp>();
    dnnl::memory scratch(pd.scratchpad_desc(), dnnl_engine());
    // oneDNN 2.6 wants a shift argument in backward when use_shift is set, though diff_src does
    // not depend on beta: a zero buffer of its own (the ABI passes no beta to backward).
    dnnl::memory shift(pmd, dnnl_engine());
    std::memset(shift.get_data_handle(), 0, static_cast<size_t>(d.channels) * sizeof(float));
    return finish(std::make_unique<PrimOp>(dnnl::batch_normalization_backward(pd),
                                           std::unordered_map<int, dnnl::memory>{
                                               {DNNL_ARG_SRC, mem(md, bufs[0])},
                                               {DNNL_ARG_DIFF_DST, mem(md, bufs[1])},
                                               {DNNL_ARG_SCALE, mem(pmd, bufs[2])},
                                               {DNNL_ARG_SHIFT, shift},
                                               {DNNL_ARG_MEAN, mem(pmd, bufs[3])},
                                               {DNNL_ARG_VARIANCE, mem(pmd, bufs[4])},
                                               {DNNL_ARG_DIFF_SRC, mem(md, bufs[5])},
                                               {DNNL_ARG_DIFF_SCALE, mem(pmd, bufs[6])},
                                               {DNNL_ARG_DIFF_SHIFT, mem(pmd, bufs[7])},
                                               {DNNL_ARG_SCRATCHPAD, scratch}},
                                           threads),
                  "batch_normalization backward " + impl, "");
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, std::string(op) + ": primitive", std::string(op) + " for this shape",
                        reason);
  }
}

std::unique_ptr<CpuOp> make_layer(const suanli_norm_desc& d, void* const* bufs, size_t nbufs,
                                  const CpuConfig& cfg, std::string* reason) {
  const char* op = "norm";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_norm_desc, activation)) invalid(op, "struct_size");
  if (d.rows < 1 || d.channels < 1 || !(d.epsilon >= 0)) invalid(op, "bad shape or epsilon");
  if (d.prop != SUANLI_PROP_FORWARD_INFERENCE) {
    if (d.kind == SUANLI_NORM_BATCH &&
        (d.prop == SUANLI_PROP_FORWARD_TRAINING || d.prop == SUANLI_PROP_BACKWARD_DATA))
      return make_batch_norm_training(d, bufs, nbufs, cfg, reason);
    if (d.prop == SUANLI_PROP_BACKWARD_WEIGHTS)
      invalid(op, "normalization backward is BACKWARD_DATA (it computes diff gamma/beta too)");
    *reason =
        "the CPU backend implements layer/RMS normalization for inference only (no training or "
        "backward pass)";
    return nullptr;
  }
  dt t;
  if (!to_dnnl(d.type, &t, reason)) return nullptr;
  if (t != dt::f32 && t != dt::bf16) invalid(op, "norm takes fp32 or bf16");
  const int threads = std::max(1, cfg.threads);
  if (d.kind == SUANLI_NORM_RMS) {
    if (d.activation != SUANLI_ACT_NONE) invalid(op, "RMS norm takes no activation");
    if (bufs && nbufs < 3) invalid(op, "RMS norm needs src, dst, gamma");
    auto o = std::make_unique<RmsNormOp>();
    if (bufs) {
      o->src = bufs[0];
      o->dst = bufs[1];
      o->gamma = static_cast<const float*>(bufs[2]);
    }
    o->rows = d.rows;
    o->cols = d.channels;
    o->eps = d.epsilon;
    o->bf16 = t == dt::bf16;
    o->threads = threads;
    o->library = "suanli";
    o->implementation = "rms norm, OpenMP loop (fp32 arithmetic)";
    return o;
  }
  const bool batch = d.kind == SUANLI_NORM_BATCH;
  const size_t need = batch ? 6 : 4;
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  const dnnl::memory::desc md({d.rows, d.channels}, t, tag::ab);
  const dnnl::memory::desc pmd({d.channels}, dt::f32, tag::a);
  dnnl::primitive_attr attr = strict_attr();
  if (d.activation == SUANLI_ACT_RELU) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  } else if (d.activation != SUANLI_ACT_NONE) {
    invalid(op, "norm takes activation NONE or RELU");
  }
  set_omp_threads(threads);
  const auto flags =
      batch ? (dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift |
               dnnl::normalization_flags::use_global_stats)
            : (dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift);
  try {
    dnnl::primitive prim;
    std::string impl;
    dnnl::memory::desc scratch_md;
    if (batch) {
      // NHWC activations: rows x channels is (n*h*w, 1, 1) x c for oneDNN.
      const dnnl::memory::desc bmd({d.rows, d.channels, 1, 1}, t, tag::nhwc);
      const dnnl::batch_normalization_forward::desc bd(dnnl::prop_kind::forward_inference, bmd,
                                                       static_cast<float>(d.epsilon), flags);
      dnnl::batch_normalization_forward::primitive_desc pd(bd, attr, dnnl_engine());
      impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
      prim = dnnl::batch_normalization_forward(pd);
      if (!acceptable_impl(impl, t == dt::bf16, "batch norm", reason)) return nullptr;
      if (!bufs) return std::make_unique<ProbeOp>();
      dnnl::memory scratch(scratch_md, dnnl_engine());
      return finish(std::make_unique<PrimOp>(prim,
                                             std::unordered_map<int, dnnl::memory>{
                                                 {DNNL_ARG_SRC, mem(bmd, bufs[0])},
                                                 {DNNL_ARG_DST, mem(bmd, bufs[1])},
                                                 {DNNL_ARG_SCALE, mem(pmd, bufs[2])},
                                                 {DNNL_ARG_SHIFT, mem(pmd, bufs[3])},
                                                 {DNNL_ARG_MEAN, mem(pmd, bufs[4])},
                                                 {DNNL_ARG_VARIANCE, mem(pmd, bufs[5])},
                                                 {DNNL_ARG_SCRATCHPAD, scratch}},
                                             threads),
                    "batch_normalization " + impl, "");
    }
    const dnnl::layer_normalization_forward::desc ld(dnnl::prop_kind::forward_inference, md,
                                                     static_cast<float>(d.epsilon), flags);
    dnnl::layer_normalization_forward::primitive_desc pd(ld, attr, dnnl_engine());
    return primitive_op<dnnl::layer_normalization_forward>(
        pd, t == dt::bf16, "layer norm", bufs, threads,
        [&] {
          return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, mem(md, bufs[0])},
                                                       {DNNL_ARG_DST, mem(md, bufs[1])},
                                                       {DNNL_ARG_SCALE, mem(pmd, bufs[2])},
                                                       {DNNL_ARG_SHIFT, mem(pmd, bufs[3])}};
        },
        "layer_normalization", "", reason);
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "norm: primitive", "normalization for this type", reason);
  }
}

// ---- eltwise --------------------------------------------------------------------------------

std::unique_ptr<CpuOp> make_layer(const suanli_eltwise_desc& d, void* const* bufs, size_t nbufs,
                                  const CpuConfig& cfg, std::string* reason) {
  const char* op = "eltwise";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_eltwise_desc, type)) invalid(op, "struct_size");
  if (d.n < 1) invalid(op, "n must be >= 1");
  dt t;
  if (!to_dnnl(d.type, &t, reason)) return nullptr;
  const int threads = std::max(1, cfg.threads);
  const dnnl::memory::desc md({d.n}, t, tag::a);
  set_omp_threads(threads);
  try {
    switch (d.kind) {
      case SUANLI_ELTWISE_ACTIVATION: {
        if (bufs && nbufs < 2) invalid(op, "needs 2 buffers");
        const dnnl::eltwise_forward::desc ed(dnnl::prop_kind::forward_inference,
                                             act_alg(d.activation, op), md,
                                             d.activation == SUANLI_ACT_RELU ? 0.f : 1.f, 0.f);
        dnnl::eltwise_forward::primitive_desc pd(ed, strict_attr(), dnnl_engine());
        return primitive_op<dnnl::eltwise_forward>(
            pd, t == dt::bf16, "eltwise", bufs, threads,
            [&] {
              return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, mem(md, bufs[0])},
                                                           {DNNL_ARG_DST, mem(md, bufs[1])}};
            },
            "eltwise", "", reason);
      }
      case SUANLI_ELTWISE_ADD:
      case SUANLI_ELTWISE_MUL: {
        if (bufs && nbufs < 3) invalid(op, "needs 3 buffers");
        const dnnl::binary::desc bd(d.kind == SUANLI_ELTWISE_ADD ? dnnl::algorithm::binary_add
                                                                 : dnnl::algorithm::binary_mul,
                                    md, md, md);
        dnnl::binary::primitive_desc pd(bd, strict_attr(), dnnl_engine());
        return primitive_op<dnnl::binary>(
            pd, t == dt::bf16, "binary", bufs, threads,
            [&] {
              return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC_0, mem(md, bufs[0])},
                                                           {DNNL_ARG_SRC_1, mem(md, bufs[1])},
                                                           {DNNL_ARG_DST, mem(md, bufs[2])}};
            },
            "binary", "", reason);
      }
      case SUANLI_ELTWISE_ACT_MUL: {
        if (t != dt::f32 && t != dt::bf16) invalid(op, "act_mul takes fp32 or bf16");
        if (bufs && nbufs < 3) invalid(op, "needs 3 buffers");
        act_alg(d.activation, op);  // validates
        auto o = std::make_unique<ActMulOp>();
        if (bufs) {
          o->a = bufs[0];
          o->b = bufs[1];
          o->c = bufs[2];
        }
        o->n = d.n;
        o->act = d.activation;
        o->bf16 = t == dt::bf16;
        o->threads = threads;
        o->library = "suanli";
        o->implementation = "act(a)*b, OpenMP loop (fp32 arithmetic)";
        return o;
      }
      case SUANLI_ELTWISE_RELU_BACKWARD: {
        // src = diff_dst, src2 = the forward relu's input or output (either: y > 0 iff x > 0).
        if (!backward_fp32({d.type}, "relu backward", reason)) return nullptr;
        if (bufs && nbufs < 3) invalid(op, "needs 3 buffers");
        const dnnl::eltwise_forward::desc fd(dnnl::prop_kind::forward_training,
                                             dnnl::algorithm::eltwise_relu, md, 0.f, 0.f);
        const dnnl::eltwise_forward::primitive_desc fpd(fd, strict_attr(), dnnl_engine());
        const dnnl::eltwise_backward::desc bd(dnnl::algorithm::eltwise_relu, md, md, 0.f, 0.f);
        dnnl::eltwise_backward::primitive_desc pd(bd, strict_attr(), dnnl_engine(), fpd);
        return primitive_op<dnnl::eltwise_backward>(
            pd, false, "relu backward", bufs, threads,
            [&] {
              return std::unordered_map<int, dnnl::memory>{{DNNL_ARG_DIFF_DST, mem(md, bufs[0])},
                                                           {DNNL_ARG_SRC, mem(md, bufs[1])},
                                                           {DNNL_ARG_DIFF_SRC, mem(md, bufs[2])}};
            },
            "eltwise_backward", "", reason);
      }
      default:
        invalid(op, "unknown eltwise kind");
    }
  } catch (const dnnl::error& ex) {
    return no_primitive(ex, "eltwise: primitive", "eltwise/binary for this type", reason);
  }
}

}  // namespace

std::unique_ptr<CpuOp> make_model_op(const suanli_op_desc& op, void* const* bufs, size_t nbufs,
                                     const CpuConfig& cfg, std::string* reason) {
  // One make_layer overload per model op kind, above.
  return kit::visit_model_op(
      op, [&](const auto& d) { return make_layer(d, bufs, nbufs, cfg, reason); });
}

}  // namespace suanli::cpu
