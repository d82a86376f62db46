// Runs suites on backends: plan, measure under Google Benchmark with a noise-based stopping rule,
// verify, record.
#include "harness/runner.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "model/model_run.h"
#include "report/hash.h"
#include "verify/verify.h"

namespace suanli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void ensure_benchmark_initialized() {
  static const bool once = [] {
    int argc = 1;
    char arg0[] = "suanli";
    char* argv[] = {arg0, nullptr};
    benchmark::Initialize(&argc, argv);
    return true;
  }();
  (void)once;
}

// Google Benchmark hands every repetition and aggregate to this reporter; the
// per-repetition runs are our samples.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred)
        error = r.error_message.empty() ? "the workload reported an error" : r.error_message;
      else if (r.run_type == Run::RT_Iteration)
        repetitions.push_back(r);
      else
        aggregates.push_back(r);
    }
  }
  std::vector<Run> repetitions, aggregates;
  std::string error;
};

double stat_min(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}
double stat_max(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
}

// Samples the device's telemetry on a side thread while a workload runs.
class TelemetrySampler {
 public:
  TelemetrySampler(Backend& b, int device) : backend_(b), device_(device) {
    t0_ = Clock::now();
    first_ = backend_.telemetry(device_);
    thread_ = std::thread([this] { loop(); });
  }
  ~TelemetrySampler() { stop(); }
  TelemetrySummary stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return summary_;
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
    const suanli_telemetry last = backend_.telemetry(device_);
    add(last);
    const double secs = seconds_since(t0_);
    if (std::isfinite(first_.energy_j) && std::isfinite(last.energy_j) &&
        last.energy_j >= first_.energy_j && secs > 0) {
      summary_.energy_j = last.energy_j - first_.energy_j;
      summary_.power_w_mean = summary_.energy_j / secs;
    } else if (power_n_ > 0) {
      summary_.power_w_mean = power_sum_ / power_n_;
      summary_.energy_j = summary_.power_w_mean * secs;
    }
    if (clock_n_ > 0) summary_.clock_mhz_mean = clock_sum_ / clock_n_;
    return summary_;
  }

 private:
  void add(const suanli_telemetry& t) {
    ++summary_.samples;
    if (std::isfinite(t.power_w)) power_sum_ += t.power_w, ++power_n_;
    if (std::isfinite(t.clock_mhz)) clock_sum_ += t.clock_mhz, ++clock_n_;
    if (std::isfinite(t.temperature_c))
      summary_.temperature_c_max = std::max(summary_.temperature_c_max, t.temperature_c);
  }
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (stopped_) break;
      lock.unlock();
      const suanli_telemetry t = backend_.telemetry(device_);
      lock.lock();
      add(t);
    }
  }
  Backend& backend_;
  int device_;
  Clock::time_point t0_;
  suanli_telemetry first_{};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  TelemetrySummary summary_;
  double power_sum_ = 0, clock_sum_ = 0;
  int power_n_ = 0, clock_n_ = 0;
};

uint64_t workload_seed(const Workload& w) {
  // A per-workload seed from the suite seed and the workload's id, so
  // reordering a suite does not change any workload's data.
  const std::string h = sha256_hex(w.id);
  return w.settings.seed ^ std::stoull(h.substr(0, 15), nullptr, 16);
}

verify::Verification verify_output(const OpDesc& op, const std::vector<std::vector<char>>& host,
                                   uint64_t seed) {
  switch (op.kind) {
    case OpKind::gemm:
      return verify::verify_gemm(op, host[0].data(), host[1].data(), host[2].data(), seed);
    case OpKind::conv2d:
      return verify::verify_conv2d(op, host[0].data(), host[1].data(), host[2].data(), seed);
    case OpKind::peak:
      return verify::verify_peak(op, host[0].data(), host[1].data(), kPeakAlpha, kPeakBeta);
    case OpKind::stream:
      return verify::verify_stream(op, host[0].data(), host[1].data(), host[2].data(),
                                   kStreamScalar);
  }
  return {};
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return fmt::format("{:.1f} {}", b, units[u]);
}

uint64_t required_bytes(const OpDesc& op, const DeviceInfo& dev) {
  uint64_t sum = 0;
  for (uint64_t b : op_buffer_bytes(op)) sum += b;
  // On a CPU the host copies (inputs kept for verification, the downloaded
  // output) live in the same memory as the device buffers.
  return dev.kind == "cpu" ? 2 * sum : sum;
}

}  // namespace

