// The CUDA backend's own kernels: peak FMA / mma.sync chains, STREAM, and the small layout kernels
// the GEMM and convolution paths need. Few template instantiations, to keep nvcc time small.
#include <cuda_runtime.h>

#include <algorithm>
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

// One mma.sync step on four accumulator registers: ptx is the instruction, constraint the
// accumulators' register class ("+f" float, "+r" int32).
#define SUANLI_MMA_X4(Name, AccType, k, constraint, ptx)                                    \
  struct Name {                                                                             \
    using Acc = AccType;                                                                    \
    static constexpr int kAcc = 4, kK = k;                                                  \
    static __device__ __forceinline__ void step(AccType (&d)[4], uint32_t a, uint32_t b) {  \
      asm volatile(ptx " {%0,%1,%2,%3}, {%4,%4,%4,%4}, {%5,%5}, {%0,%1,%2,%3};"             \
                   : constraint(d[0]), constraint(d[1]), constraint(d[2]), constraint(d[3]) \
                   : "r"(a), "r"(b));                                                       \
    }                                                                                       \
  };
SUANLI_MMA_X4(MmaF16F32, float, 16, "+f", "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32")
SUANLI_MMA_X4(MmaBf16F32, float, 16, "+f", "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32")
SUANLI_MMA_X4(MmaTf32F32, float, 8, "+f", "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32")
// Integer accumulation wraps modulo 2^32 (no .satfinite), as the ABI's int32 chain does.
SUANLI_MMA_X4(MmaU8S8S32, int32_t, 32, "+r", "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32")
#undef SUANLI_MMA_X4
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

// ---- STREAM: 16-byte vector loads and stores (double2 / float4), four per thread per trip ----

__device__ __forceinline__ double2 stream_op(int kind, double2 a, double2 b, double s) {
  switch (kind) {
    case 0:
      return a;
    case 1:
      return make_double2(s * a.x, s * a.y);
    case 2:
      return make_double2(a.x + b.x, a.y + b.y);
    default:
      return make_double2(a.x + s * b.x, a.y + s * b.y);
  }
}
__device__ __forceinline__ float4 stream_op(int kind, float4 a, float4 b, float s) {
  switch (kind) {
    case 0:
      return a;
    case 1:
      return make_float4(s * a.x, s * a.y, s * a.z, s * a.w);
    case 2:
      return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
    default:
      return make_float4(a.x + s * b.x, a.y + s * b.y, a.z + s * b.z, a.w + s * b.w);
  }
}
template <typename T>
__device__ __forceinline__ T stream_scalar(int kind, T a, T b, T s) {
  return kind == 0 ? a : kind == 1 ? s * a : kind == 2 ? a + b : a + s * b;
}

template <typename T>
struct Vec16;
template <>
struct Vec16<double> {
  using V = double2;
  static constexpr int kWidth = 2;
};
template <>
struct Vec16<float> {
  using V = float4;
  static constexpr int kWidth = 4;
};

constexpr int kStreamUnroll = 4;  // independent 16-byte loads in flight per thread

// Kind is a template parameter so the loop carries no branch; B is read only by add and triad.
template <typename T, int Kind>
__global__ void __launch_bounds__(kThreads)
    stream_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, int64_t n,
                  T s) {
  using V = typename Vec16<T>::V;
  constexpr int W = Vec16<T>::kWidth;
  constexpr bool kReadsB = Kind >= 2;
  const auto* av = reinterpret_cast<const V*>(a);
  const auto* bv = reinterpret_cast<const V*>(b);
  auto* cv = reinterpret_cast<V*>(c);
  const int64_t nv = n / W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (kStreamUnroll - 1) * stride < nv; i += kStreamUnroll * stride) {
    V x[kStreamUnroll], y[kStreamUnroll] = {};  // y: B, read by add and triad only
#pragma unroll
    for (int u = 0; u < kStreamUnroll; ++u) {
      x[u] = av[i + u * stride];
      if (kReadsB) y[u] = bv[i + u * stride];
    }
#pragma unroll
    for (int u = 0; u < kStreamUnroll; ++u) cv[i + u * stride] = stream_op(Kind, x[u], y[u], s);
  }
  for (; i < nv; i += stride) {
    V y{};
    if (kReadsB) y = bv[i];
    cv[i] = stream_op(Kind, av[i], y, s);
  }
  // The last n % W elements, scalar.
  const int64_t t = nv * W + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < n) c[t] = stream_scalar<T>(Kind, a[t], kReadsB ? b[t] : T(0), s);
}

