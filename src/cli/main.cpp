// The `suanli` command: parses arguments (CLI11) and calls the modules; nothing else lives here.
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/certify_cmd.h"
#include "cli/cluster_cmd.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/workload_kinds.h"
#include "core/error.h"
#include "harness/isolate.h"

namespace suanli::cli {
namespace {

using Argv = std::vector<std::string>;

// One subcommand: its parser, and what runs it once parsed (given the whole command line).
struct Command {
  CLI::App* app;
  std::function<int(const Argv& argv)> run;
};

// Whether an Options records the whole command line (run and certify put it in their output).
template <class T, class = void>
struct HasArgv : std::false_type {};
template <class T>
struct HasArgv<T, std::void_t<decltype(std::declval<T&>().argv)>> : std::true_type {};

// A subcommand `name` (its description: help.cpp) whose options (an Options, kept alive by the
// Command) are registered by add_options and acted on by run.
template <class Options>
Command command(CLI::App& app, const char* name, void (*add_options)(CLI::App*, Options&),
                int (*run)(const Options&)) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(name, command_description(name));
  add_options(cmd, *options);
  return {cmd, [options, run](const Argv& argv) {
            if constexpr (HasArgv<Options>::value) options->argv = argv;
            return run(*options);
          }};
}

// --backend and --threads, of the commands that load backends (info, run, certify).
void add_backend_filter(CLI::App* cmd, std::vector<std::string>& backends) {
  cmd->add_option("--backend", backends, "Only these backends (comma-separated)")->delimiter(',');
}
void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Host threads a CPU backend uses (0 = all cores)")
      ->check(CLI::Range(0, 4096));
}

// Isolation, journal and signing options of `run` (README: Isolation, journal and resume).
void add_run_robustness_options(CLI::App* cmd, RunOptionsCli& o) {
  cmd->add_option("--resume", o.resume,
                  "Finish the run recorded in this journal (REPORT.journal, left by an "
                  "interrupted or killed run): its suite and options are used, workloads "
                  "already recorded are not run again, then the report is written as usual");
  cmd->add_option("--timeout", o.timeout_s,
                  "Seconds one workload may take before its worker process is killed and the "
                  "workload recorded as error (default: the suite's timeout_s, else from its "
                  "time settings and FLOPs)")
      ->check(CLI::Range(1.0, 604800.0));
  cmd->add_option("--sign-key", o.sign_key,
                  "Sign the report with this secret key from `suanli keygen` (Ed25519 over "
                  "the report's sha256; `rate --require-signed PUB` checks it)");
  cmd->add_flag("--no-peak-probe", o.no_peak_probe,
                "Skip the built-in peak probe: by default, after the suite, a short peak kernel "
                "(~0.3 s) runs per device and dtype the suite measures without a peak workload "
                "of its own, so that the report's peak_checks test every theoretical peak the "
                "run's '% peak' rests on; without it those are 'not checked'");
}

void add_info_options(CLI::App* cmd, InfoOptions& o) {
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  cmd->add_flag("--check-peaks", o.check_peaks,
                "Run a short peak kernel per device and dtype (~0.3 s each) and check each "
                "theoretical peak against it (suspect outside 85%..103%)");
  add_backend_filter(cmd, o.backends);
  add_threads_option(cmd, o.threads);
}

void add_list_options(CLI::App* cmd, ListOptions& o) {
  cmd->add_option("what", o.what, "suites | workloads")
      ->required()
      ->check(CLI::IsMember({"suites", "workloads"}));
  cmd->add_option("--suite", o.suite, "Suite name or path, for 'workloads'")
      ->default_str("standard");
  cmd->add_option("--dtype", o.dtypes, "Only these dtypes (comma-separated)")->delimiter(',');
}

