// Text summary of a report: one table row per result (shape, time, throughput, % of peak,
// verified).
#include "report/summary.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "core/units.h"
#include "report/report.h"

namespace suanli {

using nlohmann::json;

namespace {

struct Row {
  std::vector<std::string> cells;
};

std::string render(const std::vector<std::string>& header, const std::vector<Row>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const Row& r : rows)
    for (size_t c = 0; c < r.cells.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r.cells[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      // Numbers right-aligned (time, throughput, % peak, CV), text left-aligned.
      const bool right = c >= 4 && c <= 7;
      s += right ? fmt::format("{:>{}}", cells[c], width[c])
                 : fmt::format("{:<{}}", cells[c], width[c]);
      if (c + 1 < cells.size()) s += "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const Row& r : rows) out += line(r.cells);
  return out;
}

}  // namespace

std::string summary_table(const json& report) {
  // The peak self-check: a "% peak" against a suspect theoretical peak gets a "?".
  const std::vector<PeakCheck> checks = peak_checks(report);
  auto suspect = [&](const json& r) {
    for (const PeakCheck& c : checks)
      if (c.suspect() && c.backend == r.value("backend", "") && c.device == r.value("device", -1) &&
          dtype_name(c.dtype) == r.value("dtype", ""))
        return true;
    return false;
  };
  std::vector<Row> rows;
  for (const json& r : report.at("results")) {
    Row row;
    const std::string status = r.value("status", "error");
    row.cells.push_back(fmt::format("{}:{}", r.value("backend", "?"), r.value("device", 0)));
    row.cells.push_back(r.value("name", r.value("op", "?")));
    row.cells.push_back(r.value("dtype", "?"));
    row.cells.push_back(r.value("shape_text", ""));
    if (status == "ok" || status == "failed") {
      const json& t = r.at("time_s");
      row.cells.push_back(format_duration(t.value("median", 0.0)));
      const std::string unit = r.value("throughput_unit", "FLOP/s");
      if (unit == "B/s")
        row.cells.push_back(format_si(r.value("bytes_per_second", 0.0), "B/s"));
      else
        row.cells.push_back(format_si(r.value("flops_per_second", 0.0), unit));
      row.cells.push_back(r.contains("peak_fraction")
                              ? fmt::format("{:.1f}%{}", 100.0 * r["peak_fraction"].get<double>(),
                                            suspect(r) ? "?" : "")
                              : "-");
      row.cells.push_back(fmt::format("{:.1f}%", 100.0 * t.value("cv", 0.0)));
      const bool passed = r.contains("verification") && r["verification"].value("passed", false);
      row.cells.push_back(passed ? "yes" : "NO");
      row.cells.push_back(status);
      const std::string marks = result_mark_kinds(r);
      row.cells.push_back(marks.empty() ? "-" : marks);
      row.cells.push_back(r.value("library", ""));
    } else {
      for (int i = 0; i < 4; ++i) row.cells.push_back("-");
      row.cells.push_back("-");
      row.cells.push_back(status);
      row.cells.push_back("-");
      std::string reason = r.value("reason", "");
      if (reason.size() > 90) reason = reason.substr(0, 87) + "...";
      row.cells.push_back(reason);
    }
    rows.push_back(std::move(row));
  }
  std::string out = render({"device", "workload", "dtype", "shape", "time", "throughput", "% peak",
                            "cv", "verified", "status", "marks", "library / reason"},
                           rows);
  bool any_mark = false;
  for (const json& r : report.at("results")) any_mark = any_mark || result_is_marked(r);
  if (any_mark)
    out += fmt::format(
        "marks (left out of Rmax and certification): noisy = CV above the target when the time "
        "limit ran out; slowdown = the host probe ran > {:.0f}% slower than at the start; timing "
        "= device time < {:.0f}% of the harness's wall time; above_peak = > {:.2f}x the "
        "theoretical peak\n",
        100 * kSlowdownThreshold, 100 * kTimingMinDeviceOverWall, kAbovePeakTolerance);
  if (!checks.empty()) {
    out += "peak self-check (peak kernel / theoretical peak, expected within 85%..103%):\n";
    for (const PeakCheck& c : checks) out += "  " + peak_check_line(c) + "\n";
  }
  return out;
}

}  // namespace suanli
