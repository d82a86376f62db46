// A certification run: sustained workloads, the caching check, telemetry series, report and
// certificate.
#include "certify/run.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "certify/certificate.h"
#include "certify/criteria.h"
#include "harness/isolate.h"
#include "harness/peak_probe.h"
#include "report/hash.h"
#include "report/report_reader.h"
#include "report/system_info.h"
#include "revision.h"

namespace suanli::certify {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Samples a device's telemetry on a side thread while the runner says timed sampling runs
// (RunOptions::on_sampling), keeping the series with times relative to its start.
class SeriesRecorder {
 public:
  SeriesRecorder(Backend& b, int device, double period_s)
      : backend_(b), device_(device), period_(period_s) {}
  ~SeriesRecorder() { set_sampling(false); }
  void set_sampling(bool on) {
    if (on && !thread_.joinable()) {
      t0_ = Clock::now();
      stop_ = false;
      thread_ = std::thread([this] { loop(); });
    } else if (!on && thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      thread_.join();
      record();
      series_.duration_s = std::chrono::duration<double>(Clock::now() - t0_).count();
    }
  }
  const TelemetrySeries& series() const { return series_; }

 private:
  void record() {
    const suanli_telemetry t = backend_.telemetry(device_);
    series_.t_s.push_back(std::chrono::duration<double>(Clock::now() - t0_).count());
    series_.clock_mhz.push_back(t.clock_mhz);
    series_.power_w.push_back(t.power_w);
    series_.temperature_c.push_back(t.temperature_c);
  }
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      record();
      lock.lock();
      cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return stop_; });
    }
  }
  Backend& backend_;
  int device_;
  double period_;
  Clock::time_point t0_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  TelemetrySeries series_;
};

// Sample length: the profile's, longer where a sustained run would otherwise need more than
// ~400 samples (the runner stops at 1000).
double sample_seconds(const MeasureSettings& s, double sustain_s) {
  return std::max(s.min_time, sustain_s / 400.0);
}

// The worker's side of a certification: the profile's suite, and one sustained run of a workload
// with the request's inputs mode, and the telemetry series of its timed sampling when asked.
Suite certify_worker_suite(const json& init) {
  const Profile p = load_profile(init.at("profile").get<std::string>());
  if (p.sha256 != init.at("profile_sha256").get<std::string>())
    throw std::runtime_error(
        fmt::format("profile {} changed since the certification began", p.origin));
  return certification_suite(p, init.at("seed").get<uint64_t>());
}

json certify_worker_run(Backend& b, int device, const Workload& w, const json& /*init*/,
                        const json& request) {
  RunOptions ro;
  ro.sustain_s = request.at("sustain_s").get<double>();
  ro.min_time = request.at("min_time").get<double>();
  const std::string inputs = request.at("inputs").get<std::string>();
  ro.fresh_inputs = inputs == "fresh";
  ro.decoy_refill = inputs == "decoy_refill";
  ro.refill_start = request.value("refill_start", uint64_t{0});
  const bool series = request.value("series", false);
  SeriesRecorder rec(b, device, std::clamp(*ro.sustain_s / 200.0, 0.02, 1.0));
  if (series) ro.on_sampling = [&rec](bool on) { rec.set_sampling(on); };
  // An HPL workload in a profile (a profile can require an HPL result): one timed solve,
  // verified by HPL's scaled residual (src/hpl).
  const Result r = run_job(b, device, w, ro);
  rec.set_sampling(false);
  json answer = {{"result", result_to_json(r)}};
  if (series) answer["series"] = telemetry_series_json(rec.series());
  return answer;
}

const bool kCertifyWorkerRegistered =
    isolate::register_worker_kind("certify", {certify_worker_suite, certify_worker_run});

