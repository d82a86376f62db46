// conv2d through cuDNN 9's convolution API on NHWC tensors. fp32 only: the ABI's fp16/bf16 conv
// writes fp32 from fp16/bf16 inputs, and its int8 conv takes uint8 x int8 into exact int32, and
// cuDNN's legacy convolution has neither combination (see the reasons below).
#include "cuda_op.h"

#if SUANLI_CUDA_HAVE_CUDNN
#include <cudnn.h>

#include <cstdio>

#include "kernels.h"
#endif

namespace suanli::cuda {

#if SUANLI_CUDA_HAVE_CUDNN
namespace {

void check_dnn(cudnnStatus_t s, const char* call) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  const char* text = cudnnGetErrorString(s);
  throw BackendError(s == CUDNN_STATUS_ALLOC_FAILED ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
                     std::string(call) + ": " + (text ? text : "unknown cuDNN error"));
}
#define SUANLI_DNN_CHECK(call) check_dnn((call), #call)

class ConvOp : public CudaOp {
 public:
  ConvOp() = default;
  ConvOp(const ConvOp&) = delete;
  ConvOp& operator=(const ConvOp&) = delete;
  ~ConvOp() override {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (wdesc) cudnnDestroyFilterDescriptor(wdesc);
    if (ydesc) cudnnDestroyTensorDescriptor(ydesc);
    if (xdesc) cudnnDestroyTensorDescriptor(xdesc);
    if (wei_krsc) cudaFree(wei_krsc);
    if (own_ws) cudaFree(own_ws);
  }
  void enqueue() override {
    const float one = 1.0f, zero = 0.0f;
    void* ws = own_ws ? own_ws : device->workspace;
    SUANLI_DNN_CHECK(cudnnConvolutionForward(device->dnn, &one, xdesc, src, wdesc, wei_krsc, conv,
                                             algo, ws, ws_bytes, &zero, ydesc, dst));
  }
  // The ABI's weights are KCRS; cuDNN's NHWC convolutions want KRSC: reordered at plan time and
  // after each upload of the weights (before every run in training).
  void restage() override {
    check_cuda(
        launch_kcrs_to_krsc_4b(static_cast<const uint32_t*>(wei), static_cast<uint32_t*>(wei_krsc),
                               d.k, d.c / d.groups, d.r, d.s, device->stream),
        "weight reorder kernel launch");
  }
  suanli_conv2d_desc d{};
  const void* src = nullptr;
  const void* wei = nullptr;
  void* dst = nullptr;
  void* wei_krsc = nullptr;
  void* own_ws = nullptr;
  size_t ws_bytes = 0;
  cudnnTensorDescriptor_t xdesc = nullptr, ydesc = nullptr;
  cudnnFilterDescriptor_t wdesc = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo{};
  std::string choice;  // how the algorithm was chosen, for the result
};

const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "unknown";
  }
}

int narrow(int64_t v, const char* what) {
  if (v <= 0 || v > INT32_MAX)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       std::string("conv2d: ") + what + " out of cuDNN's int range");
  return static_cast<int>(v);
}

// The fastest FMA-math algorithm: cuDNN's find (runs every algorithm on the real buffers and
// times it) for a real plan, its heuristics for a support probe. Allocates what the plan needs.
bool choose_algo(ConvOp& op, Device& dev, bool real, std::string* reason) {
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  if (real) {
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    const suanli_conv2d_desc& d = op.d;
    SUANLI_CUDA_CHECK(
        cudaMalloc(&op.wei_krsc, static_cast<size_t>(d.k * (d.c / d.groups) * d.r * d.s * 4)));
    op.staged_from = {op.wei};
    op.restage();
    SUANLI_DNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        dev.dnn, op.xdesc, op.src, op.wdesc, op.wei_krsc, op.conv, op.ydesc, op.dst,
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, dev.workspace, dev.workspace_bytes));
  } else {
    SUANLI_DNN_CHECK(
        cudnnGetConvolutionForwardAlgorithm_v7(dev.dnn, op.xdesc, op.wdesc, op.conv, op.ydesc,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
  }
  const cudnnConvolutionFwdAlgoPerf_t* best = nullptr;
  int usable = 0;
  for (int i = 0; i < returned; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType == CUDNN_FMA_MATH) {
      ++usable;
      if (!best) best = &perf[i];
    }
  if (!best) {
    *reason = "cuDNN has no fp32 (FMA math) algorithm for this convolution";
    return false;
  }
  op.algo = best->algo;
  op.ws_bytes = best->memory;
  char ms[48];
  std::snprintf(ms, sizeof ms, "%.3f ms", static_cast<double>(best->time));
  op.choice = real ? "fastest of " + std::to_string(usable) +
                         " FMA-math algorithms timed by cudnnFindConvolutionForwardAlgorithmEx "
                         "at plan, " +
                         ms
                   : "cuDNN v7 heuristics (support probe)";
  if (real && op.ws_bytes > dev.workspace_bytes)
    SUANLI_CUDA_CHECK(cudaMalloc(&op.own_ws, op.ws_bytes));
  return true;
}

}  // namespace

