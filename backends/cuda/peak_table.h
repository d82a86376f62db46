// Theoretical peaks of NVIDIA GPUs per dtype, derived as SM count x clock x dense ops per SM per
// clock for the exact SKU (a table row matched by name, compute capability and SM count), with the
// clock each figure is derived at. A GPU the table does not know, or whose SM count differs from
// its SKU's (an export variant, a cut-down part), gets no peaks ("unknown"), never a guess; a MIG
// slice of a known SKU gets its own SMs' share. Plain C++ with no CUDA dependency, so it is
// unit-tested without a GPU.
#pragma once

#include <suanli/backend.h>

#include <string>
#include <vector>

namespace suanli::cuda {

struct GpuPeak {
  suanli_dtype dtype;
  double ops_per_second;  // dense
  std::string derivation;
};

// What the lookup needs to know about a GPU.
struct GpuIdentity {
  std::string name;  // as cudaGetDeviceProperties reports it, e.g. "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  double max_sm_clock_mhz = 0;  // boost clock of the SMs (NVML); 0 if unknown (not used for peaks)
  bool mig = false;             // a MIG instance (also recognised by "MIG" in the name)
};

struct GpuPeaks {
  std::string model;   // the table row, e.g. "H100 SXM5"; "" when none matched
  std::string source;  // "table: H100 SXM5 (...)" or "unknown: why"
  // The clock the tensor-core figures are derived at (NVIDIA's tensor figures use a lower clock
  // than the boost clock on Hopper); the CUDA-core clock when the part has no tensor figures.
  double clock_mhz = 0;
  std::string clocks;          // "tensor figures at 1830 MHz, CUDA-core figures at 1980 MHz"
  std::vector<GpuPeak> peaks;  // what device_info reports, one per dtype
  std::vector<GpuPeak> core;   // CUDA-core (non-tensor) fp16 HFMA2 figure, where known
};

GpuPeaks gpu_peaks(const GpuIdentity& g);

// The table row a GPU's name matches ("" when none), regardless of its SM count.
std::string match_gpu_model(const GpuIdentity& g);

}  // namespace suanli::cuda