void set_status_from_verification(Result& r) {
  r.status = r.verification.passed ? Status::ok : Status::failed;
  if (!r.verification.passed)
    r.reason = fmt::format("verification failed ({}): error {:.3g} > bound {:.3g}; {}",
                           r.verification.method, r.verification.error, r.verification.bound,
                           r.verification.detail);
}

SampleRound measure_round(Backend& backend, const std::vector<DevicePlan*>& plans, int64_t inner,
                          double min_time, int reps, double warmup,
                          const std::function<void()>& before_execute) {
  ensure_benchmark_initialized();
  benchmark::ClearRegisteredBenchmarks();
  auto body = [&](benchmark::State& st) {
    for (auto _ : st) {
      try {
        if (before_execute) before_execute();  // untimed: the iteration time is device time
        st.SetIterationTime(backend.execute(plans, inner));
      } catch (const std::exception& e) {
        st.SkipWithError(e.what());
        break;
      }
    }
  };
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark("suanli_workload", body);
  b->UseManualTime()
      ->MinTime(min_time)
      ->Repetitions(reps)
      ->ComputeStatistics("min", &stat_min)
      ->ComputeStatistics("max", &stat_max)
      ->Unit(benchmark::kSecond);
  if (warmup > 0) b->MinWarmUpTime(warmup);
  CollectingReporter rep;
  // Google Benchmark matches the filter against names that carry the settings:
  // suanli_workload/min_time:.../repeats:...
  benchmark::RunSpecifiedBenchmarks(&rep, "^suanli_workload(/|$)");
  benchmark::ClearRegisteredBenchmarks();
  SampleRound r;
  r.error = rep.error;
  for (const auto& run : rep.repetitions) {
    if (run.iterations <= 0) continue;
    // With UseManualTime the "real" time Google Benchmark accumulates is our device time.
    r.samples.push_back(run.real_accumulated_time / static_cast<double>(run.iterations) /
                        static_cast<double>(inner));
    r.ops += run.iterations * inner;
  }
  if (r.error.empty() && r.samples.empty()) r.error = "Google Benchmark produced no samples";
  return r;
}

void check_suite_fits(const Suite& suite, const std::vector<Backend*>& backends) {
  // A model's need does not depend on the device: computed once per workload.
  std::vector<uint64_t> model_need(suite.workloads.size(), 0);
  for (size_t i = 0; i < suite.workloads.size(); ++i)
    if (!suite.workloads[i].model.empty())
      model_need[i] = model::model_device_bytes(suite.workloads[i]);
  for (const Backend* b : backends)
    for (const DeviceInfo& d : b->devices()) {
      if (d.memory_bytes == 0) continue;
      for (size_t i = 0; i < suite.workloads.size(); ++i) {
        const Workload& w = suite.workloads[i];
        const bool is_model = !w.model.empty();
        const uint64_t need = is_model ? model_need[i] : required_bytes(w.op, d);
        if (static_cast<double>(need) <= 0.85 * static_cast<double>(d.memory_bytes)) continue;
        const std::string what =
            is_model ? fmt::format("model {} {} batch {}{}", w.model, dtype_name(w.op.dtype),
                                   w.model_batch, w.model_training ? " training step" : "")
                     : fmt::format("{} {} {}", op_kind_name(w.op.kind), dtype_name(w.op.dtype),
                                   shape_string(w.op));
        throw InputError(fmt::format(
            "{}: {} needs {} of memory, more than 85% of the {} of device {}:{} ({})", w.source,
            what, human_bytes(static_cast<double>(need)),
            human_bytes(static_cast<double>(d.memory_bytes)), b->name(), d.index, d.name));
      }
    }
}

// int8 comes as u8 x s8 (x86 VNNI's form) or s8 x s8 (GPU tensor cores' form): ask for the
// first and fall back to the second when the backend has only that. Other ops pass unchanged.
Workload negotiate_int8(Backend& backend, int device, const Workload& w) {
  Workload out = w;
  if (w.op.dtype != Dtype::int8 || w.op.kind == OpKind::peak || w.op.kind == OpKind::stream)
    return out;
  if (!backend.unsupported_reason(device, w.op)) return out;
  out.op.int8_signed_a = true;
  if (!backend.unsupported_reason(device, out.op)) return out;
  return w;  // neither: report the u8 x s8 reason
}

