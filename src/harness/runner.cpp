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
#include <map>
#include <mutex>
#include <thread>

#include <sched.h>

#include <fmt/format.h>

#include "core/error.h"
#include "core/op_traits.h"
#include "core/units.h"
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
  HostTiming host;
  auto body = [&](benchmark::State& st) {
    for (auto _ : st) {
      try {
        if (before_execute) before_execute();  // untimed: the iteration time is device time
        // The harness's own clock around the call (execute returns after the backend's
        // synchronize), kept beside the device time the plugin reports.
        const auto w0 = Clock::now();
        const double device_s = backend.execute(plans, inner);
        host.wall_s += seconds_since(w0);
        host.device_s += device_s;
        ++host.calls;
        st.SetIterationTime(device_s);
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
  r.host = host;
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

double host_probe_rate(double seconds) {
  // Steps of a dependent multiply chain: a fixed 3-cycle latency on x86-64 cores (and a fixed
  // latency elsewhere) that no renamer folds; the empty asm keeps the compiler from reducing it.
  auto chain = [](uint64_t steps) {
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (uint64_t i = 0; i < steps; ++i) {
      x *= 0xbf58476d1ce4e5b9ULL;
      asm volatile("" : "+r"(x));
    }
    return x;
  };
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? std::max(1, CPU_COUNT(&set)) : 1;
  // Three trials of a third of `seconds` each, one chain per CPU run in chunks until the trial's
  // deadline (so a loaded machine does not stretch the probe); the median trial counts, so a
  // passing hiccup neither hides nor fakes a sustained slowdown.
  constexpr uint64_t kChunk = 20000;
  std::vector<double> rates;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::thread> threads;
    std::vector<uint64_t> done(static_cast<size_t>(cpus), 0);
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(seconds / 3.0);
    for (int c = 0; c < cpus; ++c)
      threads.emplace_back([&, c] {
        while (Clock::now() < deadline) {
          benchmark::DoNotOptimize(chain(kChunk));
          done[static_cast<size_t>(c)] += kChunk;
        }
      });
    for (std::thread& t : threads) t.join();
    uint64_t total = 0;
    for (uint64_t d : done) total += d;
    rates.push_back(static_cast<double>(total) / std::max(seconds_since(t0), 1e-9));
  }
  std::sort(rates.begin(), rates.end());
  return rates[1];
}

void mark_result(Result& r, double peak) {
  if (r.noisy)
    r.marks.push_back(
        {"noisy", fmt::format("CV {:.3g} still above the target {:.3g} when "
                              "sampling stopped ({})",
                              r.noise_reached, r.noise_target, stop_reason_text(r.stop_reason))});
  if (r.probe.reference > 0 && r.probe.slowdown > kSlowdownThreshold)
    r.marks.push_back(
        {"slowdown",
         fmt::format("the host probe ran {:.0f}% slower than at the start of the run (before "
                     "{:.3g}, after {:.3g}, reference {:.3g} steps/s; marks above {:.0f}%)",
                     100 * r.probe.slowdown, r.probe.before, r.probe.after, r.probe.reference,
                     100 * kSlowdownThreshold)});
  const HostTiming& h = r.host_timing;
  if (h.calls > 0 && h.call_wall_mean_s() >= kTimingMinCallWall &&
      h.device_over_wall() < kTimingMinDeviceOverWall)
    r.marks.push_back(
        {"timing",
         fmt::format("the plugin reported {:.3g} s of device time for {:.3g} s of host wall time "
                     "over {} calls of {} each (device/wall {:.3g} < {:.2g})",
                     h.device_s, h.wall_s, h.calls, format_duration(h.call_wall_mean_s()),
                     h.device_over_wall(), kTimingMinDeviceOverWall)});
  if (peak > 0 && op_is_compute_bound(r.op) && r.flops_per_second > kAbovePeakTolerance * peak)
    r.marks.push_back(
        {"above_peak",
         fmt::format("median throughput {:.3g} is {:.3g}x the theoretical peak "
                     "{:.3g} (marks above {:.2f}x)",
                     r.flops_per_second, r.flops_per_second / peak, peak, kAbovePeakTolerance)});
}

namespace {

// Runs the rounds of one workload's timed sampling until the stopping rule ends them.
std::string sample_rounds(Backend& backend, const Workload& w, const RunOptions& opts,
                          const SamplingPlan& sampling, Result& r) {
  const MeasureSettings& s = w.settings;
  const double min_time = opts.min_time.value_or(s.min_time);
  const int reps = std::max(1, opts.repetitions.value_or(s.repetitions));
  const double max_time = opts.max_time.value_or(s.max_time);
  const auto t0 = Clock::now();
  while (true) {
    SampleRound round = measure_round(backend, sampling.plans, sampling.inner, min_time, reps,
                                      r.rounds == 0 ? s.warmup_time : 0.0, sampling.before_execute);
    ++r.rounds;
    r.host_timing.calls += round.host.calls;
    r.host_timing.device_s += round.host.device_s;
    r.host_timing.wall_s += round.host.wall_s;
    if (!round.error.empty()) return round.error;
    r.samples.insert(r.samples.end(), round.samples.begin(), round.samples.end());
    r.iterations += round.ops;
    const TimeStats st = compute_stats(r.samples);
    const double elapsed = seconds_since(t0);
    r.sampling_seconds = elapsed;
    if (opts.sustain_s) {
      if (elapsed >= *opts.sustain_s) {
        r.stop_reason = StopReason::sustained;
        return "";
      }
    } else if (r.samples.size() >= 2 && st.cv <= s.max_noise) {
      r.stop_reason = StopReason::noise_target;
      return "";
    } else if (elapsed + elapsed / r.rounds > max_time) {
      r.stop_reason = StopReason::time_limit;
      return "";
    }
    if (r.samples.size() >= kMaxSamples) {
      r.stop_reason = StopReason::sample_cap;
      return "";
    }
  }
}

}  // namespace

// The host probe right after device work would race the runtime's idle threads: OpenMP
// (libgomp spins ~300,000 pause iterations, 5-15 ms, before it sleeps) and OpenBLAS keep spinning
// on the cores the probe wants, which reads as a slowdown on a quiet machine. The probe waits
// until they have gone to sleep.
// A probe that reads slower than `reference` allows is taken again, twice at most, 50 ms apart,
// and the best reading counts: a shared machine's passing hiccups (another tenant's burst, a
// runtime thread still spinning) come and go, a sustained slowdown stays through the retries.
double settled_probe_rate(std::optional<double> reference) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  double rate = host_probe_rate();
  for (int retry = 0; retry < 2 && reference && rate < (1 - kSlowdownThreshold) * *reference;
       ++retry) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rate = std::max(rate, host_probe_rate());
  }
  return rate;
}

