// oneDNN pieces shared by the CPU GEMM and convolution: engine, stream, threads, honesty checks.
#pragma once

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "cpu_op.h"

namespace suanli::cpu {

// One CPU engine and one in-order stream per process: creating them is not free, and every
// primitive of every context may share them (the harness runs one context per thread).
inline dnnl::engine& dnnl_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

inline dnnl::stream& dnnl_stream() {
  static dnnl::stream strm(dnnl_engine());
  return strm;
}

// oneDNN here uses the OpenMP runtime: its thread count is the calling thread's OpenMP setting.
// Set before creating a primitive (oneDNN picks its blocking for that many threads) and before
// each execution (the harness may execute from another thread than the one that planned).
inline void set_omp_threads(int threads) {
  if (threads < 1) threads = 1;
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

// "onednn 2.6.3": the library field of every oneDNN op.
inline std::string onednn_library() {
  const dnnl_version_t* v = dnnl_version();
  return "onednn " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

// Reference implementations ("ref:any", "ref_int8:any", "gemm:ref", ...) are plain C++ loops kept
// for correctness; timing one would rate the CPU at a fraction of what it does.
inline bool is_reference_impl(const std::string& impl) {
  return impl.rfind("ref", 0) == 0 || impl.find(":ref") != std::string::npos;
}

// Whether the CPU has bf16 arithmetic (vdpbf16ps or AMX-BF16). Without it oneDNN would convert
// bf16 to fp32 and compute in fp32: a different precision, which suanli does not pass off as bf16.
inline bool cpu_has_native_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

// Why an implementation oneDNN picked for bf16 is not a native bf16 kernel, or "" when it is.
// Its name carries the ISA it was generated for ("brg:avx512_core_bf16", "brg:avx512_core_amx").
inline std::string bf16_refusal(const std::string& impl) {
  if (!cpu_has_native_bf16())
    return "CPU lacks AVX512_BF16/AMX-BF16: no native bf16 arithmetic; suanli does not compute "
           "bf16 in fp32";
  if (impl.find("bf16") == std::string::npos && impl.find("amx") == std::string::npos)
    return "oneDNN picked '" + impl + "', which does not use bf16 instructions";
  return "";
}

// Why fp16 cannot be measured on this CPU. No oneDNN 2.6 CPU path is native fp16 arithmetic that
// suanli could vouch for; on CPUs without AVX512_FP16/AMX-FP16 there is none at all.
inline std::string fp16_refusal() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512fp16"))
    return "CPU lacks AVX512_FP16/AMX-FP16: no native fp16 arithmetic; suanli does not compute "
           "fp16 in another precision";
  return "the CPU backend has its own fp16 kernel for GEMM only (oneDNN " +
         onednn_library().substr(7) + " offers no native fp16 path here)";
}

// Primitive attributes every measured primitive uses: exact fp32 math (no implicit down-conversion
// even if ONEDNN_DEFAULT_FPMATH_MODE says otherwise) and a scratchpad we allocate once, so that
// run() allocates nothing.
inline dnnl::primitive_attr strict_attr() {
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A oneDNN failure that is not "no implementation" (which callers report as unsupported).
[[noreturn]] inline void throw_dnnl(const dnnl::error& e, const std::string& what) {
  const suanli_status s = e.status == dnnl_out_of_memory ? SUANLI_OUT_OF_MEMORY : SUANLI_INTERNAL;
  throw BackendError(s, what + ": oneDNN: " + e.what());
}

}  // namespace suanli::cpu
