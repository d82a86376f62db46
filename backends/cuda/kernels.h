// Launchers of the CUDA backend's own kernels (kernels.cu). Plain host functions: they enqueue on
// `stream` and return the launch status; callers check it with SUANLI_CUDA_CHECK.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace suanli::cuda {

// Peak chains: C[e] = A[e] after `depth` steps x = x + alpha*beta (see suanli_peak_desc).
enum class PeakKernel {
  fma_f64,       // fma.rn.f64, CUDA cores
  fma_f32,       // fma.rn.f32, CUDA cores (alpha/beta already rounded to the input type)
  hfma2_f16,     // fma.rn.f16x2, CUDA cores, fp16 accumulators
  mma_f64,       // mma.sync m8n8k4 f64 (DMMA), 4 steps per instruction
  mma_f16_f32,   // mma.sync m16n8k16 f16 x f16 + f32, 16 steps
  mma_bf16_f32,  // mma.sync m16n8k16 bf16 x bf16 + f32, 16 steps
  mma_tf32_f32,  // mma.sync m16n8k8 tf32 x tf32 + f32, 8 steps
  mma_u8s8_s32,  // mma.sync m16n8k32 u8 x s8 + s32, 32 steps
};

// Steps one instruction contributes to each element (g in backend.h's terms).
int peak_steps_per_instruction(PeakKernel k);
// Elements handled by one block; `elements` must be a multiple of it.
int64_t peak_elements_per_block(PeakKernel k);
// Warps of one block (so elements per warp = elements per block / this).
int peak_warps_per_block(PeakKernel k);
// alpha_bits/beta_bits: the multiplicands in the input type, as raw bits in the low bytes
// (f64: 8 bytes, f32/tf32: 4, f16/bf16: 2, u8/s8: 1).
cudaError_t launch_peak(PeakKernel k, const void* a, void* c, int64_t elements, int64_t depth,
                        uint64_t alpha_bits, uint64_t beta_bits, cudaStream_t stream);

// Hopper's wgmma peak chain (sm90a/wgmma_peak.cu, fp16/bf16 x -> fp32, 16 steps per
// instruction): available() is false unless the plugin was built with it and the device can load
// its sm_90a code. elements must be a multiple of wgmma_peak_elements_per_block().
bool wgmma_peak_available();
int64_t wgmma_peak_elements_per_block();
cudaError_t launch_peak_wgmma(bool bf16, const void* a, void* c, int64_t elements, int64_t depth,
                              uint64_t alpha_bits, uint64_t beta_bits, cudaStream_t stream);

// STREAM: 0 copy, 1 scale, 2 add, 3 triad (suanli_stream_kind); element size 8 (fp64) or 4 (fp32).
cudaError_t launch_stream_f64(int kind, const double* a, const double* b, double* c, int64_t n,
                              double s, int sm_count, cudaStream_t stream);
cudaError_t launch_stream_f32(int kind, const float* a, const float* b, float* c, int64_t n,
                              float s, int sm_count, cudaStream_t stream);

// Per batch, dst (cols x rows) = src (rows x cols)^T, bytes (int8 / fp8): a tiled transpose
// through shared memory with 4-byte loads and stores when rows and cols are multiples of 4.
cudaError_t launch_transpose_bytes(const uint8_t* src, uint8_t* dst, int64_t batch, int64_t rows,
                                   int64_t cols, cudaStream_t stream);
// Weights (k, c, r, s) -> (k, r, s, c), 4-byte elements (a tiled transpose per output channel).
cudaError_t launch_kcrs_to_krsc_4b(const uint32_t* src, uint32_t* dst, int64_t k, int64_t c,
                                   int64_t r, int64_t s, cudaStream_t stream);

// One thread that spins until *release (host memory mapped into the device) becomes non-zero, or
// timeout_s passes (then *timed_out = 1): holds the stream while the host enqueues the timed
// work behind it, so the first timed kernel never waits for the host (nvbench's method).
cudaError_t launch_hold_stream(const volatile int* release, double timeout_s, int* timed_out,
                               cudaStream_t stream);

}  // namespace suanli::cuda