std::string cudnn_version() {
  const size_t v = cudnnGetVersion();  // cuDNN 9: major*10000 + minor*100 + patch
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

void ensure_dnn(Device& dev) {
  if (dev.dnn) return;
  SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
  cudnnHandle_t h = nullptr;
  SUANLI_DNN_CHECK(cudnnCreate(&h));
  const cudnnStatus_t s = cudnnSetStream(h, dev.stream);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(h);
    check_dnn(s, "cudnnSetStream");
  }
  dev.dnn = h;
}

void release_dnn(Device& dev) {
  if (dev.dnn) cudnnDestroy(dev.dnn);
  dev.dnn = nullptr;
}

std::unique_ptr<CudaOp> make_conv2d(const suanli_conv2d_desc& d, void* src, void* wei, void* dst,
                                    Device& dev, std::string* reason) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_desc, dst_type))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "conv2d descriptor: struct_size too small");
  if (d.groups <= 0 || d.c % d.groups != 0 || d.k % d.groups != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "conv2d: groups must divide c and k");
  if (d.src_type == SUANLI_DTYPE_UINT8 || d.src_type == SUANLI_DTYPE_INT8) {
    *reason =
        "cuDNN's int8 convolution takes int8 x int8 and writes int8 (saturated) or fp32, not the "
        "ABI's uint8 x int8 -> exact int32";
    return nullptr;
  }
  if (d.src_type == SUANLI_DTYPE_FP16 || d.src_type == SUANLI_DTYPE_BF16) {
    *reason =
        "the ABI's fp16/bf16 conv2d writes fp32; cuDNN's convolution API wants the output in the "
        "input type (an fp32 output needs the cuDNN graph API, not implemented yet)";
    return nullptr;
  }
  if (d.src_type != SUANLI_DTYPE_FP32 || d.weight_type != SUANLI_DTYPE_FP32 ||
      d.dst_type != SUANLI_DTYPE_FP32) {
    *reason = "conv2d: the cuda backend runs fp32 convolutions only";
    return nullptr;
  }
  ensure_dnn(dev);
  auto op = std::make_unique<ConvOp>();
  op->device = &dev;
  op->d = d;
  op->src = src;
  op->wei = wei;
  op->dst = dst;
  const int n = narrow(d.n, "n"), c = narrow(d.c, "c"), h = narrow(d.h, "h"), w = narrow(d.w, "w"),
            k = narrow(d.k, "k"), r = narrow(d.r, "r"), s = narrow(d.s, "s"),
            g = narrow(d.groups, "groups");
  SUANLI_DNN_CHECK(cudnnCreateTensorDescriptor(&op->xdesc));
  SUANLI_DNN_CHECK(
      cudnnSetTensor4dDescriptor(op->xdesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, c, h, w));
  SUANLI_DNN_CHECK(cudnnCreateFilterDescriptor(&op->wdesc));
  SUANLI_DNN_CHECK(
      cudnnSetFilter4dDescriptor(op->wdesc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, k, c / g, r, s));
  SUANLI_DNN_CHECK(cudnnCreateConvolutionDescriptor(&op->conv));
  SUANLI_DNN_CHECK(cudnnSetConvolution2dDescriptor(
      op->conv, static_cast<int>(d.pad_h), static_cast<int>(d.pad_w),
      narrow(d.stride_h, "stride_h"), narrow(d.stride_w, "stride_w"), narrow(d.dil_h, "dil_h"),
      narrow(d.dil_w, "dil_w"), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  SUANLI_DNN_CHECK(cudnnSetConvolutionGroupCount(op->conv, g));
  // Strict fp32: no TF32 tensor cores behind an fp32 figure.
  SUANLI_DNN_CHECK(cudnnSetConvolutionMathType(op->conv, CUDNN_FMA_MATH));
  int on = 0, oc = 0, op_ = 0, oq = 0;
  SUANLI_DNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(op->conv, op->xdesc, op->wdesc, &on, &oc, &op_, &oq));
  const int64_t p = (d.h + 2 * d.pad_h - d.dil_h * (d.r - 1) - 1) / d.stride_h + 1;
  const int64_t q = (d.w + 2 * d.pad_w - d.dil_w * (d.s - 1) - 1) / d.stride_w + 1;
  if (on != n || oc != k || op_ != p || oq != q)
    throw BackendError(SUANLI_INTERNAL, "conv2d: cuDNN's output shape differs from the ABI's");
  SUANLI_DNN_CHECK(cudnnCreateTensorDescriptor(&op->ydesc));
  SUANLI_DNN_CHECK(
      cudnnSetTensor4dDescriptor(op->ydesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, k, op_, oq));

  if (!choose_algo(*op, dev, src != nullptr, reason)) return nullptr;
  op->library = "cudnn " + cudnn_version();
  op->implementation = std::string("cudnnConvolutionForward NHWC fp32 (FMA math, no TF32), algo ") +
                       algo_name(op->algo) + " (" + op->choice + "), workspace " +
                       std::to_string(op->ws_bytes) +
                       " B; KCRS weights reordered to KRSC at plan and after each upload of "
                       "them, outside the timed runs";
  return op;
}

#else  // no cuDNN at build time

std::string cudnn_version() {
  return "";
}
void ensure_dnn(Device&) {}
void release_dnn(Device&) {}
std::unique_ptr<CudaOp> make_conv2d(const suanli_conv2d_desc&, void*, void*, void*, Device&,
                                    std::string* reason) {
  *reason = "the cuda backend was built without cuDNN";
  return nullptr;
}

#endif

}  // namespace suanli::cuda
