// Runs suites on backends: plan, measure under Google Benchmark with a noise-based stopping rule,
// verify, record.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/backend_host.h"
#include "report/report.h"
#include "suite/suite.h"

namespace suanli {

struct Progress {
  size_t index = 0;  // 0-based index of the workload starting now
  size_t total = 0;
  std::string label;     // "cpu:0 gemm fp32 4096x4096x4096"
  double elapsed_s = 0;  // since the run began
  double eta_s = -1;     // < 0: unknown
};

struct RunOptions {
  std::optional<double> min_time;  // command-line overrides of the suite's settings
  std::optional<int> repetitions;
  std::optional<double> max_time;
  std::function<void(const Progress&)> on_progress;  // before each workload
  std::function<void(const Result&)> on_result;      // after each workload
  // Test hook: runs on the downloaded output before verification (fault injection).
  std::function<void(const Result&, void* output, uint64_t bytes)> corrupt_output;
};

// Checks every workload's buffers fit each device that would run it (with
// headroom); throws InputError naming the workload and the device otherwise.
void check_suite_fits(const Suite& suite, const std::vector<Backend*>& backends);

// Runs every workload of the suite on every device of every backend, in that
// order. A workload that breaks is recorded (error, with the reason) and the
// run goes on.
std::vector<Result> run_suite(const Suite& suite, const std::vector<Backend*>& backends,
                              const RunOptions& opts);

// One workload on one device.
Result run_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts);

}  // namespace suanli
