// Report loading, flattening into rows, CSV and Markdown (see export.h).
#include "export/export.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/text.h"
#include "core/units.h"
#include "export/rows.h"
#include "report/json_schema.h"
#include "report/report.h"

namespace suanli::exports {

using nlohmann::json;

namespace {

std::string device_name_of(const json& report, const std::string& backend, int index) {
  for (const json& b : report.value("backends", json::array())) {
    if (b.value("name", "") != backend) continue;
    for (const json& d : b.value("devices", json::array()))
      if (d.value("index", -1) == index) return d.value("name", "");
  }
  return "";
}

void fill_model(ResultRow& row, const json& r) {
  const json& m = r.at("model");
  if (!m.is_object()) return;
  row.model = m.value("model", row.name);
  row.mode = m.value("mode", "inference");
  row.batch = std::to_string(m.value("batch", 0));
  row.samples_per_second = m.value("samples_per_second", -1.0);
  row.sample_unit = m.value("sample_unit", "");
}

ResultRow make_row(const ReportDoc& rep, const json& r) {
  ResultRow row;
  row.result = &r;
  row.report = rep.origin;
  row.host = rep.doc.at("host").value("hostname", "");
  row.suite = rep.doc.contains("suite") ? rep.doc["suite"].value("name", "") : "";
  row.backend = r.value("backend", "");
  const int index = r.value("device", 0);
  row.device = fmt::format("{}:{}", row.backend, index);
  row.device_name = device_name_of(rep.doc, row.backend, index);
  row.workload = r.value("workload", "");
  row.name = r.value("name", "");
  row.op = r.value("op", "");
  row.dtype = r.value("dtype", "");
  row.shape = r.value("shape_text", "");
  if (r.contains("model")) fill_model(row, r);
  row.status = r.value("status", "error");
  if (r.contains("verification") && r["verification"].is_object())
    row.verified = r["verification"].value("passed", false) ? "true" : "false";
  row.measured = (row.status == "ok" || row.status == "failed") && r.contains("time_s");
  if (row.measured) {
    const json& t = r.at("time_s");
    row.time_median_s = t.value("median", 0.0);
    row.time_min_s = t.value("min", 0.0);
    row.time_cv = t.value("cv", 0.0);
    row.samples = t.value("samples", 0);
    row.throughput_unit = r.value("throughput_unit", "FLOP/s");
    if (row.throughput_unit == "B/s")
      row.bytes_per_second = r.value("bytes_per_second", -1.0);
    else
      row.flops_per_second = r.value("flops_per_second", -1.0);
    row.peak_fraction = r.value("peak_fraction", -1.0);
  }
  row.library = r.value("library", "");
  row.implementation = r.value("implementation", "");
  row.reason = r.value("reason", "");
  return row;
}

std::string tally_text(const json& report) {
  const json& t = report.value("tally", json::object());
  return fmt::format("{} results: {} ok, {} unsupported, {} skipped, {} failed, {} error",
                     t.value("results", 0), t.value("ok", 0), t.value("unsupported", 0),
                     t.value("skipped", 0), t.value("failed", 0), t.value("error", 0));
}

std::string markdown_row(const ResultRow& r) {
  const std::string throughput = !r.measured               ? "-"
                                 : r.bytes_per_second >= 0 ? format_si(r.bytes_per_second, "B/s")
                                 : r.flops_per_second >= 0
                                     ? format_si(r.flops_per_second, r.throughput_unit)
                                     : "-";
  const std::string what = r.measured ? r.library : r.reason;
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                     markdown_cell_escape(r.device), markdown_cell_escape(r.workload), r.dtype,
                     markdown_cell_escape(r.shape), r.status,
                     r.measured ? format_duration(r.time_median_s) : "-", throughput,
                     r.peak_fraction >= 0 ? fmt::format("{:.1f} %", 100 * r.peak_fraction) : "-",
                     r.verified.empty() ? "-" : (r.verified == "true" ? "yes" : "**NO**"),
                     markdown_cell_escape(what));
}

// The fields of csv_columns() for one result.
std::vector<std::string> csv_row(const ResultRow& r) {
  const bool m = r.measured;
  // clang-format off
  return {r.report, r.host, r.suite, r.backend, r.device, r.device_name, r.workload, r.name, r.op,
          r.dtype, r.shape, r.model, r.mode, r.batch, r.status, r.verified,
          m ? number_text(r.time_median_s) : "", m ? number_text(r.time_min_s) : "",
          m ? number_text(r.time_cv) : "", m ? std::to_string(r.samples) : "",
          number_text(r.flops_per_second), number_text(r.bytes_per_second), r.throughput_unit,
          number_text(r.peak_fraction), number_text(r.samples_per_second), r.sample_unit,
          r.library, r.implementation, r.reason};
  // clang-format on
}

}  // namespace

