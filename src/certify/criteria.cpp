// Certification criteria: windows, caching check, claims, and the verdict rule.
#include "certify/criteria.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/units.h"
#include "report/enum_names.h"
#include "report/report_reader.h"

namespace suanli::certify {
namespace {

using nlohmann::json;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A number for a certificate: non-finite values become "inf" / "nan" strings (JSON has
// neither, and derive_verdict fails a non-number).
json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : "inf";
}

json nan_to_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json criterion(const Evidence& e, const std::string& workload, const std::string& name,
               json measured, const char* cmp, json limit, json basis, std::string detail) {
  const Workload& w = e.workload->workload;
  json c = {{"backend", e.backend},
            {"device", e.device},
            {"workload", workload},
            {"op", std::string(op_kind_name(w.op.kind))},
            {"dtype", std::string(dtype_name(w.op.dtype))},
            {"criterion", name},
            {"measured", std::move(measured)},
            {"comparison", cmp},
            {"limit", std::move(limit)},
            {"basis", std::move(basis)},
            {"detail", std::move(detail)}};
  c["verdict"] = std::string(verdict_name(derive_verdict(c)));
  return c;
}

// The status and verification criteria of one run.
void run_criteria(const Evidence& e, const std::string& id, const RunFacts& f, bool claimed,
                  std::vector<json>& out) {
  json basis = json::object();
  if (f.status == "unsupported") basis["claimed"] = claimed;
  std::string detail = f.reason;
  if (f.status == "unsupported")
    detail = claimed ? "claimed by the vendor but the device says unsupported: " + f.reason
                     : "not supported by the device (not claimed): " + f.reason;
  out.push_back(criterion(e, id, kStatus, f.status, "==", "ok", basis, detail));
  if (f.verified)
    out.push_back(
        criterion(e, id, kVerification, number(f.verification_error),
                  "<=", number(f.verification_bound), {{"method", f.verification_method}},
                  fmt::format("{} check of the output the timed run left", f.verification_method)));
}

}  // namespace

namespace {

// In the order of Verdict's values (criteria.h).
constexpr std::string_view kVerdictNames[] = {"PASS", "FAIL", "NOT_EVALUATED"};
static_assert(std::size(kVerdictNames) == static_cast<size_t>(Verdict::not_evaluated) + 1);

}  // namespace

std::string_view verdict_name(Verdict v) {
  return enum_name(kVerdictNames, v, "FAIL");
}

WindowDrop throughput_drop(const std::vector<double>& samples_s, double fraction) {
  WindowDrop d;
  const size_t n = samples_s.size();
  if (n < 2) {
    d.why = fmt::format("{} sample(s): a first and a last window need at least 2", n);
    return d;
  }
  const size_t k = std::max<size_t>(
      1, std::min(n / 2, static_cast<size_t>(std::floor(static_cast<double>(n) * fraction))));
  d.window = static_cast<int>(k);
  d.first = median_of({samples_s.begin(), samples_s.begin() + static_cast<std::ptrdiff_t>(k)});
  d.last = median_of({samples_s.end() - static_cast<std::ptrdiff_t>(k), samples_s.end()});
  if (!(d.first > 0) || !(d.last > 0)) {
    d.why = "non-positive sample times";
    return d;
  }
  d.evaluated = true;
  d.drop = 1.0 - d.first / d.last;
  return d;
}

WindowDrop level_drop(const std::vector<double>& t_s, const std::vector<double>& values,
                      double duration_s, double fraction) {
  WindowDrop d;
  double s0 = 0, s1 = 0;
  int n0 = 0, n1 = 0;
  for (size_t i = 0; i < t_s.size() && i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    if (t_s[i] < fraction * duration_s) s0 += values[i], ++n0;
    if (t_s[i] >= (1 - fraction) * duration_s) s1 += values[i], ++n1;
  }
  if (n0 == 0 || n1 == 0) {
    d.why = t_s.empty() || std::none_of(values.begin(), values.end(),
                                        [](double v) { return std::isfinite(v); })
                ? "the device reports no value"
                : "too few telemetry samples in the first or last window";
    return d;
  }
  d.window = std::min(n0, n1);
  d.first = s0 / n0;
  d.last = s1 / n1;
  if (!(d.first > 0)) {
    d.why = "first window's level is not positive";
    return d;
  }
  d.evaluated = true;
  d.drop = 1.0 - d.last / d.first;
  return d;
}

json telemetry_series_json(const TelemetrySeries& s) {
  json j = {{"duration_s", s.duration_s}, {"t_s", s.t_s}};
  for (const auto& [name, v] : {std::pair{"clock_mhz", &s.clock_mhz},
                                {"power_w", &s.power_w},
                                {"temperature_c", &s.temperature_c}}) {
    json a = json::array();
    for (double x : *v) a.push_back(nan_to_null(x));
    j[name] = a;
  }
  return j;
}

TelemetrySeries telemetry_series_from_json(const json& j) {
  TelemetrySeries s;
  s.duration_s = j.value("duration_s", 0.0);
  if (j.contains("t_s")) s.t_s = j["t_s"].get<std::vector<double>>();
  for (const auto& [name, v] : {std::pair{"clock_mhz", &s.clock_mhz},
                                {"power_w", &s.power_w},
                                {"temperature_c", &s.temperature_c}})
    if (j.contains(name))
      for (const json& x : j[name]) v->push_back(x.is_number() ? x.get<double>() : kNaN);
  return s;
}

RunFacts facts_from_result(const Result& r) {
  RunFacts f;
  f.status = std::string(status_name(r.status));
  f.reason = r.reason;
  f.verified = r.verified;
  f.verification_method = r.verification.method;
  f.verification_error = r.verification.error;
  f.verification_bound = r.verification.bound;
  f.sampling_s = r.sampling_seconds;
  f.samples_s = r.samples;
  f.flops_per_second = op_is_compute_bound(r.op) ? r.flops_per_second : 0;
  for (const ResultMark& m : r.marks) f.marks.emplace_back(m.kind, m.detail);
  return f;
}

RunFacts facts_from_report_result(const ReportResult& r) {
  RunFacts f;
  f.status = r.status;
  f.reason = r.reason;
  if (r.verification) {
    f.verified = true;
    f.verification_method = r.verification->method;
    f.verification_error = r.verification->error;  // a non-finite error was written as null
    f.verification_bound = r.verification->bound;
  }
  f.samples_s = r.samples_s;
  if (r.noise_seconds) f.sampling_s = *r.noise_seconds;
  f.flops_per_second = r.flops_per_second.value_or(0.0);
  for (const ResultMark& m : r.marks) f.marks.emplace_back(m.kind, m.detail);
  return f;
}

std::string shown_comparison(const json& c) {
  const std::string cmp = c.value("comparison", "");
  if (c.value("verdict", "") != "FAIL") return cmp;
  if (cmp == "<=") return ">";
  if (cmp == ">=") return "<";
  if (cmp == "==") return "!=";
  if (cmp == "within") return "outside";
  return cmp;
}

Verdict derive_verdict(const json& c) {
  const json& m = c.at("measured");
  const json& limit = c.at("limit");
  const std::string cmp = c.at("comparison").get<std::string>();
  if (c.at("criterion") == kStatus) {
    if (m == "ok") return Verdict::pass;
    if (m == "unsupported" && !c.at("basis").value("claimed", false)) return Verdict::not_evaluated;
    return Verdict::fail;
  }
  if (m.is_null()) return Verdict::not_evaluated;
  if (cmp == "within") {
    if (!m.is_number() || !limit.is_array() || limit.size() != 2 || !limit[0].is_number() ||
        !limit[1].is_number())
      return Verdict::fail;
    const double v = m.get<double>();
    return v >= limit[0].get<double>() && v <= limit[1].get<double>() ? Verdict::pass
                                                                      : Verdict::fail;
  }
  if (!m.is_number() || !limit.is_number()) return Verdict::fail;
  const double v = m.get<double>(), l = limit.get<double>();
  if (cmp == "<=") return v <= l ? Verdict::pass : Verdict::fail;
  if (cmp == ">=") return v >= l ? Verdict::pass : Verdict::fail;
  return Verdict::fail;
}

std::vector<PeakCheck> certified_peak_checks(const json& report) {
  if (!report.contains("results")) return {};
  std::set<std::tuple<std::string, int, std::string>> measured;
  for (const ReportResult& r : read_report(report).results)
    measured.emplace(r.backend, r.device, r.dtype);
  std::vector<PeakCheck> out;
  for (const PeakCheck& c : peak_checks(report))
    if (measured.count({c.backend, c.device, std::string(dtype_name(c.dtype))})) out.push_back(c);
  return out;
}

json peak_theory_criterion(const PeakCheck& c) {
  const std::string dt(dtype_name(c.dtype));
  json basis = {{"theoretical_ops_per_second", c.theoretical}, {"status", c.status()}};
  if (c.measured >= 0) {
    basis["measured_ops_per_second"] = c.measured;
    basis["source"] = c.source;
  }
  std::string detail = peak_check_line(c);
  if (c.suspect())
    detail += fmt::format(
        "; every % of peak of {} on this device rests on a theoretical peak the peak kernel "
        "contradicts (suanli rate uses the measured ceiling instead)",
        dt);
  json co = {{"backend", c.backend},
             {"device", c.device},
             {"workload", c.workload.empty() ? "peak_check:" + dt : c.workload},
             {"op", "peak"},
             {"dtype", dt},
             {"criterion", kPeakTheory},
             {"measured", c.checked() ? json(c.ratio()) : json(nullptr)},
             {"comparison", "within"},
             {"limit", {kPeakCheckLow, kPeakCheckHigh}},
             {"basis", std::move(basis)},
             {"detail", std::move(detail)}};
  co["verdict"] = std::string(verdict_name(derive_verdict(co)));
  return co;
}

std::vector<json> peak_theory_criteria(const json& report) {
  std::vector<json> out;
  for (const PeakCheck& c : certified_peak_checks(report)) out.push_back(peak_theory_criterion(c));
  return out;
}

Verdict overall_verdict(const std::vector<json>& criteria) {
  bool any_pass = false;
  for (const json& c : criteria) {
    const std::string v = c.at("verdict").get<std::string>();
    if (v == "FAIL") return Verdict::fail;
    any_pass = any_pass || v == "PASS";
  }
  return any_pass ? Verdict::pass : Verdict::fail;
}

json profile_limit(const std::string& name, const ProfileWorkload& pw, const Limits& l) {
  if (name == kStatus) return "ok";
  if (name == kSustained) return pw.sustain_s;
  if (name == kCv) return l.max_cv;
  if (name == kThrottle) return l.max_throttle_drop;
  if (name == kClock) return l.max_clock_drop;
  if (name == kClaim) return l.min_claim_fraction;
  if (name == kCache) return l.max_cache_speedup;
  if (name == kTrusted) return 0;
  return nullptr;  // verification: the bound of the check that ran
}

std::vector<std::pair<std::string, std::string>> required_criteria(const ProfileWorkload& pw,
                                                                   const std::string& main,
                                                                   const std::string& fresh) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string id = pw.workload.id;
  out.emplace_back(id, kStatus);
  if (main == "ok" || main == "failed") out.emplace_back(id, kVerification);
  if (main != "ok") return out;
  for (const char* n : {kTrusted, kSustained, kCv, kThrottle, kClock}) out.emplace_back(id, n);
  if (pw.against_claim && op_is_compute_bound(pw.workload.op)) out.emplace_back(id, kClaim);
  if (!pw.cache_check) return out;
  const std::string fid = fresh_input_workload(pw.workload).id;
  out.emplace_back(fid, kStatus);
  if (fresh == "ok" || fresh == "failed") out.emplace_back(fid, kVerification);
  if (fresh == "ok") out.emplace_back(id, kCache);
  return out;
}

