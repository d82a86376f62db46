// What `suanli` prints: output formats of `run`, the `export` command, the terminal's width,
// the progress bar, and help text (wrapped, with examples and the environment).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace suanli {
struct Progress;
struct Tally;
}  // namespace suanli

namespace suanli::cli {

// `suanli export REPORT... --format F [--out FILE]`.
struct ExportOptionsCli {
  std::vector<std::string> reports;
  std::string format;
  std::string out;
};
void add_export_options(CLI::App* cmd, ExportOptionsCli& o);
int cmd_export(const ExportOptionsCli& o);

// The columns of the terminal on stdout (TIOCGWINSZ, else $COLUMNS); 0 when stdout is not a
// terminal and COLUMNS is unset (no limit).
int terminal_width();

// Prints the end of `suanli run` to stdout in `format` (table, json, csv or md); the table fits
// the terminal unless `wide`. The report path and tally go to stdout after a table, to stderr
// after the machine-readable formats (so stdout stays one document).
void print_run_output(const nlohmann::json& report, const std::string& report_path,
                      const Tally& tally, const std::string& format, bool wide, bool quiet);

// The progress callback for a terminal on stderr: a bar, the workload, elapsed time and the ETA
// from the suite's time settings.
std::function<void(const Progress&)> progress_bar();

// The description at the top of a subcommand's --help (help.cpp).
const char* command_description(std::string_view command);
// Help: wraps to the terminal (set before subcommands are added; they inherit it).
void setup_help(CLI::App& app);
// Examples and ENVIRONMENT footers on the commands that have none (after they are added).
void add_help_footers(CLI::App& app);
// `suanli bogus`: names the unknown command (exit status 2) before CLI11 parses; nullopt when
// argv's first word is an option or a known command.
std::optional<int> check_command_name(const CLI::App& app, int argc, char** argv);

}  // namespace suanli::cli