template <typename T, int Kind>
void launch_stream_kind(unsigned blocks, const T* a, const T* b, T* c, int64_t n, T s,
                        cudaStream_t stream) {
  stream_kernel<T, Kind><<<blocks, kThreads, 0, stream>>>(a, b, c, n, s);
}

template <typename T>
cudaError_t launch_stream(int kind, const T* a, const T* b, T* c, int64_t n, T s, int sm_count,
                          cudaStream_t stream) {
  // 16-byte accesses need 16-byte aligned arrays (cudaMalloc gives 256).
  const auto misaligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) != 0; };
  if (misaligned(a) || misaligned(c) || (kind >= 2 && misaligned(b)))
    return cudaErrorMisalignedAddress;
  // Full occupancy (8 blocks of 256 threads per SM), grid-stride over the rest.
  const int64_t per_block = int64_t{kThreads} * kStreamUnroll * Vec16<T>::kWidth;
  const int64_t want = (n + per_block - 1) / per_block;
  const int64_t cap = static_cast<int64_t>(sm_count > 0 ? sm_count : 1) * 8;
  const auto blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min(want, cap)));
  switch (kind) {
    case 0:
      launch_stream_kind<T, 0>(blocks, a, b, c, n, s, stream);
      break;
    case 1:
      launch_stream_kind<T, 1>(blocks, a, b, c, n, s, stream);
      break;
    case 2:
      launch_stream_kind<T, 2>(blocks, a, b, c, n, s, stream);
      break;
    default:
      launch_stream_kind<T, 3>(blocks, a, b, c, n, s, stream);
      break;
  }
  return cudaGetLastError();
}

// ---- layout copies --------------------------------------------------------------------------

constexpr int kTile = 64;  // byte transpose: 64 x 64 bytes per block, 256 threads

// dst (cols x rows) = src (rows x cols)^T per batch. Wide: rows and cols multiples of 4 and
// 4-byte aligned pointers, so every global load and store moves 4 bytes; the tile in shared
// memory turns columns into rows. Indices come from the block's coordinates: no division per
// byte.
template <bool Wide>
__global__ void __launch_bounds__(256)
    transpose_bytes_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst, int64_t rows,
                           int64_t cols, int64_t batch) {
  __shared__ __align__(4) uint8_t tile[kTile][kTile + 4];
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int t = threadIdx.x;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const uint8_t* s = src + b * rows * cols;
    uint8_t* d = dst + b * rows * cols;
    if (Wide) {
      const int w = t & 15;  // 4-byte word within a 64-byte tile row
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int i = (t >> 4) + 16 * j;
        const int64_t r = r0 + i, c = c0 + 4 * w;
        uint32_t v = 0;
        if (r < rows && c < cols) v = *reinterpret_cast<const uint32_t*>(s + r * cols + c);
        *reinterpret_cast<uint32_t*>(&tile[i][4 * w]) = v;
      }
      __syncthreads();
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int cc = (t >> 4) + 16 * j;  // source column = destination row within the tile
        const int64_t dr = c0 + cc, dc = r0 + 4 * w;
        if (dr < cols && dc < rows) {
          const uint32_t v = uint32_t{tile[4 * w][cc]} | uint32_t{tile[4 * w + 1][cc]} << 8 |
                             uint32_t{tile[4 * w + 2][cc]} << 16 |
                             uint32_t{tile[4 * w + 3][cc]} << 24;
          *reinterpret_cast<uint32_t*>(d + dr * rows + dc) = v;
        }
      }
    } else {
      const int x = t & 63;  // byte within a tile row
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const int i = (t >> 6) + 4 * j;
        const int64_t r = r0 + i, c = c0 + x;
        tile[i][x] = (r < rows && c < cols) ? s[r * cols + c] : 0;
      }
      __syncthreads();
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const int cc = (t >> 6) + 4 * j;
        const int64_t dr = c0 + cc, dc = r0 + x;
        if (dr < cols && dc < rows) d[dr * rows + dc] = tile[x][cc];
      }
    }
    __syncthreads();  // the tile is reused by the next batch
  }
}

