// The CUDA backend's own kernels: peak FMA / mma.sync chains, STREAM, and the small layout kernels
// the GEMM and convolution paths need. Few template instantiations, to keep nvcc time small.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels.h"

namespace suanli::cuda {
namespace {

constexpr int kThreads = 256;  // CUDA-core kernels: threads per block
constexpr int kRegs = 4;       // CUDA-core kernels: independent chains (registers) per thread
constexpr int kMmaWarps = 2;   // tensor-core kernels: warps per block
constexpr int kFrags = 4;      // tensor-core kernels: independent accumulator fragments per warp
constexpr int kUnroll = 16;    // CUDA-core steps per loop trip; depth is a multiple of 64

// ---- CUDA-core chains: one instruction per step, inline PTX so nothing is folded -------------

struct FmaF64 {
  using T = double;
  static __device__ __forceinline__ void step(double& x, double a, double b) {
    asm volatile("fma.rn.f64 %0, %1, %2, %0;" : "+d"(x) : "d"(a), "d"(b));
  }
};
struct FmaF32 {
  using T = float;
  static __device__ __forceinline__ void step(float& x, float a, float b) {
    asm volatile("fma.rn.f32 %0, %1, %2, %0;" : "+f"(x) : "f"(a), "f"(b));
  }
};
// Two fp16 chains per 32-bit register.
struct Hfma2 {
  using T = uint32_t;
  static __device__ __forceinline__ void step(uint32_t& x, uint32_t a, uint32_t b) {
    asm volatile("fma.rn.f16x2 %0, %1, %2, %0;" : "+r"(x) : "r"(a), "r"(b));
  }
};

// Block b handles kThreads * kRegs consecutive values of T; value r of a thread is at
// b*kThreads*kRegs + r*kThreads + threadIdx.x, so every load and store is coalesced.
template <class Op>
__global__ void __launch_bounds__(kThreads)
    peak_core(const typename Op::T* __restrict__ a, typename Op::T* __restrict__ c, int64_t depth,
              typename Op::T alpha, typename Op::T beta) {
  using T = typename Op::T;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kThreads * kRegs + threadIdx.x;
  T x[kRegs];
#pragma unroll
  for (int r = 0; r < kRegs; ++r) x[r] = a[base + r * kThreads];
  for (int64_t s = 0; s < depth; s += kUnroll) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int r = 0; r < kRegs; ++r) Op::step(x[r], alpha, beta);
    }
  }
#pragma unroll
  for (int r = 0; r < kRegs; ++r) c[base + r * kThreads] = x[r];
}

// ---- tensor-core chains: mma.sync with every A element alpha and every B element beta, so each
// accumulator lane gains k products alpha*beta per instruction ----------------------------------

struct MmaF16F32 {
  using Acc = float;
  static constexpr int kAcc = 4, kK = 16;
  static __device__ __forceinline__ void step(float (&d)[4], uint32_t a, uint32_t b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, "
        "{%5,%5}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a), "r"(b));
  }
};
struct MmaBf16F32 {
  using Acc = float;
  static constexpr int kAcc = 4, kK = 16;
  static __device__ __forceinline__ void step(float (&d)[4], uint32_t a, uint32_t b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, "
        "{%5,%5}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a), "r"(b));
  }
};
struct MmaTf32F32 {
  using Acc = float;
  static constexpr int kAcc = 4, kK = 8;
  static __device__ __forceinline__ void step(float (&d)[4], uint32_t a, uint32_t b) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, "
        "{%5,%5}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a), "r"(b));
  }
};
// Integer accumulation wraps modulo 2^32 (no .satfinite), as the ABI's int32 chain does.
struct MmaU8S8S32 {
  using Acc = int32_t;
  static constexpr int kAcc = 4, kK = 32;
  static __device__ __forceinline__ void step(int32_t (&d)[4], uint32_t a, uint32_t b) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, "
        "{%5,%5}, {%0,%1,%2,%3};"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a), "r"(b));
  }
};
struct MmaF64 {
  using Acc = double;
  static constexpr int kAcc = 2, kK = 4;
  static __device__ __forceinline__ void step(double (&d)[2], double a, double b) {
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
                 : "+d"(d[0]), "+d"(d[1])
                 : "d"(a), "d"(b));
  }
};

// Operand registers: f64 for DMMA, 32-bit patterns (alpha/beta replicated) for the others.
template <class Op>
struct Operand {
  using type = uint32_t;
};
template <>
struct Operand<MmaF64> {
  using type = double;
};

