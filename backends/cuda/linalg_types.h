// Which cuBLAS / cuSOLVER routine runs each dense linear-algebra op of ABI 1.2 (HPL, HPL-MxP) on a
// GPU of a given compute capability, or why none does. Host-only (no CUDA headers): linalg.cpp
// makes the calls, tests check the choices without a GPU.
#pragma once

#include <suanli/backend.h>

#include <string>

namespace suanli::cuda {

enum class GemmExCall { none, dgemm, sgemm, gemm_ex_bf16, gemm_ex_fp16 };

struct GemmExChoice {
  GemmExCall call = GemmExCall::none;
  std::string name;  // "cublasDgemm", or the reason when call is none
};

// fp64 (cublasDgemm), fp32 (cublasSgemm, no TF32: the handle keeps CUBLAS_DEFAULT_MATH), bf16 x
// bf16 -> fp32 (cublasGemmEx, compute 32F; sm_80 and later: tensor cores with bf16 inputs) and
// fp16 x fp16 -> fp32 (cublasGemmEx, compute 32F; sm_70 and later). compute_type must be fp32 for
// the half types and equal the storage type otherwise.
inline GemmExChoice gemm_ex_choice(const suanli_gemm_ex_desc& d, int cc) {
  const suanli_dtype a = d.a_type;
  const bool same = d.b_type == a && d.c_type == a && d.compute_type == a;
  if (a == SUANLI_DTYPE_FP64 && same) return {GemmExCall::dgemm, "cublasDgemm"};
  if (a == SUANLI_DTYPE_FP32 && same) return {GemmExCall::sgemm, "cublasSgemm"};
  const bool half = (a == SUANLI_DTYPE_BF16 || a == SUANLI_DTYPE_FP16) && d.b_type == a &&
                    d.c_type == SUANLI_DTYPE_FP32 && d.compute_type == SUANLI_DTYPE_FP32;
  if (!half)
    return {GemmExCall::none,
            "gemm_ex: types are fp64, fp32, or bf16 / fp16 inputs with fp32 c and compute "
            "(backend.h)"};
  if (a == SUANLI_DTYPE_BF16 && cc < 80)
    return {GemmExCall::none,
            "gemm_ex bf16: needs compute capability 8.0 or later (bf16 tensor "
            "cores); this GPU is " +
                std::to_string(cc / 10) + "." + std::to_string(cc % 10)};
  if (a == SUANLI_DTYPE_FP16 && cc < 70)
    return {GemmExCall::none,
            "gemm_ex fp16: needs compute capability 7.0 or later (tensor "
            "cores); this GPU is " +
                std::to_string(cc / 10) + "." + std::to_string(cc % 10)};
  if (a == SUANLI_DTYPE_BF16) return {GemmExCall::gemm_ex_bf16, "cublasGemmEx bf16 -> fp32"};
  return {GemmExCall::gemm_ex_fp16, "cublasGemmEx fp16 -> fp32"};
}

// getrf / laswp / trsm: fp64 and fp32 (backend.h); "" when the type is one of them.
inline std::string linalg_type_refusal(suanli_dtype t, const char* op) {
  if (t == SUANLI_DTYPE_FP64 || t == SUANLI_DTYPE_FP32) return "";
  return std::string(op) + ": types are fp64 and fp32";
}

}  // namespace suanli::cuda