// The harness's side: each backend's runs in its worker process (src/harness/isolate), so a
// plugin that crashes, exits or hangs gives an error result (and a FAIL) and the certification
// goes on.
class CertifyJobs {
 public:
  CertifyJobs(const CertifyInput& in, const Suite& suite, uint64_t seed) : in_(in), suite_(suite) {
    const json init = {{"kind", "certify"},
                       {"profile", profile_source(in.profile)},
                       {"profile_sha256", in.profile.sha256},
                       {"seed", seed}};
    for (const isolate::BackendDesc& b : in.backends)
      workers_[b.name] = std::make_unique<isolate::IsolatedBackend>(b, in.create_options, init);
  }
  // Suite workload `index` on backend:device for sustain_s seconds.
  // refill_start: where the refill seeds of a fresh-input or decoy run begin (the second half
  // of the caching check must not replay the first half's inputs).
  Result run(const std::string& backend, int device, size_t index, double sustain_s,
             double min_time, const char* inputs, TelemetrySeries* series,
             uint64_t refill_start = 0) {
    const Workload& w = suite_.workloads[index];
    const Job job{backend, device, &w, index};
    const json request = {{"sustain_s", sustain_s},     {"min_time", min_time},
                          {"inputs", inputs},           {"series", series != nullptr},
                          {"refill_start", refill_start}};
    const double timeout =
        in_.timeout_s > 0 ? in_.timeout_s : isolate::workload_timeout_s(w, {}) + 2 * sustain_s;
    isolate::IsolatedBackend::Answer a = workers_.at(backend)->run(job, request, timeout);
    if (series && a.extra.contains("series"))
      *series = telemetry_series_from_json(a.extra["series"]);
    return std::move(a.result);
  }

 private:
  static std::string profile_source(const Profile& p) {
    const std::string builtin = "builtin:";
    return p.origin.rfind(builtin, 0) == 0 ? p.origin.substr(builtin.size()) : p.origin;
  }
  const CertifyInput& in_;
  const Suite& suite_;
  std::map<std::string, std::unique_ptr<isolate::IsolatedBackend>> workers_;
};

}  // namespace

std::vector<std::string> unofficial_reasons(const Profile& profile) {
  std::vector<std::string> out;
  if (SUANLI_GIT_DIRTY)
    out.push_back(fmt::format("suanli was built from a tree with uncommitted changes (git {})",
                              SUANLI_GIT_REVISION));
  if (!profile.shipped) {
    const std::string shipped = shipped_profile_sha256(profile.name);
    out.push_back(
        shipped.empty()
            ? fmt::format("profile '{}' ({}) is not one suanli ships", profile.name, profile.origin)
            : fmt::format("profile '{}' ({}) differs from the shipped profile of that "
                          "name (sha256 {} vs {})",
                          profile.name, profile.origin, profile.sha256, shipped));
  }
  return out;
}

uint64_t draw_seed() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  uint64_t s = 0;
  randombytes_buf(&s, sizeof(s));
  return s & ((uint64_t{1} << 53) - 1);
}

std::pair<std::string, std::string> binary_identity() {
  std::string path;
  try {
    path = std::filesystem::read_symlink("/proc/self/exe").string();
  } catch (const std::exception&) {
    path = "/proc/self/exe";
  }
  return {sha256_file_hex("/proc/self/exe"), path};
}

