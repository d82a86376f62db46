// The sampling engine of every workload (kernel ops, models, HPL) and what a run gives it: the
// run's options, the jobs, and the handlers through which modules above the harness (models,
// HPL) run their workloads. Model and HPL code include this header, not runner.h.
#pragma once

#include <cstdint>
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

// One workload on one device of one backend: the unit the outer loop dispatches.
struct Job {
  std::string backend;
  int device = 0;
  const Workload* workload = nullptr;
  size_t workload_index = 0;  // in the suite
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
  // Where the refills' seed counter starts (fresh_inputs and decoy_refill): runs that must not
  // replay each other's inputs start at different points.
  uint64_t refill_start = 0;
  // decoy_refill: the fresh-input run's baseline. Before every timed execute, the same refill
  // (new data from a new seed, generated on the same OpenMP threads) goes into scratch host
  // copies and is uploaded into scratch device buffers of the same sizes; the op's own inputs
  // stay the same. Like with like: both runs pay the refill outside the timed call, leave the
  // device's threads idle for as long, and pollute the caches as much.
  bool decoy_refill = false;
  // Called with true when timed sampling starts (after planning and the first run) and with
  // false when it ends (before verification), e.g. to window telemetry.
  std::function<void(bool sampling)> on_sampling;
  // The host interference probe (see HostProbe): run before and after every workload's timed
  // sampling unless false. probe_reference: the probe rate at the start of the run (run_suite
  // measures it); unset, each workload is compared with its own before-probe only.
  bool host_probe = true;
  std::optional<double> probe_reference;
  // Resume (src/harness/journal): a job's result recorded before, or nullopt to run it. A
  // recorded result is kept as it is: not run, not passed to on_result again.
  std::function<std::optional<Result>(const Job&)> completed;
  // Asked before each job: true ends the run early (an interrupt); the results so far return.
  std::function<bool()> stop_requested;
};

// A measured result's status from its verification: ok, or failed with the error and the bound
// in the reason.
void set_status_from_verification(Result& r);

// The one sampling engine of kernel and model workloads. Runs rounds of measure_round until the
// stopping rule ends them (noise target, time limit, sample cap; or sustain_s when set), with the
// device's telemetry sampled on a side thread and on_sampling called around it, the host probe
// before and after, and the harness's own wall time around every call. Fills r's samples,
// statistics, rates (from r.flops and r.bytes per op), peak fraction (compute-bound ops only),
// stop reason, telemetry, host timing, probe and marks. False (status error, reason set) when a
// round failed.
struct SamplingPlan {
  std::vector<DevicePlan*> plans;
  int64_t inner = 1;                     // ops per timed call
  std::function<void()> before_execute;  // untimed, before every timed call
};
bool sample_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                     const SamplingPlan& plan, Result& r);

// The host probe: a dependent 64-bit multiply chain on every CPU the process may run on, for
// about `seconds`; chain steps per second over all of them.
double host_probe_rate(double seconds = 0.03);

// The marks a finished result earns from its figures (noisy, slowdown, timing, above_peak),
// appended to r.marks. peak: the device's theoretical peak of the dtype (<= 0: none).
void mark_result(Result& r, double peak);

// One round of `reps` Google Benchmark repetitions, each at least `min_time` seconds of device
// time (warm-up `warmup` seconds discarded); an iteration is one execute of the plans `inner`
// times. Samples are device seconds per op; `error` is set when an execute threw.
struct SampleRound {
  std::vector<double> samples;
  int64_t ops = 0;
  std::string error;
  HostTiming host;  // wall time around every execute call of the round (warm-up included)
};
SampleRound measure_round(Backend& backend, const std::vector<DevicePlan*>& plans, int64_t inner,
                          double min_time, int reps, double warmup,
                          const std::function<void()>& before_execute = {});

// A workload's result before it runs: its identity (workload id, name, backend, device) and op.
Result workload_result(const Workload& w, const std::string& backend, int device);

// Workloads that are not one op (a model, HPL) run through a handler that their module
// registers (the CLI registers the built-in ones at start, cli/workload_kinds.cpp): the runner
// knows no module above the harness. run_job, check_suite_fits and the progress labels ask the
// handler that claims a workload; a model or HPL workload without one is an error.
struct WorkloadHandler {
  std::string name;                              // "model", "hpl"
  std::function<bool(const Workload&)> handles;  // claims the workload
  std::function<Result(Backend&, int device, const Workload&, const RunOptions&)> run;
  // Device bytes at most; nullopt when the workload sizes itself from the device's memory.
  std::function<std::optional<uint64_t>(const Workload&)> device_bytes;
  // What check_suite_fits and progress call the workload; unset: the op's kind, dtype, shape.
  std::function<std::string(const Workload&)> fit_label;
  std::function<std::string(const Workload&)> progress_label;
};
// Adds a handler, or replaces the one of the same name. When two claim a workload, the one
// registered later runs it.
void register_workload_handler(WorkloadHandler handler);
// The handler that claims w (the latest registered), or nullptr (a kernel op workload, or no
// handler registered).
const WorkloadHandler* workload_handler(const Workload& w);

}  // namespace suanli
