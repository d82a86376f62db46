// GEMM through cuBLASLt: row-major suanli GEMMs mapped onto column-major cuBLASLt calls, the
// algorithm from cuBLASLt's heuristics, and B staged to the "TN" layout for int8 and fp8 where
// cuBLASLt needs it. int8 is s8 x s8 (the harness falls back to it from x86's u8 x s8).
#include <cublasLt.h>

#include <cstring>
#include <vector>

#include "cuda_op.h"
#include "kernels.h"

namespace suanli::cuda {
namespace {

void check_lt(cublasStatus_t s, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const char* name = cublasLtGetStatusName(s);
  const char* text = cublasLtGetStatusString(s);
  throw BackendError(s == CUBLAS_STATUS_ALLOC_FAILED ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
                     std::string(call) + ": " + (name ? name : "?") + " (" +
                         (text ? text : "no description") + ")");
}
#define SUANLI_LT_CHECK(call) check_lt((call), #call)

// RAII over the cuBLASLt descriptors and our own scratch memory.
struct LtDesc {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDesc() = default;
  LtDesc(const LtDesc&) = delete;
  LtDesc& operator=(const LtDesc&) = delete;
  ~LtDesc() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

struct DeviceMemory {
  void* ptr = nullptr;
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    if (ptr) cudaFree(ptr);
  }
  void alloc(size_t bytes) { SUANLI_CUDA_CHECK(cudaMalloc(&ptr, bytes ? bytes : 1)); }
};

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
  // cuBLASLt call's A is our B and its B is our A, with m and n swapped.
  void enqueue() override {
    cudaStream_t st = device->stream;
    const void* lt_a = b_;  // cuBLASLt's A: our B, maybe staged
    const void* lt_b = a_;  // cuBLASLt's B: our A
    if (stage_b_) {
      check_cuda(
          launch_stage_bytes(static_cast<const uint8_t*>(b_), static_cast<uint8_t*>(b_staged_.ptr),
                             d_.batch, d_.k, d_.n, true, 0, st),
          "stage B kernel launch");
      lt_a = b_staged_.ptr;
    }
    SUANLI_LT_CHECK(cublasLtMatmul(device->lt, desc_->op, alpha_, lt_a, desc_->a, lt_b, desc_->b,
                                   beta_, c_, desc_->c, c_, desc_->c, &algo_, device->workspace,
                                   device->workspace_bytes, st));
  }

  suanli_gemm_desc d_{};
  void *a_ = nullptr, *b_ = nullptr, *c_ = nullptr;
  std::unique_ptr<LtDesc> desc_;
  cublasLtMatmulAlgo_t algo_{};
  bool stage_b_ = false;
  DeviceMemory b_staged_;
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

// Builds the descriptors of one attempt and asks the heuristics; true with algo filled when
// cuBLASLt has an algorithm.
bool try_attempt(Device& dev, const suanli_gemm_desc& d, const LtTypes& t, const Attempt& at,
                 LtDesc& desc, cublasLtMatmulHeuristicResult_t& result) {
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
  int found = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(dev.lt, desc.op, desc.a, desc.b, desc.c,
                                                          desc.c, desc.pref, 1, &result, &found);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || (s == CUBLAS_STATUS_SUCCESS && found == 0)) return false;
  check_lt(s, "cublasLtMatmulAlgoGetHeuristic");
  return found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
}

std::string algo_text(const cublasLtMatmulAlgo_t& algo, const cublasLtMatmulHeuristicResult_t& r) {
  auto get = [&](cublasLtMatmulAlgoConfigAttributes_t attr) -> long long {
    uint64_t v = 0;  // every attribute read here fits: int32/uint32/uint16 written little-endian
    size_t written = 0;
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof v, &written) !=
        CUBLAS_STATUS_SUCCESS)
      return -1;
    return static_cast<long long>(v);
  };
  return "algo " + std::to_string(get(CUBLASLT_ALGO_CONFIG_ID)) + ", tile id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_TILE_ID)) + ", stages id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_STAGES_ID)) + ", split-k " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_SPLITK_NUM)) + ", cluster id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID)) + ", waves " +
         std::to_string(r.wavesCount);
}

