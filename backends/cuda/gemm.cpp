// GEMM through cuBLASLt: row-major suanli GEMMs mapped onto column-major cuBLASLt calls, several
// heuristic algorithms timed at plan time, and B staged to the "TN" layout for int8 and fp8 where
// cuBLASLt needs it (once at plan time and after each upload of B, never in the timed run). int8
// is s8 x s8 (the harness falls back to it from x86's u8 x s8).
#include <cublasLt.h>

#include <cstring>
#include <vector>

#include "cuda_op.h"
#include "kernels.h"
#include "lt_util.h"

namespace suanli::cuda {
namespace {

// The cuBLASLt types of one suanli GEMM.
struct LtTypes {
  cudaDataType_t a, b, c;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  const char* text;
};

size_t type_bytes(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_64F:
      return 8;
    case CUDA_R_32F:
    case CUDA_R_32I:
      return 4;
    case CUDA_R_16F:
    case CUDA_R_16BF:
      return 2;
    default:
      return 1;
  }
}

// How one attempt lays the operands out (see GemmOp for the mapping).
struct Attempt {
  bool stage_b_transposed;  // copy B into n x k (cuBLASLt's "TN" form) before the call
};

class GemmOp : public CudaOp {
 public:
  // Row-major C (m x n) = op(A) op(B) is, read column-major, C^T (n x m) = op(B)^T op(A)^T: the
  // cuBLASLt call's A is our B (or its staged n x k copy) and its B is our A, m and n swapped.
  void enqueue() override { SUANLI_LT_CHECK(run(algo_)); }
  cublasStatus_t run(const cublasLtMatmulAlgo_t& algo) {
    const void* lt_a = stage_b_ ? b_staged_.ptr : b_;
    return cublasLtMatmul(device->lt, desc_->op, alpha_, lt_a, desc_->a, a_, desc_->b, beta_, c_,
                          desc_->c, c_, desc_->c, &algo, device->workspace, device->workspace_bytes,
                          device->stream);
  }
  void restage() override {
    if (!stage_b_) return;
    check_cuda(launch_transpose_bytes(static_cast<const uint8_t*>(b_),
                                      static_cast<uint8_t*>(b_staged_.ptr), d_.batch, d_.k, d_.n,
                                      device->stream),
               "stage B (transpose) kernel launch");
  }

