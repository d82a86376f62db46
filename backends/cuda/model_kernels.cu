// The model ops' own kernels: matmul/conv epilogue, pooling, normalization, softmax and
// element-wise ops. fp32 arithmetic on fp32 / bf16 / fp16 / int8 storage chosen at run time (no
// templates: one instantiation per kernel keeps nvcc time small). Grid-stride loops over int64
// indices, so any size launches with a bounded grid.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "model_kernels.h"

namespace suanli::cuda {
namespace {

constexpr int kBlock = 256;          // threads per block (a multiple of 32: block reductions)
constexpr int64_t kMaxGrid = 65536;  // grid-stride loops cover the rest

unsigned grid_for(int64_t work_items) {
  const int64_t blocks = (work_items + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGrid ? kMaxGrid : blocks));
}

unsigned grid_rows(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > kMaxGrid ? kMaxGrid : rows));
}

__device__ __forceinline__ float load(const void* p, int64_t i, KType t) {
  switch (t) {
    case KType::f32:
      return static_cast<const float*>(p)[i];
    case KType::bf16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case KType::f16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case KType::s8:
      return static_cast<float>(static_cast<const int8_t*>(p)[i]);
    case KType::u8:
      return static_cast<float>(static_cast<const uint8_t*>(p)[i]);
    default:
      return static_cast<float>(static_cast<const int32_t*>(p)[i]);
  }
}

// Float storage rounds to nearest even; integer storage rounds to nearest even and saturates
// (NaN stores 0).
__device__ __forceinline__ void store(void* p, int64_t i, float v, KType t) {
  switch (t) {
    case KType::f32:
      static_cast<float*>(p)[i] = v;
      break;
    case KType::bf16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
    case KType::f16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    case KType::s8: {
      const float r = v != v ? 0.f : fminf(fmaxf(rintf(v), -128.f), 127.f);
      static_cast<int8_t*>(p)[i] = static_cast<int8_t>(r);
      break;
    }
    case KType::u8: {
      const float r = v != v ? 0.f : fminf(fmaxf(rintf(v), 0.f), 255.f);
      static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(r);
      break;
    }
    default:
      static_cast<int32_t*>(p)[i] = v != v ? 0 : __float2int_rn(v);  // cvt saturates
      break;
  }
}

// backend.h's activations, in fp32.
__device__ __forceinline__ float activate(float x, int act) {
  switch (act) {
    case 1:
      return x > 0.f ? x : 0.f;
    case 2:
      return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case 3:
      return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
    case 4:
      return x / (1.f + expf(-x));
    default:
      return x;
  }
}

// Sum / max over the block; every thread gets the result. `sh` holds one value per warp.
__device__ float block_sum(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // earlier readers of sh are done
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = 0.f;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) r += sh[i];
  return r;
}

__device__ float block_max(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = -INFINITY;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) r = fmaxf(r, sh[i]);
  return r;
}

__global__ void __launch_bounds__(kBlock) epilogue_kernel(EpilogueArgs a) {
  const int64_t total = a.batch0 * a.batch1 * a.m * a.n;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % a.n;
    int64_t t = e / a.n;
    const int64_t i = t % a.m;
    t /= a.m;
    const int64_t b1 = t % a.batch1, b0 = t / a.batch1;
    const int64_t src =
        b0 * a.acc_stride[0] + b1 * a.acc_stride[1] + i * a.acc_stride[2] + j * a.acc_stride[3];
    const int64_t dst =
        b0 * a.dst_stride[0] + b1 * a.dst_stride[1] + i * a.dst_stride[2] + j * a.dst_stride[3];
    float y = load(a.acc, src, a.acc_type) * a.scale;
    if (a.bias) y += a.bias[j];
    if (a.mask) y += a.mask[i * a.n + j];
    if (a.residual) y += a.residual_scale * load(a.dst, dst, a.dst_type);
    y = activate(y, a.act);
    store(a.dst, dst, y / a.dst_scale, a.dst_type);
  }
}

__global__ void __launch_bounds__(kBlock) pool_kernel(PoolArgs a) {
  const int64_t total = a.n * a.p * a.q * a.c;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ch = e % a.c;
    int64_t t = e / a.c;
    const int64_t oq = t % a.q;
    t /= a.q;
    const int64_t op = t % a.p, ni = t / a.p;
    const int64_t h0 = op * a.stride_h - a.pad_h, w0 = oq * a.stride_w - a.pad_w;
    const int64_t h_lo = h0 < 0 ? 0 : h0, w_lo = w0 < 0 ? 0 : w0;
    const int64_t h_hi = h0 + a.r < a.h ? h0 + a.r : a.h, w_hi = w0 + a.s < a.w ? w0 + a.s : a.w;
    float acc = a.max ? -INFINITY : 0.f;
    int64_t taps = 0;
    for (int64_t y = h_lo; y < h_hi; ++y)
      for (int64_t x = w_lo; x < w_hi; ++x) {
        const float v = load(a.src, ((ni * a.h + y) * a.w + x) * a.c + ch, a.type);
        acc = a.max ? fmaxf(acc, v) : acc + v;
        ++taps;
      }
    const float out = taps == 0 ? 0.f : (a.max ? acc : acc / static_cast<float>(taps));
    store(a.dst, e, out, a.type);
  }
}

