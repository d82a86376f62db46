// The report model as JSON: statistics, result serialisation, hashing, atomic writing and checking.
#include "report/report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>

#include "core/error.h"
#include "core/op_traits.h"
#include "core/units.h"
#include "report/enum_names.h"
#include "report/hash.h"
#include "report/json_schema.h"
#include "report/report_reader.h"

namespace suanli {

using nlohmann::json;

namespace {

// In the order of the enums' values (report.h).
constexpr std::string_view kStatusNames[] = {"ok", "unsupported", "skipped", "failed", "error"};
static_assert(std::size(kStatusNames) == static_cast<size_t>(Status::error) + 1);
constexpr std::string_view kStopReasonTexts[] = {
    "not finished",         "noise target reached",       "time limit reached",
    "sample limit reached", "sustained duration reached", "one run (timed as a single solve)"};
static_assert(std::size(kStopReasonTexts) == static_cast<size_t>(StopReason::single_run) + 1);

}  // namespace

std::string_view status_name(Status s) {
  return enum_name(kStatusNames, s, "error");
}

std::string_view stop_reason_text(StopReason s) {
  return enum_name(kStopReasonTexts, s, "not finished");
}

TimeStats compute_stats(const std::vector<double>& v) {
  TimeStats t;
  t.samples = static_cast<int>(v.size());
  if (v.empty()) return t;
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  double sum = 0;
  for (double x : s) sum += x;
  t.mean = sum / static_cast<double>(s.size());
  const size_t n = s.size();
  t.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  double ss = 0;
  for (double x : s) ss += (x - t.mean) * (x - t.mean);
  // Sample standard deviation, as Google Benchmark's aggregates compute it.
  t.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  t.cv = t.mean > 0 ? t.stddev / t.mean : 0.0;
  t.min = s.front();
  t.max = s.back();
  return t;
}

double median_of(std::vector<double> v) {
  const size_t n = v.size();
  if (n == 0) return 0.0;
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double upper = v[n / 2];
  if (n % 2) return upper;
  return 0.5 * (*std::max_element(v.begin(), v.begin() + n / 2) + upper);
}

double median_absolute_deviation(const std::vector<double>& v, double median) {
  std::vector<double> deviation;
  deviation.reserve(v.size());
  for (double x : v) deviation.push_back(std::fabs(x - median));
  return median_of(std::move(deviation));
}

double robust_cv(const std::vector<double>& v) {
  const double median = median_of(v);
  return median > 0 ? 1.4826 * median_absolute_deviation(v, median) / median : 0.0;
}

json time_stats_json(const TimeStats& t) {
  return {{"samples", t.samples}, {"mean", t.mean}, {"median", t.median}, {"stddev", t.stddev},
          {"cv", t.cv},           {"min", t.min},   {"max", t.max}};
}

Tally tally(const std::vector<Result>& results) {
  Tally t;
  t.results = results.size();
  for (const Result& r : results) {
    size_t* const by_status[] = {&t.ok, &t.unsupported, &t.skipped, &t.failed, &t.error};
    ++*by_status[static_cast<size_t>(r.status)];
    for (const ResultMark& m : r.marks) {
      if (m.kind == "noisy") ++t.noisy;
      if (m.kind == "slowdown") ++t.slowdown;
      if (m.kind == "timing") ++t.timing;
      if (m.kind == "above_peak") ++t.above_peak;
    }
  }
  return t;
}

std::string tally_line(const Tally& t) {
  return fmt::format(
      "results: {}  ok: {}  unsupported: {}  skipped: {}  failed: {}  error: {}  "
      "marked noisy: {}  slowdown: {}  timing: {}  above peak: {}",
      t.results, t.ok, t.unsupported, t.skipped, t.failed, t.error, t.noisy, t.slowdown, t.timing,
      t.above_peak);
}

bool result_is_marked(const json& r) {
  return r.contains("marks") && r["marks"].is_array() && !r["marks"].empty();
}

std::string result_mark_kinds(const json& r) {
  std::string out;
  if (!result_is_marked(r)) return out;
  for (const json& m : r["marks"]) {
    if (!m.is_object() || !m.contains("kind") || !m["kind"].is_string()) continue;
    if (!out.empty()) out += ",";
    out += m["kind"].get<std::string>();
  }
  return out;
}

std::string PeakCheck::status() const {
  if (!inconclusive.empty()) return "inconclusive";
  if (!checked()) return "not checked";
  return suspect() ? "suspect" : "ok";
}

namespace {

// A probe marked only noisy still decides where the disturbance cannot explain the miss: other
// processes only slow a kernel down, so a median above the range, or a fastest sample below it,
// holds. Any other mark (slowdown: the machine ran slower than at the start) leaves it open.
void judge_marked_probe(PeakCheck& c, const ReportResult& r) {
  if (c.inconclusive != "noisy" || c.theoretical <= 0) return;
  const double best = r.flops_per_second_best.value_or(-1.0);
  if (c.measured > kPeakCheckHigh * c.theoretical) {
    c.inconclusive.clear();
  } else if (best >= 0 && best < kPeakCheckLow * c.theoretical) {
    c.inconclusive.clear();
    c.measured = best, c.figure = "fastest sample";
  }
}

// The best counted, unmarked peak result of one device and dtype among `results` (source
// "suite"); with `probe`, the probe's result (source "probe"): marked or not when the suite gave
// no figure, unmarked and faster than the suite's when it did (a shallow suite workload loses
// time to the threads' fork/join; the faster verified figure is the tighter one).
void find_peak_result(PeakCheck& c, const std::vector<ReportResult>& results, const char* source) {
  const bool probe = std::string_view(source) == "probe";
  const bool have = c.measured >= 0;
  for (const ReportResult& r : results) {
    if (r.backend != c.backend || r.device != c.device || r.op != "peak" ||
        r.dtype != dtype_name(c.dtype))
      continue;
    if (!r.counts()) {
      if (probe && !have) c.why_not = fmt::format("the peak probe ended {}: {}", r.status, r.reason);
      continue;
    }
    if (r.marked && (!probe || have)) continue;
    const double v = r.flops_per_second.value_or(-1.0);
    if (v <= c.measured) continue;
    c.measured = v, c.workload = r.workload, c.source = source, c.figure = "median";
    c.inconclusive = r.marked ? r.mark_kinds() : "";
    if (!c.inconclusive.empty()) judge_marked_probe(c, r);
  }
}

// Why a peak has no figure: the probe off, or a dtype the run does not measure (not probed).
std::string why_not_checked(const ReportDocument& doc, const PeakCheck& c, const std::string& dt) {
  const std::string base = "no verified, unmarked peak workload in this run";
  if (doc.peak_probe_off) return base + "; peak probe off";
  const bool measured = std::any_of(doc.results.begin(), doc.results.end(), [&](const auto& r) {
    return r.backend == c.backend && r.device == c.device && r.dtype == dt;
  });
  return measured || doc.peak_probes.empty()
             ? base
             : base + "; the run measures no " + dt + ": not probed";
}

}  // namespace

std::vector<PeakCheck> peak_checks(const json& report) {
  std::vector<PeakCheck> out;
  if (!report.contains("backends") || !report.contains("results")) return out;
  const ReportDocument doc = read_report(report);
  for (const ReportBackend& b : doc.backends)
    for (const ReportDevice& d : b.devices)
      for (const ReportPeak& p : d.peaks) {
        PeakCheck c;
        c.backend = b.name;
        c.device = d.index;
        c.dtype = dtype_from_name(p.dtype).value_or(Dtype::invalid);
        c.theoretical = p.ops_per_second;
        find_peak_result(c, doc.results, "suite");
        find_peak_result(c, doc.peak_probes, "probe");
        if (c.measured < 0 && c.why_not.empty()) c.why_not = why_not_checked(doc, c, p.dtype);
        out.push_back(c);
      }
  return out;
}

json peak_check_json(const PeakCheck& c) {
  json j = {{"backend", c.backend},
            {"device", c.device},
            {"dtype", std::string(dtype_name(c.dtype))},
            {"theoretical_ops_per_second", c.theoretical},
            {"status", c.status()},
            {"range", {kPeakCheckLow, kPeakCheckHigh}}};
  if (c.measured >= 0) {
    j["measured_ops_per_second"] = c.measured;
    if (c.theoretical > 0) j["ratio"] = c.ratio();
    j["workload"] = c.workload;
    j["source"] = c.source;
    if (c.figure != "median") j["figure"] = c.figure;
  }
  if (!c.inconclusive.empty()) j["marks"] = c.inconclusive;
  if (c.measured < 0 && !c.why_not.empty()) j["reason"] = c.why_not;
  return j;
}

PeakCheck peak_check_from_json(const json& j) {
  PeakCheck c;
  c.backend = j.value("backend", "");
  c.device = j.value("device", 0);
  c.dtype = dtype_from_name(j.value("dtype", "")).value_or(Dtype::invalid);
  c.theoretical = j.value("theoretical_ops_per_second", 0.0);
  c.measured = j.value("measured_ops_per_second", -1.0);
  c.workload = j.value("workload", "");
  c.source = j.value("source", "suite");
  c.inconclusive = j.value("marks", "");
  c.why_not = j.value("reason", "");
  c.figure = j.value("figure", "median");
  return c;
}

std::string peak_check_line(const PeakCheck& c) {
  const std::string unit = dtype_is_integer(c.dtype) ? "OP/s" : "FLOP/s";
  const std::string head = fmt::format("{}:{} {} theoretical {}", c.backend, c.device,
                                       dtype_name(c.dtype), format_si(c.theoretical, unit));
  if (c.measured < 0)
    return fmt::format("{}, not checked ({})", head,
                       c.why_not.empty() ? "no verified, unmarked peak workload" : c.why_not);
  const std::string figure =
      fmt::format("{}, peak kernel ({}{}) {} ({:.1f}%)", head, c.source,
                  c.figure == "median" ? "" : ", " + c.figure + " of a noisy run",
                  format_si(c.measured, unit), 100.0 * c.ratio());
  if (!c.inconclusive.empty())
    return figure + fmt::format(": inconclusive (the probe was marked {}: the machine was busy)",
                                c.inconclusive);
  return figure + (c.suspect() ? fmt::format(": SUSPECT (outside {:.0f}%..{:.0f}%)",
                                             100 * kPeakCheckLow, 100 * kPeakCheckHigh)
                               : "");
}

json op_shape_json(const OpDesc& op) {
  json j = json::object();
  for (const ShapeField& f : op_traits(op.kind).shape_fields(op))
    std::visit([&](const auto& v) { j[f.name] = v; }, f.value);
  return j;
}

json result_to_json(const Result& r) {
  if (!r.recorded.is_null()) return r.recorded;
  const OperandTypes types = operand_types(r.op);
  json j = {{"workload", r.workload},
            {"name", r.name},
            {"op", std::string(op_kind_name(r.op.kind))},
            {"dtype", std::string(dtype_name(r.op.dtype))},
            {"accumulate", std::string(dtype_name(types.compute))},
            {"shape", op_shape_json(r.op)},
            {"shape_text", shape_string(r.op)},
            {"backend", r.backend},
            {"device", r.device},
            {"status", std::string(status_name(r.status))},
            {"flops", r.flops},
            {"bytes", r.bytes}};
  json operands = json::object();  // the storage types, where the op has that operand
  for (const auto& [name, t] : {std::pair{"a", types.a}, {"b", types.b}, {"c", types.c}})
    if (t != Dtype::invalid) operands[name] = std::string(dtype_name(t));
  j["operands"] = operands;
  if (r.status != Status::ok) j["reason"] = r.reason;
  if (!r.library.empty()) j["library"] = r.library;
  if (!r.implementation.empty()) j["implementation"] = r.implementation;
  if (!r.samples.empty()) {
    j["iterations"] = r.iterations;
    j["iterations_per_sample"] = r.iterations_per_sample;
    j["samples_s"] = r.samples;
    j["time_s"] = time_stats_json(r.time);
    j["throughput_unit"] = !op_is_compute_bound(r.op)     ? "B/s"
                           : dtype_is_integer(r.op.dtype) ? "OP/s"
                                                          : "FLOP/s";
    if (op_is_compute_bound(r.op)) {
      j["flops_per_second"] = r.flops_per_second;
      j["flops_per_second_best"] = r.flops_per_second_best;
      if (r.peak_fraction >= 0) j["peak_fraction"] = r.peak_fraction;
    }
    if (r.bytes > 0) j["bytes_per_second"] = r.bytes_per_second;
    j["noise"] = {{"target_cv", r.noise_target},
                  {"reached_cv", r.noise_reached},
                  {"rounds", r.rounds},
                  {"stop_reason", std::string(stop_reason_text(r.stop_reason))},
                  {"seconds", r.sampling_seconds}};
    if (r.noisy) j["noisy"] = true;
  }
  if (r.host_timing.calls > 0)
    j["host_timing"] = {{"calls", r.host_timing.calls},
                        {"device_s", r.host_timing.device_s},
                        {"wall_s", r.host_timing.wall_s},
                        {"device_over_wall", r.host_timing.device_over_wall()}};
  if (r.probe.before > 0 && r.probe.after > 0)
    j["host_probe"] = {{"before_steps_per_second", r.probe.before},
                       {"after_steps_per_second", r.probe.after},
                       {"reference_steps_per_second", r.probe.reference},
                       {"slowdown", r.probe.slowdown}};
  if (!r.marks.empty()) {
    j["marks"] = json::array();
    for (const ResultMark& m : r.marks)
      j["marks"].push_back({{"kind", m.kind}, {"detail", m.detail}});
  }
  if (r.verified)
    j["verification"] = {{"method", r.verification.method},
                         {"passed", r.verification.passed},
                         {"error", r.verification.error},
                         {"bound", r.verification.bound},
                         {"detail", r.verification.detail}};
  if (r.telemetry.samples > 0) {
    json t = {{"samples", r.telemetry.samples}};
    if (r.telemetry.power_w_mean >= 0) t["power_w_mean"] = r.telemetry.power_w_mean;
    if (r.telemetry.energy_j >= 0) t["energy_j"] = r.telemetry.energy_j;
    if (r.telemetry.temperature_c_max >= 0) t["temperature_c_max"] = r.telemetry.temperature_c_max;
    if (r.telemetry.clock_mhz_mean >= 0) t["clock_mhz_mean"] = r.telemetry.clock_mhz_mean;
    j["telemetry"] = t;
  }
  if (!r.model.is_null()) {  // a whole network (src/model): its own op, shape and figures
    j["op"] = "model";
    j["operands"] = json::object();
    j["accumulate"] = std::string(dtype_name(types.compute));
    j["shape"] = {{"model", r.model.value("model", "")}, {"batch", r.model.value("batch", 0)}};
    j["shape_text"] = fmt::format("batch {}", r.model.value("batch", 0));
    if (r.model.value("mode", "inference") == "training") {
      j["shape"]["mode"] = "training";
      j["shape_text"] = fmt::format("batch {}, training step", r.model.value("batch", 0));
    }
    j["model"] = r.model;
  }
  if (!r.hpl.is_null()) {  // a linear-system solve (src/hpl): HPL or HPL-MxP
    j["op"] = r.hpl.value("op", "hpl");
    j["operands"] = json::object();
    j["accumulate"] = r.hpl.value("op", "hpl") == "hpl" ? "fp64" : "fp32";
    j["shape"] = {{"n", r.hpl.value("n", 0)}, {"nb", r.hpl.value("nb", 0)}};
    j["shape_text"] = fmt::format("n {} nb {}", r.hpl.value("n", 0), r.hpl.value("nb", 0));
    j["hpl"] = r.hpl;
  }
  return j;
}

std::string report_sha256(const json& report) {
  json copy = report;
  copy.erase("sha256");
  copy.erase("signature");  // a keyed signature over the hash (certify/report_sign.h)
  // nlohmann's objects keep keys sorted, so dump() without indentation is canonical.
  return sha256_hex(copy.dump());
}

void seal_report(json& report) {
  report["sha256"] = report_sha256(report);
}

void check_report(const json& report, const std::string& origin) {
  if (!report.is_object() || !report.contains("schema_version") ||
      !report["schema_version"].is_string())
    throw InputError(
        fmt::format("{}: not a suanli report (no \"schema_version\" string at /)", origin));
  const std::string v = report["schema_version"].get<std::string>();
  const int major = std::atoi(v.c_str());
  if (major != kReportSchemaMajor)
    throw InputError(
        fmt::format("{}: report schema version {} is not readable by this suanli, "
                    "which reads major version {} (at /schema_version)",
                    origin, v, kReportSchemaMajor));
  const std::vector<SchemaError> errors = validate_against_schema(report, "report.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format("{}: not a valid report: at {}: {}", origin, errors.front().path,
                                 errors.front().message));
  if (!report.contains("sha256") || report["sha256"] != report_sha256(report))
    throw InputError(
        fmt::format("{}: report hash mismatch at /sha256: the file was edited after "
                    "it was written",
                    origin));
}

}  // namespace suanli

