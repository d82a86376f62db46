// Internal interface of the CPU backend: one prepared op, and the factories each part provides.
#pragma once

#include <suanli/plugin_kit.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace suanli::cpu {

// Thrown inside the backend; the plugin kit's entry points turn it into a status + message.
using BackendError = kit::Error;

// Settings of one backend context that every part needs.
struct CpuConfig {
  int threads = 1;  // threads to use (all cores by default, resolved by plugin.cpp)
  std::string gemm_library = "auto";     // "auto" | "openblas" | "onednn"
  std::string gemm_b_layout = "packed";  // oneDNN GEMM's B: "packed" (its choice) | "plain"
};

// A prepared op. run() executes it once, synchronously, on `threads` threads.
// Buffers are host memory owned by the context; they outlive the op.
class CpuOp {
 public:
  virtual ~CpuOp() = default;
  virtual void run() = 0;
  // The harness wrote `buffer` (an input this op may have copied at plan time, such as weights
  // packed into the library's layout): refresh the copy. Called outside any timed run.
  virtual void input_written(const void* buffer) { (void)buffer; }
  std::string library;         // e.g. "openblas 0.3.21 (SkylakeX)", "onednn 2.6.3"
  std::string implementation;  // e.g. "cblas_sgemm", "brg:avx512_core_bf16", "avx512 vfmadd231ps
                               // x24 chains"
};

// Each returns nullptr and sets *reason when the op/dtype is not supported
// natively on this CPU; throws BackendError on invalid descriptors or failures.
// With all buffer pointers null the factory only answers "supported?": it
// returns an op that is never run, or nullptr with *reason.
std::unique_ptr<CpuOp> make_gemm(const suanli_gemm_desc& d, void* a, void* b, void* c,
                                 const CpuConfig& cfg, std::string* reason);
std::unique_ptr<CpuOp> make_conv2d(const suanli_conv2d_desc& d, void* src, void* wei, void* dst,
                                   const CpuConfig& cfg, std::string* reason);
std::unique_ptr<CpuOp> make_peak(const suanli_peak_desc& d, const void* a, void* c,
                                 const CpuConfig& cfg, std::string* reason);
std::unique_ptr<CpuOp> make_stream(const suanli_stream_desc& d, const void* a, const void* b,
                                   void* c, const CpuConfig& cfg, std::string* reason);

// Library versions as "name" -> "version (detail)", for the report.
std::string openblas_version();  // "" when OpenBLAS could not be loaded
std::string onednn_version();

}  // namespace suanli::cpu
