// Text summary of a report: one table row per result (shape, time, throughput, % of peak,
// verified).
#include "report/summary.h"

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/units.h"

namespace suanli {

using nlohmann::json;

namespace {

struct Row {
  std::vector<std::string> cells;
};

constexpr size_t kMinLastColumn = 24;
constexpr size_t kCvColumn = 7, kVerifiedColumn = 8;

// Which columns a table shows, and whether the last (library / reason) goes on its own line
// under each row.
struct Layout {
  std::vector<bool> shown;
  bool last_below = false;
};

size_t line_width(const std::vector<size_t>& width, const std::vector<bool>& shown) {
  size_t w = 0, n = 0;
  for (size_t c = 0; c < width.size(); ++c)
    if (shown[c]) w += width[c], ++n;
  return n ? w + 2 * (n - 1) : 0;
}

// Fits the table into max_width columns (0: no limit): first the library / reason column is
// shortened; when even kMinLastColumn of it does not fit, it moves to its own line under each
// row and the cv, then the verified column are left out until the rest fits (status "ok"
// already says the output verified). The report keeps every figure and the full text.
Layout fit(std::vector<size_t>& width, size_t max_width) {
  Layout l{std::vector<bool>(width.size(), true)};
  if (max_width == 0 || line_width(width, l.shown) <= max_width) return l;
  const size_t last = width.size() - 1;
  l.shown[last] = false;
  const size_t rest = line_width(width, l.shown);
  if (rest + 2 + kMinLastColumn <= max_width) {
    width[last] = max_width - rest - 2;
    l.shown[last] = true;
    return l;
  }
  l.last_below = true;
  for (size_t c : {kCvColumn, kVerifiedColumn})
    if (line_width(width, l.shown) > max_width) l.shown[c] = false;
  width[last] = max_width > 8 ? max_width - 4 : 4;
  return l;
}

std::string shorten(const std::string& s, size_t width) {
  return s.size() <= width || width < 4 ? s : s.substr(0, width - 3) + "...";
}

std::string render(const std::vector<std::string>& header, const std::vector<Row>& rows,
                   size_t max_width) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const Row& r : rows)
    for (size_t c = 0; c < r.cells.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r.cells[c].size());
  const Layout layout = fit(width, max_width);
  const size_t last = width.size() - 1;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size() && c < width.size(); ++c) {
      if (!layout.shown[c]) continue;
      // Numbers right-aligned (time, throughput, % peak, CV), text left-aligned.
      const std::string cell = c == last ? shorten(cells[c], width[c]) : cells[c];
      const bool right = c >= 4 && c <= 7;
      s +=
          right ? fmt::format("{:>{}}  ", cell, width[c]) : fmt::format("{:<{}}  ", cell, width[c]);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    s += "\n";
    if (layout.last_below && cells.size() > last && !cells[last].empty())
      s += "    " + shorten(cells[last], width[last]) + "\n";
    return s;
  };
  std::string out = line(header);
  out += std::string(line_width(width, layout.shown), '-') + "\n";
  for (const Row& r : rows) out += line(r.cells);
  return out;
}

}  // namespace

std::string summary_table(const json& report, size_t max_width) {
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
                              ? fmt::format("{:.1f}%", 100.0 * r["peak_fraction"].get<double>())
                              : "-");
      row.cells.push_back(fmt::format("{:.1f}%", 100.0 * t.value("cv", 0.0)));
      const bool passed = r.contains("verification") && r["verification"].value("passed", false);
      row.cells.push_back(passed ? "yes" : "NO");
      row.cells.push_back(status);
      row.cells.push_back(r.value("library", ""));
    } else {
      for (int i = 0; i < 4; ++i) row.cells.push_back("-");
      row.cells.push_back("-");
      row.cells.push_back(status);
      std::string reason = r.value("reason", "");
      if (reason.size() > 90) reason = reason.substr(0, 87) + "...";
      row.cells.push_back(reason);
    }
    rows.push_back(std::move(row));
  }
  return render({"device", "workload", "dtype", "shape", "time", "throughput", "% peak", "cv",
                 "verified", "status", "library / reason"},
                rows, max_width);
}

}  // namespace suanli
