// What a STREAM or peak result can stand for on this GPU, in words for the result's
// implementation: whether the arrays fit in L2 (then the figure is cache bandwidth), and whether
// the peak op gives each SM sub-partition enough independent chains. Host-only (tests use it).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace suanli::cuda {

// Bytes a STREAM kind touches per run: copy and scale read A and write C, add and triad also
// read B.
inline uint64_t stream_bytes_touched(int kind, int64_t n, uint64_t element_bytes) {
  const uint64_t arrays = kind >= 2 ? 3 : 2;
  return arrays * static_cast<uint64_t>(n > 0 ? n : 0) * element_bytes;
}

inline std::string stream_residency(uint64_t bytes_touched, uint64_t l2_bytes) {
  if (l2_bytes == 0) return "L2 size unknown";
  char buf[192];
  const double mib = bytes_touched / 1048576.0, l2 = l2_bytes / 1048576.0;
  if (bytes_touched <= l2_bytes)
    std::snprintf(buf, sizeof buf,
                  "L2-resident: %.1f MiB of arrays fit the %.1f MiB L2, so this is cache "
                  "bandwidth, not HBM",
                  mib, l2);
  else if (bytes_touched < 4 * l2_bytes)
    std::snprintf(buf, sizeof buf,
                  "partly L2-resident: %.1f MiB of arrays, under 4x the %.1f MiB L2 (between "
                  "cache and HBM bandwidth)",
                  mib, l2);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB of arrays, %.0fx the %.1f MiB L2: memory bandwidth",
                  mib, bytes_touched / static_cast<double>(l2_bytes), l2);
  return buf;
}

// Warps of a peak launch per SM sub-partition (4 per SM on every architecture since Volta), and
// whether that hides the latency of the chain's instruction: `needed` warps per sub-partition.
inline std::string peak_occupancy(int64_t warps, int sm_count, int64_t needed) {
  if (sm_count <= 0) return "SM count unknown";
  const double per = static_cast<double>(warps) / (4.0 * sm_count);
  char buf[200];
  if (per < static_cast<double>(needed))
    std::snprintf(buf, sizeof buf,
                  "%.2f warps per SM sub-partition (%d SMs): fewer than the %lld needed to hide "
                  "the latency, so latency-bound; give the peak op more elements",
                  per, sm_count, static_cast<long long>(needed));
  else
    std::snprintf(buf, sizeof buf, "%.1f warps per SM sub-partition (%d SMs)", per, sm_count);
  return buf;
}

// Elements a GPU peak workload needs so that every SM sub-partition gets `warps` warps, for a
// kernel with `elements_per_warp`, rounded up to the ABI's multiple of 4096.
inline int64_t peak_elements_for(int sm_count, int64_t warps, int64_t elements_per_warp) {
  const int64_t e = static_cast<int64_t>(sm_count) * 4 * warps * elements_per_warp;
  return (e + 4095) / 4096 * 4096;
}

}  // namespace suanli::cuda
