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

std::unique_ptr<CudaOp> make_matmul(const suanli_matmul_desc& d, void* const* bufs, size_t nbufs,
                                    Device& dev, std::string* reason) {
  const char* op = "matmul";
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_matmul_desc, quant))
    invalid(op, "struct_size too small");
  if (d.batch0 < 1 || d.batch1 < 1 || d.m < 1 || d.n < 1 || d.k < 1)
    invalid(op, "batch0, batch1, m, n, k must be >= 1");
  for (int i = 0; i < 4; ++i)
    if (d.a_stride[i] < 0 || d.b_stride[i] < 0 || d.c_stride[i] < 0)
      invalid(op, "strides must be >= 0");
  const suanli_epilogue& e = d.epilogue;
  const suanli_quant& q = d.quant;
  check_activation(e.activation, op);
  if (!std::isfinite(e.alpha)) invalid(op, "epilogue.alpha must be finite");
  const size_t need = 3 + (e.bias ? 1 : 0) + (e.mask ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");

  // Types: what cuBLASLt reads and accumulates, and what our epilogue writes.
  const suanli_dtype at_ = d.a_type, bt = d.b_type, ct = d.c_type;
  const bool quantized = at_ == SUANLI_DTYPE_INT8 || at_ == SUANLI_DTYPE_UINT8;
  cudaDataType_t in_type;
  if (quantized) {
    if (bt != SUANLI_DTYPE_INT8) invalid(op, "int8 matmul takes a uint8/int8 A and an int8 B");
    if (at_ == SUANLI_DTYPE_UINT8)
      return unsupported(reason,
                         "matmul: cuBLASLt multiplies s8 x s8 only, not the u8 x s8 form of x86 "
                         "VNNI (ask for an int8 A)");
    if (ct != SUANLI_DTYPE_INT8 && ct != SUANLI_DTYPE_UINT8 && ct != SUANLI_DTYPE_FP32 &&
        ct != SUANLI_DTYPE_INT32)
      invalid(op,
              std::string("int8 matmul writes int8, uint8, fp32 or int32, not ") + type_name(ct));
    if (dev.cc() < 75) return unsupported(reason, "int8 tensor cores need sm_75 or later");
    if (!(q.src_scale > 0) || !(q.wei_scale > 0) || !(q.dst_scale > 0) ||
        (e.residual && !(q.residual_scale > 0)))
      invalid(op, "quant scales must be > 0");
    if ((ct == SUANLI_DTYPE_FP32 || ct == SUANLI_DTYPE_INT32) && q.dst_scale != 1.f)
      invalid(op, "quant.dst_scale must be 1 for an fp32 or int32 dst");
    if (ct == SUANLI_DTYPE_INT32 &&
        (e.bias || e.mask || e.residual || e.activation != SUANLI_ACT_NONE || e.alpha != 1.0))
      invalid(op, "an int32 dst is the raw accumulator: no epilogue allowed");
    in_type = CUDA_R_8I;
  } else {
    if (!is_float_storage(at_))
      return unsupported(reason, std::string("matmul: the cuda backend has no ") + type_name(at_) +
                                     " model matmul");
    if (bt != at_) invalid(op, "A and B must have one type");
    if (ct != at_ && ct != SUANLI_DTYPE_FP32)
      invalid(op, std::string("a ") + type_name(at_) + " matmul writes " + type_name(at_) +
                      " or fp32, not " + type_name(ct));
    if (at_ == SUANLI_DTYPE_BF16 && dev.cc() < 80)
      return unsupported(reason, "bf16 tensor cores need sm_80 or later");
    in_type = at_ == SUANLI_DTYPE_FP32   ? CUDA_R_32F
              : at_ == SUANLI_DTYPE_BF16 ? CUDA_R_16BF
                                         : CUDA_R_16F;
  }
  KType dst_kt = KType::f32;
  kernel_type(ct, &dst_kt);
  const int64_t esz_in = quantized ? 1 : (at_ == SUANLI_DTYPE_FP32 ? 4 : 2);
  const int64_t esz_c = ct == SUANLI_DTYPE_FP32 || ct == SUANLI_DTYPE_INT32     ? 4
                        : (ct == SUANLI_DTYPE_INT8 || ct == SUANLI_DTYPE_UINT8) ? 1
                                                                                : 2;
  const cudaDataType_t c_type = ct == SUANLI_DTYPE_FP32    ? CUDA_R_32F
                                : ct == SUANLI_DTYPE_BF16  ? CUDA_R_16BF
                                : ct == SUANLI_DTYPE_FP16  ? CUDA_R_16F
                                : ct == SUANLI_DTYPE_INT32 ? CUDA_R_32I
                                                           : CUDA_R_8I;

  MatLayout la, lb, lc;
  if (!layout_of(d.m, d.k, d.a_stride[2], d.a_stride[3], &la) ||
      !layout_of(d.k, d.n, d.b_stride[2], d.b_stride[3], &lb))
    return unsupported(reason,
                       "matmul: cuBLASLt needs A and B with unit stride along rows or columns "
                       "(and a leading dimension covering the other)");
  const bool c_row_major = layout_of(d.m, d.n, d.c_stride[2], d.c_stride[3], &lc) && lc.row_major;
  if (ct == SUANLI_DTYPE_INT32 && !c_row_major)  // the fp32 epilogue would round large sums
    return unsupported(reason, "matmul: an int32 dst must be row-major (unit column stride)");
  if (!dev.precision_override.empty())
    return unsupported(reason, "the environment sets " + dev.precision_override +
                                   ", which changes cuBLAS's precision silently; unset it");
  if (!dev.lt) throw BackendError(SUANLI_INTERNAL, "matmul planned before the cuBLASLt handle");

  // Fused path: cuBLASLt writes dst itself, with bias/relu as its epilogue and the residual as
  // beta = 1 (C = D = dst). Only where its semantics equal backend.h's exactly.
  const bool act_fusable = e.activation == SUANLI_ACT_NONE || e.activation == SUANLI_ACT_RELU;
  const bool fused_possible = !quantized ? (!e.mask && act_fusable && c_row_major)
                                         : (ct == SUANLI_DTYPE_INT32 && c_row_major);
  auto m = std::make_unique<MatmulOp>();
  m->device = &dev;
  m->a_ = at(bufs, 0);
  m->b_ = at(bufs, 1);
  void* dst = at(bufs, 2);
  const float* bias = e.bias ? static_cast<const float*>(at(bufs, 3)) : nullptr;
  const float* mask = e.mask ? static_cast<const float*>(at(bufs, e.bias ? 4 : 3)) : nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> found;
  std::string how;

  auto base_spec = [&](cudaDataType_t tc, int64_t esz, int64_t ldc, const BatchPlan& bp,
                       const void* c) {
    LtSpec s{};
    s.ta = in_type;
    s.tb = in_type;
    s.tc = tc;
    s.compute = quantized ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
    s.scale = quantized ? CUDA_R_32I : CUDA_R_32F;
    s.esz_a = esz_in;
    s.esz_b = esz_in;
    s.esz_c = esz;
    s.la = la;
    s.lb = lb;
    s.ldc = ldc;
    s.bp = bp;
    s.a = m->a_;
    s.b = m->b_;
    s.c = c;
    return s;
  };
  auto too_many = [&](const BatchPlan& bp) {
    if (bp.count > INT32_MAX) invalid(op, "batch exceeds cuBLASLt's int32 count");
  };

  // int8: cuBLASLt's integer kernels want its A transposed ("TN"), i.e. our B stored n x k. The
  // row-major B of a single matmul (a linear layer's weights) is copied to n x k once at plan time
  // and after each upload of B (restage), outside the timed op.
  if (quantized && lb.row_major && lb.ld == d.n && d.batch0 == 1 && d.batch1 == 1) {
    m->stage_from_ = m->b_;
    if (bufs) {
      SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
      m->staged_.alloc(static_cast<uint64_t>(d.k * d.n));
    }
    m->b_ = m->staged_.ptr;
    m->stage_rows_ = d.k;
    m->stage_cols_ = d.n;
    lb = {false, d.k};
  }
  bool fused = false;
  if (fused_possible) {
    const BatchPlan bp = plan_batches(d, d.c_stride[0], d.c_stride[1]);
    too_many(bp);
    LtSpec s = base_spec(c_type, esz_c, lc.ld, bp, dst);
    if (!quantized) {
      s.epilogue = e.bias ? (e.activation == SUANLI_ACT_RELU ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                             : CUBLASLT_EPILOGUE_BIAS)
                          : (e.activation == SUANLI_ACT_RELU ? CUBLASLT_EPILOGUE_RELU
                                                             : CUBLASLT_EPILOGUE_DEFAULT);
      s.bias = bias;
    }
    found = build_lt(dev, d, s, *m->desc_);
    fused = !found.empty();
    if (fused) {
      m->loops_ = bp.loops;
      m->step_a_ = bp.loop_a * esz_in;
      m->step_b_ = bp.loop_b * esz_in;
      m->step_c_ = bp.loop_c * esz_c;
      m->c_ = dst;
      if (quantized) {
        const int32_t one = 1, zero = 0;
        std::memcpy(m->alpha_, &one, sizeof one);
        std::memcpy(m->beta_, &zero, sizeof zero);
        how = "s8 x s8 -> s32 straight into dst";
      } else {
        const float alpha = static_cast<float>(e.alpha), beta = e.residual ? 1.f : 0.f;
        std::memcpy(m->alpha_, &alpha, sizeof alpha);
        std::memcpy(m->beta_, &beta, sizeof beta);
        how = std::string(type_name(at_)) + " in, fp32 accumulation, " + type_name(ct) +
              " out; epilogue fused in cuBLASLt (" +
              (e.bias ? (e.activation == SUANLI_ACT_RELU ? "bias+relu" : "bias")
                      : (e.activation == SUANLI_ACT_RELU ? "relu" : "none")) +
              (e.residual ? ", residual as beta=1" : "") + ")" +
              (e.bias && ct != SUANLI_DTYPE_FP32
                   ? std::string("; fp32 bias (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE) with ") +
                         type_name(ct) + " output"
                   : std::string());
      }
    } else {
      m->desc_ = std::make_unique<LtDescs>();  // rebuilt below for the scratch path
    }
  }
  if (!fused) {
    // Scratch path: cuBLASLt writes the raw accumulator (fp32, int32 for int8) packed as
    // [batch0][batch1] column-major n x m; our kernel applies the whole epilogue into dst.
    const int64_t mn = d.m * d.n;
    const BatchPlan bp = plan_batches(d, d.batch1 * mn, mn);
    too_many(bp);
    const bool probe = bufs == nullptr;
    if (!probe) {
      SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
      m->scratch_.alloc(static_cast<uint64_t>(d.batch0 * d.batch1 * mn) * 4u);
    }
    LtSpec s = base_spec(quantized ? CUDA_R_32I : CUDA_R_32F, 4, d.n, bp, m->scratch_.ptr);
    found = build_lt(dev, d, s, *m->desc_);
    if (found.empty())
      return unsupported(
          reason,
          std::string("cuBLASLt found no algorithm for this ") + type_name(at_) + " matmul (m " +
              std::to_string(d.m) + ", n " + std::to_string(d.n) + ", k " + std::to_string(d.k) +
              ", A " + (la.row_major ? "row" : "column") + "-major, B " +
              (lb.row_major ? "row" : "column") + "-major" +
              (quantized ? "; int8 needs A row-major and B stored n x k (column-major)" : "") +
              ") on sm_" + std::to_string(dev.cc()));
    m->loops_ = bp.loops;
    m->step_a_ = bp.loop_a * esz_in;
    m->step_b_ = bp.loop_b * esz_in;
    m->step_c_ = bp.loop_c * 4;
    m->c_ = m->scratch_.ptr;
    if (quantized) {
      const int32_t one = 1, zero = 0;
      std::memcpy(m->alpha_, &one, sizeof one);
      std::memcpy(m->beta_, &zero, sizeof zero);
    } else {
      const float one = 1.f, zero = 0.f;
      std::memcpy(m->alpha_, &one, sizeof one);
      std::memcpy(m->beta_, &zero, sizeof zero);
    }
    EpilogueArgs& ep = m->epi_;
    ep.acc = m->scratch_.ptr;
    ep.acc_type = quantized ? KType::s32 : KType::f32;
    ep.acc_stride[0] = d.batch1 * mn;
    ep.acc_stride[1] = mn;
    ep.acc_stride[2] = d.n;
    ep.acc_stride[3] = 1;
    ep.dst = dst;
    ep.dst_type = dst_kt;
    for (int i = 0; i < 4; ++i) ep.dst_stride[i] = d.c_stride[i];
    ep.batch0 = d.batch0;
    ep.batch1 = d.batch1;
    ep.m = d.m;
    ep.n = d.n;
    ep.scale = static_cast<float>(e.alpha) * (quantized ? q.src_scale * q.wei_scale : 1.f);
    ep.bias = bias;
    ep.mask = mask;
    ep.residual = e.residual ? 1 : 0;
    ep.residual_scale = quantized && e.residual ? q.residual_scale : 1.f;
    ep.dst_scale = quantized ? q.dst_scale : 1.f;
    ep.act = static_cast<int>(e.activation);
    m->epilogue_kernel_ = true;
    how = std::string(type_name(at_)) + " in, " + (quantized ? "s32" : "fp32") +
          " accumulation into scratch, then suanli epilogue kernel (scale" +
          (e.bias ? ", bias" : "") + (e.mask ? ", mask" : "") + (e.residual ? ", residual" : "") +
          (e.activation != SUANLI_ACT_NONE ? ", activation" : "") + ") -> " + type_name(ct);
  }
  if (bufs == nullptr) return std::make_unique<ProbeOp>();
  // A residual is read from dst: plan() must not run the op. Timing the cuBLASLt calls alone is
  // harmless when they write the scratch, not when they accumulate into dst (beta = 1).
  m->reads_output = e.residual != 0;
  const bool tunable = !(fused && e.residual);
  size_t pick = 0;
  std::string tuning = "heuristics' first algorithm (cuBLASLt accumulates into dst: not timed)";
  if (m->stage_from_) {
    m->staged_from = {m->stage_from_};
    m->restage();
  }
  if (tunable)
    pick = lt_pick_fastest(
        dev, found, [&](const cublasLtMatmulAlgo_t& algo) { return m->run(algo); }, &tuning);
  m->algo_ = found[pick].algo;
  m->library = "cublasLt " + cublaslt_version();
  m->implementation =
      "cublasLtMatmul " + how + ", " + lt_algo_text(m->algo_, found[pick].wavesCount) + " (" +
      tuning + ")" + (m->loops_ > 1 ? ", " + std::to_string(m->loops_) + " calls (batch0)" : "") +
      (m->stage_from_ ? "; B staged to n x k (cuBLASLt's int8 TN form) once at plan and after "
                        "each upload of B, outside the timed runs"
                      : "");
  return m;
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

std::unique_ptr<CudaOp> make_conv_layer(const suanli_conv2d_layer_desc& L, void* const* bufs,
                                        size_t nbufs, Device& dev, std::string* reason) {
  const char* op = "conv2d_layer";
  if (L.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, quant))
    invalid(op, "struct_size too small");
  const suanli_conv2d_desc& d = L.conv;
  if (d.n < 1 || d.c < 1 || d.h < 1 || d.w < 1 || d.k < 1 || d.r < 1 || d.s < 1 || d.stride_h < 1 ||
      d.stride_w < 1 || d.pad_h < 0 || d.pad_w < 0 || d.dil_h < 1 || d.dil_w < 1 || d.groups < 1 ||
      d.c % d.groups || d.k % d.groups)
    invalid(op, "bad shape");
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
  if (e.mask) invalid(op, "a convolution has no mask");
  if (e.alpha != 1.0) invalid(op, "epilogue.alpha must be 1 for a convolution");
  const size_t need = 3 + (e.bias ? 1 : 0);
  if (bufs && nbufs < need) invalid(op, "needs " + std::to_string(need) + " buffers");
  const int64_t p = (d.h + 2 * d.pad_h - d.dil_h * (d.r - 1) - 1) / d.stride_h + 1;
  const int64_t q = (d.w + 2 * d.pad_w - d.dil_w * (d.s - 1) - 1) / d.stride_w + 1;
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

std::unique_ptr<CudaOp> make_pool(const suanli_pool_desc& d, void* const* bufs, size_t nbufs,
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

std::unique_ptr<CudaOp> make_norm(const suanli_norm_desc& d, void* const* bufs, size_t nbufs,
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

std::unique_ptr<CudaOp> make_softmax(const suanli_softmax_desc& d, void* const* bufs, size_t nbufs,
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

std::unique_ptr<CudaOp> make_eltwise(const suanli_eltwise_desc& d, void* const* bufs, size_t nbufs,
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
  auto has = [&](size_t end) { return op.struct_size >= end; };
  switch (op.kind) {
    case SUANLI_OP_MATMUL:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, matmul)) && op.matmul)
        return make_matmul(*op.matmul, bufs, nbufs, dev, reason);
      break;
    case SUANLI_OP_CONV2D_LAYER:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, conv2d_layer)) && op.conv2d_layer)
        return make_conv_layer(*op.conv2d_layer, bufs, nbufs, dev, reason);
      break;
    case SUANLI_OP_POOL:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, pool)) && op.pool)
        return make_pool(*op.pool, bufs, nbufs, dev, reason);
      break;
    case SUANLI_OP_NORM:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, norm)) && op.norm)
        return make_norm(*op.norm, bufs, nbufs, dev, reason);
      break;
    case SUANLI_OP_SOFTMAX:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, softmax)) && op.softmax)
        return make_softmax(*op.softmax, bufs, nbufs, dev, reason);
      break;
    case SUANLI_OP_ELTWISE:
      if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, eltwise)) && op.eltwise)
        return make_eltwise(*op.eltwise, bufs, nbufs, dev, reason);
      break;
    default:
      break;
  }
  throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
}

}  // namespace suanli::cuda
