// Help text of `suanli`: wrapped to the terminal, examples and the environment (output.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/output.h"
#include "core/error.h"

namespace suanli::cli {

namespace {

constexpr int kDefaultHelpWidth = 100;

int help_width() {
  winsize ws{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
    return std::min<int>(ws.ws_col, 120);
  if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) >= 40) return std::atoi(c);
  return kDefaultHelpWidth;
}

// Where a line's text continues after a wrap: under its second column when it has one (an
// option, a command, an example or a variable, then two or more spaces, then the description),
// else under the line's own indentation.
size_t hanging_indent(const std::string& line) {
  const size_t lead = line.find_first_not_of(' ');
  if (lead == std::string::npos) return 0;
  const size_t gap = line.find("  ", lead);
  if (gap == std::string::npos) return lead;
  const size_t second = line.find_first_not_of(' ', gap);
  return second == std::string::npos ? lead : second;
}

// Word-wraps one line to `width` columns.
std::string wrap_line(const std::string& line, size_t width) {
  if (line.size() <= width) return line + "\n";
  const size_t indent = std::min(hanging_indent(line), width / 2);
  std::string out;
  std::string rest = line;
  while (rest.size() > width) {
    size_t cut = rest.rfind(' ', width);
    if (cut == std::string::npos || cut <= indent) cut = rest.find(' ', width);
    if (cut == std::string::npos) break;
    out += rest.substr(0, cut) + "\n";
    const size_t next = rest.find_first_not_of(' ', cut);
    rest = std::string(indent, ' ') + (next == std::string::npos ? "" : rest.substr(next));
  }
  return out + rest + "\n";
}

class WrappingFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    const std::string text = CLI::Formatter::make_help(app, std::move(name), mode);
    const size_t width = static_cast<size_t>(help_width());
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line)) out += wrap_line(line, width);
    return out;
  }
};

const char* kEnvironment =
    "ENVIRONMENT:\n"
    "  SUANLI_BACKEND_PATH   Colon-separated folders searched first for backend plugins "
    "(libsuanli_backend_NAME.so); then the program's ./backends and ../lib/suanli/backends.\n"
    "  SUANLI_CPU_MAX_ISA    avx2 or avx512: caps the CPU backend's instruction set (its "
    "kernels and peak formula); the device features in the report show the cap.\n"
    "  OPENBLAS_CORETYPE     Forces OpenBLAS's kernel family (e.g. Haswell, SkylakeX, "
    "Cooperlake); the report's library line records the core in use and who chose it.\n"
    "  OMP_*                 OpenMP settings (OMP_PROC_BIND, OMP_PLACES, OMP_WAIT_POLICY) change "
    "where and how the CPU backend's and oneDNN's threads run; the thread count comes from "
    "--threads (default: every physical core).\n";

const std::map<std::string, std::string>& examples() {
  static const std::map<std::string, std::string> e = {
      {"info",
       "  suanli info                     backends, devices, peaks\n"
       "  suanli info --json > info.json\n"},
      {"list", "  suanli list suites\n  suanli list workloads --suite quick --dtype bf16\n"},
      {"run",
       "  suanli run --suite quick                  a first look (about 20 s on a CPU)\n"
       "  suanli run --suite standard -o node.json  the default suite, report at node.json\n"
       "  suanli run --dtype fp16,bf16 --backend cuda\n"
       "  suanli run --suite quick --format csv > quick.csv\n"
       "  suanli run --suite quick --wide           the table with full library names\n"},
      {"conformance", "  suanli conformance --backend build/backends/libsuanli_backend_cpu.so\n"},
      {"compare", "  suanli compare old.json new.json --threshold 0.03\n"},
      {"certify",
       "  suanli keygen --out keys\n"
       "  suanli certify --profile quick --key keys/suanli-certify.secret\n"},
      {"keygen", "  suanli keygen --out ~/.config/suanli\n"},
      {"verify",
       "  suanli verify cert.json --pubkey keys/suanli-certify.pub --report "
       "cert.report.json\n"},
  };
  return e;
}

}  // namespace

void setup_help(CLI::App& app) {
  app.formatter(std::make_shared<WrappingFormatter>());
}

void add_help_footers(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (!sub->get_footer().empty()) continue;
    const auto it = examples().find(sub->get_name());
    std::string footer = it == examples().end() ? "" : "Examples:\n" + it->second;
    if (sub->get_name() == "run" || sub->get_name() == "info" || sub->get_name() == "certify")
      footer += std::string(footer.empty() ? "" : "\n") + kEnvironment;
    if (!footer.empty()) sub->footer(footer);
  }
  app.footer(
      "Examples:\n"
      "  suanli info\n"
      "  suanli run --suite quick\n"
      "  suanli rate suanli-reports/*.json\n"
      "  suanli export run.json --format csv\n"
      "Run `suanli COMMAND --help` for a command's options. Documentation: README.md, "
      "docs/architecture.md, docs/formats.md and the man pages suanli(1), suanli-run(1).\n\n" +
      std::string(kEnvironment));
}

std::optional<int> check_command_name(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  const std::string word = argv[1];
  std::string known;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == word) return std::nullopt;
    known += (known.empty() ? "" : ", ") + sub->get_name();
  }
  std::cerr << "suanli: error: unknown command '" << word << "' (commands: " << known
            << "); see suanli --help\n";
  return kExitUsage;
}

}  // namespace suanli::cli