bool sample_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                     const SamplingPlan& sampling, Result& r) {
  r.noise_target = w.settings.max_noise;
  r.iterations_per_sample = sampling.inner;
  if (opts.host_probe) r.probe.before = settled_probe_rate(opts.probe_reference);
  std::string error;
  {
    TelemetrySampler sampler(backend, device);
    if (opts.on_sampling) opts.on_sampling(true);
    error = sample_rounds(backend, w, opts, sampling, r);
    if (opts.on_sampling) opts.on_sampling(false);
    r.telemetry = sampler.stop();
  }
  if (opts.host_probe) {
    r.probe.reference = std::max({opts.probe_reference.value_or(0.0), r.probe.before});
    r.probe.after = settled_probe_rate(r.probe.reference);
    r.probe.slowdown = 1.0 - std::min(r.probe.before, r.probe.after) / r.probe.reference;
  }
  if (!error.empty()) {
    r.status = Status::error;
    r.reason = error;
    return false;
  }
  r.time = compute_stats(r.samples);
  r.noise_reached = r.time.cv;
  r.noisy = (r.stop_reason == StopReason::time_limit || r.stop_reason == StopReason::sample_cap) &&
            r.time.cv > r.noise_target;
  r.flops_per_second = r.time.median > 0 ? r.flops / r.time.median : 0;
  r.flops_per_second_best = r.time.min > 0 ? r.flops / r.time.min : 0;
  r.bytes_per_second = r.time.median > 0 ? r.bytes / r.time.median : 0;
  double peak = -1;
  const DeviceInfo& dev = backend.devices().at(static_cast<size_t>(device));
  if (op_is_compute_bound(r.op) && r.flops > 0)
    if (const PeakInfo* p = dev.peak(r.op.dtype); p && p->ops_per_second > 0) {
      peak = p->ops_per_second;
      r.peak_fraction = r.flops_per_second / peak;
    }
  mark_result(r, peak);
  return true;
}

