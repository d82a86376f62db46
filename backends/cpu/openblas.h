// OpenBLAS loaded at run time (dlopen), so the CPU backend can steer its kernel choice first.
#pragma once

#include <cstdint>
#include <string>

namespace suanli::cpu {

// The entry points suanli uses, declared here rather than taken from <cblas.h>: the cblas.h on a
// system may be netlib's (no OpenBLAS extensions, no bfloat16), and the types must match the
// library actually loaded (32-bit blasint; checked at load time).
using CblasDgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k,
                              double alpha, const double* a, int lda, const double* b, int ldb,
                              double beta, double* c, int ldc);
using CblasSgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                              const float* a, int lda, const float* b, int ldb, float beta,
                              float* c, int ldc);
// bf16 inputs (raw uint16_t storage), fp32 output and accumulation.
using CblasSbgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const uint16_t* a, int lda, const uint16_t* b, int ldb,
                               float beta, float* c, int ldc);

// CBLAS enum values (identical in every CBLAS).
constexpr int kCblasRowMajor = 101;
constexpr int kCblasNoTrans = 111;
constexpr int kCblasTrans = 112;

// One OpenBLAS per process. Loading it fixes its kernel set for the life of the process, so the
// decision (which core type) is made once, here, and described in `library`.
struct OpenBlas {
  bool loaded = false;
  std::string error;     // why it is not loaded
  std::string version;   // "0.3.21"
  std::string config;    // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Cooperlake ..."
  std::string corename;  // kernel set in use: "Cooperlake", "SkylakeX", "Haswell", ...
  std::string core_source;     // how that core was chosen, in words
  std::string thread_timeout;  // how long idle workers spin, and who set it
  std::string library;         // "openblas 0.3.21 (core Cooperlake, ...)": for CpuOp::library
  bool native_sbgemm = false;  // cblas_sbgemm exists and the core has bf16 (vdpbf16ps) kernels
  CblasDgemmFn dgemm = nullptr;
  CblasSgemmFn sgemm = nullptr;
  CblasSbgemmFn sbgemm = nullptr;  // absent unless OpenBLAS was built with BUILD_BFLOAT16
  void* handle = nullptr;  // the dlopen handle, for parts that need more entry points (linalg.cpp)

  // Sets OpenBLAS's thread count when it differs (cheap when it does not).
  void set_threads(int threads) const;

  void (*set_num_threads)(int) = nullptr;
  int (*get_num_threads)() = nullptr;
};

// Loads OpenBLAS on first use (thread-safe); never throws. Check `loaded`.
const OpenBlas& openblas();

// Kernel ISA of an OpenBLAS core name, for implementation strings: "AVX-512", "AVX2" or "".
std::string openblas_core_isa(const std::string& corename);

}  // namespace suanli::cpu
