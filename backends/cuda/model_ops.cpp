// Model ops of ABI 1.1 on NVIDIA GPUs: strided batched matmul through cuBLASLt (bias and relu
// fused as cuBLASLt epilogues, the in-place residual as beta = 1; mask, GELU/SiLU, int8 scales and
// strided outputs through an fp32/int32 scratch and our epilogue kernel), the fp32 convolution
// layer through the cuDNN path of conv.cpp plus the same epilogue kernel, and pooling,
// normalization, softmax and element-wise ops as our own kernels (model_kernels.cu). Semantics
// follow backends/cpu/model_ops.cpp and backend.h; everything else answers UNSUPPORTED with a
// reason. Backward passes are not implemented (except the trivial relu backward).
#include <cublasLt.h>

#include <cmath>
#include <cstring>
#include <string>

#include "cuda_op.h"
#include "kernels.h"
#include "lt_util.h"
#include "matmul_layout.h"
#include "model_kernels.h"

namespace suanli::cuda {
namespace {

[[noreturn]] void invalid(const char* op, const std::string& msg) {
  throw BackendError(SUANLI_INVALID_ARGUMENT, std::string(op) + ": " + msg);
}

std::unique_ptr<CudaOp> unsupported(std::string* reason, std::string why) {
  *reason = std::move(why);
  return nullptr;
}

using Scratch = DeviceScratch;

// A never-run op: what supports() builds.
class ProbeOp : public CudaOp {
 public:
  void enqueue() override { throw BackendError(SUANLI_INTERNAL, "model op: a probe op was run"); }
};

const char* type_name(suanli_dtype t) {
  const char* n = suanli_dtype_name(t);
  return n ? n : "invalid";
}

// Storage type for our kernels; false for types they do not handle.
bool kernel_type(suanli_dtype t, KType* out) {
  switch (t) {
    case SUANLI_DTYPE_FP32:
      *out = KType::f32;
      return true;
    case SUANLI_DTYPE_BF16:
      *out = KType::bf16;
      return true;
    case SUANLI_DTYPE_FP16:
      *out = KType::f16;
      return true;
    case SUANLI_DTYPE_INT8:
      *out = KType::s8;
      return true;
    case SUANLI_DTYPE_UINT8:
      *out = KType::u8;
      return true;
    case SUANLI_DTYPE_INT32:
      *out = KType::s32;
      return true;
    default:
      return false;
  }
}

bool is_float_storage(suanli_dtype t) {
  return t == SUANLI_DTYPE_FP32 || t == SUANLI_DTYPE_BF16 || t == SUANLI_DTYPE_FP16;
}

void check_activation(suanli_activation a, const char* op) {
  if (a < SUANLI_ACT_NONE || a > SUANLI_ACT_SILU)
    invalid(op, "unknown activation " + std::to_string(static_cast<int>(a)));
}

void* at(void* const* bufs, size_t i) {
  return bufs ? bufs[i] : nullptr;
}

// ---- matmul ---------------------------------------------------------------------------------

// One cuBLASLt configuration: our A/B in their layouts, the output (dst or scratch) column-major
// n x m with leading dimension ldc, batches as planned, and the fused epilogue.
struct LtSpec {
  cudaDataType_t ta, tb, tc;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int64_t esz_a, esz_b, esz_c;
  MatLayout la, lb;
  int64_t ldc;
  BatchPlan bp;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  const void *a = nullptr, *b = nullptr, *c = nullptr;  // null: support probe
};

// Row-major C (m x n) = A B is, read column-major, C^T (n x m) = B^T A^T: cuBLASLt's A is our B
// and its B is our A. The heuristics' algorithms, best first; empty when cuBLASLt has none.
std::vector<cublasLtMatmulHeuristicResult_t> build_lt(Device& dev, const suanli_matmul_desc& d,
                                                      const LtSpec& s, LtDescs& desc) {
  const int64_t m = d.m, n = d.n, k = d.k;
  SUANLI_LT_CHECK(cublasLtMatmulDescCreate(&desc.op, s.compute, s.scale));
  // Our B (k x n): row-major is column-major n x k (op N); column-major is k x n (op T).
  const cublasOperation_t op_a = s.lb.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  // Our A (m x k): row-major is column-major k x m (op N); column-major is m x k (op T).
  const cublasOperation_t op_b = s.la.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  SUANLI_LT_CHECK(
      cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  SUANLI_LT_CHECK(
      cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  SUANLI_LT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                 &s.epilogue, sizeof s.epilogue));
  if (s.epilogue == CUBLASLT_EPILOGUE_BIAS || s.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) {
    const int32_t bias_type = CUDA_R_32F;  // backend.h: bias is fp32 in every dtype
    SUANLI_LT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                   &bias_type, sizeof bias_type));
    const int64_t bias_stride = 0;  // one bias for every batch
    SUANLI_LT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE,
                                                   &bias_stride, sizeof bias_stride));
    if (s.bias)
      SUANLI_LT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &s.bias, sizeof s.bias));
  }
  SUANLI_LT_CHECK(cublasLtMatrixLayoutCreate(&desc.a, s.tb, s.lb.row_major ? n : k,
                                             s.lb.row_major ? k : n, s.lb.ld));
  SUANLI_LT_CHECK(cublasLtMatrixLayoutCreate(&desc.b, s.ta, s.la.row_major ? k : m,
                                             s.la.row_major ? m : k, s.la.ld));
  SUANLI_LT_CHECK(cublasLtMatrixLayoutCreate(&desc.c, s.tc, n, m, s.ldc));
  if (s.bp.count > 1) {
    const auto count = static_cast<int32_t>(s.bp.count);
    auto batch = [&](cublasLtMatrixLayout_t l, int64_t stride) {
      SUANLI_LT_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &count, sizeof count));
      SUANLI_LT_CHECK(cublasLtMatrixLayoutSetAttribute(
          l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    };
    batch(desc.a, s.bp.b);
    batch(desc.b, s.bp.a);
    batch(desc.c, s.bp.c);
  }
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceCreate(&desc.pref));
  const uint64_t ws = dev.workspace_bytes;
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  const uint32_t al_a = alignment(s.b, s.esz_b, s.bp.b, s.bp.loop_b);  // cuBLASLt's A: our B
  const uint32_t al_b = alignment(s.a, s.esz_a, s.bp.a, s.bp.loop_a);
  const uint32_t al_c = alignment(s.c, s.esz_c, s.bp.c, s.bp.loop_c);
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
  return lt_heuristics(dev, desc, kLtCandidates);
}