json make_certificate(const CertifyInput& in, uint64_t seed, const json& report,
                      const std::vector<json>& workload_criteria) {
  // The workloads' criteria, then the peak self-check's (peak_theory), from the report.
  std::vector<json> criteria = workload_criteria;
  for (json& x : peak_theory_criteria(report)) criteria.push_back(std::move(x));
  json c;
  c["suanli_certificate"] = kCertificateVersion;
  unsigned char id[16];
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  randombytes_buf(id, sizeof(id));
  c["certificate_id"] = to_hex(id, sizeof(id));
  c["issued_utc"] = utc_timestamp();
  c["official"] = in.unofficial_reasons.empty();
  c["unofficial_reasons"] = in.unofficial_reasons;
  const auto [exe_hash, exe_path] = binary_identity();
  c["suanli"] = {{"version", SUANLI_VERSION},
                 {"git_revision", SUANLI_GIT_REVISION},
                 {"git_dirty", SUANLI_GIT_DIRTY},
                 {"binary_sha256", exe_hash},
                 {"binary_path", exe_path}};
  const json& host = report["host"];
  c["host"] = {{"hostname", host.value("hostname", "")},
               {"os", host.value("os", "")},
               {"kernel", host.value("kernel", "")},
               {"cpu_model", host.value("cpu_model", "")}};
  c["backends"] = json::array();
  c["devices"] = json::array();
  for (const json& b : report["backends"]) {
    c["backends"].push_back({{"name", b["name"]},
                             {"version", b["version"]},
                             {"path", b["path"]},
                             {"sha256", b["sha256"]}});
    for (const json& d : b["devices"])
      c["devices"].push_back({{"backend", b["name"]},
                              {"index", d["index"]},
                              {"name", d["name"]},
                              {"vendor", d["vendor"]},
                              {"kind", d["kind"]},
                              {"uuid", d["uuid"]},
                              {"driver", d["driver"]},
                              {"memory_bytes", d["memory_bytes"]}});
  }
  c["profile"] = {{"name", in.profile.name},
                  {"origin", in.profile.origin},
                  {"sha256", in.profile.sha256},
                  {"shipped", in.profile.shipped},
                  {"document", in.profile.document}};
  if (in.claims)
    c["claims"] = {{"origin", in.claims->origin},
                   {"vendor", in.claims->vendor},
                   {"sha256", sha256_hex(canonical_json(in.claims_document))},
                   {"document", in.claims_document}};
  else
    c["claims"] = nullptr;
  c["claims_evaluated"] = in.claims.has_value();
  c["seed"] = seed;
  c["report"] = {{"file", in.report_file}, {"sha256", report["sha256"]}};
  c["peak_checks"] = json::array();
  for (const PeakCheck& p : certified_peak_checks(report))
    c["peak_checks"].push_back(peak_check_json(p));
  c["criteria"] = criteria;
  std::map<std::string, int> n;
  for (const json& x : criteria) ++n[x["verdict"].get<std::string>()];
  c["summary"] = {{"criteria", criteria.size()},
                  {"pass", n["PASS"]},
                  {"fail", n["FAIL"]},
                  {"not_evaluated", n["NOT_EVALUATED"]}};
  c["verdict"] = std::string(verdict_name(overall_verdict(criteria)));
  return c;
}

Suite certification_suite(const Profile& p, uint64_t seed) {
  Suite suite;
  suite.name = "certify-" + p.name;
  suite.description = p.description;
  suite.origin = p.origin;
  suite.sha256 = p.sha256;
  suite.settings = p.settings;
  suite.settings.seed = seed;
  for (const ProfileWorkload& pw : p.workloads) {
    Workload w = pw.workload;
    w.settings.seed = seed;
    suite.workloads.push_back(w);
    if (pw.cache_check) {
      suite.workloads.push_back(decoy_refill_workload(w));
      suite.workloads.push_back(fresh_input_workload(w));
    }
  }
  return suite;
}
// One result of the two halves of a cache-check run: samples together, the figures recomputed from
// them (the result documents are the workers', so this works on the JSON).
json joined_halves(const json& first, const json& second) {
  if (first.value("status", "") != "ok") return first;
  if (second.value("status", "") != "ok") return second;
  json j = first;
  std::vector<double> samples = first.value("samples_s", std::vector<double>{});
  for (double v : second.value("samples_s", std::vector<double>{})) samples.push_back(v);
  const TimeStats t = compute_stats(samples);
  j["samples_s"] = samples;
  j["time_s"] = time_stats_json(t);
  j["iterations"] = first.value("iterations", int64_t{0}) + second.value("iterations", int64_t{0});
  const double flops = first.value("flops", 0.0), bytes = first.value("bytes", 0.0);
  if (j.contains("flops_per_second") && t.median > 0) {
    const double before = first.value("flops_per_second", 0.0);
    j["flops_per_second"] = flops / t.median;
    j["flops_per_second_best"] = flops / t.min;
    if (j.contains("peak_fraction") && before > 0)
      j["peak_fraction"] = first["peak_fraction"].get<double>() * (flops / t.median) / before;
  }
  if (j.contains("bytes_per_second") && t.median > 0) j["bytes_per_second"] = bytes / t.median;
  if (j.contains("noise") && second.contains("noise")) {
    j["noise"]["reached_cv"] = t.cv;
    j["noise"]["rounds"] = first["noise"].value("rounds", 0) + second["noise"].value("rounds", 0);
    j["noise"]["seconds"] =
        first["noise"].value("seconds", 0.0) + second["noise"].value("seconds", 0.0);
  }
  if (j.contains("host_timing") && second.contains("host_timing")) {
    json& h = j["host_timing"];
    h["calls"] = h.value("calls", int64_t{0}) + second["host_timing"].value("calls", int64_t{0});
    for (const char* k : {"device_s", "wall_s"})
      h[k] = h.value(k, 0.0) + second["host_timing"].value(k, 0.0);
    const double wall = h["wall_s"].get<double>();
    h["device_over_wall"] = wall > 0 ? h["device_s"].get<double>() / wall : 0.0;
  }
  for (const json& m : second.value("marks", json::array())) {
    if (!j.contains("marks")) j["marks"] = json::array();
    if (std::find(j["marks"].begin(), j["marks"].end(), m) == j["marks"].end())
      j["marks"].push_back(m);
  }
  if (second.contains("finished_utc")) j["finished_utc"] = second["finished_utc"];
  return j;
}