namespace suanli {

Result result_from_json(const json& j) {
  // NaN and infinities are written as null: read back as 0.
  auto num = [&j](const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  Result r;
  try {
    r.workload = j.at("workload").get<std::string>();
    r.name = j.value("name", r.workload);
    r.backend = j.at("backend").get<std::string>();
    r.device = j.at("device").get<int>();
    const std::string status = j.at("status").get<std::string>();
    const std::optional<Status> known = enum_from_name<Status>(kStatusNames, status);
    if (!known) throw InputError("unknown status '" + status + "'");
    r.status = *known;
    r.reason = j.value("reason", "");
    if (auto d = dtype_from_name(j.value("dtype", "fp32"))) r.op.dtype = *d;
    r.flops = num("flops");
    r.bytes = num("bytes");
    r.flops_per_second = num("flops_per_second");
    r.bytes_per_second = num("bytes_per_second");
    r.library = j.value("library", "");
    r.implementation = j.value("implementation", "");
    if (j.contains("model")) r.model = j["model"];
    if (j.contains("hpl")) r.hpl = j["hpl"];
    // What the parent needs of a worker's result: the marks (tally, summary) and the host probe
    // (the run's probe reference).
    if (const auto m = j.find("marks"); m != j.end() && m->is_array())
      for (const json& mark : *m)
        r.marks.push_back({mark.at("kind").get<std::string>(), mark.value("detail", "")});
    if (const auto p = j.find("host_probe"); p != j.end() && p->is_object()) {
      r.probe.before = p->value("before_steps_per_second", -1.0);
      r.probe.after = p->value("after_steps_per_second", -1.0);
      r.probe.reference = p->value("reference_steps_per_second", -1.0);
      r.probe.slowdown = p->value("slowdown", 0.0);
    }
  } catch (const json::exception& e) {
    throw InputError(std::string("a recorded result is malformed: ") + e.what());
  }
  r.recorded = j;
  return r;
}

}  // namespace suanli