class MatmulOp : public CudaOp {
 public:
  void enqueue() override {
    SUANLI_LT_CHECK(run(algo_));
    if (epilogue_kernel_)
      check_cuda(launch_epilogue(epi_, device->stream), "matmul epilogue kernel launch");
  }
  // The cuBLASLt calls alone, with one algorithm (what plan() times).
  cublasStatus_t run(const cublasLtMatmulAlgo_t& algo) {
    for (int64_t l = 0; l < loops_; ++l) {
      const char* a = static_cast<const char*>(a_) + l * step_a_;
      const char* b = static_cast<const char*>(b_) + l * step_b_;
      char* c = static_cast<char*>(c_) + l * step_c_;
      const cublasStatus_t s = cublasLtMatmul(
          device->lt, desc_->op, alpha_, b, desc_->a, a, desc_->b, beta_, c, desc_->c, c, desc_->c,
          &algo, device->workspace, device->workspace_bytes, device->stream);
      if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
  }
  void restage() override {
    if (stage_from_)
      check_cuda(launch_transpose_bytes(static_cast<const uint8_t*>(stage_from_),
                                        static_cast<uint8_t*>(staged_.ptr), 1, stage_rows_,
                                        stage_cols_, device->stream),
                 "stage B (transpose) kernel launch");
  }

  std::unique_ptr<LtDescs> desc_ = std::make_unique<LtDescs>();
  cublasLtMatmulAlgo_t algo_{};
  const void *a_ = nullptr, *b_ = nullptr;
  void* c_ = nullptr;                                         // dst, or the scratch
  int64_t loops_ = 1, step_a_ = 0, step_b_ = 0, step_c_ = 0;  // bytes per loop
  alignas(8) unsigned char alpha_[8] = {}, beta_[8] = {};
  bool epilogue_kernel_ = false;
  EpilogueArgs epi_;
  Scratch scratch_;
  const void* stage_from_ = nullptr;  // int8: our row-major B, copied to n x k in staged_
  Scratch staged_;
  int64_t stage_rows_ = 0, stage_cols_ = 0;  // B as stored: k x n, packed
};

// Refuses a malformed matmul descriptor (INVALID_ARGUMENT).
void check_matmul(const suanli_matmul_desc& d, size_t nbufs, bool probe) {
  const char* op = "matmul";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_matmul_desc, quant))
    invalid(op, "struct_size too small");
  if (d.batch0 < 1 || d.batch1 < 1 || d.m < 1 || d.n < 1 || d.k < 1)
    invalid(op, "batch0, batch1, m, n, k must be >= 1");
  for (int i = 0; i < 4; ++i)
    if (d.a_stride[i] < 0 || d.b_stride[i] < 0 || d.c_stride[i] < 0)
      invalid(op, "strides must be >= 0");
  check_activation(d.epilogue.activation, op);
  if (!std::isfinite(d.epilogue.alpha)) invalid(op, "epilogue.alpha must be finite");
  const size_t need = 3 + (d.epilogue.bias ? 1 : 0) + (d.epilogue.mask ? 1 : 0);
  if (!probe && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
}

// What cuBLASLt reads and accumulates, and what our epilogue writes.
struct MatmulTypes {
  bool quantized = false;
  cudaDataType_t in_type = CUDA_R_32F, c_type = CUDA_R_32F;
  KType dst_kt = KType::f32;
  int64_t esz_in = 4, esz_c = 4;
};

