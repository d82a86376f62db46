// Launchers of the model-op kernels (model_kernels.cu): matmul/conv epilogue, pooling,
// normalization, softmax, element-wise. Plain host functions: they enqueue on `stream` and return
// the launch status. One kernel per op, with the storage type a run-time argument (memory-bound
// kernels lose nothing to the switch), so nvcc compiles few instantiations.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace suanli::cuda {

// Storage type of a tensor the kernels read or write; arithmetic is always fp32.
enum class KType : int { f32 = 0, bf16 = 1, f16 = 2, s8 = 3, u8 = 4, s32 = 5 };

// Activation codes are suanli_activation's values (0 none, 1 relu, 2 gelu tanh, 3 gelu erf, 4
// silu).

// The epilogue of backend.h over a batch0 x batch1 x m x n output, element (b0,b1,i,j):
//   y = acc * scale + bias[j] + mask[i*n+j] + residual_scale * dst(on entry); y = act(y);
//   dst = convert(y / dst_scale)   (integer dst: round to nearest even, saturate)
// acc and dst are addressed by their own element strides (b0, b1, row, column); acc may be dst
// itself (in place: each element is read before it is written, by the same thread).
struct EpilogueArgs {
  const void* acc = nullptr;
  KType acc_type = KType::f32;
  int64_t acc_stride[4] = {};
  void* dst = nullptr;
  KType dst_type = KType::f32;
  int64_t dst_stride[4] = {};
  int64_t batch0 = 1, batch1 = 1, m = 1, n = 1;
  float scale = 1;
  const float* bias = nullptr;  // n values, or null
  const float* mask = nullptr;  // m x n values, or null
  int residual = 0;
  float residual_scale = 1;
  float dst_scale = 1;
  int act = 0;
};
cudaError_t launch_epilogue(const EpilogueArgs& a, cudaStream_t stream);

// Max / average (padding excluded) pooling, NHWC src (n,h,w,c) -> dst (n,p,q,c).
struct PoolArgs {
  const void* src = nullptr;
  void* dst = nullptr;
  KType type = KType::f32;
  int max = 1;
  int64_t n = 0, c = 0, h = 0, w = 0, p = 0, q = 0, r = 0, s = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};
cudaError_t launch_pool(const PoolArgs& a, cudaStream_t stream);

// Normalization of a rows x channels tensor (suanli_norm_desc, inference). kind: 0 batch (given
// mean/var per channel), 1 layer (per row), 2 RMS (per row, no beta).
struct NormArgs {
  const void* src = nullptr;
  void* dst = nullptr;
  KType type = KType::f32;
  int kind = 1;
  int64_t rows = 0, channels = 0;
  float epsilon = 0;
  const float* gamma = nullptr;
  const float* beta = nullptr;  // null for RMS
  const float* mean = nullptr;  // batch norm only
  const float* var = nullptr;   // batch norm only
  int relu = 0;
};
cudaError_t launch_norm(const NormArgs& a, cudaStream_t stream);

// Softmax over the last dimension of a rows x cols tensor.
cudaError_t launch_softmax(const void* src, void* dst, KType type, int64_t rows, int64_t cols,
                           cudaStream_t stream);

// Element-wise op (suanli_eltwise_kind values: 0 act, 1 add, 2 mul, 3 act_mul, 4 relu backward)
// over n elements; src2 is null for kind 0.
cudaError_t launch_eltwise(int kind, int act, const void* src, const void* src2, void* dst,
                           KType type, int64_t n, cudaStream_t stream);

}  // namespace suanli::cuda