  suanli_gemm_desc d_{};
  void *a_ = nullptr, *b_ = nullptr, *c_ = nullptr;
  std::unique_ptr<LtDescs> desc_;
  cublasLtMatmulAlgo_t algo_{};
  bool stage_b_ = false;
  DeviceScratch b_staged_;
  // alpha = 1, beta = 0 in the scale type (at most 8 bytes).
  alignas(8) unsigned char alpha_[8] = {}, beta_[8] = {};
};

void set_scalars(cudaDataType_t scale, unsigned char* alpha, unsigned char* beta) {
  std::memset(alpha, 0, 8);
  std::memset(beta, 0, 8);
  if (scale == CUDA_R_64F) {
    const double one = 1.0;
    std::memcpy(alpha, &one, sizeof one);
  } else if (scale == CUDA_R_32F) {
    const float one = 1.0f;
    std::memcpy(alpha, &one, sizeof one);
  } else if (scale == CUDA_R_16F) {
    const uint16_t one = 0x3c00;  // 1.0 in binary16
    std::memcpy(alpha, &one, sizeof one);
  } else {  // CUDA_R_32I
    const int32_t one = 1;
    std::memcpy(alpha, &one, sizeof one);
  }
}

// Builds the descriptors of one attempt and asks the heuristics for several algorithms; empty
// when cuBLASLt has none for this layout.
std::vector<cublasLtMatmulHeuristicResult_t> try_attempt(Device& dev, const suanli_gemm_desc& d,
                                                         const LtTypes& t, const Attempt& at,
                                                         LtDescs& desc) {
  const int64_t m = d.m, n = d.n, k = d.k;
  SUANLI_LT_CHECK(cublasLtMatmulDescCreate(&desc.op, t.compute, t.scale));
  // cuBLASLt's A = our B: n x k when transposed (trans_b, or staged), else k x n read as n x k.
  const bool b_nk = d.trans_b || at.stage_b_transposed;
  const cublasOperation_t op_a = b_nk ? CUBLAS_OP_T : CUBLAS_OP_N;
  // cuBLASLt's B = our A: m x k row-major (not transposed) is k x m column-major, op N.
  const bool a_mk = !d.trans_a;
  const cublasOperation_t op_b = a_mk ? CUBLAS_OP_N : CUBLAS_OP_T;
  SUANLI_LT_CHECK(
      cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  SUANLI_LT_CHECK(
      cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  if (t.a == CUDA_R_8F_E4M3 || t.a == CUDA_R_8F_E5M2) {
    // FP8: full-precision accumulation, stated in the result (fast accumulation would let the
    // tensor cores keep fewer accumulator bits, as some inference stacks do).
    const int8_t fast_accum = 0;
    SUANLI_LT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM,
                                                   &fast_accum, sizeof fast_accum));
  }
  // Column-major shapes as stored: (rows, cols, ld).
  SUANLI_LT_CHECK(
      cublasLtMatrixLayoutCreate(&desc.a, t.b, b_nk ? k : n, b_nk ? n : k, b_nk ? k : n));
  SUANLI_LT_CHECK(
      cublasLtMatrixLayoutCreate(&desc.b, t.a, a_mk ? k : m, a_mk ? m : k, a_mk ? k : m));
  SUANLI_LT_CHECK(cublasLtMatrixLayoutCreate(&desc.c, t.c, n, m, n));
  if (d.batch > 1) {
    const int32_t count = static_cast<int32_t>(d.batch);
    const int64_t sa = n * k, sb = m * k, sc = m * n;
    auto batch = [&](cublasLtMatrixLayout_t l, int64_t stride) {
      SUANLI_LT_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &count, sizeof count));
      SUANLI_LT_CHECK(cublasLtMatrixLayoutSetAttribute(
          l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    };
    batch(desc.a, sa);
    batch(desc.b, sb);
    batch(desc.c, sc);
  }
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceCreate(&desc.pref));
  const uint64_t ws = dev.workspace_bytes;
  SUANLI_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      desc.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  return lt_heuristics(dev, desc, kLtCandidates);
}

std::unique_ptr<CudaOp> unsupported(std::string* reason, std::string why) {
  *reason = std::move(why);
  return nullptr;
}