// The types of an int8 matmul; "" when supported, else the reason.
std::string int8_matmul_types(const suanli_matmul_desc& d, const Device& dev) {
  const char* op = "matmul";
  const suanli_epilogue& e = d.epilogue;
  const suanli_quant& q = d.quant;
  const suanli_dtype ct = d.c_type;
  if (d.b_type != SUANLI_DTYPE_INT8) invalid(op, "int8 matmul takes a uint8/int8 A and an int8 B");
  if (d.a_type == SUANLI_DTYPE_UINT8)
    return "matmul: cuBLASLt multiplies s8 x s8 only, not the u8 x s8 form of x86 VNNI (ask for an "
           "int8 A)";
  if (ct != SUANLI_DTYPE_INT8 && ct != SUANLI_DTYPE_UINT8 && ct != SUANLI_DTYPE_FP32 &&
      ct != SUANLI_DTYPE_INT32)
    invalid(op, std::string("int8 matmul writes int8, uint8, fp32 or int32, not ") + type_name(ct));
  if (dev.cc() < 75) return "int8 tensor cores need sm_75 or later";
  if (!(q.src_scale > 0) || !(q.wei_scale > 0) || !(q.dst_scale > 0) ||
      (e.residual && !(q.residual_scale > 0)))
    invalid(op, "quant scales must be > 0");
  if ((ct == SUANLI_DTYPE_FP32 || ct == SUANLI_DTYPE_INT32) && q.dst_scale != 1.f)
    invalid(op, "quant.dst_scale must be 1 for an fp32 or int32 dst");
  if (ct == SUANLI_DTYPE_INT32 &&
      (e.bias || e.mask || e.residual || e.activation != SUANLI_ACT_NONE || e.alpha != 1.0))
    invalid(op, "an int32 dst is the raw accumulator: no epilogue allowed");
  return "";
}

// The types of a floating-point matmul; "" when supported, else the reason.
std::string float_matmul_types(const suanli_matmul_desc& d, const Device& dev) {
  const suanli_dtype at = d.a_type, ct = d.c_type;
  if (!is_float_storage(at))
    return std::string("matmul: the cuda backend has no ") + type_name(at) + " model matmul";
  if (d.b_type != at) invalid("matmul", "A and B must have one type");
  if (ct != at && ct != SUANLI_DTYPE_FP32)
    invalid("matmul", std::string("a ") + type_name(at) + " matmul writes " + type_name(at) +
                          " or fp32, not " + type_name(ct));
  if (at == SUANLI_DTYPE_BF16 && dev.cc() < 80) return "bf16 tensor cores need sm_80 or later";
  return "";
}

// The types of d; false (with *reason) when this device cannot run them.
bool matmul_types(const suanli_matmul_desc& d, const Device& dev, MatmulTypes* t,
                  std::string* reason) {
  const suanli_dtype at = d.a_type, ct = d.c_type;
  t->quantized = at == SUANLI_DTYPE_INT8 || at == SUANLI_DTYPE_UINT8;
  *reason = t->quantized ? int8_matmul_types(d, dev) : float_matmul_types(d, dev);
  if (!reason->empty()) return false;
  t->in_type = t->quantized              ? CUDA_R_8I
               : at == SUANLI_DTYPE_FP32 ? CUDA_R_32F
               : at == SUANLI_DTYPE_BF16 ? CUDA_R_16BF
                                         : CUDA_R_16F;
  kernel_type(ct, &t->dst_kt);
  t->esz_in = t->quantized ? 1 : (at == SUANLI_DTYPE_FP32 ? 4 : 2);
  t->esz_c = ct == SUANLI_DTYPE_FP32 || ct == SUANLI_DTYPE_INT32     ? 4
             : (ct == SUANLI_DTYPE_INT8 || ct == SUANLI_DTYPE_UINT8) ? 1
                                                                     : 2;
  t->c_type = ct == SUANLI_DTYPE_FP32    ? CUDA_R_32F
              : ct == SUANLI_DTYPE_BF16  ? CUDA_R_16BF
              : ct == SUANLI_DTYPE_FP16  ? CUDA_R_16F
              : ct == SUANLI_DTYPE_INT32 ? CUDA_R_32I
                                         : CUDA_R_8I;
  return true;
}

// Builds one matmul in named steps: types and layouts, the int8 staging of B, the fused cuBLASLt
// path or the scratch path with our epilogue kernel, then the algorithm choice.
class MatmulBuilder {
 public:
  MatmulBuilder(const suanli_matmul_desc& d, void* const* bufs, Device& dev)
      : d_(d), e_(d.epilogue), q_(d.quant), bufs_(bufs), dev_(dev) {}

  std::unique_ptr<CudaOp> build(std::string* reason) {
    if (!matmul_types(d_, dev_, &t_, reason)) return nullptr;
    if (!layouts(reason)) return nullptr;
    if (!dev_.lt) throw BackendError(SUANLI_INTERNAL, "matmul planned before the cuBLASLt handle");
    bind_buffers();
    if (t_.quantized && lb_.row_major && lb_.ld == d_.n && d_.batch0 == 1 && d_.batch1 == 1)
      stage_int8_b();
    const bool fused = fused_possible() && plan_fused();
    if (!fused && !plan_scratch(reason)) return nullptr;
    if (bufs_ == nullptr) return std::make_unique<ProbeOp>();
    choose_algorithm(fused);
    return std::move(m_);
  }