std::unique_ptr<CudaOp> unsupported(std::string* reason, std::string why) {
  *reason = std::move(why);
  return nullptr;
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
  const suanli_dtype at = d.a_type, bt = d.b_type, ct = d.c_type, comp = d.compute_type;
  LtTypes t{};
  bool needs_tn = false;  // fp8 / int8: cuBLASLt may want the "TN" layout
  if (at == SUANLI_DTYPE_FP64 && bt == at && ct == at) {
    t = {CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F, "fp64"};
  } else if (at == SUANLI_DTYPE_FP32 && bt == at && ct == at) {
    t = {CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, "fp32 (no TF32)"};
  } else if (at == SUANLI_DTYPE_TF32 && bt == at && (ct == SUANLI_DTYPE_FP32 || ct == at)) {
    if (dev.cc() < 80) return unsupported(reason, "TF32 tensor cores need sm_80 or later");
    t = {CUDA_R_32F, CUDA_R_32F,
         CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32,
         CUDA_R_32F, "tf32 tensor cores, fp32 storage and accumulation"};
  } else if ((at == SUANLI_DTYPE_FP16 || at == SUANLI_DTYPE_BF16) && bt == at) {
    const cudaDataType_t in = at == SUANLI_DTYPE_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    if (at == SUANLI_DTYPE_BF16 && dev.cc() < 80)
      return unsupported(reason, "bf16 tensor cores need sm_80 or later");
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
           CUDA_R_16F, "fp16 in, fp16 accumulation and output"};
    } else if (at == SUANLI_DTYPE_BF16 && comp == SUANLI_DTYPE_BF16) {
      return unsupported(reason,
                         "cuBLASLt has no bf16 accumulation (bf16 GEMMs accumulate in "
                         "fp32 only)");
    } else {
      return unsupported(reason, "gemm: unsupported output/accumulation types for fp16/bf16");
    }
  } else if ((at == SUANLI_DTYPE_FP8_E4M3 || at == SUANLI_DTYPE_FP8_E5M2) &&
             (bt == SUANLI_DTYPE_FP8_E4M3 || bt == SUANLI_DTYPE_FP8_E5M2)) {
    if (dev.cc() < 89) return unsupported(reason, "fp8 tensor cores need sm_89 or later");
    if (ct != SUANLI_DTYPE_FP32)
      return unsupported(reason, "gemm: fp8 with an output other than fp32 is not implemented");
    const cudaDataType_t ta = at == SUANLI_DTYPE_FP8_E4M3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2;
    const cudaDataType_t tb = bt == SUANLI_DTYPE_FP8_E4M3 ? CUDA_R_8F_E4M3 : CUDA_R_8F_E5M2;
    t = {ta, tb, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, "fp8 in, fp32 accumulation"};
    needs_tn = true;
  } else if (at == SUANLI_DTYPE_UINT8 && bt == SUANLI_DTYPE_INT8) {
    // The harness then asks for s8 x s8, which the tensor cores run natively.
    return unsupported(reason,
                       "gemm: cuBLASLt multiplies s8 x s8 only, not the u8 x s8 form of x86 VNNI");
  } else if (at == SUANLI_DTYPE_INT8 && bt == SUANLI_DTYPE_INT8 && ct == SUANLI_DTYPE_INT32) {
    if (dev.cc() < 75) return unsupported(reason, "int8 tensor cores need sm_75 or later");
    t = {CUDA_R_8I,          CUDA_R_8I,  CUDA_R_32I,
         CUBLAS_COMPUTE_32I, CUDA_R_32I, "s8 x s8, s32 accumulation"};
    needs_tn = true;
  } else {
    return unsupported(reason, "gemm: no cuBLASLt mapping for a_type " + std::to_string(at) +
                                   ", b_type " + std::to_string(bt) + ", c_type " +
                                   std::to_string(ct));
  }

  if (!dev.lt) throw BackendError(SUANLI_INTERNAL, "gemm planned before the cuBLASLt handle");
  // Attempts in order of cost: the layout as given, then B staged into the "TN" form.
  std::vector<Attempt> attempts;
  for (bool stage : {false, true}) {
    if (stage && (!needs_tn || d.trans_b)) continue;  // staging B only helps an untransposed B
    attempts.push_back({stage});
  }
  auto op = std::make_unique<GemmOp>();
  cublasLtMatmulHeuristicResult_t result{};
  const Attempt* chosen = nullptr;
  for (const Attempt& at_ : attempts) {
    op->desc_ = std::make_unique<LtDesc>();
    if (try_attempt(dev, d, t, at_, *op->desc_, result)) {
      chosen = &at_;
      break;
    }
  }
  if (!chosen) {
    return unsupported(reason, std::string("cuBLASLt found no algorithm for ") + t.text + " (m " +
                                   std::to_string(d.m) + ", n " + std::to_string(d.n) + ", k " +
                                   std::to_string(d.k) + ", trans_a " + std::to_string(d.trans_a) +
                                   ", trans_b " + std::to_string(d.trans_b) + ") on sm_" +
                                   std::to_string(dev.cc()));
  }
  op->device = &dev;
  op->d_ = d;
  op->a_ = a;
  op->b_ = b;
  op->c_ = c;
  op->algo_ = result.algo;
  op->stage_b_ = chosen->stage_b_transposed;
  set_scalars(t.scale, op->alpha_, op->beta_);
  if (a) {  // a real plan, not a support probe: scratch for the staged operands
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    const auto kn = static_cast<size_t>(d.batch * d.k * d.n);
    if (op->stage_b_) op->b_staged_.alloc(kn * type_bytes(t.b));
  }
  op->library = "cublasLt " + cublaslt_version();
  op->implementation = std::string("cublasLtMatmul ") + t.text + ", " +
                       algo_text(result.algo, result) + ", workspace " +
                       std::to_string(dev.workspace_bytes >> 20) + " MiB";
  if (op->stage_b_)
    op->implementation += "; B copied to n x k first (cuBLASLt wants the TN layout here, timed)";
  return op;
}

}  // namespace suanli::cuda