// Batch norm at inference: statistics given per channel.
__global__ void __launch_bounds__(kBlock) batch_norm_kernel(NormArgs a) {
  const int64_t total = a.rows * a.channels;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = e % a.channels;
    const float x = load(a.src, e, a.type);
    float y = a.gamma[c] * (x - a.mean[c]) / sqrtf(a.var[c] + a.epsilon) + a.beta[c];
    if (a.relu) y = y > 0.f ? y : 0.f;
    store(a.dst, e, y, a.type);
  }
}

// Layer / RMS norm: one block per row; statistics in fp32, variance from a second pass over the
// row (x - mean)^2, as oneDNN computes it.
__global__ void __launch_bounds__(kBlock) row_norm_kernel(NormArgs a) {
  __shared__ float sh[kBlock / 32];
  const float inv_c = 1.f / static_cast<float>(a.channels);
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const int64_t base = row * a.channels;
    float mean = 0.f, inv_std;
    if (a.kind == 2) {
      float ss = 0.f;
      for (int64_t j = threadIdx.x; j < a.channels; j += blockDim.x) {
        const float x = load(a.src, base + j, a.type);
        ss += x * x;
      }
      inv_std = 1.f / sqrtf(block_sum(ss, sh) * inv_c + a.epsilon);
    } else {
      float s = 0.f;
      for (int64_t j = threadIdx.x; j < a.channels; j += blockDim.x)
        s += load(a.src, base + j, a.type);
      mean = block_sum(s, sh) * inv_c;
      float v = 0.f;
      for (int64_t j = threadIdx.x; j < a.channels; j += blockDim.x) {
        const float d = load(a.src, base + j, a.type) - mean;
        v += d * d;
      }
      inv_std = 1.f / sqrtf(block_sum(v, sh) * inv_c + a.epsilon);
    }
    for (int64_t j = threadIdx.x; j < a.channels; j += blockDim.x) {
      float y = a.gamma[j] * (load(a.src, base + j, a.type) - mean) * inv_std;
      if (a.beta) y += a.beta[j];
      if (a.relu) y = y > 0.f ? y : 0.f;
      store(a.dst, base + j, y, a.type);
    }
  }
}

__global__ void __launch_bounds__(kBlock)
    softmax_kernel(const void* src, void* dst, KType type, int64_t rows, int64_t cols) {
  __shared__ float sh[kBlock / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      m = fmaxf(m, load(src, base + j, type));
    m = block_max(m, sh);
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      s += expf(load(src, base + j, type) - m);
    const float inv = 1.f / block_sum(s, sh);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      store(dst, base + j, expf(load(src, base + j, type) - m) * inv, type);
  }
}

__global__ void __launch_bounds__(kBlock)
    eltwise_kernel(int kind, int act, const void* src, const void* src2, void* dst, KType type,
                   int64_t n) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = load(src, e, type);
    float y;
    switch (kind) {
      case 1:
        y = x + load(src2, e, type);
        break;
      case 2:
        y = x * load(src2, e, type);
        break;
      case 3:
        y = activate(x, act) * load(src2, e, type);
        break;
      case 4:
        y = load(src2, e, type) > 0.f ? x : 0.f;
        break;
      default:
        y = activate(x, act);
        break;
    }
    store(dst, e, y, type);
  }
}

}  // namespace

cudaError_t launch_epilogue(const EpilogueArgs& a, cudaStream_t stream) {
  epilogue_kernel<<<grid_for(a.batch0 * a.batch1 * a.m * a.n), kBlock, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_pool(const PoolArgs& a, cudaStream_t stream) {
  pool_kernel<<<grid_for(a.n * a.p * a.q * a.c), kBlock, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_norm(const NormArgs& a, cudaStream_t stream) {
  if (a.kind == 0)
    batch_norm_kernel<<<grid_for(a.rows * a.channels), kBlock, 0, stream>>>(a);
  else
    row_norm_kernel<<<grid_rows(a.rows), kBlock, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_softmax(const void* src, void* dst, KType type, int64_t rows, int64_t cols,
                           cudaStream_t stream) {
  softmax_kernel<<<grid_rows(rows), kBlock, 0, stream>>>(src, dst, type, rows, cols);
  return cudaGetLastError();
}

cudaError_t launch_eltwise(int kind, int act, const void* src, const void* src2, void* dst,
                           KType type, int64_t n, cudaStream_t stream) {
  eltwise_kernel<<<grid_for(n), kBlock, 0, stream>>>(kind, act, src, src2, dst, type, n);
  return cudaGetLastError();
}

}  // namespace suanli::cuda
