// Dense linear algebra of ABI 1.2 on the GPU (HPL, HPL-MxP): GEMM on column-major sub-matrices
// through cuBLAS (cublasDgemm / cublasSgemm / cublasGemmEx: column-major is cuBLAS's own order, so
// each operand is its buffer's pointer plus offset, with its ld), and, where the toolkit has
// cuSOLVER, the LU panel (cusolverDn?getrf, with or without pivoting), the row interchanges
// (cusolverDn?laswp) and the triangular solves (cublas?trsm). The plugin kit has checked each
// operand's shape and that it lies inside its buffer before any of this runs.
#include <cublas_v2.h>
#if SUANLI_CUDA_HAVE_CUSOLVER
#include <cusolverDn.h>
#endif

#include <functional>
#include <memory>
#include <string>

#include "cuda_op.h"
#include "linalg_types.h"

namespace suanli::cuda {
namespace {

void check_cublas(cublasStatus_t s, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw BackendError(s == CUBLAS_STATUS_ALLOC_FAILED ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
                     std::string(call) + ": " + cublasGetStatusString(s));
}
#define SUANLI_CUBLAS_CHECK(call) check_cublas((call), #call)

#if SUANLI_CUDA_HAVE_CUSOLVER
void check_cusolver(cusolverStatus_t s, const char* call) {
  if (s == CUSOLVER_STATUS_SUCCESS) return;
  throw BackendError(
      s == CUSOLVER_STATUS_ALLOC_FAILED ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
      std::string(call) + " failed with cusolverStatus " + std::to_string(static_cast<int>(s)));
}
#define SUANLI_CUSOLVER_CHECK(call) check_cusolver((call), #call)
#endif

std::string blas_version(cublasHandle_t h) {
  int v = 0;
  if (cublasGetVersion(h, &v) != CUBLAS_STATUS_SUCCESS) return "cuBLAS";
  return "cuBLAS " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

// The device's cuBLAS (and cuSOLVER) handles, created on first use, bound to its stream.
cublasHandle_t blas(Device& dev) {
  if (!dev.blas) {
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    SUANLI_CUBLAS_CHECK(cublasCreate(&dev.blas));
    SUANLI_CUBLAS_CHECK(cublasSetStream(dev.blas, dev.stream));
  }
  return dev.blas;
}

// Element address of a sub-matrix (null when probing).
template <typename T = void>
T* at(void* base, int64_t offset, suanli_dtype type) {
  if (!base) return nullptr;
  return reinterpret_cast<T*>(static_cast<char*>(base) +
                              static_cast<uint64_t>(offset) * kit::dtype_bytes(type));
}

int i32(int64_t v) {
  return static_cast<int>(v);
}

// An op that runs one function on the device's stream. Every linear-algebra op writes one of its
// inputs in place, so plan() never runs it to warm up (reads_output).
class FnOp : public CudaOp {
 public:
  template <typename F>
  FnOp(Device& dev, F f, std::string lib, std::string impl) : f_(std::move(f)) {
    device = &dev;
    library = std::move(lib);
    implementation = std::move(impl);
    reads_output = true;
  }
  void enqueue() override { f_(); }

 private:
  std::function<void()> f_;
};

std::unique_ptr<CudaOp> probe(Device& dev, const std::string& impl) {
  return std::make_unique<FnOp>(
      dev, [] {}, "cuBLAS", impl);
}

std::unique_ptr<CudaOp> unsupported(std::string* reason, std::string why) {
  *reason = std::move(why);
  return nullptr;
}

// Refuses while a precision-changing environment variable is set (env_overrides.h).
bool overridden(const Device& dev, std::string* reason) {
  if (dev.precision_override.empty()) return false;
  *reason = "the environment sets " + dev.precision_override +
            ", which changes cuBLAS's precision silently; unset it";
  return true;
}

#if SUANLI_CUDA_HAVE_CUSOLVER
cusolverDnHandle_t solver(Device& dev) {
  if (!dev.solver) {
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    SUANLI_CUSOLVER_CHECK(cusolverDnCreate(&dev.solver));
    SUANLI_CUSOLVER_CHECK(cusolverDnSetStream(dev.solver, dev.stream));
  }
  return dev.solver;
}

std::string solver_version() {
  int major = 0, minor = 0, patch = 0;
  cusolverGetProperty(MAJOR_VERSION, &major);
  cusolverGetProperty(MINOR_VERSION, &minor);
  cusolverGetProperty(PATCH_LEVEL, &patch);
  return "cuSOLVER " + std::to_string(major) + "." + std::to_string(minor) + "." +
         std::to_string(patch);
}

// Device memory owned by an op (getrf's workspace and info word).
struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(size_t bytes) { SUANLI_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1)); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  ~DeviceMem() {
    if (p) cudaFree(p);
  }
};
#else
template <class Desc>
std::unique_ptr<CudaOp> no_solver(const Desc& d, std::string* reason, const char* op) {
  kit::check_linalg_shape(d);
  return unsupported(reason, std::string(op) +
                                 ": this build of the cuda backend has no cuSOLVER (the harness "
                                 "runs it on the host, with transfers)");
}
#endif

}  // namespace