 private:
  // A and B with unit stride along rows or columns; C row-major or not; no precision override.
  bool layouts(std::string* reason) {
    if (!layout_of(d_.m, d_.k, d_.a_stride[2], d_.a_stride[3], &la_) ||
        !layout_of(d_.k, d_.n, d_.b_stride[2], d_.b_stride[3], &lb_)) {
      *reason =
          "matmul: cuBLASLt needs A and B with unit stride along rows or columns (and a "
          "leading dimension covering the other)";
      return false;
    }
    c_row_major_ = layout_of(d_.m, d_.n, d_.c_stride[2], d_.c_stride[3], &lc_) && lc_.row_major;
    if (d_.c_type == SUANLI_DTYPE_INT32 && !c_row_major_) {  // the fp32 epilogue would round
      *reason = "matmul: an int32 dst must be row-major (unit column stride)";
      return false;
    }
    if (!dev_.precision_override.empty()) {
      *reason = "the environment sets " + dev_.precision_override +
                ", which changes cuBLAS's precision silently; unset it";
      return false;
    }
    return true;
  }

  void bind_buffers() {
    m_->device = &dev_;
    m_->a_ = at(bufs_, 0);
    m_->b_ = at(bufs_, 1);
    dst_ = at(bufs_, 2);
    bias_ = e_.bias ? static_cast<const float*>(at(bufs_, 3)) : nullptr;
    mask_ = e_.mask ? static_cast<const float*>(at(bufs_, e_.bias ? 4 : 3)) : nullptr;
  }

  // int8: cuBLASLt's integer kernels want its A transposed ("TN"), i.e. our B stored n x k. The
  // row-major B of a single matmul (a linear layer's weights) is copied to n x k once at plan
  // time and after each upload of B (restage), outside the timed op.
  void stage_int8_b() {
    m_->stage_from_ = m_->b_;
    if (bufs_) {
      SUANLI_CUDA_CHECK(cudaSetDevice(dev_.ordinal));
      m_->staged_.alloc(static_cast<uint64_t>(d_.k * d_.n));
    }
    m_->b_ = m_->staged_.ptr;
    m_->stage_rows_ = d_.k;
    m_->stage_cols_ = d_.n;
    lb_ = {false, d_.k};
  }

  // cuBLASLt writes dst itself only where its semantics equal backend.h's exactly.
  bool fused_possible() const {
    const bool act_fusable = e_.activation == SUANLI_ACT_NONE || e_.activation == SUANLI_ACT_RELU;
    return !t_.quantized ? (!e_.mask && act_fusable && c_row_major_)
                         : (d_.c_type == SUANLI_DTYPE_INT32 && c_row_major_);
  }

  LtSpec spec(cudaDataType_t tc, int64_t esz, int64_t ldc, const BatchPlan& bp,
              const void* c) const {
    if (bp.count > INT32_MAX) invalid("matmul", "batch exceeds cuBLASLt's int32 count");
    LtSpec s{};
    s.ta = s.tb = t_.in_type;
    s.tc = tc;
    s.compute = t_.quantized ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
    s.scale = t_.quantized ? CUDA_R_32I : CUDA_R_32F;
    s.esz_a = s.esz_b = t_.esz_in;
    s.esz_c = esz;
    s.la = la_;
    s.lb = lb_;
    s.ldc = ldc;
    s.bp = bp;
    s.a = m_->a_;
    s.b = m_->b_;
    s.c = c;
    return s;
  }

  void set_loops(const BatchPlan& bp, int64_t esz_c, void* c) {
    m_->loops_ = bp.loops;
    m_->step_a_ = bp.loop_a * t_.esz_in;
    m_->step_b_ = bp.loop_b * t_.esz_in;
    m_->step_c_ = bp.loop_c * esz_c;
    m_->c_ = c;
  }

  template <typename T>
  void set_scales(T alpha, T beta) {
    std::memcpy(m_->alpha_, &alpha, sizeof alpha);
    std::memcpy(m_->beta_, &beta, sizeof beta);
  }

  // Fused path: bias/relu as cuBLASLt's epilogue, the residual as beta = 1 (C = D = dst).
  bool plan_fused() {
    const BatchPlan bp = plan_batches(d_, d_.c_stride[0], d_.c_stride[1]);
    LtSpec s = spec(t_.c_type, t_.esz_c, lc_.ld, bp, dst_);
    const bool relu = e_.activation == SUANLI_ACT_RELU;
    if (!t_.quantized) {
      s.epilogue = e_.bias ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                           : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
      s.bias = bias_;
    }
    found_ = build_lt(dev_, d_, s, *m_->desc_);
    if (found_.empty()) {
      m_->desc_ = std::make_unique<LtDescs>();  // rebuilt for the scratch path
      return false;
    }
    set_loops(bp, t_.esz_c, dst_);
    if (t_.quantized) {
      set_scales<int32_t>(1, 0);
      how_ = "s8 x s8 -> s32 straight into dst";
      return true;
    }
    set_scales<float>(static_cast<float>(e_.alpha), e_.residual ? 1.f : 0.f);
    const suanli_dtype ct = d_.c_type;
    how_ = std::string(type_name(d_.a_type)) + " in, fp32 accumulation, " + type_name(ct) +
           " out; epilogue fused in cuBLASLt (" +
           (e_.bias ? (relu ? "bias+relu" : "bias") : (relu ? "relu" : "none")) +
           (e_.residual ? ", residual as beta=1" : "") + ")" +
           (e_.bias && ct != SUANLI_DTYPE_FP32
                ? std::string("; fp32 bias (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE) with ") +
                      type_name(ct) + " output"
                : std::string());
    return true;
  }

