// Reports in the formats other tools read: CSV (spreadsheets, pandas), Markdown (pull requests,
// wikis), OpenMetrics / Prometheus text (node_exporter's textfile collector) and Google
// Benchmark JSON (Google Benchmark's tools/compare.py). Column and metric names are documented
// in docs/formats.md and are stable: a new one may be added, none renamed or removed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace suanli::rate {
struct Rating;
}

namespace suanli::exports {

// A report as read from disk (or just made by `suanli run`), with the name it is known by.
struct ReportDoc {
  std::string origin;  // file path, or "-" for a report made in this process
  nlohmann::json doc;
};

// Reads a report through the report code: JSON syntax, schema major version, schema, hash.
// Throws InputError naming the file.
ReportDoc load_report(const std::string& path);

enum class Format { csv, md, openmetrics, gbench_json };
// "csv", "md", "openmetrics", "gbench-json"; nullopt for anything else.
std::optional<Format> format_from_name(std::string_view name);

// The CSV columns, in order (docs/formats.md describes each).
const std::vector<std::string>& csv_columns();

// One row per result of every report (header first), RFC 4180: comma-separated, fields with a
// comma, quote or line break quoted, CRLF line ends. Numbers are plain decimals in base units
// (seconds, FLOP/s, B/s), empty where not applicable.
std::string to_csv(const std::vector<ReportDoc>& reports);
// A Markdown table per report, with the report's host, suite and tally above it.
std::string to_markdown(const std::vector<ReportDoc>& reports);
// Prometheus text exposition (also valid OpenMetrics: ends with "# EOF"): gauges with HELP and
// TYPE, labels host, backend, device, device_name, workload, op, dtype, shape, status. Throws
// InputError when two reports would give the same series (same host, device and workload).
std::string to_openmetrics(const std::vector<ReportDoc>& reports);
// Google Benchmark's JSON output: "context" and "benchmarks", one "iteration" entry per timed
// sample and mean/median/stddev/cv aggregates per result; results without samples
// (unsupported, skipped, error) are listed in context.suanli_not_measured, since compare.py
// needs a time in every entry. Benchmark names: "BACKEND:DEVICE/WORKLOAD".
std::string to_gbench_json(const std::vector<ReportDoc>& reports);

std::string export_reports(const std::vector<ReportDoc>& reports, Format format);

// `suanli rate --format csv`: one row per device and precision of every node type.
std::string rating_to_csv(const rate::Rating& rating);

// RFC 4180 quoting of one field, and a line of fields (CRLF-terminated).
std::string csv_field(const std::string& s);
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace suanli::exports
