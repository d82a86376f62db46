// The built-in peak probe: a short peak kernel per device and dtype, run like any workload (in
// the backend's worker process, verified, with the harness's marks), so that every run checks
// the device's theoretical peaks against a measurement (report.h, PeakCheck) even when its suite
// has no peak workload. `suanli run`, `certify` and `info --check-peaks` use it.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "harness/isolate.h"

namespace suanli {

// Deep enough (16384 steps a chain, ~1 ms a call on a 2-core CPU) that the per-call fork/join
// of the threads stays small: at depth 1024 it cost int8 17 % (its 4-fold dot product makes a
// call 4x shorter than fp32's). At most 0.3 s of sampling per dtype, to a CV of 5 % (the median
// of such samples moves far less than the check's 85 %..103 % band; above it at the time limit
// the probe is marked noisy and the check inconclusive).
inline constexpr int64_t kPeakProbeElements = 16384, kPeakProbeDepth = 16384;
inline constexpr double kPeakProbeMaxTime = 0.3, kPeakProbeMaxNoise = 0.05;

struct PeakProbeTarget {
  std::string backend;
  int device = 0;
  Dtype dtype = Dtype::invalid;
};

// The dtypes the suite's workloads measure.
std::set<Dtype> suite_dtypes(const Suite& suite);

// What the probe must measure: every device peak of a dtype in `dtypes` (all claimed peaks when
// `dtypes` is empty) that `results` holds no verified, unmarked peak result for.
std::vector<PeakProbeTarget> peak_probe_targets(const std::vector<isolate::BackendDesc>& backends,
                                                const std::set<Dtype>& dtypes,
                                                const std::vector<Result>& results);

// Runs the probe for `targets`, with opts' completed / on_result hooks (a run's journal); the
// results of the targets only, in order.
std::vector<Result> run_peak_probes(
    const std::vector<isolate::BackendDesc>& backends, const std::vector<PeakProbeTarget>& targets,
    const std::vector<std::pair<std::string, std::string>>& create_options, const RunOptions& opts);

}  // namespace suanli