  // Scratch path: cuBLASLt writes the raw accumulator (fp32, int32 for int8) packed as
  // [batch0][batch1] column-major n x m; our kernel applies the whole epilogue into dst.
  bool plan_scratch(std::string* reason) {
    const int64_t mn = d_.m * d_.n;
    const BatchPlan bp = plan_batches(d_, d_.batch1 * mn, mn);
    if (bufs_) {
      SUANLI_CUDA_CHECK(cudaSetDevice(dev_.ordinal));
      m_->scratch_.alloc(static_cast<uint64_t>(d_.batch0 * d_.batch1 * mn) * 4u);
    }
    LtSpec s = spec(t_.quantized ? CUDA_R_32I : CUDA_R_32F, 4, d_.n, bp, m_->scratch_.ptr);
    found_ = build_lt(dev_, d_, s, *m_->desc_);
    if (found_.empty()) {
      *reason = std::string("cuBLASLt found no algorithm for this ") + type_name(d_.a_type) +
                " matmul (m " + std::to_string(d_.m) + ", n " + std::to_string(d_.n) + ", k " +
                std::to_string(d_.k) + ", A " + (la_.row_major ? "row" : "column") + "-major, B " +
                (lb_.row_major ? "row" : "column") + "-major" +
                (t_.quantized ? "; int8 needs A row-major and B stored n x k (column-major)" : "") +
                ") on sm_" + std::to_string(dev_.cc());
      return false;
    }
    set_loops(bp, 4, m_->scratch_.ptr);
    if (t_.quantized)
      set_scales<int32_t>(1, 0);
    else
      set_scales<float>(1.f, 0.f);
    fill_epilogue(mn);
    how_ =
        std::string(type_name(d_.a_type)) + " in, " + (t_.quantized ? "s32" : "fp32") +
        " accumulation into scratch, then suanli epilogue kernel (scale" +
        (e_.bias ? ", bias" : "") + (e_.mask ? ", mask" : "") + (e_.residual ? ", residual" : "") +
        (e_.activation != SUANLI_ACT_NONE ? ", activation" : "") + ") -> " + type_name(d_.c_type);
    return true;
  }

  void fill_epilogue(int64_t mn) {
    EpilogueArgs& ep = m_->epi_;
    ep.acc = m_->scratch_.ptr;
    ep.acc_type = t_.quantized ? KType::s32 : KType::f32;
    ep.acc_stride[0] = d_.batch1 * mn;
    ep.acc_stride[1] = mn;
    ep.acc_stride[2] = d_.n;
    ep.acc_stride[3] = 1;
    ep.dst = dst_;
    ep.dst_type = t_.dst_kt;
    for (int i = 0; i < 4; ++i) ep.dst_stride[i] = d_.c_stride[i];
    ep.batch0 = d_.batch0;
    ep.batch1 = d_.batch1;
    ep.m = d_.m;
    ep.n = d_.n;
    ep.scale = static_cast<float>(e_.alpha) * (t_.quantized ? q_.src_scale * q_.wei_scale : 1.f);
    ep.bias = bias_;
    ep.mask = mask_;
    ep.residual = e_.residual ? 1 : 0;
    ep.residual_scale = t_.quantized && e_.residual ? q_.residual_scale : 1.f;
    ep.dst_scale = t_.quantized ? q_.dst_scale : 1.f;
    ep.act = static_cast<int>(e_.activation);
    m_->epilogue_kernel_ = true;
  }

  // Times the heuristics' candidates (unless cuBLASLt accumulates into dst) and names the result.
  void choose_algorithm(bool fused) {
    // A residual is read from dst: plan() must not run the op. Timing the cuBLASLt calls alone
    // is harmless when they write the scratch, not when they accumulate into dst (beta = 1).
    m_->reads_output = e_.residual != 0;
    const bool tunable = !(fused && e_.residual);
    size_t pick = 0;
    std::string tuning = "heuristics' first algorithm (cuBLASLt accumulates into dst: not timed)";
    if (m_->stage_from_) {
      m_->staged_from = {m_->stage_from_};
      m_->restage();
    }
    MatmulOp* m = m_.get();
    if (tunable)
      pick = lt_pick_fastest(
          dev_, found_, [&](const cublasLtMatmulAlgo_t& algo) { return m->run(algo); }, &tuning);
    m->algo_ = found_[pick].algo;
    m->library = "cublasLt " + cublaslt_version();
    m->implementation =
        "cublasLtMatmul " + how_ + ", " + lt_algo_text(m->algo_, found_[pick].wavesCount) + " (" +
        tuning + ")" + (m->loops_ > 1 ? ", " + std::to_string(m->loops_) + " calls (batch0)" : "") +
        (m->stage_from_ ? "; B staged to n x k (cuBLASLt's int8 TN form) once at plan and after "
                          "each upload of B, outside the timed runs"
                        : "");
  }