// The cuBLASLt types of a GEMM descriptor; false with *reason when there is no native mapping.
// *needs_tn: fp8 / int8, whose kernels may want B in the "TN" form.
bool lt_types(const suanli_gemm_desc& d, const Device& dev, LtTypes* out, bool* needs_tn,
              std::string* reason) {
  auto no = [&](std::string why) {
    *reason = std::move(why);
    return false;
  };
  LtTypes& t = *out;
  const suanli_dtype at = d.a_type, bt = d.b_type, ct = d.c_type, comp = d.compute_type;
  *needs_tn = false;
  if (at == SUANLI_DTYPE_FP64 && bt == at && ct == at) {
    t = {CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F, "fp64"};
  } else if (at == SUANLI_DTYPE_FP32 && bt == at && ct == at) {
    t = {CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, "fp32 (no TF32)"};
  } else if (at == SUANLI_DTYPE_TF32 && bt == at && (ct == SUANLI_DTYPE_FP32 || ct == at)) {
    if (dev.cc() < 80) return no("TF32 tensor cores need sm_80 or later");
    t = {CUDA_R_32F, CUDA_R_32F,
         CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32,
         CUDA_R_32F, "tf32 tensor cores, fp32 storage and accumulation"};
  } else if ((at == SUANLI_DTYPE_FP16 || at == SUANLI_DTYPE_BF16) && bt == at) {
    const cudaDataType_t in = at == SUANLI_DTYPE_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    if (at == SUANLI_DTYPE_BF16 && dev.cc() < 80)
      return no("bf16 tensor cores need sm_80 or later");
    if (ct == SUANLI_DTYPE_FP32 && comp == SUANLI_DTYPE_FP32) {
      t = {in,
           in,
           CUDA_R_32F,
           CUBLAS_COMPUTE_32F,
           CUDA_R_32F,
           at == SUANLI_DTYPE_FP16 ? "fp16 in, fp32 accumulation and output"
                                   : "bf16 in, fp32 accumulation and output"};
    } else if (at == SUANLI_DTYPE_FP16 && ct == SUANLI_DTYPE_FP16 && comp == SUANLI_DTYPE_FP16) {
      t = {in,         in,
           CUDA_R_16F, CUBLAS_COMPUTE_16F,
           CUDA_R_16F, "fp16 in, fp16 accumulation (CUBLAS_COMPUTE_16F, not pedantic) and output"};
    } else if (at == SUANLI_DTYPE_BF16 && comp == SUANLI_DTYPE_BF16) {
      return no(
          "cuBLASLt has no bf16 accumulation (bf16 GEMMs accumulate in "
          "fp32 only)");
    } else {
      return no("gemm: unsupported output/accumulation types for fp16/bf16");
    }
  } else if ((at == SUANLI_DTYPE_FP8_E4M3 || at == SUANLI_DTYPE_FP8_E5M2) &&
             (bt == SUANLI_DTYPE_FP8_E4M3 || bt == SUANLI_DTYPE_FP8_E5M2)) {
    if (dev.cc() < 89) return no("fp8 tensor cores need sm_89 or later");
    if (ct != SUANLI_DTYPE_FP32)
      return no("gemm: fp8 with an output other than fp32 is not implemented");
    const cudaDataType_t ta = at == SUANLI_DTYPE_FP8_E4M3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2;
    const cudaDataType_t tb = bt == SUANLI_DTYPE_FP8_E4M3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2;
    t = {ta,         tb,
         CUDA_R_32F, CUBLAS_COMPUTE_32F,
         CUDA_R_32F, "fp8 in, fp32 accumulation, FP8 fast accumulation off"};
    *needs_tn = true;
  } else if (at == SUANLI_DTYPE_UINT8 && bt == SUANLI_DTYPE_INT8) {
    // The harness then asks for s8 x s8, which the tensor cores run natively.
    return no("gemm: cuBLASLt multiplies s8 x s8 only, not the u8 x s8 form of x86 VNNI");
  } else if (at == SUANLI_DTYPE_INT8 && bt == SUANLI_DTYPE_INT8 && ct == SUANLI_DTYPE_INT32) {
    if (dev.cc() < 75) return no("int8 tensor cores need sm_75 or later");
    t = {CUDA_R_8I,          CUDA_R_8I,  CUDA_R_32I,
         CUBLAS_COMPUTE_32I, CUDA_R_32I, "s8 x s8, s32 accumulation"};
    *needs_tn = true;
  } else {
    return no("gemm: no cuBLASLt mapping for a_type " + std::to_string(at) + ", b_type " +
              std::to_string(bt) + ", c_type " + std::to_string(ct));
  }

  return true;
}

}  // namespace