void add_run_options(CLI::App* cmd, RunOptionsCli& o) {
  cmd->add_option("--suite", o.suite,
                  "Built-in suite name (quick, standard, kernels, models) or path to a suite .json")
      ->default_str("standard");
  add_backend_filter(cmd, o.backends);
  cmd->add_option("--dtype", o.dtypes,
                  "Only these dtypes (comma-separated: fp64,fp32,tf32,fp16,bf16,fp8_e4m3,"
                  "fp8_e5m2,int8)")
      ->delimiter(',');
  cmd->add_option("-o,--out", o.out, "Report file (default: ./suanli-reports/HOST-UTCTIME.json)");
  add_threads_option(cmd, o.threads);
  cmd->add_option("--min-time", o.min_time,
                  "Seconds of device time per sample (overrides the suite)")
      ->check(CLI::Range(1e-6, 3600.0));
  cmd->add_option("--repetitions", o.repetitions,
                  "Samples in the first round (overrides the suite)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--max-time", o.max_time,
                  "Seconds of sampling per workload before the noise target is given up "
                  "(overrides the suite)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--backend-option", o.backend_options,
                  "KEY=VALUE passed to every backend (e.g. gemm_library=onednn for cpu)");
  cmd->add_flag("--quiet,-q", o.quiet, "No progress line and no summary table");
  cmd->add_option("--rank-timeout", o.rank_timeout,
                  "Under mpirun/srun: seconds a barrier or the gather waits for a rank before "
                  "it is recorded as lost (default 600; docs/cluster.md)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--format", o.format,
                  "What goes to stdout: table (default), json (the report), csv or md; the report "
                  "file is written either way")
      ->check(CLI::IsMember({"table", "json", "csv", "md"}));
  cmd->add_flag("--wide", o.wide,
                "Table with full library names, however wide (default: fit the terminal)");
  add_run_robustness_options(cmd, o);
}

void add_conformance_options(CLI::App* cmd, ConformanceOptionsCli& o) {
  cmd->add_option("--backend", o.backend,
                  "Plugin file (libsuanli_backend_NAME.so) or a backend name found on the search "
                  "path")
      ->required();
  cmd->add_option("--backend-option", o.backend_options, "KEY=VALUE passed to the plugin's create");
  cmd->add_flag("--no-fork", o.no_fork,
                "Run the checks in this process (debugging; a crash ends the tool)");
  cmd->add_option("--timeout", o.timeout_s, "Seconds one check may take (default 120)")
      ->check(CLI::Range(1.0, 86400.0));
}

void add_rate_options(CLI::App* cmd, RateOptionsCli& o) {
  cmd->footer(
      "Examples:\n"
      "  suanli rate node.json                                   one node, text tables\n"
      "  suanli rate gpu.json --claims claims-h100-sxm.json --target 45EFLOPS:fp16\n"
      "  suanli rate --inventory fleet.json --total nominal -o rating.html\n"
      "  scripts/render_html.sh rating.html                      look at it as a browser draws it");
  cmd->add_option("reports", o.reports, "Report files from `suanli run` (one per node)");
  cmd->add_option("--inventory", o.inventory,
                  "Fleet file (reports/schema/inventory.schema.json): node types, their "
                  "reports, counts, nodes per rack, power per node, PUE, hpc tag");
  cmd->add_option("--claims", o.claims,
                  "Vendor claims file (reports/schema/claims.schema.json) used as Rpeak "
                  "(basis spec) where a device matches");
  cmd->add_option("--target", o.target,
                  "VALUE[UNIT]:DTYPE, e.g. 45EFLOPS:fp16: nodes of each type needed to "
                  "reach it, on Rmax and on Rpeak, and their power");
  cmd->add_option("--total", o.total,
                  "Add a labelled cross-precision total: nominal (plain sum of the "
                  "categories, CAICT-style), fp32-native (every device's own FP32), or "
                  "factors:FILE ({\"suanli_factors\":1,\"to\":\"fp32\",\"factors\":{...}}; "
                  "every factor is printed and stored)");
  cmd->add_option("--require-signed", o.require_signed,
                  "Public key file (suanli keygen): refuse any report not signed with its "
                  "key by `run --sign-key` (or altered since)");
  cmd->add_flag("--include-hosts", o.include_hosts,
                "Count host CPUs of accelerator nodes in the general total");
  cmd->add_flag("--include-marked", o.include_marked,
                "Count results the run marked (noisy, slowdown, timing, above_peak); by "
                "default they are left out of Rmax and the ceiling");
  cmd->add_option("--format", o.format,
                  "text, json, md, html or csv (default: from "
                  "--out's extension, else text)")
      ->check(CLI::IsMember({"text", "json", "md", "html", "csv"}));
  cmd->add_option("-o,--out", o.out,
                  "Write the rating here (atomically); the text summary still goes to "
                  "stdout");
}

