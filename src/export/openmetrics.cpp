// Prometheus / OpenMetrics text exposition of reports (see export.h, docs/formats.md).
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"
#include "export/export.h"
#include "export/rows.h"

namespace suanli::exports {

using nlohmann::json;

namespace {

// A label value escaped as OpenMetrics asks: backslash, double quote and newline.
std::string label_value(const std::string& s) {
  static const std::map<char, std::string_view> kEscapes = {
      {'\\', "\\\\"}, {'"', "\\\""}, {'\n', "\\n"}};
  std::string out;
  for (char c : s) {
    const auto e = kEscapes.find(c);
    out += e == kEscapes.end() ? std::string_view(&c, 1) : e->second;
  }
  return out;
}

std::string labels_of(const ResultRow& r) {
  return fmt::format(
      "host=\"{}\",backend=\"{}\",device=\"{}\",device_name=\"{}\",workload=\"{}\",op=\"{}\","
      "dtype=\"{}\",shape=\"{}\",status=\"{}\"",
      label_value(r.host), label_value(r.backend), label_value(r.device),
      label_value(r.device_name), label_value(r.workload), label_value(r.op), label_value(r.dtype),
      label_value(r.shape), label_value(r.status));
}

// "2026-11-28T23:18:22Z" -> seconds since the epoch; < 0 when it does not parse.
double epoch_seconds(const std::string& utc) {
  std::tm tm{};
  if (!strptime(utc.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  return static_cast<double>(timegm(&tm));
}

struct Family {
  const char* name;
  const char* help;
  // The sample's value for a row; < 0: no sample for that row.
  std::function<double(const ResultRow&)> value;
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"suanli_result", "One per result: 1, with the result's status in the status label.",
       [](const ResultRow&) { return 1.0; }},
      {"suanli_ops_per_second",
       "Throughput at the median time: floating-point operations per second (integer "
       "operations for int8), from a verified output.",
       [](const ResultRow& r) { return r.measured ? r.flops_per_second : -1; }},
      {"suanli_bytes_per_second", "Memory bandwidth at the median time (memory-bound workloads).",
       [](const ResultRow& r) { return r.measured ? r.bytes_per_second : -1; }},
      {"suanli_time_median_seconds", "Median device time of one operation.",
       [](const ResultRow& r) { return r.measured ? r.time_median_s : -1; }},
      {"suanli_time_cv_ratio", "Coefficient of variation of the timed samples.",
       [](const ResultRow& r) { return r.measured ? r.time_cv : -1; }},
      {"suanli_peak_fraction_ratio",
       "Throughput as a fraction of the device's theoretical peak for the dtype.",
       [](const ResultRow& r) { return r.measured ? r.peak_fraction : -1; }},
      {"suanli_model_samples_per_second",
       "Model workloads: samples (images, sequences) per second at the median time.",
       [](const ResultRow& r) { return r.measured ? r.samples_per_second : -1; }},
  };
  return f;
}

}  // namespace

std::string to_openmetrics(const std::vector<ReportDoc>& reports) {
  std::vector<std::vector<ResultRow>> rows;
  for (const ReportDoc& rep : reports) rows.push_back(result_rows(rep));
  std::string out;
  for (const Family& f : families()) {
    std::string samples;
    std::set<std::string> seen;
    for (size_t i = 0; i < rows.size(); ++i)
      for (const ResultRow& r : rows[i]) {
        const double v = f.value(r);
        if (v < 0) continue;
        const std::string labels = labels_of(r);
        if (!seen.insert(labels).second)
          throw InputError(fmt::format(
              "{}: result {} on {} of host {} is already in an earlier report: export one "
              "report per host",
              reports[i].origin, r.workload, r.device, r.host));
        samples += fmt::format("{}{{{}}} {}\n", f.name, labels, number_text(v, false));
      }
    if (samples.empty()) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", f.name, f.help, f.name);
    out += samples;
  }
  std::string finished;
  for (const ReportDoc& rep : reports) {
    const double t = epoch_seconds(rep.doc.value("finished_utc", ""));
    if (t < 0) continue;
    finished +=
        fmt::format("suanli_report_finished_timestamp_seconds{{host=\"{}\",suite=\"{}\"}} {}\n",
                    label_value(rep.doc.at("host").value("hostname", "")),
                    label_value(rep.doc.value("suite", json::object()).value("name", "")),
                    number_text(t, false));
  }
  if (!finished.empty())
    out +=
        "# HELP suanli_report_finished_timestamp_seconds When the run that made the report "
        "finished (Unix time).\n# TYPE suanli_report_finished_timestamp_seconds gauge\n" +
        finished;
  return out + "# EOF\n";
}

}  // namespace suanli::exports