Result joined_result(const Result& first, const Result& second) {
  Result r = first.status != Status::ok ? first : second.status != Status::ok ? second : first;
  r.recorded = joined_halves(result_to_json(first), result_to_json(second));
  return r;
}

// The caching check's two runs (suite workloads index+1: the baseline with the decoy refill,
// index+2: fresh inputs), each cache_check_s long, in two halves ordered baseline, fresh, fresh,
// baseline (ABBA): a drift of the machine's speed during the check (another tenant starting, a
// clock change) falls on both runs alike instead of on whichever ran second. Each run's result
// holds its two halves' samples.
std::pair<Result, Result> cache_check_runs(CertifyJobs& jobs, const std::string& backend,
                                           int device, size_t index,
                                           const MeasureSettings& settings, double seconds) {
  const double half = seconds / 2, ms = sample_seconds(settings, half);
  const Result base1 = jobs.run(backend, device, index + 1, half, ms, "decoy_refill", nullptr);
  if (isolate::interrupted()) throw Interrupted();
  const Result fresh1 = jobs.run(backend, device, index + 2, half, ms, "fresh", nullptr);
  if (isolate::interrupted()) throw Interrupted();
  // Seeds of the second halves start far beyond any first half's (a run refills at most once
  // per sample call: < 2^32 of them), so no input is replayed.
  constexpr uint64_t kSecondHalf = uint64_t{1} << 32;
  const Result fresh2 =
      jobs.run(backend, device, index + 2, half, ms, "fresh", nullptr, kSecondHalf);
  if (isolate::interrupted()) throw Interrupted();
  const Result base2 =
      jobs.run(backend, device, index + 1, half, ms, "decoy_refill", nullptr, kSecondHalf);
  return {joined_result(base1, base2), joined_result(fresh1, fresh2)};
}


namespace {

// Progress lines: the index of the run starting now, the total, the ETA from the pace so far.
class CertifyProgress {
 public:
  CertifyProgress(const CertifyInput& in, size_t total) : in_(in), total_(total) {}
  void show(const std::string& backend, int device, const Workload& w, double sustain) const {
    if (!in_.on_progress) return;
    Progress pr;
    pr.index = index;
    pr.total = total_;
    pr.label = fmt::format("{}:{} {} {} {} ({:.0f} s)", backend, device, w.name,
                           dtype_name(w.op.dtype), shape_string(w.op), sustain);
    pr.elapsed_s = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (index > 0)
      pr.eta_s = pr.elapsed_s / static_cast<double>(index) * static_cast<double>(total_ - index);
    in_.on_progress(pr);
  }
  size_t index = 0;