void add_compare_options(CLI::App* cmd, CompareOptionsCli& o) {
  cmd->add_option("old", o.old_report, "The baseline report")->required();
  cmd->add_option("new", o.new_report, "The report to check")->required();
  cmd->add_option("--threshold", o.threshold,
                  "Relative slowdown that counts as a regression (default 0.05 = 5 %)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--noise-sigmas", o.noise_sigmas,
                  "Width of the noise band in combined CVs (default 2)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--format", o.format, "text, json or md")
      ->check(CLI::IsMember({"text", "json", "md"}));
  cmd->add_option("-o,--out", o.out, "Write the comparison here (atomically)");
}

void add_certify_options(CLI::App* cmd, CertifyOptionsCli& o) {
  cmd->add_option("--profile", o.profile,
                  "Shipped profile (quick, standard, datacenter) or path to a profile .json")
      ->default_str("standard");
  cmd->add_option("--claims", o.claims,
                  "Vendor claims file (reports/schema/claims.schema.json); without it "
                  "the criteria against claims are recorded as not evaluated");
  cmd->add_option("--key", o.key, "Secret key file from `suanli keygen`")->required();
  cmd->add_option("-o,--out", o.out,
                  "Certificate file (default: ./suanli-certificates/HOST-UTCTIME.json)");
  cmd->add_option("--report", o.report,
                  "Report file (default: the certificate's name with .report.json)");
  add_backend_filter(cmd, o.backends);
  add_threads_option(cmd, o.threads);
  cmd->add_flag("--unofficial", o.unofficial,
                "Allow a dirty build or a modified profile; the certificate says "
                "UNOFFICIAL");
  cmd->add_option("--timeout", o.timeout_s,
                  "Seconds one run may take before its worker process is killed and the run "
                  "recorded as error (default: from the workload's settings, FLOPs and sustain "
                  "time)")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_flag("--quiet,-q", o.quiet, "No progress lines");
}

void add_keygen_options(CLI::App* cmd, KeygenOptions& o) {
  cmd->add_option("--out", o.out, "Directory for the key pair")->required();
}

void add_verify_options(CLI::App* cmd, VerifyOptions& o) {
  cmd->add_option("certificate", o.certificate, "Certificate .json")->required();
  cmd->add_option("--pubkey", o.pubkey, "Public key file of the issuer")->required();
  cmd->add_option("--report", o.report, "The report the certificate names");
}

// Every subcommand, in the order `--help` lists them.
std::vector<Command> add_commands(CLI::App& app) {
  return {command(app, "info", add_info_options, cmd_info),
          command(app, "list", add_list_options, cmd_list),
          command(app, "run", add_run_options, cmd_run),
          command(app, "conformance", add_conformance_options, cmd_conformance),
          command(app, "rate", add_rate_options, cmd_rate),
          command(app, "compare", add_compare_options, cmd_compare),
          command(app, "certify", add_certify_options, cmd_certify),
          command(app, "keygen", add_keygen_options, cmd_keygen),
          command(app, "verify", add_verify_options, cmd_verify),
          command(app, "diagnose", add_diagnose_options, cmd_diagnose),
          command(app, "export", add_export_options, cmd_export)};
}

// Runs the parsed subcommand; an error it throws becomes a message and an exit status.
int run_command(const std::vector<Command>& commands, const Argv& argv) {
  try {
    for (const Command& c : commands)
      if (*c.app) return c.run(argv);
  } catch (const InputError& e) {
    std::cerr << "suanli: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "suanli: error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace suanli::cli

int main(int argc, char** argv) {
  suanli::cli::register_workload_kinds();  // models and HPL reach the runner through these
  // The worker process of an isolated run (src/harness/isolate.h): not a user command.
  if (argc == 2 && std::string(argv[1]) == "__worker") return suanli::isolate::worker_main();
  CLI::App app{
      "suanli (算力): measures what AI accelerators and CPUs really sustain at FP64, FP32, "
      "FP16/BF16 and INT8, with every result verified, and writes JSON reports.\n"
      "Backends are plugins (libsuanli_backend_*.so) found next to the program, in its "
      "../lib/suanli/backends, and in the directories of SUANLI_BACKEND_PATH.",
      "suanli"};

  suanli::cli::setup_help(app);
  app.require_subcommand(1);
  app.set_version_flag("--version", suanli::cli::version_string());
  const std::vector<suanli::cli::Command> commands = suanli::cli::add_commands(app);
  suanli::cli::add_help_footers(app);
  if (const auto status = suanli::cli::check_command_name(app, argc, argv)) return *status;

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return suanli::kExitUsage;
  }
  return suanli::cli::run_command(commands, suanli::cli::Argv(argv, argv + argc));
}
