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
  std::string label;     // "cpu:0 gemm fp32 4096x4096x4096", "cpu:0 model resnet_tiny ..."
  double elapsed_s = 0;  // since the run began
  // Remaining time from the suite's time settings (per workload warm-up + repetitions x
  // min_time) plus the set-up and verification time the workloads done so far took beyond their
  // settings, per workload. < 0: unknown.
  double eta_s = -1;
};

struct RunOptions {
  std::optional<double> min_time;  // command-line overrides of the suite's settings
  std::optional<int> repetitions;
  std::optional<double> max_time;
  std::function<void(const Progress&)> on_progress;  // before each workload
  std::function<void(const Result&)> on_result;      // after each workload
  // Test hook: runs on the downloaded output before verification (fault injection).
  std::function<void(const Result&, void* output, uint64_t bytes)> corrupt_output;
  // Certification (src/certify). Unset/false/empty: the usual behaviour.
  // sustain_s: sample for at least this many seconds, whatever the noise reached, then stop
  // (max_time and the noise target are not consulted; the 1000-sample limit still holds).
  std::optional<double> sustain_s;
  // fresh_inputs: before every timed execute, refill the inputs from a new seed derived from
  // the workload's and upload them (untimed); the output is verified against the last inputs.
  bool fresh_inputs = false;
  // Called with true when timed sampling starts (after planning and the first run) and with
  // false when it ends (before verification), e.g. to window telemetry.
  std::function<void(bool sampling)> on_sampling;
};

// Checks every workload's buffers fit each device that would run it (with
// headroom); throws InputError naming the workload and the device otherwise.
void check_suite_fits(const Suite& suite, const std::vector<Backend*>& backends);

// Runs every workload of the suite on every device of every backend, in that
// order. A workload that breaks is recorded (error, with the reason) and the
// run goes on.
std::vector<Result> run_suite(const Suite& suite, const std::vector<Backend*>& backends,
                              const RunOptions& opts);

// "gemm fp32 4096x4096x4096", "model resnet_tiny inference batch 8 bf16": what progress shows.
std::string workload_label(const Workload& w);
// Seconds the settings give a workload (with the command line's overrides): warm-up plus the
// first round (repetitions x min_time).
double settings_seconds(const Workload& w, const RunOptions& opts);

// One workload on one device.
Result run_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts);

// A measured result's status from its verification: ok, or failed with the error and the bound
// in the reason.
void set_status_from_verification(Result& r);

// One round of `reps` Google Benchmark repetitions, each at least `min_time` seconds of device
// time (warm-up `warmup` seconds discarded); an iteration is one execute of the plans `inner`
// times. Samples are device seconds per op; `error` is set when an execute threw.
struct SampleRound {
  std::vector<double> samples;
  int64_t ops = 0;
  std::string error;
};
SampleRound measure_round(Backend& backend, const std::vector<DevicePlan*>& plans, int64_t inner,
                          double min_time, int reps, double warmup,
                          const std::function<void()>& before_execute = {});

}  // namespace suanli