// Accumulator lane i of fragment f of warp w in block b holds element
// ((b*kMmaWarps + w)*kFrags + f)*32*kAcc + i*32 + lane: coalesced loads and stores.
template <class Op>
__global__ void __launch_bounds__(kMmaWarps * 32)
    peak_mma(const typename Op::Acc* __restrict__ a, typename Op::Acc* __restrict__ c,
             int64_t instructions, typename Operand<Op>::type alpha,
             typename Operand<Op>::type beta) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using Acc = typename Op::Acc;
  constexpr int kPerFrag = 32 * Op::kAcc;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t base =
      (static_cast<int64_t>(blockIdx.x) * kMmaWarps + warp) * kFrags * kPerFrag + lane;
  Acc d[kFrags][Op::kAcc];
#pragma unroll
  for (int f = 0; f < kFrags; ++f)
#pragma unroll
    for (int i = 0; i < Op::kAcc; ++i) d[f][i] = a[base + f * kPerFrag + i * 32];
  // instructions = depth / k, a multiple of 2 (depth is a multiple of 64, k at most 32).
  for (int64_t s = 0; s < instructions; s += 2) {
#pragma unroll
    for (int u = 0; u < 2; ++u)
#pragma unroll
      for (int f = 0; f < kFrags; ++f) Op::step(d[f], alpha, beta);
  }
#pragma unroll
  for (int f = 0; f < kFrags; ++f)
#pragma unroll
    for (int i = 0; i < Op::kAcc; ++i) c[base + f * kPerFrag + i * 32] = d[f][i];
#endif
}

template <class Op>
int64_t mma_elements_per_block() {
  return int64_t{kMmaWarps} * kFrags * 32 * Op::kAcc;
}

template <class Op>
cudaError_t launch_mma(const void* a, void* c, int64_t elements, int64_t depth,
                       typename Operand<Op>::type alpha, typename Operand<Op>::type beta,
                       cudaStream_t stream) {
  using Acc = typename Op::Acc;
  const int64_t blocks = elements / mma_elements_per_block<Op>();
  peak_mma<Op><<<static_cast<unsigned>(blocks), kMmaWarps * 32, 0, stream>>>(
      static_cast<const Acc*>(a), static_cast<Acc*>(c), depth / Op::kK, alpha, beta);
  return cudaGetLastError();
}

template <class Op>
cudaError_t launch_core(const void* a, void* c, int64_t values, int64_t depth, typename Op::T alpha,
                        typename Op::T beta, cudaStream_t stream) {
  using T = typename Op::T;
  const int64_t blocks = values / (kThreads * kRegs);
  peak_core<Op><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const T*>(a), static_cast<T*>(c), depth, alpha, beta);
  return cudaGetLastError();
}

template <typename T>
T from_bits(uint64_t bits) {
  T v;
  memcpy(&v, &bits, sizeof(T));
  return v;
}

uint32_t replicate(uint64_t bits, int bytes) {
  if (bytes == 1) return static_cast<uint32_t>(bits & 0xffu) * 0x01010101u;
  if (bytes == 2) return static_cast<uint32_t>(bits & 0xffffu) * 0x00010001u;
  return static_cast<uint32_t>(bits);
}

// ---- STREAM ---------------------------------------------------------------------------------

template <typename T>
__global__ void __launch_bounds__(kThreads)
    stream_kernel(int kind, const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                  int64_t n, T s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    switch (kind) {
      case 0:
        c[i] = a[i];
        break;
      case 1:
        c[i] = s * a[i];
        break;
      case 2:
        c[i] = a[i] + b[i];
        break;
      default:
        c[i] = a[i] + s * b[i];
        break;
    }
  }
}

template <typename T>
cudaError_t launch_stream(int kind, const T* a, const T* b, T* c, int64_t n, T s, int sm_count,
                          cudaStream_t stream) {
  // Enough blocks to fill every SM several times over; a grid-stride loop covers the rest.
  const int64_t want = (n + kThreads - 1) / kThreads;
  const int64_t cap = static_cast<int64_t>(sm_count > 0 ? sm_count : 1) * 16;
  const int64_t chosen = want < cap ? want : cap;
  const auto blocks = static_cast<unsigned>(chosen > 0 ? chosen : 1);
  stream_kernel<T><<<blocks, kThreads, 0, stream>>>(kind, a, b, c, n, s);
  return cudaGetLastError();
}

// ---- layout helpers -------------------------------------------------------------------------

__global__ void stage_bytes_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst,
                                   int64_t total, int64_t rows, int64_t cols, bool transpose,
                                   uint8_t mask) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t per = rows * cols;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    // o indexes dst; dst is cols x rows when transposing.
    int64_t in = o;
    if (transpose) {
      const int64_t b = o / per, r = o % per;
      const int64_t j = r / rows, i = r % rows;  // dst(j, i) = src(i, j)
      in = b * per + i * cols + j;
    }
    dst[o] = src[in] ^ mask;
  }
}