  const suanli_matmul_desc& d_;
  const suanli_epilogue& e_;
  const suanli_quant& q_;
  void* const* bufs_;
  Device& dev_;
  MatmulTypes t_;
  MatLayout la_, lb_, lc_;
  bool c_row_major_ = false;
  std::unique_ptr<MatmulOp> m_ = std::make_unique<MatmulOp>();
  void* dst_ = nullptr;
  const float *bias_ = nullptr, *mask_ = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> found_;
  std::string how_;
};

std::unique_ptr<CudaOp> make_layer(const suanli_matmul_desc& d, void* const* bufs, size_t nbufs,
                                   Device& dev, std::string* reason) {
  check_matmul(d, nbufs, bufs == nullptr);
  return MatmulBuilder(d, bufs, dev).build(reason);
}

// ---- conv2d layer ---------------------------------------------------------------------------

class ConvLayerOp : public CudaOp {
 public:
  void enqueue() override {
    conv->enqueue();
    if (epilogue_kernel)
      check_cuda(launch_epilogue(epi, device->stream), "conv epilogue kernel launch");
  }
  void restage() override { conv->restage(); }
  Scratch scratch;  // declared before conv: conv's dst may be the scratch
  std::unique_ptr<CudaOp> conv;
  bool epilogue_kernel = false;
  EpilogueArgs epi;
};

std::unique_ptr<CudaOp> make_layer(const suanli_conv2d_layer_desc& L, void* const* bufs,
                                   size_t nbufs, Device& dev, std::string* reason) {
  const char* op = "conv2d_layer";
  if (L.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, quant))
    invalid(op, "struct_size too small");
  const suanli_conv2d_desc& d = L.conv;
  kit::check_conv2d_shape(d, op);
  if (L.prop != SUANLI_PROP_FORWARD_INFERENCE && L.prop != SUANLI_PROP_FORWARD_TRAINING)
    return unsupported(reason,
                       "the cuda backend does not implement convolution backward passes yet");
  if (d.src_type != SUANLI_DTYPE_FP32 || d.weight_type != SUANLI_DTYPE_FP32 ||
      d.dst_type != SUANLI_DTYPE_FP32)
    return unsupported(reason, std::string("conv2d_layer: the cuda backend runs fp32 "
                                           "convolution layers only (asked: src ") +
                                   type_name(d.src_type) + ", weights " + type_name(d.weight_type) +
                                   ", dst " + type_name(d.dst_type) +
                                   "; bf16/int8 need cuDNN's graph API, not implemented yet)");
  const suanli_epilogue& e = L.epilogue;
  check_activation(e.activation, op);
  kit::check_conv_epilogue(e, op);
  const size_t need = 3 + (e.bias ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  const int64_t p = kit::conv2d_output(d).first, q = kit::conv2d_output(d).second;
  if (p < 1 || q < 1) invalid(op, "the output would be empty");

  auto c = std::make_unique<ConvLayerOp>();
  c->device = &dev;
  void* dst = at(bufs, 2);
  // With a residual, cuDNN writes a scratch and our kernel adds dst's residual; otherwise cuDNN
  // writes dst and the kernel (bias/activation) runs in place.
  if (e.residual && bufs) {
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    c->scratch.alloc(static_cast<uint64_t>(d.n * p * q * d.k) * 4u);
  }
  void* conv_dst = e.residual ? c->scratch.ptr : dst;
  c->conv = make_conv2d(d, at(bufs, 0), at(bufs, 1), conv_dst, dev, reason);
  if (!c->conv) return nullptr;
  if (!bufs) return std::make_unique<ProbeOp>();
  c->epilogue_kernel = e.bias || e.residual || e.activation != SUANLI_ACT_NONE;
  EpilogueArgs& ep = c->epi;
  ep.acc = conv_dst;
  ep.acc_type = KType::f32;
  ep.acc_stride[2] = d.k;
  ep.acc_stride[3] = 1;
  ep.dst = dst;
  ep.dst_type = KType::f32;
  ep.dst_stride[2] = d.k;
  ep.dst_stride[3] = 1;
  ep.m = d.n * p * q;
  ep.n = d.k;
  ep.bias = e.bias ? static_cast<const float*>(bufs[3]) : nullptr;
  ep.residual = e.residual ? 1 : 0;
  ep.act = static_cast<int>(e.activation);
  c->staged_from = c->conv->staged_from;
  // Training: the weights change every step, so they are reordered before every run (as the CPU
  // backend repacks them); inference reorders once.
  c->stage_every_run = L.prop == SUANLI_PROP_FORWARD_TRAINING;
  c->reads_output = e.residual != 0;
  c->library = c->conv->library;
  c->implementation = c->conv->implementation;
  if (c->stage_every_run) c->implementation += " (training: reordered before every run, timed)";
  if (c->epilogue_kernel)
    c->implementation += std::string(e.residual ? "; into scratch" : "") +
                         ", then suanli epilogue kernel (" + (e.bias ? "bias " : "") +
                         (e.residual ? "residual " : "") +
                         (e.activation != SUANLI_ACT_NONE ? "activation" : "") + ")";
  return c;
}