 private:
  const CertifyInput& in_;
  size_t total_;
  Clock::time_point t0_ = Clock::now();
};

}  // namespace

CertifyOutput run_certification(const CertifyInput& in) {
  CertifyOutput out;
  out.seed = draw_seed();
  const Profile& p = in.profile;

  // The suite the report records: the profile's workloads (and their fresh-input twins).
  const Suite suite = certification_suite(p, out.seed);
  std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>> fits;
  for (const isolate::BackendDesc& b : in.backends) fits.emplace_back(b.name, &b.devices);
  check_suite_fits(suite, fits);

  size_t total = 0;
  for (const isolate::BackendDesc& b : in.backends)
    total += b.devices.size() * suite.workloads.size();
  CertifyProgress progress(in, total);
  CertifyJobs jobs(in, suite, out.seed);

  std::vector<json> criteria;
  json telemetry = json::array();
  for (const isolate::BackendDesc& b : in.backends)
    for (const DeviceInfo& d : b.devices) {
      size_t index = 0;  // in the suite
      for (const ProfileWorkload& pw : p.workloads) {
        if (isolate::interrupted()) throw Interrupted();
        const Workload& w = suite.workloads[index];
        progress.show(b.name, d.index, w, pw.sustain_s);
        ++progress.index;
        TelemetrySeries series;
        const Result main = jobs.run(b.name, d.index, index, pw.sustain_s,
                                     sample_seconds(p.settings, pw.sustain_s), "same", &series);
        out.results.push_back(main);
        Evidence e;
        e.backend = b.name;
        e.device = d.index;
        e.device_name = d.name;
        e.workload = &pw;
        e.main = facts_from_report_result(read_report_result(result_to_json(main)));
        e.telemetry = series;
        e.claims = in.claims ? &*in.claims : nullptr;
        telemetry.push_back({{"backend", b.name},
                             {"device", d.index},
                             {"workload", w.id},
                             {"series", telemetry_series_json(series)}});
        if (pw.cache_check) {
          progress.show(b.name, d.index, suite.workloads[index + 1], pw.cache_check_s);
          progress.index += 2;
          if (main.status == Status::ok) {
            const auto [base, fr] = cache_check_runs(jobs, b.name, d.index, index, p.settings,
                                                     pw.cache_check_s);
            out.results.push_back(base);
            e.baseline = facts_from_report_result(read_report_result(result_to_json(base)));
            out.results.push_back(fr);
            e.fresh = facts_from_report_result(read_report_result(result_to_json(fr)));
          }
        }
        index += pw.cache_check ? 3 : 1;
        for (json& c : evaluate(e, p.limits)) criteria.push_back(std::move(c));
      }
    }
  if (isolate::interrupted()) throw Interrupted();

  RunMeta meta = in.meta;
  meta.finished_utc = utc_timestamp();
  // The OpenMP wait policy both cache-check runs ran under (the decoy refill makes the idle time
  // between calls the same for both, whatever the policy).
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  meta.options.emplace_back("omp_wait_policy", policy ? policy : "unset (runtime default)");
  // The built-in peak probe for every device peak of a dtype the profile measures (a profile
  // has no peak workloads of its own): the peak_theory criteria rest on it.
  meta.peak_probes = run_peak_probes(
      in.backends, peak_probe_targets(in.backends, suite_dtypes(suite), out.results),
      in.create_options, RunOptions{});
  if (isolate::interrupted()) throw Interrupted();
  json backends = json::array();
  for (const isolate::BackendDesc& b : in.backends) backends.push_back(b.json);
  out.report = make_run_report(suite, backends, in.issues, out.results, meta);
  // What only a certification run has, inside the sealed report so verify can re-derive it.
  out.report["certification"] = {{"profile", p.name},
                                 {"profile_sha256", p.sha256},
                                 {"seed", out.seed},
                                 {"telemetry", telemetry}};
  seal_report(out.report);
  out.certificate = make_certificate(in, out.seed, out.report, criteria);
  return out;
}

}  // namespace suanli::certify