void check_suite_fits(const Suite& suite, const std::vector<Backend*>& backends) {
  std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>> devices;
  for (const Backend* b : backends) devices.emplace_back(b->name(), &b->devices());
  check_suite_fits(suite, devices);
}

namespace {

std::vector<WorkloadHandler>& workload_handlers() {
  static std::vector<WorkloadHandler> handlers;
  return handlers;
}

std::string op_label(const Workload& w) {
  return fmt::format("{} {} {}", op_kind_name(w.op.kind), dtype_name(w.op.dtype),
                     shape_string(w.op));
}

// A workload that belongs to a module above the harness (a model, HPL).
bool is_module_workload(const Workload& w) {
  return !w.model.empty() || !w.hpl.empty();
}

// What a workload needs on any device; nullopt when it sizes itself from the device.
std::optional<uint64_t> handler_need(const Workload& w) {
  const WorkloadHandler* h = workload_handler(w);
  if (!h) return std::nullopt;
  return h->device_bytes ? h->device_bytes(w) : std::nullopt;
}

}  // namespace

Result workload_result(const Workload& w, const std::string& backend, int device) {
  Result r;
  r.workload = w.id;
  r.name = w.name;
  r.backend = backend;
  r.device = device;
  r.op = w.op;
  return r;
}

void register_workload_handler(WorkloadHandler handler) {
  for (WorkloadHandler& h : workload_handlers())
    if (h.name == handler.name) {
      h = std::move(handler);
      return;
    }
  workload_handlers().push_back(std::move(handler));
}

const WorkloadHandler* workload_handler(const Workload& w) {
  const std::vector<WorkloadHandler>& handlers = workload_handlers();
  for (auto h = handlers.rbegin(); h != handlers.rend(); ++h)  // the latest registered first
    if (h->handles && h->handles(w)) return &*h;
  return nullptr;
}

void check_suite_fits(
    const Suite& suite,
    const std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>>& backends) {
  // A model's or HPL's need does not depend on the device: computed once per workload.
  std::vector<std::optional<uint64_t>> module_need(suite.workloads.size());
  for (size_t i = 0; i < suite.workloads.size(); ++i)
    if (is_module_workload(suite.workloads[i])) module_need[i] = handler_need(suite.workloads[i]);
  for (const auto& [backend_name, devices] : backends)
    for (const DeviceInfo& d : *devices) {
      if (d.memory_bytes == 0) continue;
      for (size_t i = 0; i < suite.workloads.size(); ++i) {
        const Workload& w = suite.workloads[i];
        const bool by_module = is_module_workload(w);
        if (by_module && !module_need[i]) continue;  // sized from this device's memory
        const uint64_t need = by_module ? *module_need[i] : required_bytes(w.op, d);
        if (static_cast<double>(need) <= 0.85 * static_cast<double>(d.memory_bytes)) continue;
        const WorkloadHandler* h = workload_handler(w);
        const std::string what = h && h->fit_label ? h->fit_label(w) : op_label(w);
        throw InputError(fmt::format(
            "{}: {} needs {} of memory, more than 85% of the {} of device {}:{} ({})", w.source,
            what, human_bytes(static_cast<double>(need)),
            human_bytes(static_cast<double>(d.memory_bytes)), backend_name, d.index, d.name));
      }
    }
}

