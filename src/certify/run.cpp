// A certification run: sustained workloads, the caching check, telemetry series, report and
// certificate.
#include "certify/run.h"
#include "hpl/hpl_run.h"

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
#include "report/hash.h"
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

enum class Inputs { same, fresh, decoy_refill };

Result run_one(Backend& b, int device, const Workload& w, double sustain_s, double min_time,
               Inputs inputs, TelemetrySeries* series) {
  RunOptions ro;
  ro.sustain_s = sustain_s;
  ro.min_time = min_time;
  ro.fresh_inputs = inputs == Inputs::fresh;
  ro.decoy_refill = inputs == Inputs::decoy_refill;
  SeriesRecorder rec(b, device, std::clamp(sustain_s / 200.0, 0.02, 1.0));
  if (series) ro.on_sampling = [&rec](bool on) { rec.set_sampling(on); };
  // An HPL workload in a profile (a profile can require an HPL result): one timed solve,
  // verified by HPL's scaled residual (src/hpl).
  Result r = w.hpl.empty() ? run_workload(b, device, w, ro) : hpl::run_hpl_workload(b, device, w, ro);
  rec.set_sampling(false);
  if (series) *series = rec.series();
  return r;
}

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
                      const std::vector<json>& criteria) {
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

CertifyOutput run_certification(const CertifyInput& in) {
  CertifyOutput out;
  out.seed = draw_seed();
  const Profile& p = in.profile;

  // The suite the report records: the profile's workloads (and their fresh-input twins).
  Suite suite;
  suite.name = "certify-" + p.name;
  suite.description = p.description;
  suite.origin = p.origin;
  suite.sha256 = p.sha256;
  suite.settings = p.settings;
  suite.settings.seed = out.seed;
  for (const ProfileWorkload& pw : p.workloads) {
    Workload w = pw.workload;
    w.settings.seed = out.seed;
    suite.workloads.push_back(w);
    if (pw.cache_check) {
      suite.workloads.push_back(decoy_refill_workload(w));
      suite.workloads.push_back(fresh_input_workload(w));
    }
  }
  check_suite_fits(suite, in.backends);

  size_t total = 0;
  for (const Backend* b : in.backends) total += b->devices().size() * suite.workloads.size();
  size_t index = 0;
  const auto t0 = Clock::now();
  auto progress = [&](const Backend& b, int device, const Workload& w, double sustain) {
    if (!in.on_progress) return;
    Progress pr;
    pr.index = index;
    pr.total = total;
    pr.label = fmt::format("{}:{} {} {} {} ({:.0f} s)", b.name(), device, w.name,
                           dtype_name(w.op.dtype), shape_string(w.op), sustain);
    pr.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (index > 0)
      pr.eta_s = pr.elapsed_s / static_cast<double>(index) * static_cast<double>(total - index);
    in.on_progress(pr);
  };

  std::vector<json> criteria;
  json telemetry = json::array();
  for (Backend* b : in.backends)
    for (const DeviceInfo& d : b->devices())
      for (const ProfileWorkload& pw : p.workloads) {
        Workload w = pw.workload;
        w.settings.seed = out.seed;
        progress(*b, d.index, w, pw.sustain_s);
        ++index;
        TelemetrySeries series;
        const Result main =
            run_one(*b, d.index, w, pw.sustain_s, sample_seconds(p.settings, pw.sustain_s),
                    Inputs::same, &series);
        out.results.push_back(main);
        Evidence e;
        e.backend = b->name();
        e.device = d.index;
        e.device_name = d.name;
        e.workload = &pw;
        e.main = facts_from_result(main);
        e.telemetry = series;
        e.claims = in.claims ? &*in.claims : nullptr;
        telemetry.push_back({{"backend", b->name()},
                             {"device", d.index},
                             {"workload", w.id},
                             {"series", telemetry_series_json(series)}});
        if (pw.cache_check) {
          const Workload f = fresh_input_workload(w);
          progress(*b, d.index, decoy_refill_workload(w), pw.cache_check_s);
          index += 2;
          if (main.status == Status::ok) {
            // The baseline first, then the fresh inputs, back to back and equally long.
            const double ms = sample_seconds(p.settings, pw.cache_check_s);
            const Result base = run_one(*b, d.index, decoy_refill_workload(w), pw.cache_check_s, ms,
                                        Inputs::decoy_refill, nullptr);
            out.results.push_back(base);
            e.baseline = facts_from_result(base);
            const Result fr = run_one(*b, d.index, f, pw.cache_check_s, ms, Inputs::fresh, nullptr);
            out.results.push_back(fr);
            e.fresh = facts_from_result(fr);
          }
        }
        for (json& c : evaluate(e, p.limits)) criteria.push_back(std::move(c));
      }

  RunMeta meta = in.meta;
  meta.finished_utc = utc_timestamp();
  // The OpenMP wait policy both cache-check runs ran under (the decoy refill makes the idle time
  // between calls the same for both, whatever the policy).
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  meta.options.emplace_back("omp_wait_policy", policy ? policy : "unset (runtime default)");
  out.report = make_run_report(suite, in.backends, in.issues, out.results, meta);
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