std::unique_ptr<CudaOp> make_linalg(const suanli_gemm_ex_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason) {
  kit::check_linalg_shape(d);
  const GemmExChoice c = gemm_ex_choice(d, dev.cc());
  if (c.call == GemmExCall::none) return unsupported(reason, c.name);
  if (overridden(dev, reason)) return nullptr;
  if (d.m == 0 || d.n == 0 || d.k == 0)
    return unsupported(reason, "gemm_ex: empty shapes are not planned (the caller skips them)");
  if (!bufs) return probe(dev, c.name);
  cublasHandle_t h = blas(dev);
  const cublasOperation_t ta = d.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                          tb = d.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = i32(d.m), n = i32(d.n), k = i32(d.k), lda = i32(d.lda), ldb = i32(d.ldb),
            ldc = i32(d.ldc);
  void* a = at(bufs[0], d.a_offset, d.a_type);
  void* b = at(bufs[1], d.b_offset, d.b_type);
  void* cc = at(bufs[2], d.c_offset, d.c_type);
  const double alpha = d.alpha, beta = d.beta;
  std::function<void()> f;
  switch (c.call) {
    case GemmExCall::dgemm:
      f = [=] {
        SUANLI_CUBLAS_CHECK(cublasDgemm(h, ta, tb, m, n, k, &alpha, static_cast<double*>(a), lda,
                                        static_cast<double*>(b), ldb, &beta,
                                        static_cast<double*>(cc), ldc));
      };
      break;
    case GemmExCall::sgemm:
      f = [=] {
        const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
        SUANLI_CUBLAS_CHECK(cublasSgemm(h, ta, tb, m, n, k, &al, static_cast<float*>(a), lda,
                                        static_cast<float*>(b), ldb, &be, static_cast<float*>(cc),
                                        ldc));
      };
      break;
    default: {
      const cudaDataType_t in = c.call == GemmExCall::gemm_ex_bf16 ? CUDA_R_16BF : CUDA_R_16F;
      f = [=] {
        const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
        SUANLI_CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &al, a, in, lda, b, in, ldb, &be, cc,
                                         CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      };
    }
  }
  return std::make_unique<FnOp>(dev, std::move(f), blas_version(h),
                                c.name + " on column-major sub-matrices");
}

std::unique_ptr<CudaOp> make_linalg(const suanli_trsm_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason) {
  kit::check_linalg_shape(d);
  if (const std::string why = linalg_type_refusal(d.type, "trsm"); !why.empty())
    return unsupported(reason, why);
  if (overridden(dev, reason)) return nullptr;
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const std::string impl = f64 ? "cublasDtrsm" : "cublasStrsm";
  if (!bufs) return probe(dev, impl);
  cublasHandle_t h = blas(dev);
  const cublasSideMode_t side = d.side ? CUBLAS_SIDE_RIGHT : CUBLAS_SIDE_LEFT;
  const cublasFillMode_t uplo = d.lower ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  const cublasOperation_t tr = d.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasDiagType_t diag = d.unit_diag ? CUBLAS_DIAG_UNIT : CUBLAS_DIAG_NON_UNIT;
  const int m = i32(d.m), n = i32(d.n), lda = i32(d.lda), ldb = i32(d.ldb);
  void* a = at(bufs[0], d.a_offset, d.type);
  void* b = at(bufs[1], d.b_offset, d.type);
  const double alpha = d.alpha;
  auto f = [=] {
    if (m == 0 || n == 0) return;
    if (f64) {
      SUANLI_CUBLAS_CHECK(cublasDtrsm(h, side, uplo, tr, diag, m, n, &alpha,
                                      static_cast<double*>(a), lda, static_cast<double*>(b), ldb));
    } else {
      const float al = static_cast<float>(alpha);
      SUANLI_CUBLAS_CHECK(cublasStrsm(h, side, uplo, tr, diag, m, n, &al, static_cast<float*>(a),
                                      lda, static_cast<float*>(b), ldb));
    }
  };
  return std::make_unique<FnOp>(dev, f, blas_version(h), impl);
}

