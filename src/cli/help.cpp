// Help text of `suanli`: wrapped to the terminal, examples and the environment (output.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>

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

// The description of each subcommand, at the top of its --help.
const std::map<std::string_view, const char*>& command_descriptions() {
  static const std::map<std::string_view, const char*> kDescriptions = {
      {"list", "List the built-in suites, or the workloads a suite expands into."},
      {"info",
       "Show the backends found, their devices (identity, ISA features, clock, memory), "
       "library versions and theoretical peak per dtype with its derivation."},
      {"run",
       "Run a suite on every device of the chosen backends, verify every output, write a JSON "
       "report and print a summary.\nPlugins run in worker processes: a crash, exit or hang (past "
       "the workload's timeout) is an error result of that workload and the run goes on. "
       "Results are journaled to REPORT.journal as they complete (removed once the report is "
       "written).\nAfter the suite, the built-in peak probe (~0.3 s a dtype) checks each "
       "theoretical peak of a dtype the suite measures but has no peak workload for: the "
       "report's peak_checks (ok, suspect outside 85%..103%, inconclusive on a busy machine) "
       "and the summary show it; --no-peak-probe skips it.\n"
       "Exit status: 0 when every result is ok or unsupported, 1 when any failed verification or "
       "errored or there was no result, 2 for bad usage or bad input files (checked before any "
       "work), 128+N when interrupted by signal N (130: SIGINT; the journal is kept: --resume)."},
      {"conformance",
       "Check a backend plugin against the ABI contract (backends/README.md): ABI version and "
       "struct sizes, device enumeration and identity, buffer round trips, every supported op and "
       "dtype verified at small shapes, unsupported answered as UNSUPPORTED with a reason, device "
       "time positive and growing with iterations, errors (not crashes) on bad descriptors. Each "
       "check runs in a forked child, so a crash fails that check only.\nExit status: 0 all "
       "passed, 1 any failed, 2 bad usage."},
      {"rate",
       "Turn reports into a capacity rating (EFLOPS style) per device, node, node type, category "
       "and site.\n"
       "Per device and precision: Rpeak (dense; from --claims, else the report's device peak: "
       "vendor table = 'spec', cores x clock x FLOP/cycle = 'formula'), Rmax (best GEMM result "
       "with status ok and verification passed, at the median time = 'measured'), the measured "
       "peak-kernel ceiling, Rmax/Rpeak, stream-triad bandwidth, GFLOPS/W where telemetry has "
       "power.\n"
       "Categories: general (CPU nodes, FP32), intelligent (accelerators, FP16/BF16 dense), super "
       "(node types tagged hpc, FP64); host CPUs of accelerator nodes on their own line. INT8 is "
       "OPS and never summed with FLOPS; sparse figures are notes only; no cross-precision total "
       "unless --total asks for one.\n"
       "Without --inventory every report is one node. Exit status: 0 ok, 2 bad input."},
      {"compare",
       "Compare two reports workload by workload (matched by backend, device and workload id): "
       "old and new median throughput, new/old, and whether the change is beyond the noise both "
       "runs measured.\nA regression is a verified result that got slower by more than "
       "--threshold and by more than --noise-sigmas x sqrt(cv_old^2 + cv_new^2), or one that "
       "verified before and now fails or errors.\nExit status: 0 no regression, 1 regression, 2 "
       "bad input or no workload in common."},
      {"certify",
       "Run a certification profile (sustained workloads, every output verified, a caching check, "
       "throttling windows), write the report and a certificate signed with Ed25519 (JSON, plus "
       "Markdown and HTML beside it). The input seed is drawn at run time. The built-in peak "
       "probe checks each theoretical peak of a certified dtype (criterion peak_theory: FAIL "
       "when the peak kernel reaches less than 85% or more than 103% of it). Refuses a build with "
       "uncommitted changes or a modified profile unless --unofficial.\nExit status: 0 PASS, 1 "
       "FAIL (the certificate is still written: a failed criterion is a result), 2 bad input."},
      {"keygen",
       "Write an Ed25519 key pair for certificates: DIR/suanli-certify.secret (mode 0600) "
       "and DIR/suanli-certify.pub. Never overwrites a key."},
      {"verify",
       "Verify a certificate: the signer's key, the Ed25519 signature, the profile (hash, shipped "
       "or not), every criterion's limit and verdict re-derived from its numbers, the overall "
       "verdict; with --report also the report's hash and every measured value re-derived from "
       "the report's samples. Prints each check.\nExit status: 0 authentic and PASS, 1 authentic "
       "and FAIL, 2 bad input (unreadable or malformed files), 3 not authentic or inconsistent, 4 "
       "authentic PASS but UNOFFICIAL (a dirty build or a modified profile)."},
      {"export",
       "Convert reports for other tools: csv (one row per result; spreadsheets, pandas), md "
       "(Markdown tables), openmetrics (Prometheus text for node_exporter's textfile collector) "
       "or gbench-json (Google Benchmark JSON, for its tools/compare.py). Column and metric names "
       "are listed in docs/formats.md. Every report is checked (schema, hash) first.\nExit "
       "status: 0 ok, 2 bad input."},
      {"diagnose",
       "Find the slow nodes of a cluster report (`mpirun ... suanli run`): every node's every "
       "workload against the cluster median (flagged when slower than median x (1 - "
       "max_deviation) and more than mad_sigmas scaled MADs below it; defaults 10 % and 4, from "
       "3 nodes on) and against a baseline; a failed, lost or incomplete node is flagged too. "
       "Lists the flagged nodes with the evidence (workload, value, median, deviation).\nExit "
       "status: 0 no node flagged, 1 a node flagged, 2 bad input."},
  };
  return kDescriptions;
}

}  // namespace

const char* command_description(std::string_view command) {
  return command_descriptions().at(command);
}

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