// fp16 asks for fp32 accumulation (the default) and falls back to fp16 accumulation when the
// backend computes fp16 only in fp16 (AVX512-FP16 CPUs). The result then says "accumulate":
// "fp16", and the Freivalds tolerance is derived from fp16's unit roundoff. An explicit
// "accumulate" in the suite is never changed.
Workload negotiate_fp16(Backend& backend, int device, const Workload& w) {
  Workload out = w;
  if (w.op.dtype != Dtype::fp16 || w.op.accumulate != Dtype::invalid || w.op.kind == OpKind::peak ||
      w.op.kind == OpKind::stream)
    return out;
  if (!backend.unsupported_reason(device, w.op)) return out;
  out.op.accumulate = Dtype::fp16;
  if (!backend.unsupported_reason(device, out.op)) return out;
  return w;  // neither: report the fp32-accumulation reason
}

Result run_workload(Backend& backend, int device, const Workload& requested,
                    const RunOptions& opts) {
  const Workload w = negotiate_fp16(backend, device, negotiate_int8(backend, device, requested));
  Result r;
  r.workload = w.id;
  r.name = w.name;
  r.backend = backend.name();
  r.device = device;
  r.op = w.op;
  r.flops = op_flops(w.op);
  r.bytes = op_bytes(w.op);
  const MeasureSettings& s = w.settings;
  const double min_time = opts.min_time.value_or(s.min_time);
  const int reps = std::max(1, opts.repetitions.value_or(s.repetitions));
  const double max_time = opts.max_time.value_or(s.max_time);
  r.noise_target = s.max_noise;
  try {
    if (auto why = backend.unsupported_reason(device, w.op)) {
      r.status = Status::unsupported;
      r.reason = *why;
      return r;
    }
    const std::vector<uint64_t> sizes = op_buffer_bytes(w.op);
    std::vector<std::vector<char>> host(sizes.size());
    std::vector<std::unique_ptr<DeviceBuffer>> bufs;
    std::vector<DeviceBuffer*> raw;
    std::vector<void*> host_ptrs;
    for (uint64_t bytes : sizes) {
      host_ptrs.push_back(nullptr);
      bufs.push_back(backend.alloc(device, bytes));
      raw.push_back(bufs.back().get());
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      host[i].resize(sizes[i]);
      host_ptrs[i] = host[i].data();
    }
    const uint64_t seed = workload_seed(w);
    verify::fill_inputs(w.op, host_ptrs.data(), seed);
    // Inputs go up; the output buffer is poisoned so a backend that skips the work cannot pass.
    const size_t out = sizes.size() - 1;
    std::fill(host[out].begin(), host[out].end(), static_cast<char>(0x7f));
    for (size_t i = 0; i < sizes.size(); ++i) raw[i]->upload(host[i].data());

    std::unique_ptr<DevicePlan> plan;
    try {
      plan = backend.plan(device, w.op, raw);
    } catch (const BackendCallError& e) {
      if (e.status != SUANLI_UNSUPPORTED) throw;
      r.status = Status::unsupported;
      r.reason = e.what();
      return r;
    }
    r.library = plan->library;
    r.implementation = plan->implementation;
    const std::vector<DevicePlan*> plans{plan.get()};

    // First run: discarded (first touch, JIT, caches); it also sizes the
    // batch of ops per timed call so that a call lasts at least ~1 ms.
    const double first = backend.execute(plans, 1);
    const int64_t inner = std::clamp<int64_t>(static_cast<int64_t>(1e-3 / first), 1, 1000000);
    r.iterations_per_sample = inner;

    // Certification's caching check: new input data before every timed execute.
    uint64_t data_seed = seed, refills = 0;
    std::function<void()> refill;
    if (opts.fresh_inputs)
      refill = [&] {
        data_seed = seed ^ (0x9e3779b97f4a7c15ULL * ++refills);
        verify::fill_inputs(w.op, host_ptrs.data(), data_seed);
        for (size_t i = 0; i < out; ++i) raw[i]->upload(host[i].data());
      };

    TelemetrySampler sampler(backend, device);
    if (opts.on_sampling) opts.on_sampling(true);
    const auto t0 = Clock::now();
    std::string error;
    while (true) {
      SampleRound round = measure_round(backend, plans, inner, min_time, reps,
                                        r.rounds == 0 ? s.warmup_time : 0.0, refill);
      ++r.rounds;
      if (!round.error.empty()) {
        error = round.error;
        break;
      }
      r.samples.insert(r.samples.end(), round.samples.begin(), round.samples.end());
      r.iterations += round.ops;
      const TimeStats st = compute_stats(r.samples);
      const double elapsed = seconds_since(t0);
      if (opts.sustain_s) {
        if (elapsed >= *opts.sustain_s) {
          r.stop_reason = "sustained duration reached";
          break;
        }
      } else if (r.samples.size() >= 2 && st.cv <= s.max_noise) {
        r.stop_reason = "noise target reached";
        break;
      }
      if (!opts.sustain_s && elapsed + elapsed / r.rounds > max_time) {
        r.stop_reason = "time limit reached";
        break;
      }
      if (r.samples.size() >= 1000) {
        r.stop_reason = "sample limit reached";
        break;
      }
    }
    r.sampling_seconds = seconds_since(t0);
    if (opts.on_sampling) opts.on_sampling(false);
    r.telemetry = sampler.stop();
    if (!error.empty()) {
      r.status = Status::error;
      r.reason = error;
      return r;
    }
    r.time = compute_stats(r.samples);
    r.noise_reached = r.time.cv;
    r.flops_per_second = r.time.median > 0 ? r.flops / r.time.median : 0;
    r.flops_per_second_best = r.time.min > 0 ? r.flops / r.time.min : 0;
    r.bytes_per_second = r.time.median > 0 ? r.bytes / r.time.median : 0;
    const DeviceInfo& dev = backend.devices().at(static_cast<size_t>(device));
    if (op_is_compute_bound(w.op))
      if (const PeakInfo* p = dev.peak(w.op.dtype); p && p->ops_per_second > 0)
        r.peak_fraction = r.flops_per_second / p->ops_per_second;

    // Verify what the timed runs left in the output buffer.
    raw[out]->download(host[out].data());
    if (opts.corrupt_output) opts.corrupt_output(r, host[out].data(), sizes[out]);
    r.verification = verify_output(w.op, host, data_seed);
    r.verified = true;
    set_status_from_verification(r);
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.reason = e.what();
  }
  return r;
}

