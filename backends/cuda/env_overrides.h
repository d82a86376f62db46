// Environment variables that change the precision of cuBLAS / cuDNN results behind the caller's
// back: NVIDIA_TF32_OVERRIDE (0 turns TF32 off everywhere, so a "tf32" GEMM runs in fp32; 1 allows
// it), CUBLAS_EMULATE_* / CUBLAS_EMULATION_* (fp32 or fp64 emulated with lower-precision tensor
// cores). The plugin records them and answers UNSUPPORTED for its cuBLAS / cuDNN ops while they are
// set: a figure measured under them would not be the dtype it claims. Host-only (tests use it).
#pragma once

#include <string>

namespace suanli::cuda {

// "NAME=VALUE NAME=VALUE" of the precision-changing variables in env (a NULL-terminated
// environ-style list), "" when none is set.
inline std::string precision_overrides(const char* const* env) {
  static const char* const kPrefixes[] = {"NVIDIA_TF32_OVERRIDE=", "CUBLAS_EMULATE",
                                          "CUBLAS_EMULATION", "CUBLASLT_EMULATE"};
  std::string out;
  for (; env && *env; ++env) {
    const std::string kv = *env;
    for (const char* p : kPrefixes)
      if (kv.rfind(p, 0) == 0) {
        out += (out.empty() ? "" : " ") + kv;
        break;
      }
  }
  return out;
}

}  // namespace suanli::cuda