// dst (rows' = cols, cols' = rows) of 4-byte elements, per batch: the classic 32 x 32 tile with
// a padded column, 32 x 8 threads.
__global__ void __launch_bounds__(256)
    transpose_4b_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst, int64_t rows,
                        int64_t cols, int64_t batch) {
  __shared__ uint32_t tile[32][33];
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * 32;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * 32;
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const uint32_t* s = src + b * rows * cols;
    uint32_t* d = dst + b * rows * cols;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t r = r0 + ty + 8 * j, c = c0 + tx;
      if (r < rows && c < cols) tile[ty + 8 * j][tx] = s[r * cols + c];
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t dr = c0 + ty + 8 * j, dc = r0 + tx;
      if (dr < cols && dc < rows) d[dr * rows + dc] = tile[tx][ty + 8 * j];
    }
    __syncthreads();
  }
}

bool grid_2d(int64_t rows, int64_t cols, int64_t batch, int tile, dim3* g) {
  const int64_t gx = (cols + tile - 1) / tile, gy = (rows + tile - 1) / tile;
  if (gx < 1 || gy < 1 || gx > INT32_MAX || gy > 65535 || batch < 1) return false;
  *g = dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
            static_cast<unsigned>(std::min<int64_t>(batch, 65535)));
  return true;
}

// ---- holding a stream: spins until the host releases it (or the timeout passes) ---------------

__global__ void hold_stream_kernel(const volatile int* release, uint64_t timeout_ns,
                                   int* timed_out) {
  uint64_t start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  while (*release == 0) {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    if (now - start > timeout_ns) {
      *timed_out = 1;
      break;
    }
    __nanosleep(1000);
  }
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

int peak_warps_per_block(PeakKernel k) {
  switch (k) {
    case PeakKernel::fma_f64:
    case PeakKernel::fma_f32:
    case PeakKernel::hfma2_f16:
      return kThreads / 32;
    default:
      return kMmaWarps;
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

#if !SUANLI_CUDA_HAVE_SM90A
// Built without sm90a/wgmma_peak.cu (a toolkit older than CUDA 12): the mma.sync chain runs.
bool wgmma_peak_available() {
  return false;
}
int64_t wgmma_peak_elements_per_block() {
  return 1;
}
cudaError_t launch_peak_wgmma(bool, const void*, void*, int64_t, int64_t, uint64_t, uint64_t,
                              cudaStream_t) {
  return cudaErrorNotSupported;
}
#endif

cudaError_t launch_transpose_bytes(const uint8_t* src, uint8_t* dst, int64_t batch, int64_t rows,
                                   int64_t cols, cudaStream_t stream) {
  dim3 grid;
  if (!grid_2d(rows, cols, batch, kTile, &grid)) return cudaErrorInvalidValue;
  const bool wide =
      rows % 4 == 0 && cols % 4 == 0 &&
      ((reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst)) & 3) == 0;
  if (wide)
    transpose_bytes_kernel<true><<<grid, 256, 0, stream>>>(src, dst, rows, cols, batch);
  else
    transpose_bytes_kernel<false><<<grid, 256, 0, stream>>>(src, dst, rows, cols, batch);
  return cudaGetLastError();
}

cudaError_t launch_kcrs_to_krsc_4b(const uint32_t* src, uint32_t* dst, int64_t k, int64_t c,
                                   int64_t r, int64_t s, cudaStream_t stream) {
  // Per output channel, (c, r*s) -> (r*s, c): a batched transpose of 4-byte elements.
  dim3 grid;
  if (!grid_2d(c, r * s, k, 32, &grid)) return cudaErrorInvalidValue;
  transpose_4b_kernel<<<grid, 256, 0, stream>>>(src, dst, c, r * s, k);
  return cudaGetLastError();
}

cudaError_t launch_hold_stream(const volatile int* release, double timeout_s, int* timed_out,
                               cudaStream_t stream) {
  hold_stream_kernel<<<1, 1, 0, stream>>>(release, static_cast<uint64_t>(timeout_s * 1e9),
                                          timed_out);
  return cudaGetLastError();
}

}  // namespace suanli::cuda