std::string workload_label(const Workload& w) {
  if (!w.model.empty())
    return fmt::format("model {} {} batch {} {}", w.model,
                       w.model_training ? "training" : "inference", w.model_batch,
                       dtype_name(w.op.dtype));
  return fmt::format("{} {} {}", op_kind_name(w.op.kind), dtype_name(w.op.dtype),
                     shape_string(w.op));
}

double settings_seconds(const Workload& w, const RunOptions& opts) {
  const MeasureSettings& s = w.settings;
  const double min_time = opts.min_time.value_or(s.min_time);
  const int reps = std::max(1, opts.repetitions.value_or(s.repetitions));
  return s.warmup_time + reps * min_time;
}

std::vector<Result> run_suite(const Suite& suite, const std::vector<Backend*>& backends,
                              const RunOptions& opts) {
  struct Job {
    Backend* backend;
    int device;
    const Workload* w;
  };
  std::vector<Job> jobs;
  for (Backend* b : backends)
    for (const DeviceInfo& d : b->devices())
      for (const Workload& w : suite.workloads) jobs.push_back({b, d.index, &w});
  std::vector<Result> results;
  const auto t0 = Clock::now();
  double done_budget = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    if (opts.on_progress) {
      Progress p;
      p.index = i;
      p.total = jobs.size();
      p.label = fmt::format("{}:{} {}", j.backend->name(), j.device, workload_label(*j.w));
      p.elapsed_s = seconds_since(t0);
      double budget = 0;
      for (size_t k = i; k < jobs.size(); ++k) budget += settings_seconds(*jobs[k].w, opts);
      // Time beyond the settings (planning, input fill, verification) per workload so far.
      const double overhead =
          i > 0 ? std::max(0.0, p.elapsed_s - done_budget) / static_cast<double>(i) : 0;
      const double left = static_cast<double>(jobs.size() - i);
      p.eta_s = budget + overhead * left;
      done_budget += settings_seconds(*j.w, opts);
      opts.on_progress(p);
    }
    results.push_back(j.w->model.empty()
                          ? run_workload(*j.backend, j.device, *j.w, opts)
                          : model::run_model_workload(*j.backend, j.device, *j.w, opts));
    if (opts.on_result) opts.on_result(results.back());
  }
  return results;
}

}  // namespace suanli
