// Names of the ABI's enums as reports spell them, shared by the CPU backend's op files.
#pragma once

#include <cstdint>

#include "suanli/backend.h"

namespace suanli::cpu {

// "fp32", "int8", ...; nullptr for a value outside the enum (a descriptor may carry garbage).
inline const char* abi_dtype_name(int32_t t) {
  switch (t) {
    case SUANLI_DTYPE_FP64:
      return "fp64";
    case SUANLI_DTYPE_FP32:
      return "fp32";
    case SUANLI_DTYPE_TF32:
      return "tf32";
    case SUANLI_DTYPE_FP16:
      return "fp16";
    case SUANLI_DTYPE_BF16:
      return "bf16";
    case SUANLI_DTYPE_FP8_E4M3:
      return "fp8_e4m3";
    case SUANLI_DTYPE_FP8_E5M2:
      return "fp8_e5m2";
    case SUANLI_DTYPE_INT8:
      return "int8";
    case SUANLI_DTYPE_UINT8:
      return "uint8";
    case SUANLI_DTYPE_INT32:
      return "int32";
    default:
      return nullptr;
  }
}

}  // namespace suanli::cpu
