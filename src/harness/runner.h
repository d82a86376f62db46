// Runs suites on backends: plan, measure under Google Benchmark with a noise-based stopping rule,
// verify, record.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/backend_host.h"
#include "harness/sampling.h"
#include "report/report.h"
#include "suite/suite.h"

namespace suanli {

// Checks every workload's buffers fit each device that would run it (with
// headroom); throws InputError naming the workload and the device otherwise.
void check_suite_fits(const Suite& suite, const std::vector<Backend*>& backends);

// Runs every workload of the suite on every device of every backend, in that
// order. A workload that breaks is recorded (error, with the reason) and the
// run goes on.
std::vector<Result> run_suite(const Suite& suite, const std::vector<Backend*>& backends,
                              const RunOptions& opts);

// The jobs of a suite: every workload on every device of every backend, in that order.
std::vector<Job> suite_jobs(const Suite& suite,
                            const std::vector<std::pair<std::string, std::vector<int>>>& devices);

// Runs one job with the options in force for it (dispatch_jobs adds the probe reference).
using JobRunner = std::function<Result(const Job&, const RunOptions&)>;

// The outer loop over jobs: progress before each, `run` for it (unless opts.completed has its
// result), opts.on_result after; stops early when opts.stop_requested says so.
std::vector<Result> dispatch_jobs(const std::vector<Job>& jobs, const RunOptions& opts,
                                  const JobRunner& run);

// One job in this process: a kernel workload or a whole model.
Result run_job(Backend& backend, int device, const Workload& w, const RunOptions& opts);

// A job that could not produce a result of its own (its process died or hung): status error
// with the reason, and the workload's identity.
Result job_error(const Job& job, const std::string& reason);

// Checks every workload's buffers fit each device (name, devices) that would run it.
void check_suite_fits(
    const Suite& suite,
    const std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>>& devices);
// "gemm fp32 4096x4096x4096", "model resnet_tiny inference batch 8 bf16": what progress shows.
std::string workload_label(const Workload& w);
// Seconds the settings give a workload (with the command line's overrides): warm-up plus the
// first round (repetitions x min_time).
double settings_seconds(const Workload& w, const RunOptions& opts);

// One workload on one device.
Result run_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts);

}  // namespace suanli