__global__ void kcrs_to_krsc_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst,
                                    int64_t k, int64_t c, int64_t r, int64_t s) {
  const int64_t total = k * c * r * s;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    // o indexes dst (k, r, s, c).
    const int64_t ci = o % c, rest = o / c;
    const int64_t si = rest % s, rest2 = rest / s;
    const int64_t ri = rest2 % r, ki = rest2 / r;
    dst[o] = src[((ki * c + ci) * r + ri) * s + si];
  }
}

unsigned grid_for(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

int peak_steps_per_instruction(PeakKernel k) {
  switch (k) {
    case PeakKernel::mma_f64:
      return MmaF64::kK;
    case PeakKernel::mma_f16_f32:
    case PeakKernel::mma_bf16_f32:
      return 16;
    case PeakKernel::mma_tf32_f32:
      return 8;
    case PeakKernel::mma_u8s8_s32:
      return 32;
    default:
      return 1;
  }
}

int64_t peak_elements_per_block(PeakKernel k) {
  switch (k) {
    case PeakKernel::fma_f64:
    case PeakKernel::fma_f32:
      return int64_t{kThreads} * kRegs;
    case PeakKernel::hfma2_f16:
      return int64_t{kThreads} * kRegs * 2;
    case PeakKernel::mma_f64:
      return mma_elements_per_block<MmaF64>();
    default:
      return mma_elements_per_block<MmaF16F32>();  // every 32-bit-accumulator mma: 4 per lane
  }
}

cudaError_t launch_peak(PeakKernel k, const void* a, void* c, int64_t elements, int64_t depth,
                        uint64_t alpha_bits, uint64_t beta_bits, cudaStream_t stream) {
  switch (k) {
    case PeakKernel::fma_f64:
      return launch_core<FmaF64>(a, c, elements, depth, from_bits<double>(alpha_bits),
                                 from_bits<double>(beta_bits), stream);
    case PeakKernel::fma_f32:
      return launch_core<FmaF32>(a, c, elements, depth, from_bits<float>(alpha_bits),
                                 from_bits<float>(beta_bits), stream);
    case PeakKernel::hfma2_f16:
      return launch_core<Hfma2>(a, c, elements / 2, depth, replicate(alpha_bits, 2),
                                replicate(beta_bits, 2), stream);
    case PeakKernel::mma_f64:
      return launch_mma<MmaF64>(a, c, elements, depth, from_bits<double>(alpha_bits),
                                from_bits<double>(beta_bits), stream);
    case PeakKernel::mma_f16_f32:
      return launch_mma<MmaF16F32>(a, c, elements, depth, replicate(alpha_bits, 2),
                                   replicate(beta_bits, 2), stream);
    case PeakKernel::mma_bf16_f32:
      return launch_mma<MmaBf16F32>(a, c, elements, depth, replicate(alpha_bits, 2),
                                    replicate(beta_bits, 2), stream);
    case PeakKernel::mma_tf32_f32:
      return launch_mma<MmaTf32F32>(a, c, elements, depth, replicate(alpha_bits, 4),
                                    replicate(beta_bits, 4), stream);
    case PeakKernel::mma_u8s8_s32:
      return launch_mma<MmaU8S8S32>(a, c, elements, depth, replicate(alpha_bits, 1),
                                    replicate(beta_bits, 1), stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_stream_f64(int kind, const double* a, const double* b, double* c, int64_t n,
                              double s, int sm_count, cudaStream_t stream) {
  return launch_stream<double>(kind, a, b, c, n, s, sm_count, stream);
}

cudaError_t launch_stream_f32(int kind, const float* a, const float* b, float* c, int64_t n,
                              float s, int sm_count, cudaStream_t stream) {
  return launch_stream<float>(kind, a, b, c, n, s, sm_count, stream);
}

cudaError_t launch_stage_bytes(const uint8_t* src, uint8_t* dst, int64_t batch, int64_t rows,
                               int64_t cols, bool transpose, uint8_t xor_mask,
                               cudaStream_t stream) {
  const int64_t total = batch * rows * cols;
  stage_bytes_kernel<<<grid_for(total), kThreads, 0, stream>>>(src, dst, total, rows, cols,
                                                               transpose, xor_mask);
  return cudaGetLastError();
}

cudaError_t launch_kcrs_to_krsc_4b(const uint32_t* src, uint32_t* dst, int64_t k, int64_t c,
                                   int64_t r, int64_t s, cudaStream_t stream) {
  kcrs_to_krsc_kernel<<<grid_for(k * c * r * s), kThreads, 0, stream>>>(src, dst, k, c, r, s);
  return cudaGetLastError();
}

}  // namespace suanli::cuda
