// Internal interface of the CUDA backend: errors, per-device state, one prepared op, and the
// factories each part provides. Host C++ only (no device code), so every .cpp compiles with g++.
#pragma once

#include <cuda_runtime_api.h>
#include <suanli/plugin_kit.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cudnnContext* cudnnHandle_t;
typedef struct cublasContext* cublasHandle_t;
typedef struct cusolverDnContext* cusolverDnHandle_t;

namespace suanli::cuda {

// Thrown inside the backend; the plugin kit turns it into a status + message.
using BackendError = kit::Error;

// Turns a CUDA runtime error into a BackendError naming the call and the runtime's message.
// Out-of-memory becomes SUANLI_OUT_OF_MEMORY, everything else SUANLI_DEVICE_ERROR.
void check_cuda(cudaError_t e, const char* call);
#define SUANLI_CUDA_CHECK(call) ::suanli::cuda::check_cuda((call), #call)

// A pair of CUDA events, destroyed with the scope.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SUANLI_CUDA_CHECK(cudaEventCreate(&start));
    SUANLI_CUDA_CHECK(cudaEventCreate(&stop));
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  ~EventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
  double seconds() const {
    SUANLI_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    SUANLI_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }
};

// One GPU as the context uses it. Handles are created lazily, on the device's first plan.
struct Device {
  int ordinal = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  uint64_t l2_bytes = 0;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;        // cuBLAS, for the linear-algebra ops (linalg.cpp)
  cusolverDnHandle_t solver = nullptr;  // cuSOLVER, where the build has it (linalg.cpp)
  void* workspace = nullptr;            // cuBLASLt / cuDNN workspace, shared by the device's plans
  uint64_t workspace_bytes = 0;
  void* flush = nullptr;  // buffer written between timed runs when cold_l2 is on
  int* hold = nullptr;    // pinned, mapped: [0] releases the hold kernel, [1] says it timed out
  uint64_t flush_bytes = 0;
  // Precision-changing environment variables found at create ("NVIDIA_TF32_OVERRIDE=0"): cuBLAS
  // and cuDNN ops answer UNSUPPORTED while they are set ("" = none).
  std::string precision_override;
  int cc() const { return cc_major * 10 + cc_minor; }
};

// Settings of one backend context.
struct CudaConfig {
  bool cold_l2 = false;          // "cold_l2=1": flush L2 before every timed iteration
  uint64_t workspace_bytes = 0;  // "workspace_mib": 0 = by architecture
};

// A prepared op. enqueue() issues it once on the device's stream, without synchronising.
// Buffers are device memory owned by the context; they outlive the op.
class CudaOp {
 public:
  virtual ~CudaOp() = default;
  virtual void enqueue() = 0;
  // Layout copies made once at plan time (B transposed for cuBLASLt's TN form, KCRS weights
  // reordered to KRSC): the input pointers they are made from, and restage(), which redoes them
  // on the device's stream. plugin.cpp calls it after every upload into one of those buffers, so
  // the copies never go stale and stay out of the timed region.
  std::vector<const void*> staged_from;
  virtual void restage() {}
  // Set when the staged copy must be redone before every run instead: training (the weights
  // change every step), or an input another plan writes on the device (plugin.cpp decides).
  bool stage_every_run = false;
  // True when the op reads its output (an in-place residual): plan() must not run it to warm up.
  bool reads_output = false;
  Device* device = nullptr;
  std::string library;         // e.g. "cublasLt 13.0.0"
  std::string implementation;  // e.g. "cuBLASLt algo 21 tile 128x256 stages 3"
};

// Each returns nullptr and sets *reason when the op/dtype is not supported on this device;
// throws BackendError on invalid descriptors or failures. With all buffer pointers null the
// factory only answers "supported?": it returns an op that is never run, or nullptr.
std::unique_ptr<CudaOp> make_gemm(const suanli_gemm_desc& d, void* a, void* b, void* c, Device& dev,
                                  std::string* reason);
std::unique_ptr<CudaOp> make_conv2d(const suanli_conv2d_desc& d, void* src, void* wei, void* dst,
                                    Device& dev, std::string* reason);
std::unique_ptr<CudaOp> make_peak(const suanli_peak_desc& d, const void* a, void* c, Device& dev,
                                  std::string* reason);
std::unique_ptr<CudaOp> make_stream(const suanli_stream_desc& d, const void* a, const void* b,
                                    void* c, Device& dev, std::string* reason);

// Model ops of ABI minor 1 (matmul, conv2d layer, pool, norm, softmax, eltwise; model_ops.cpp).
// bufs is null for a support probe; otherwise nbufs pointers in the order the descriptor lists.
std::unique_ptr<CudaOp> make_model_op(const suanli_op_desc& op, void* const* bufs, size_t nbufs,
                                      Device& dev, std::string* reason);

// Dense linear algebra of ABI 1.2 (HPL; linalg.cpp): GEMM_EX through cuBLAS, TRSM through
// cuBLAS, GETRF and LASWP through cuSOLVER where the build has it (else UNSUPPORTED: the harness
// runs them on the host). bufs null: a support probe; else the op's buffers in order.
std::unique_ptr<CudaOp> make_linalg(const suanli_gemm_ex_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason);
std::unique_ptr<CudaOp> make_linalg(const suanli_getrf_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason);
std::unique_ptr<CudaOp> make_linalg(const suanli_laswp_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason);
std::unique_ptr<CudaOp> make_linalg(const suanli_trsm_desc& d, void* const* bufs, Device& dev,
                                    std::string* reason);
void release_linalg(Device& dev);  // destroys the cuBLAS and cuSOLVER handles

// Library versions for the report ("" when the library is absent).
std::string cublaslt_version();
std::string cudnn_version();

// Creates the device's cuBLASLt / cuDNN handles and workspace on first use.
void ensure_blas(Device& dev, const CudaConfig& cfg);
void ensure_dnn(Device& dev);
void release_blas(Device& dev);  // frees the cuBLASLt handle and the workspace
void release_dnn(Device& dev);

}  // namespace suanli::cuda