// ---- pooling, normalization, softmax, eltwise: our kernels -----------------------------------

class KernelOp : public CudaOp {
 public:
  enum class Kind { pool, norm, softmax, eltwise } kind = Kind::pool;
  PoolArgs pool;
  NormArgs norm;
  const void* src = nullptr;
  const void* src2 = nullptr;
  void* dst = nullptr;
  KType type = KType::f32;
  int64_t rows = 0, cols = 0;  // softmax; eltwise: cols = n
  int elt_kind = 0, act = 0;
  void enqueue() override {
    cudaStream_t st = device->stream;
    switch (kind) {
      case Kind::pool:
        check_cuda(launch_pool(pool, st), "pool kernel launch");
        break;
      case Kind::norm:
        check_cuda(launch_norm(norm, st), "norm kernel launch");
        break;
      case Kind::softmax:
        check_cuda(launch_softmax(src, dst, type, rows, cols, st), "softmax kernel launch");
        break;
      case Kind::eltwise:
        check_cuda(launch_eltwise(elt_kind, act, src, src2, dst, type, cols, st),
                   "eltwise kernel launch");
        break;
    }
  }
};

std::unique_ptr<CudaOp> finish_kernel(std::unique_ptr<KernelOp> k, Device& dev, bool probe,
                                      std::string impl) {
  if (probe) return std::make_unique<ProbeOp>();
  k->device = &dev;
  k->library = "suanli";
  k->implementation = std::move(impl);
  return k;
}

bool float_kernel_type(suanli_dtype t, KType* kt) {
  return is_float_storage(t) && kernel_type(t, kt);
}

std::unique_ptr<CudaOp> make_layer(const suanli_pool_desc& d, void* const* bufs, size_t nbufs,
                                   Device& dev, std::string* reason) {
  const char* op = "pool";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_pool_desc, prop)) invalid(op, "struct_size");
  if (d.n < 1 || d.c < 1 || d.h < 1 || d.w < 1 || d.r < 1 || d.s < 1 || d.stride_h < 1 ||
      d.stride_w < 1 || d.pad_h < 0 || d.pad_w < 0)
    invalid(op, "bad shape");
  if (d.kind != SUANLI_POOL_MAX && d.kind != SUANLI_POOL_AVG) invalid(op, "unknown pool kind");
  if (d.prop != SUANLI_PROP_FORWARD_INFERENCE && d.prop != SUANLI_PROP_FORWARD_TRAINING)
    return unsupported(reason, "the cuda backend does not implement pooling backward yet");
  KType kt = KType::f32;
  if (d.type == SUANLI_DTYPE_INT32 || !kernel_type(d.type, &kt))
    return unsupported(reason, std::string("pool: no ") + type_name(d.type) + " path");
  if (bufs && nbufs < 2) invalid(op, "needs 2 buffers");
  const int64_t p = (d.h + 2 * d.pad_h - d.r) / d.stride_h + 1;
  const int64_t q = (d.w + 2 * d.pad_w - d.s) / d.stride_w + 1;
  if (d.h + 2 * d.pad_h < d.r || d.w + 2 * d.pad_w < d.s || p < 1 || q < 1)
    invalid(op, "the window does not fit the padded input");
  auto k = std::make_unique<KernelOp>();
  k->kind = KernelOp::Kind::pool;
  k->pool = {at(bufs, 0), at(bufs, 1), kt,      d.kind == SUANLI_POOL_MAX ? 1 : 0,
             d.n,         d.c,         d.h,     d.w,
             p,           q,           d.r,     d.s,
             d.stride_h,  d.stride_w,  d.pad_h, d.pad_w};
  return finish_kernel(std::move(k), dev, !bufs,
                       std::string(d.kind == SUANLI_POOL_MAX ? "max"
                                                             : "average (padding "
                                                               "excluded)") +
                           " pooling, NHWC, one thread per output (" + type_name(d.type) + ")");
}