std::string cublaslt_version() {
  const size_t v = cublasLtGetVersion();  // major*10000 + minor*100 + patch
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

void ensure_blas(Device& dev, const CudaConfig& cfg) {
  if (dev.lt) return;
  SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
  // NVIDIA's cuBLAS guidance: 32 MiB of workspace on Hopper, less suffices before; we give
  // 32 MiB everywhere and 64 MiB on Hopper and later, unless "workspace_mib" says otherwise.
  uint64_t bytes = cfg.workspace_bytes;
  if (bytes == 0) bytes = (dev.cc_major >= 9 ? 64ull : 32ull) << 20;
  void* ws = nullptr;
  SUANLI_CUDA_CHECK(cudaMalloc(&ws, bytes));
  cublasLtHandle_t h = nullptr;
  const cublasStatus_t s = cublasLtCreate(&h);
  if (s != CUBLAS_STATUS_SUCCESS) {
    cudaFree(ws);
    check_lt(s, "cublasLtCreate");
  }
  dev.lt = h;
  dev.workspace = ws;
  dev.workspace_bytes = bytes;
}

void release_blas(Device& dev) {
  if (dev.lt) cublasLtDestroy(dev.lt);
  if (dev.workspace) cudaFree(dev.workspace);
  dev.lt = nullptr;
  dev.workspace = nullptr;
  dev.workspace_bytes = 0;
}

std::unique_ptr<CudaOp> make_gemm(const suanli_gemm_desc& d, void* a, void* b, void* c, Device& dev,
                                  std::string* reason) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm descriptor: struct_size too small");
  if (d.m <= 0 || d.n <= 0 || d.k <= 0 || d.batch <= 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm: m, n, k and batch must be positive");
  if (d.batch > INT32_MAX)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm: batch exceeds cuBLASLt's int32 count");
  LtTypes t{};
  bool needs_tn = false;
  if (!lt_types(d, dev, &t, &needs_tn, reason)) return nullptr;
  if (!dev.precision_override.empty())
    return unsupported(reason, "the environment sets " + dev.precision_override +
                                   ", which changes cuBLAS's precision silently; unset it");
  if (!dev.lt) throw BackendError(SUANLI_INTERNAL, "gemm planned before the cuBLASLt handle");
  // Attempts in order of cost: the layout as given, then B staged into the "TN" form.
  auto op = std::make_unique<GemmOp>();
  std::vector<cublasLtMatmulHeuristicResult_t> found;
  bool staged = false;
  for (bool stage : {false, true}) {
    if (stage && (!needs_tn || d.trans_b)) continue;  // staging B only helps an untransposed B
    op->desc_ = std::make_unique<LtDescs>();
    found = try_attempt(dev, d, t, {stage}, *op->desc_);
    staged = stage;
    if (!found.empty()) break;
  }
  if (found.empty())
    return unsupported(reason, std::string("cuBLASLt found no algorithm for ") + t.text + " (m " +
                                   std::to_string(d.m) + ", n " + std::to_string(d.n) + ", k " +
                                   std::to_string(d.k) + ", trans_a " + std::to_string(d.trans_a) +
                                   ", trans_b " + std::to_string(d.trans_b) + ") on sm_" +
                                   std::to_string(dev.cc()));
  op->device = &dev;
  op->d_ = d;
  op->a_ = a;
  op->b_ = b;
  op->c_ = c;
  op->stage_b_ = staged;
  set_scalars(t.scale, op->alpha_, op->beta_);
  size_t pick = 0;
  std::string tuning = "heuristics' first algorithm (support probe)";
  if (a) {  // a real plan, not a support probe: stage B once, then time the candidates
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    if (op->stage_b_) {
      op->b_staged_.alloc(static_cast<uint64_t>(d.batch * d.k * d.n) * type_bytes(t.b));
      op->staged_from = {b};
      op->restage();
    }
    pick = lt_pick_fastest(
        dev, found, [&](const cublasLtMatmulAlgo_t& algo) { return op->run(algo); }, &tuning);
  }
  op->algo_ = found[pick].algo;
  op->library = "cublasLt " + cublaslt_version();
  op->implementation = std::string("cublasLtMatmul ") + t.text + ", " + lt_compute_text(t.compute) +
                       ", " + lt_algo_text(op->algo_, found[pick].wavesCount) + " (" + tuning +
                       "), workspace " + std::to_string(dev.workspace_bytes >> 20) + " MiB";
  if (op->stage_b_)
    op->implementation +=
        "; B staged to n x k (cuBLASLt's TN form) once at plan and after each upload of B, "
        "outside the timed runs (tiled shared-memory transpose)";
  return op;
}

}  // namespace suanli::cuda