#if SUANLI_CUDA_HAVE_CUSOLVER
// LU of the panel: cusolverDn?getrf; a null ipiv makes cuSOLVER factor without pivoting. A zero
// pivot is not an error (info > 0 leaves inf/nan in U, as the ABI says).
std::unique_ptr<CudaOp> make_linalg(const suanli_getrf_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason) {
  kit::check_linalg_shape(d);
  if (const std::string why = linalg_type_refusal(d.type, "getrf"); !why.empty())
    return unsupported(reason, why);
  if (overridden(dev, reason)) return nullptr;  // cuSOLVER's getrf runs cuBLAS inside
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const std::string impl = std::string(f64 ? "cusolverDnDgetrf" : "cusolverDnSgetrf") +
                           (d.pivoting ? " (partial pivoting)" : " (no pivoting)");
  if (!bufs) return probe(dev, impl);
  cusolverDnHandle_t h = solver(dev);
  const int m = i32(d.m), n = i32(d.n), lda = i32(d.lda);
  void* a = at(bufs[0], d.a_offset, d.type);
  int* ipiv = d.pivoting ? at<int>(bufs[1], d.ipiv_offset, SUANLI_DTYPE_INT32) : nullptr;
  int lwork = 0;
  if (f64)
    SUANLI_CUSOLVER_CHECK(
        cusolverDnDgetrf_bufferSize(h, m, n, static_cast<double*>(a), lda, &lwork));
  else
    SUANLI_CUSOLVER_CHECK(
        cusolverDnSgetrf_bufferSize(h, m, n, static_cast<float*>(a), lda, &lwork));
  auto work = std::make_shared<DeviceMem>(static_cast<size_t>(lwork) * (f64 ? 8 : 4));
  auto info = std::make_shared<DeviceMem>(sizeof(int));
  auto f = [=] {
    if (m == 0 || n == 0) return;
    if (f64)
      SUANLI_CUSOLVER_CHECK(cusolverDnDgetrf(h, m, n, static_cast<double*>(a), lda,
                                             static_cast<double*>(work->p), ipiv,
                                             static_cast<int*>(info->p)));
    else
      SUANLI_CUSOLVER_CHECK(cusolverDnSgetrf(h, m, n, static_cast<float*>(a), lda,
                                             static_cast<float*>(work->p), ipiv,
                                             static_cast<int*>(info->p)));
  };
  return std::make_unique<FnOp>(dev, f, solver_version(), impl);
}

// Row interchanges: cusolverDn?laswp reads ipiv(k1..k2) (1-based) of the array it is given. The
// pivots are device data, not read back: the rows they name are not checked against the buffer.
std::unique_ptr<CudaOp> make_linalg(const suanli_laswp_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason) {
  kit::check_linalg_shape(d);
  if (const std::string why = linalg_type_refusal(d.type, "laswp"); !why.empty())
    return unsupported(reason, why);
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const std::string impl = f64 ? "cusolverDnDlaswp" : "cusolverDnSlaswp";
  if (!bufs) return probe(dev, impl);
  cusolverDnHandle_t h = solver(dev);
  const int n = i32(d.n), lda = i32(d.lda), k1 = i32(d.k1) + 1, k2 = i32(d.k2);
  void* a = at(bufs[0], d.a_offset, d.type);
  const int* ipiv = at<int>(bufs[1], d.ipiv_offset, SUANLI_DTYPE_INT32);
  auto f = [=] {
    if (n == 0 || k2 < k1) return;
    if (f64)
      SUANLI_CUSOLVER_CHECK(cusolverDnDlaswp(h, n, static_cast<double*>(a), lda, k1, k2, ipiv, 1));
    else
      SUANLI_CUSOLVER_CHECK(cusolverDnSlaswp(h, n, static_cast<float*>(a), lda, k1, k2, ipiv, 1));
  };
  return std::make_unique<FnOp>(dev, f, solver_version(), impl);
}
#else
std::unique_ptr<CudaOp> make_linalg(const suanli_getrf_desc& d, void* const*, Device&,
                                    std::string* reason) {
  return no_solver(d, reason, "getrf");
}
std::unique_ptr<CudaOp> make_linalg(const suanli_laswp_desc& d, void* const*, Device&,
                                    std::string* reason) {
  return no_solver(d, reason, "laswp");
}
#endif

void release_linalg(Device& dev) {
  if (dev.blas) cublasDestroy(dev.blas);
  dev.blas = nullptr;
#if SUANLI_CUDA_HAVE_CUSOLVER
  if (dev.solver) cusolverDnDestroy(dev.solver);
#endif
  dev.solver = nullptr;
}

}  // namespace suanli::cuda