// int8 comes as u8 x s8 (x86 VNNI's form) or s8 x s8 (GPU tensor cores' form): ask for the
// first and fall back to the second when the backend has only that. Other ops pass unchanged.
Workload negotiate_int8(Backend& backend, int device, const Workload& w) {
  Workload out = w;
  if (w.op.dtype != Dtype::int8 || !op_traits(w.op.kind).negotiates_precision) return out;
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
  if (w.op.dtype != Dtype::fp16 || w.op.accumulate != Dtype::invalid ||
      !op_traits(w.op.kind).negotiates_precision)
    return out;
  if (!backend.unsupported_reason(device, w.op)) return out;
  out.op.accumulate = Dtype::fp16;
  if (!backend.unsupported_reason(device, out.op)) return out;
  return w;  // neither: report the fp32-accumulation reason
}

Result run_workload(Backend& backend, int device, const Workload& requested,
                    const RunOptions& opts) {
  const Workload w = negotiate_fp16(backend, device, negotiate_int8(backend, device, requested));
  Result r = workload_result(w, backend.name(), device);
  r.flops = op_flops(w.op);
  r.bytes = op_bytes(w.op);
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
    uint64_t data_seed = seed, refills = opts.refill_start;
    std::function<void()> refill;
    std::vector<std::vector<char>> scratch;
    std::vector<void*> scratch_ptrs;
    std::vector<std::unique_ptr<DeviceBuffer>> scratch_bufs;
    if (opts.decoy_refill) {
      scratch = host;
      for (size_t i = 0; i < sizes.size(); ++i) {
        scratch_ptrs.push_back(scratch[i].data());
        scratch_bufs.push_back(backend.alloc(device, sizes[i]));
      }
      refill = [&] {
        verify::fill_inputs(w.op, scratch_ptrs.data(), seed ^ (0x9e3779b97f4a7c15ULL * ++refills));
        for (size_t i = 0; i < out; ++i) scratch_bufs[i]->upload(scratch[i].data());
      };
    }
    if (opts.fresh_inputs)
      refill = [&] {
        data_seed = seed ^ (0x9e3779b97f4a7c15ULL * ++refills);
        verify::fill_inputs(w.op, host_ptrs.data(), data_seed);
        for (size_t i = 0; i < out; ++i) raw[i]->upload(host[i].data());
      };

    SamplingPlan sampling;
    sampling.plans = plans;
    sampling.inner = inner;
    sampling.before_execute = refill;
    if (!sample_workload(backend, device, w, opts, sampling, r)) return r;

    // Verify what the timed runs left in the output buffer.
    raw[out]->download(host[out].data());
    if (opts.corrupt_output) opts.corrupt_output(r, host[out].data(), sizes[out]);
    r.verification = verify::verify_output(w.op, host, data_seed);
    r.verified = true;
    set_status_from_verification(r);
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.reason = e.what();
  }
  return r;
}

std::string workload_label(const Workload& w) {
  const WorkloadHandler* h = workload_handler(w);
  return h && h->progress_label ? h->progress_label(w) : op_label(w);
}

double settings_seconds(const Workload& w, const RunOptions& opts) {
  const MeasureSettings& s = w.settings;
  const double min_time = opts.min_time.value_or(s.min_time);
  const int reps = std::max(1, opts.repetitions.value_or(s.repetitions));
  return s.warmup_time + reps * min_time;
}