std::unique_ptr<CudaOp> make_layer(const suanli_norm_desc& d, void* const* bufs, size_t nbufs,
                                   Device& dev, std::string* reason) {
  const char* op = "norm";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_norm_desc, activation)) invalid(op, "struct_size");
  if (d.rows < 1 || d.channels < 1 || !(d.epsilon >= 0)) invalid(op, "bad shape or epsilon");
  if (d.kind != SUANLI_NORM_BATCH && d.kind != SUANLI_NORM_LAYER && d.kind != SUANLI_NORM_RMS)
    invalid(op, "unknown norm kind");
  if (d.activation != SUANLI_ACT_NONE && d.activation != SUANLI_ACT_RELU)
    invalid(op, "norm takes activation NONE or RELU");
  if (d.prop != SUANLI_PROP_FORWARD_INFERENCE)
    return unsupported(reason,
                       "the cuda backend implements normalization for inference only (no "
                       "training statistics or backward yet)");
  KType kt = KType::f32;
  if (!float_kernel_type(d.type, &kt))
    return unsupported(reason, std::string("norm: no ") + type_name(d.type) + " path");
  const size_t need = d.kind == SUANLI_NORM_BATCH ? 6 : d.kind == SUANLI_NORM_LAYER ? 4 : 3;
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  auto k = std::make_unique<KernelOp>();
  k->kind = KernelOp::Kind::norm;
  NormArgs& a = k->norm;
  a.src = at(bufs, 0);
  a.dst = at(bufs, 1);
  a.type = kt;
  a.kind = static_cast<int>(d.kind);
  a.rows = d.rows;
  a.channels = d.channels;
  a.epsilon = static_cast<float>(d.epsilon);
  a.gamma = static_cast<const float*>(at(bufs, 2));
  if (d.kind != SUANLI_NORM_RMS) a.beta = static_cast<const float*>(at(bufs, 3));
  if (d.kind == SUANLI_NORM_BATCH) {
    a.mean = static_cast<const float*>(at(bufs, 4));
    a.var = static_cast<const float*>(at(bufs, 5));
  }
  a.relu = d.activation == SUANLI_ACT_RELU ? 1 : 0;
  const char* what = d.kind == SUANLI_NORM_BATCH   ? "batch norm (given statistics), element-wise"
                     : d.kind == SUANLI_NORM_LAYER ? "layer norm, one block per row, two-pass "
                                                     "variance"
                                                   : "RMS norm, one block per row";
  return finish_kernel(std::move(k), dev, !bufs,
                       std::string(what) + " (" + type_name(d.type) + ", fp32 statistics)");
}

std::unique_ptr<CudaOp> make_layer(const suanli_softmax_desc& d, void* const* bufs, size_t nbufs,
                                   Device& dev, std::string* reason) {
  const char* op = "softmax";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_softmax_desc, type)) invalid(op, "struct_size");
  if (d.rows < 1 || d.cols < 1) invalid(op, "rows and cols must be >= 1");
  KType kt = KType::f32;
  if (!float_kernel_type(d.type, &kt))
    return unsupported(reason, std::string("softmax: no ") + type_name(d.type) + " path");
  if (bufs && nbufs < 2) invalid(op, "needs 2 buffers");
  auto k = std::make_unique<KernelOp>();
  k->kind = KernelOp::Kind::softmax;
  k->src = at(bufs, 0);
  k->dst = at(bufs, 1);
  k->type = kt;
  k->rows = d.rows;
  k->cols = d.cols;
  return finish_kernel(
      std::move(k), dev, !bufs,
      std::string("softmax, one block per row, fp32 max/sum (") + type_name(d.type) + ")");
}

std::unique_ptr<CudaOp> make_layer(const suanli_eltwise_desc& d, void* const* bufs, size_t nbufs,
                                   Device& dev, std::string* reason) {
  const char* op = "eltwise";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_eltwise_desc, type)) invalid(op, "struct_size");
  if (d.n < 1) invalid(op, "n must be >= 1");
  if (d.kind < SUANLI_ELTWISE_ACTIVATION || d.kind > SUANLI_ELTWISE_RELU_BACKWARD)
    invalid(op, "unknown eltwise kind");
  const bool uses_act = d.kind == SUANLI_ELTWISE_ACTIVATION || d.kind == SUANLI_ELTWISE_ACT_MUL;
  if (uses_act) check_activation(d.activation, op);
  KType kt = KType::f32;
  const bool int_relu = (d.type == SUANLI_DTYPE_INT8 || d.type == SUANLI_DTYPE_UINT8) &&
                        d.kind == SUANLI_ELTWISE_ACTIVATION && d.activation == SUANLI_ACT_RELU;
  if (int_relu)
    kernel_type(d.type, &kt);
  else if (!float_kernel_type(d.type, &kt))
    return unsupported(reason, std::string("eltwise: no ") + type_name(d.type) +
                                   " path for this kind (integer types: relu only)");
  const size_t need = d.kind == SUANLI_ELTWISE_ACTIVATION ? 2 : 3;
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  auto k = std::make_unique<KernelOp>();
  k->kind = KernelOp::Kind::eltwise;
  k->src = at(bufs, 0);
  k->src2 = need == 3 ? at(bufs, 1) : nullptr;
  k->dst = at(bufs, need - 1);
  k->type = kt;
  k->cols = d.n;
  k->elt_kind = static_cast<int>(d.kind);
  k->act = uses_act ? static_cast<int>(d.activation) : 0;
  static const char* const kNames[] = {"activation", "add", "mul", "act(a)*b", "relu backward"};
  return finish_kernel(std::move(k), dev, !bufs,
                       std::string("eltwise ") + kNames[d.kind] + ", grid-stride (" +
                           type_name(d.type) + ", fp32 math)");
}

}  // namespace

std::unique_ptr<CudaOp> make_model_op(const suanli_op_desc& op, void* const* bufs, size_t nbufs,
                                      Device& dev, std::string* reason) {
  // One make_layer overload per model op kind, above.
  return kit::visit_model_op(
      op, [&](const auto& d) { return make_layer(d, bufs, nbufs, dev, reason); });
}

}  // namespace suanli::cuda
