// FP16 GEMM with fp16 accumulation: suanli's own kernel for CPUs with AVX512-FP16.
//
// One driver (packing, cache blocking, edges, threads) serves two micro-kernels with the same
// packed formats: the AVX512-FP16 one (vfmadd231ph), selected only when the CPU has the ISA, and
// a portable one that emulates the same fp16 arithmetic in scalar code, so the driver is tested
// on every CPU. The portable kernel is never timed: without AVX512-FP16 fp16 GEMM is unsupported.
#pragma once

#include <cstdint>

namespace suanli::cpu {

// C = A B per batch entry; A is m x k (k x m when ta), B k x n (n x k when tb), row-major fp16
// bits; C m x n, fp16 bits or fp32 (c_fp32).
struct Fp16GemmArgs {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool ta = false, tb = false;
  const uint16_t* a = nullptr;
  const uint16_t* b = nullptr;
  void* c = nullptr;
  bool c_fp32 = false;
  int threads = 1;
};

enum class Fp16MicroKernel { kAvx512Fp16, kPortable };

// Each output is accumulated in fp16, as two partial sums (even and odd k, the lanes of one
// vfmadd231ph pair) that are added in fp16 at the end: one rounding per multiply-add, plus one.
void fp16_gemm(const Fp16GemmArgs& g, Fp16MicroKernel kernel);

// The tile shape of the micro-kernels, for tests that aim at the edges.
constexpr int kFp16Mr = 8, kFp16Nr = 48;

}  // namespace suanli::cpu