std::vector<Job> suite_jobs(const Suite& suite,
                            const std::vector<std::pair<std::string, std::vector<int>>>& devices) {
  std::vector<Job> jobs;
  for (const auto& [backend, indices] : devices)
    for (int d : indices)
      for (size_t i = 0; i < suite.workloads.size(); ++i)
        jobs.push_back({backend, d, &suite.workloads[i], i});
  return jobs;
}

Result run_job(Backend& backend, int device, const Workload& w, const RunOptions& opts) {
  if (const WorkloadHandler* h = workload_handler(w)) return h->run(backend, device, w, opts);
  if (!is_module_workload(w)) return run_workload(backend, device, w, opts);
  return job_error({backend.name(), device, &w, 0},
                   fmt::format("no handler is registered for {} workloads in this program",
                               w.model.empty() ? "hpl" : "model"));
}

Result job_error(const Job& job, const std::string& reason) {
  const Workload& w = *job.workload;
  Result r = workload_result(w, job.backend, job.device);
  r.flops = w.model.empty() ? op_flops(w.op) : 0;
  r.bytes = w.model.empty() ? op_bytes(w.op) : 0;
  r.status = Status::error;
  r.reason = reason;
  return r;
}

std::vector<Result> dispatch_jobs(const std::vector<Job>& jobs, const RunOptions& opts,
                                  const JobRunner& run) {
  std::vector<Result> results;
  const auto t0 = Clock::now();
  // The probe reference: the fastest host probe since the run began (the workloads may run in
  // worker processes; the reference travels with the options given to `run`).
  RunOptions o = opts;
  if (o.host_probe && !o.probe_reference) o.probe_reference = host_probe_rate();
  size_t ran = 0;          // jobs run in this process's lifetime (a resume skips some)
  double done_budget = 0;  // their settings' seconds
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    if (opts.stop_requested && opts.stop_requested()) break;
    if (opts.completed)
      if (std::optional<Result> done = opts.completed(j)) {
        results.push_back(std::move(*done));
        continue;
      }
    if (opts.on_progress) {
      Progress p;
      p.index = i;
      p.total = jobs.size();
      p.label = fmt::format("{}:{} {}", j.backend, j.device, workload_label(*j.workload));
      p.elapsed_s = seconds_since(t0);
      double budget = 0;
      for (size_t k = i; k < jobs.size(); ++k) budget += settings_seconds(*jobs[k].workload, opts);
      // Time beyond the settings (planning, input fill, verification) per workload so far.
      const double overhead =
          ran > 0 ? std::max(0.0, p.elapsed_s - done_budget) / static_cast<double>(ran) : 0;
      const double left = static_cast<double>(jobs.size() - i);
      p.eta_s = budget + overhead * left;
      done_budget += settings_seconds(*j.workload, opts);
      opts.on_progress(p);
    }
    results.push_back(run(j, o));
    ++ran;
    if (opts.stop_requested && opts.stop_requested()) {
      results.pop_back();  // cut short by the interrupt: not a result
      break;
    }
    if (o.probe_reference)
      o.probe_reference =
          std::max({*o.probe_reference, results.back().probe.before, results.back().probe.after});
    if (opts.on_result) opts.on_result(results.back());
  }
  return results;
}

std::vector<Result> run_suite(const Suite& suite, const std::vector<Backend*>& backends,
                              const RunOptions& opts) {
  std::vector<std::pair<std::string, std::vector<int>>> devices;
  std::map<std::string, Backend*> by_name;
  for (Backend* b : backends) {
    std::vector<int> indices;
    for (const DeviceInfo& d : b->devices()) indices.push_back(d.index);
    devices.emplace_back(b->name(), indices);
    by_name[b->name()] = b;
  }
  return dispatch_jobs(suite_jobs(suite, devices), opts, [&](const Job& j, const RunOptions& o) {
    return run_job(*by_name.at(j.backend), j.device, *j.workload, o);
  });
}

}  // namespace suanli
