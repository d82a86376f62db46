// Hopper's full tensor rate for the peak op: wgmma (warpgroup MMA, sm_90a only), which mma.sync
// cannot reach on sm_90. Compiled for sm_90a alone (CMake adds this file with its own -gencode);
// on any other device the launcher says it is unavailable and the mma.sync kernel runs.
//
// Chain: each warpgroup holds a 64 x 128 fp32 accumulator tile (64 registers per thread) and
// issues wgmma.m64n128k16 with A (from registers) all alpha and B (from shared memory) all beta,
// so every accumulator element gains 16 products alpha*beta per instruction, exactly like the
// mma.sync chains (peak_stream.cpp checks that every partial sum is exact before choosing it).
// Because every A and B element is the same value, the B descriptor's layout cannot change the
// result: it only has to address inside the filled shared-memory block.
#include <cuda_runtime.h>

#include <cstdint>

#include "../kernels.h"

namespace suanli::cuda {
namespace {

constexpr int kWarpgroups = 2;  // per block
constexpr int kThreadsPerBlock = kWarpgroups * 128;
constexpr int kAccPerThread = 64;  // 64 x 128 fp32 / 128 threads
constexpr int kSmemHalfs = 4096;   // 8 KiB of beta, more than B's 4 KiB

// kWgmmaPerAsm wgmma.m64n128k16 into the 64 accumulators d[] in one asm statement, fenced before
// and drained after: the compiler never sees the registers while a wgmma is in flight, so ptxas
// need not insert waits between the instructions of a group.
constexpr int kWgmmaPerAsm = 4;
#define SUANLI_WGMMA_ONE(TYPE)                                                             \
  "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                             \
  " "                                                                                      \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "  \
  "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "  \
  "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, " \
  "1, 1, 0;\n"
#define SUANLI_WGMMA(TYPE)                                                                         \
  asm volatile(                                                                                    \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\nwgmma.fence.sync.aligned;\n" SUANLI_WGMMA_ONE(    \
          TYPE) SUANLI_WGMMA_ONE(TYPE) SUANLI_WGMMA_ONE(TYPE)                                      \
          SUANLI_WGMMA_ONE(                                                                        \
              TYPE) "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n}\n"      \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),        \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), \
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), \
        "+f"(d[63])                                                                                \
      : "r"(alpha2), "r"(alpha2), "r"(alpha2), "r"(alpha2), "l"(desc), "r"(1)                      \
      : "memory")

template <bool Bf16>
__global__ void __launch_bounds__(kThreadsPerBlock)
    peak_wgmma(const float* __restrict__ a, float* __restrict__ c, int64_t instructions,
               uint32_t alpha2, uint16_t beta) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  __shared__ __align__(128) uint16_t b_tile[kSmemHalfs];
  for (int i = threadIdx.x; i < kSmemHalfs; i += kThreadsPerBlock) b_tile[i] = beta;
  __syncthreads();
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // generic writes -> async proxy
  // Element of accumulator register r of thread t: block base + r * 256 + t (coalesced).
  const int64_t base =
      static_cast<int64_t>(blockIdx.x) * kThreadsPerBlock * kAccPerThread + threadIdx.x;
  float d[kAccPerThread];
#pragma unroll
  for (int r = 0; r < kAccPerThread; ++r) d[r] = a[base + r * kThreadsPerBlock];
  // Shared-memory matrix descriptor: start address >> 4 (bits 0-13), leading byte offset >> 4
  // (16-29), stride byte offset >> 4 (32-45), no swizzle.
  const uint32_t smem = static_cast<uint32_t>(__cvta_generic_to_shared(b_tile));
  const uint64_t desc =
      (uint64_t{(smem >> 4) & 0x3fff}) | (uint64_t{128 >> 4} << 16) | (uint64_t{256 >> 4} << 32);
  // instructions = depth / 16 is a multiple of 4 (depth is a multiple of 64).
  for (int64_t s = 0; s < instructions; s += kWgmmaPerAsm) {
    if (Bf16)
      SUANLI_WGMMA("bf16");
    else
      SUANLI_WGMMA("f16");
  }
#pragma unroll
  for (int r = 0; r < kAccPerThread; ++r) c[base + r * kThreadsPerBlock] = d[r];
#endif
}

}  // namespace

bool wgmma_peak_available() {
  cudaFuncAttributes attr{};
  const bool ok =
      cudaFuncGetAttributes(&attr, peak_wgmma<false>) == cudaSuccess && attr.binaryVersion >= 90;
  cudaGetLastError();
  return ok;
}

int64_t wgmma_peak_elements_per_block() {
  return int64_t{kThreadsPerBlock} * kAccPerThread;
}

cudaError_t launch_peak_wgmma(bool bf16, const void* a, void* c, int64_t elements, int64_t depth,
                              uint64_t alpha_bits, uint64_t beta_bits, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(elements / wgmma_peak_elements_per_block());
  const uint32_t alpha2 = static_cast<uint32_t>(alpha_bits & 0xffffu) * 0x00010001u;
  const auto beta = static_cast<uint16_t>(beta_bits & 0xffffu);
  if (bf16)
    peak_wgmma<true><<<blocks, kThreadsPerBlock, 0, stream>>>(
        static_cast<const float*>(a), static_cast<float*>(c), depth / 16, alpha2, beta);
  else
    peak_wgmma<false><<<blocks, kThreadsPerBlock, 0, stream>>>(
        static_cast<const float*>(a), static_cast<float*>(c), depth / 16, alpha2, beta);
  return cudaGetLastError();
}

}  // namespace suanli::cuda
