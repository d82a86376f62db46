// The typed report reader (report_reader.h).
#include "report/report_reader.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace suanli {

using nlohmann::json;

namespace {

std::optional<double> number_at(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string string_at(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ReportVerification read_verification(const json& v) {
  ReportVerification out;
  out.method = string_at(v, "method");
  out.passed = v.value("passed", false);
  out.error = number_at(v, "error").value_or(std::numeric_limits<double>::infinity());
  out.bound = number_at(v, "bound").value_or(std::numeric_limits<double>::quiet_NaN());
  out.detail = string_at(v, "detail");
  return out;
}

TimeStats read_time(const json& t) {
  TimeStats s;
  s.samples = t.value("samples", 0);
  s.mean = number_at(t, "mean").value_or(0);
  s.median = number_at(t, "median").value_or(0);
  s.stddev = number_at(t, "stddev").value_or(0);
  s.cv = number_at(t, "cv").value_or(0);
  s.min = number_at(t, "min").value_or(0);
  s.max = number_at(t, "max").value_or(0);
  return s;
}

TelemetrySummary read_telemetry(const json& t) {
  TelemetrySummary s;
  s.samples = t.value("samples", 0);
  s.power_w_mean = number_at(t, "power_w_mean").value_or(-1);
  s.energy_j = number_at(t, "energy_j").value_or(-1);
  s.temperature_c_max = number_at(t, "temperature_c_max").value_or(-1);
  s.clock_mhz_mean = number_at(t, "clock_mhz_mean").value_or(-1);
  return s;
}

ReportHpl read_hpl(const json& h) {
  ReportHpl out;
  out.n = h.value("n", int64_t{0});
  out.nb = h.value("nb", int64_t{0});
  if (const auto it = h.find("refinement"); it != h.end() && it->is_object())
    out.refinement_iterations = it->value("iterations", int64_t{0});
  return out;
}

ReportDevice read_device(const json& d) {
  ReportDevice out;
  out.index = d.value("index", 0);
  out.name = string_at(d, "name");
  out.vendor = string_at(d, "vendor");
  out.kind = string_at(d, "kind");
  out.memory_bytes = number_at(d, "memory_bytes").value_or(0);
  out.compute_units = d.value("compute_units", 0);
  out.clock_mhz = number_at(d, "clock_mhz").value_or(0);
  out.max_clock_mhz = number_at(d, "max_clock_mhz").value_or(-1);
  for (const json& p : d.value("peaks", json::array()))
    out.peaks.push_back({p.at("dtype").get<std::string>(), p.at("ops_per_second").get<double>(),
                         p.at("derivation").get<std::string>()});
  if (d.contains("extra")) out.extra = d["extra"];
  return out;
}

}  // namespace

ModelMetrics read_model_metrics(const json& m) {
  ModelMetrics out;
  out.model = string_at(m, "model");
  out.origin = string_at(m, "origin");
  if (const auto it = m.find("mode"); it != m.end() && it->is_string())
    out.mode = it->get<std::string>();
  out.batch = m.value("batch", int64_t{0});
  out.sample_unit = string_at(m, "sample_unit");
  out.samples_per_second = number_at(m, "samples_per_second");
  out.samples_per_second_best = number_at(m, "samples_per_second_best");
  out.tokens_per_second = number_at(m, "tokens_per_second");
  out.weight_kv_bytes_per_second = number_at(m, "weight_kv_bytes_per_second");
  if (const auto it = m.find("latency_s"); it != m.end() && it->is_object())
    out.latency =
        ModelMetrics::Latency{it->value("queries", int64_t{0}), number_at(*it, "p50").value_or(0),
                              number_at(*it, "p90").value_or(0), number_at(*it, "p99").value_or(0)};
  return out;
}

std::string ReportResult::mark_kinds() const {
  std::string out;
  for (const ResultMark& m : marks) out += (out.empty() ? "" : ",") + m.kind;
  return out;
}

ReportResult read_report_result(const json& r) {
  ReportResult out;
  out.workload = r.at("workload").get<std::string>();
  out.name = string_at(r, "name");
  out.op = r.at("op").get<std::string>();
  out.dtype = r.at("dtype").get<std::string>();
  out.backend = r.at("backend").get<std::string>();
  out.device = r.at("device").get<int>();
  out.status = r.at("status").get<std::string>();
  out.reason = string_at(r, "reason");
  out.shape_text = string_at(r, "shape_text");
  if (const auto it = r.find("shape"); it != r.end() && it->is_object())
    out.shape_kind = string_at(*it, "kind");
  if (const auto it = r.find("throughput_unit"); it != r.end() && it->is_string())
    out.throughput_unit = it->get<std::string>();
  out.flops = number_at(r, "flops").value_or(0);
  out.bytes = number_at(r, "bytes").value_or(0);
  out.flops_per_second = number_at(r, "flops_per_second");
  out.flops_per_second_best = number_at(r, "flops_per_second_best");
  out.bytes_per_second = number_at(r, "bytes_per_second");
  if (const auto it = r.find("samples_s"); it != r.end() && it->is_array())
    for (const json& x : *it) out.samples_s.push_back(x.is_number() ? x.get<double>() : 0.0);
  if (const auto it = r.find("time_s"); it != r.end() && it->is_object()) out.time = read_time(*it);
  if (const auto it = r.find("noise"); it != r.end() && it->is_object()) {
    out.noise_reached_cv = number_at(*it, "reached_cv").value_or(0);
    out.noise_seconds = number_at(*it, "seconds").value_or(0);
  }
  if (const auto it = r.find("telemetry"); it != r.end() && it->is_object())
    out.telemetry = read_telemetry(*it);
  if (const auto it = r.find("marks"); it != r.end() && it->is_array() && !it->empty()) {
    out.marked = true;
    for (const json& m : *it)
      if (m.is_object() && m.contains("kind") && m["kind"].is_string())
        out.marks.push_back({m["kind"].get<std::string>(), string_at(m, "detail")});
  }
  if (const auto it = r.find("verification"); it != r.end() && it->is_object())
    out.verification = read_verification(*it);
  if (const auto it = r.find("hpl"); it != r.end() && it->is_object()) out.hpl = read_hpl(*it);
  if (const auto it = r.find("model"); it != r.end() && it->is_object())
    out.model = read_model_metrics(*it);
  return out;
}

const ReportResult* ReportDocument::find(const std::string& backend, int device,
                                         const std::string& workload) const {
  for (const ReportResult& r : results)
    if (r.backend == backend && r.device == device && r.workload == workload) return &r;
  return nullptr;
}

ReportDocument read_report(const json& report, const std::string& origin) {
  ReportDocument doc;
  try {
    doc.schema_version = string_at(report, "schema_version");
    doc.sha256 = string_at(report, "sha256");
    if (const auto it = report.find("host"); it != report.end() && it->is_object())
      doc.hostname = string_at(*it, "hostname");
    if (const auto it = report.find("options"); it != report.end() && it->is_object()) {
      doc.concurrent_devices = string_at(*it, "concurrent_devices") == "true";
      doc.peak_probe_off = string_at(*it, "peak_probe") == "off";
    }
    if (const auto it = report.find("suite");
        it != report.end() && it->is_object() && it->contains("settings"))
      doc.seed = (*it)["settings"].value("seed", json());
    if (const auto it = report.find("certification"); it != report.end() && it->is_object()) {
      doc.certification_seed = it->value("seed", json());
      for (const json& t : it->value("telemetry", json::array()))
        doc.certification_telemetry.push_back(
            {t.at("backend").get<std::string>(), t.at("device").get<int>(),
             t.at("workload").get<std::string>(), t.at("series")});
    }
    for (const json& b : report.at("backends")) {
      ReportBackend backend;
      backend.name = string_at(b, "name");
      backend.version = string_at(b, "version");
      backend.path = string_at(b, "path");
      for (const json& d : b.value("devices", json::array()))
        backend.devices.push_back(read_device(d));
      doc.backends.push_back(std::move(backend));
    }
    for (const json& r : report.at("results")) doc.results.push_back(read_report_result(r));
    for (const json& r : report.value("peak_probes", json::array()))
      doc.peak_probes.push_back(read_report_result(r));
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not a readable report: {}", origin, e.what()));
  }
  return doc;
}

}  // namespace suanli