std::string number_text(double v, bool absent_below_zero) {
  if (absent_below_zero && v < 0) return "";
  return fmt::format("{}", v);
}

std::vector<ResultRow> result_rows(const ReportDoc& report) {
  std::vector<ResultRow> rows;
  for (const json& r : report.doc.at("results")) rows.push_back(make_row(report, r));
  return rows;
}

ReportDoc load_report(const std::string& path) {
  ReportDoc d{path, read_json_file(path)};
  check_report(d.doc, path);
  return d;
}

std::optional<Format> format_from_name(std::string_view name) {
  if (name == "csv") return Format::csv;
  if (name == "md" || name == "markdown") return Format::md;
  if (name == "openmetrics" || name == "prometheus") return Format::openmetrics;
  if (name == "gbench-json") return Format::gbench_json;
  return std::nullopt;
}

const std::vector<std::string>& csv_columns() {
  // clang-format off
  static const std::vector<std::string> columns = {
      "report", "host", "suite", "backend", "device", "device_name", "workload", "name", "op",
      "dtype", "shape", "model", "mode", "batch", "status", "verified", "time_median_s",
      "time_min_s", "time_cv", "samples", "flops_per_second", "bytes_per_second",
      "throughput_unit", "peak_fraction", "samples_per_second", "sample_unit", "library",
      "implementation", "reason"};
  // clang-format on
  return columns;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_field(fields[i]);
  return s + "\r\n";
}

std::string to_csv(const std::vector<ReportDoc>& reports) {
  std::string out = csv_line(csv_columns());
  for (const ReportDoc& rep : reports)
    for (const ResultRow& r : result_rows(rep)) out += csv_line(csv_row(r));
  return out;
}

std::string to_markdown(const std::vector<ReportDoc>& reports) {
  std::string out;
  for (const ReportDoc& rep : reports) {
    const json& suite = rep.doc.value("suite", json::object());
    out += fmt::format("## {} — suite {}\n\n",
                       markdown_cell_escape(rep.doc.at("host").value("hostname", "?")),
                       suite.value("name", "?"));
    out +=
        fmt::format("Report `{}`, {} to {}; {}.\n\n", rep.origin, rep.doc.value("started_utc", "?"),
                    rep.doc.value("finished_utc", "?"), tally_text(rep.doc));
    out +=
        "| device | workload | dtype | shape | status | median time | throughput | % peak "
        "| verified | library / reason |\n";
    out += "|---|---|---|---|---|---:|---:|---:|---|---|\n";
    for (const ResultRow& r : result_rows(rep)) out += markdown_row(r);
    out += "\n";
  }
  return out;
}

std::string export_reports(const std::vector<ReportDoc>& reports, Format format) {
  switch (format) {
    case Format::csv:
      return to_csv(reports);
    case Format::md:
      return to_markdown(reports);
    case Format::openmetrics:
      return to_openmetrics(reports);
    case Format::gbench_json:
      return to_gbench_json(reports);
  }
  throw std::logic_error("export: unknown format");
}

}  // namespace suanli::exports
