// Theoretical peaks of NVIDIA GPUs per dtype: a table of published dense figures with their
// sources, and a formula (SMs x clock x ops per SM per cycle) for GPUs the table lacks.
// Plain C++ with no CUDA dependency, so it is unit-tested without a GPU.
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
  double max_sm_clock_mhz = 0;  // boost clock of the SMs; 0 if unknown
};

// The table row a GPU matches ("" when none), e.g. "H100 SXM5".
std::string match_gpu_model(const GpuIdentity& g);

// Peaks from the table when the GPU matches a row, else from the architecture formula, else
// empty (unknown architecture). Dense figures only; 2:4 sparse figures, where the part has them,
// are named in the derivation text and never reported as the peak.
std::vector<GpuPeak> gpu_peaks(const GpuIdentity& g);

// The formula alone (for tests, and for GPUs not in the table); empty for unknown architectures.
std::vector<GpuPeak> gpu_peaks_from_formula(const GpuIdentity& g);

}  // namespace suanli::cuda
