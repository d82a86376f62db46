// `suanli run --format`, `suanli export`, the terminal width and the progress bar (output.h).
#include "cli/output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/error.h"
#include "core/units.h"
#include "export/export.h"
#include "harness/runner.h"
#include "report/report.h"
#include "report/summary.h"

namespace suanli::cli {

void add_export_options(CLI::App* cmd, ExportOptionsCli& o) {
  cmd->add_option("reports", o.reports, "Report files from `suanli run`")->required();
  cmd->add_option("--format", o.format, "csv, md, openmetrics or gbench-json")
      ->required()
      ->check(CLI::IsMember({"csv", "md", "openmetrics", "gbench-json"}));
  cmd->add_option("-o,--out", o.out, "Write here (atomically) instead of stdout");
  cmd->footer(
      "Examples:\n"
      "  suanli export run.json --format csv -o run.csv\n"
      "  suanli export run.json --format openmetrics -o /var/lib/node_exporter/suanli.prom\n"
      "  suanli export old.json --format gbench-json -o old.gb.json\n"
      "  suanli export new.json --format gbench-json -o new.gb.json\n"
      "  /usr/share/benchmark/compare.py benchmarks old.gb.json new.gb.json");
}

int cmd_export(const ExportOptionsCli& o) {
  const auto format = exports::format_from_name(o.format);
  if (!format) throw InputError(fmt::format("--format {}: unknown format", o.format));
  if (!o.out.empty()) check_output_path(o.out, o.reports, "--out");  // before any work
  std::vector<exports::ReportDoc> docs;
  for (const std::string& path : o.reports) docs.push_back(exports::load_report(path));
  const std::string text = exports::export_reports(docs, *format);
  if (o.out.empty())
    std::cout << text;
  else
    write_file_atomic(o.out, text);
  return kExitOk;
}

int terminal_width() {
  winsize ws{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 0;
}

void print_run_output(const nlohmann::json& report, const std::string& report_path,
                      const Tally& tally, const std::string& format, bool wide, bool quiet) {
  const std::string footer = fmt::format("report: {}\n{}\n", report_path, tally_line(tally));
  if (format == "table" || format.empty()) {
    if (!quiet) {
      const int width = wide ? 0 : terminal_width();
      std::cout << summary_table(report, static_cast<size_t>(width)) << "\n";
    }
    std::cout << footer;
    return;
  }
  const exports::ReportDoc doc{report_path, report};
  if (format == "json")
    std::cout << report.dump(2) << "\n";
  else if (format == "csv")
    std::cout << exports::to_csv({doc});
  else if (format == "md")
    std::cout << exports::to_markdown({doc});
  else
    throw InputError(fmt::format("--format {}: expected table, json, csv or md", format));
  std::cout.flush();
  std::cerr << footer;
}

std::function<void(const Progress&)> progress_bar() {
  return [](const Progress& p) {
    constexpr int kBar = 20;
    const int filled =
        p.total
            ? static_cast<int>(kBar * static_cast<double>(p.index) / static_cast<double>(p.total))
            : 0;
    std::string line = fmt::format("[{}{}] {}/{}  {}  elapsed {}", std::string(filled, '#'),
                                   std::string(kBar - filled, '.'), p.index + 1, p.total, p.label,
                                   format_clock(p.elapsed_s));
    if (p.eta_s >= 0) line += fmt::format("  ETA {}", format_clock(p.eta_s));
    int width = 0;
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) width = ws.ws_col;
    if (width > 4 && line.size() >= static_cast<size_t>(width))
      line = line.substr(0, static_cast<size_t>(width) - 4) + "...";
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
  };
}

}  // namespace suanli::cli