namespace {

// A figure the harness's own clock or the theoretical peak contradicts cannot pass.
json trusted_criterion(const Evidence& e, const std::string& id) {
  json marks = json::array();
  std::string why;
  for (const auto& [kind, detail] : e.main.marks)
    if (kind == "timing" || kind == "above_peak" || kind == "noisy") {
      marks.push_back({{"kind", kind}, {"detail", detail}});
      why += (why.empty() ? "" : "; ") + kind + ": " + detail;
    }
  return criterion(e, id, kTrusted, static_cast<double>(marks.size()), "<=", 0, {{"marks", marks}},
                   why.empty() ? "no timing, above_peak or noisy mark on the run" : why);
}

json sustained_criterion(const Evidence& e, const std::string& id) {
  return criterion(e, id, kSustained, number(e.main.sampling_s), ">=", e.workload->sustain_s,
                   {{"samples", e.main.samples_s.size()}},
                   fmt::format("{} samples over {:.3g} s of sampling", e.main.samples_s.size(),
                               e.main.sampling_s));
}

// The CV means something only over enough samples. It is the robust CV (1.4826 x MAD / median):
// on a shared 2-core VM one sample in twenty can run 3x slow (a scheduler or hypervisor hiccup)
// and alone lift the classic CV above 0.4 on a healthy device; a device whose bulk of samples
// spreads (alternating clocks, contention) still fails it. The classic CV stays in the basis.
json cv_criterion(const Evidence& e, const std::string& id, const Limits& limits) {
  const TimeStats st = compute_stats(e.main.samples_s);
  const double rcv = robust_cv(e.main.samples_s);
  const bool cv_meaningful = e.main.samples_s.size() >= kCvMinSamples;
  return criterion(
      e, id, kCv, cv_meaningful ? number(rcv) : json(nullptr), "<=", limits.max_cv,
      {{"samples", st.samples},
       {"median_s", st.median},
       {"mean_s", st.mean},
       {"stddev_s", st.stddev},
       {"classic_cv", st.cv}},
      cv_meaningful
          ? fmt::format("robust coefficient of variation (1.4826 x median absolute deviation / "
                        "median) of the sustained run's samples; classic CV {:.3g}",
                        st.cv)
          : fmt::format("not evaluated: {} samples, a CV needs at least {}", st.samples,
                        kCvMinSamples));
}

json throttle_criterion(const Evidence& e, const std::string& id, const Limits& limits) {
  const WindowDrop td = throughput_drop(e.main.samples_s, limits.window_fraction);
  return criterion(e, id, kThrottle, td.evaluated ? number(td.drop) : json(nullptr),
                   "<=", limits.max_throttle_drop,
                   {{"window_samples", td.window},
                    {"first_window_median_s", td.first},
                    {"last_window_median_s", td.last}},
                   td.evaluated
                       ? fmt::format("throughput of the last {} samples against the first {}",
                                     td.window, td.window)
                       : td.why);
}

json clock_criterion(const Evidence& e, const std::string& id, const Limits& limits) {
  json clock_basis = json::object();
  std::string clock_detail = "no telemetry series";
  json clock_measured = nullptr;
  if (e.telemetry) {
    const TelemetrySeries& t = *e.telemetry;
    const WindowDrop cd = level_drop(t.t_s, t.clock_mhz, t.duration_s, limits.window_fraction);
    const WindowDrop pd = level_drop(t.t_s, t.power_w, t.duration_s, limits.window_fraction);
    clock_basis = {{"telemetry_samples", t.t_s.size()},
                   {"first_window_mhz", cd.evaluated ? json(cd.first) : json(nullptr)},
                   {"last_window_mhz", cd.evaluated ? json(cd.last) : json(nullptr)},
                   {"first_window_power_w", pd.evaluated ? json(pd.first) : json(nullptr)},
                   {"last_window_power_w", pd.evaluated ? json(pd.last) : json(nullptr)}};
    if (cd.evaluated) {
      clock_measured = number(cd.drop);
      clock_detail = fmt::format(
          "mean clock {:.0f} MHz in the first window, {:.0f} MHz in the last", cd.first, cd.last);
    } else {
      clock_detail = "clock not evaluated: " + cd.why;
    }
  }
  return criterion(e, id, kClock, clock_measured, "<=", limits.max_clock_drop, clock_basis,
                   clock_detail);
}

// Against the vendor's claim for this device and dtype (only for compute-bound workloads the
// profile holds against a claim).
json claim_criterion(const Evidence& e, const std::string& id, const Limits& limits,
                     const std::optional<Claim>& claim) {
  const Workload& w = e.workload->workload;
  const std::string unit = dtype_is_integer(w.op.dtype) ? "OP/s" : "FLOP/s";
  if (!e.claims)
    return criterion(e, id, kClaim, nullptr, ">=", limits.min_claim_fraction,
                     {{"flops_per_second", e.main.flops_per_second}},
                     "not evaluated: no claims file given");
  if (!claim)
    return criterion(e, id, kClaim, nullptr, ">=", limits.min_claim_fraction,
                     {{"flops_per_second", e.main.flops_per_second}},
                     fmt::format("not evaluated: {} has no dense {} claim matching '{}'",
                                 e.claims->origin, dtype_name(w.op.dtype), e.device_name));
  return criterion(
      e, id, kClaim, number(e.main.flops_per_second / claim->flops_per_second),
      ">=", limits.min_claim_fraction,
      {{"flops_per_second", e.main.flops_per_second},
       {"claimed_flops_per_second", claim->flops_per_second},
       {"claim_device", claim->device},
       {"claim_source", claim->source}},
      fmt::format("median {} of the claimed {} ({})", format_si(e.main.flops_per_second, unit),
                  format_si(claim->flops_per_second, unit), claim->source));
}

// The fresh-input run's own criteria and the caching check against it.
void cache_criteria(const Evidence& e, const std::string& id, const Limits& limits,
                    std::vector<json>& out) {
  const std::string fid = fresh_input_workload(e.workload->workload).id;
  run_criteria(e, fid, *e.fresh, false, out);
  if (e.fresh->status != "ok") return;
  // Like with like: the baseline is the decoy-refill run (same inputs, the same refill work
  // into scratch buffers before every call) when it ran ok, else the main run.
  const bool decoy = e.baseline && e.baseline->status == "ok" && !e.baseline->samples_s.empty();
  const RunFacts& base = decoy ? *e.baseline : e.main;
  const double rep = median_of(base.samples_s), fr = median_of(e.fresh->samples_s);
  out.push_back(
      criterion(e, id, kCache, number(fr / rep - 1.0), "<=", limits.max_cache_speedup,
                {{"repeated_median_s", rep},
                 {"fresh_median_s", fr},
                 {"fresh_samples", e.fresh->samples_s.size()},
                 {"baseline", decoy ? "decoy refill" : "main run"},
                 {"main_median_s", median_of(e.main.samples_s)}},
                fmt::format("same inputs every call{}: {} per op; fresh inputs before every timed "
                            "call: {}",
                            decoy ? " (with the same refill work into scratch buffers)" : "",
                            format_duration(rep), format_duration(fr))));
}

}  // namespace

std::vector<json> evaluate(const Evidence& e, const Limits& limits) {
  const ProfileWorkload& pw = *e.workload;
  const Workload& w = pw.workload;
  const std::string id = w.id;
  std::vector<json> out;

  // The vendor's claim for this device and dtype, when a claims file was given.
  std::optional<Claim> claim;
  if (e.claims) claim = e.claims->find(e.device_name, w.op.dtype);
  const bool claimed = pw.against_claim && claim.has_value();

  run_criteria(e, id, e.main, claimed, out);
  if (e.main.status != "ok") return out;
  out.push_back(trusted_criterion(e, id));
  out.push_back(sustained_criterion(e, id));
  out.push_back(cv_criterion(e, id, limits));
  out.push_back(throttle_criterion(e, id, limits));
  out.push_back(clock_criterion(e, id, limits));
  if (pw.against_claim && op_is_compute_bound(w.op))
    out.push_back(claim_criterion(e, id, limits, claim));
  if (pw.cache_check && e.fresh) cache_criteria(e, id, limits, out);
  return out;
}

}  // namespace suanli::certify
