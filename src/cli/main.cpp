// The `suanli` command: parses arguments (CLI11) and calls the modules; nothing else lives here.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  using suanli::cli::InfoOptions;
  using suanli::cli::ListOptions;
  using suanli::cli::RunOptionsCli;

  CLI::App app{
      "suanli (算力): measures what AI accelerators and CPUs really sustain at FP64, FP32, "
      "FP16/BF16 and INT8, with every result verified, and writes JSON reports.\n"
      "Backends are plugins (libsuanli_backend_*.so) found next to the program, in its "
      "../lib/suanli/backends, and in the directories of SUANLI_BACKEND_PATH.",
      "suanli"};
  app.require_subcommand(1);
  app.set_version_flag("--version", suanli::cli::version_string());

  InfoOptions info;
  CLI::App* info_cmd = app.add_subcommand(
      "info",
      "Show the backends found, their devices (identity, ISA features, clock, memory), "
      "library versions and theoretical peak per dtype with its derivation.");
  info_cmd->add_flag("--json", info.json, "Print JSON instead of text");
  info_cmd->add_option("--backend", info.backends, "Only these backends (comma-separated)")
      ->delimiter(',');
  info_cmd->add_option("--threads", info.threads, "Host threads a CPU backend uses (0 = all cores)")
      ->check(CLI::Range(0, 4096));

  ListOptions list;
  CLI::App* list_cmd = app.add_subcommand(
      "list", "List the built-in suites, or the workloads a suite expands into.");
  list_cmd->add_option("what", list.what, "suites | workloads")
      ->required()
      ->check(CLI::IsMember({"suites", "workloads"}));
  list_cmd->add_option("--suite", list.suite, "Suite name or path, for 'workloads'")
      ->default_str("standard");
  list_cmd->add_option("--dtype", list.dtypes, "Only these dtypes (comma-separated)")
      ->delimiter(',');

  RunOptionsCli run;
  CLI::App* run_cmd = app.add_subcommand(
      "run",
      "Run a suite on every device of the chosen backends, verify every output, write a JSON "
      "report and print a summary.\nExit status: 0 when every result is ok or unsupported, 1 when "
      "any failed verification or errored, 2 for bad usage or bad input files.");
  run_cmd
      ->add_option("--suite", run.suite,
                   "Built-in suite name (quick, standard, kernels) or path to a suite .json")
      ->default_str("standard");
  run_cmd->add_option("--backend", run.backends, "Only these backends (comma-separated)")
      ->delimiter(',');
  run_cmd
      ->add_option("--dtype", run.dtypes,
                   "Only these dtypes (comma-separated: fp64,fp32,tf32,fp16,bf16,fp8_e4m3,"
                   "fp8_e5m2,int8)")
      ->delimiter(',');
  run_cmd->add_option("-o,--out", run.out,
                      "Report file (default: ./suanli-reports/HOST-UTCTIME.json)");
  run_cmd->add_option("--threads", run.threads, "Host threads a CPU backend uses (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  run_cmd
      ->add_option("--min-time", run.min_time,
                   "Seconds of device time per sample (overrides the suite)")
      ->check(CLI::Range(1e-6, 3600.0));
  run_cmd
      ->add_option("--repetitions", run.repetitions,
                   "Samples in the first round (overrides the suite)")
      ->check(CLI::Range(1, 1000));
  run_cmd
      ->add_option("--max-time", run.max_time,
                   "Seconds of sampling per workload before the noise target is given up "
                   "(overrides the suite)")
      ->check(CLI::Range(0.0, 86400.0));
  run_cmd->add_option("--backend-option", run.backend_options,
                      "KEY=VALUE passed to every backend (e.g. gemm_library=onednn for cpu)");
  run_cmd->add_flag("--quiet,-q", run.quiet, "No progress line and no summary table");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return suanli::kExitUsage;
  }

  try {
    if (*info_cmd) return suanli::cli::cmd_info(info);
    if (*list_cmd) return suanli::cli::cmd_list(list);
    if (*run_cmd) {
      run.argv.assign(argv, argv + argc);
      return suanli::cli::cmd_run(run);
    }
  } catch (const suanli::InputError& e) {
    std::cerr << "suanli: error: " << e.what() << "\n";
    return suanli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "suanli: error: " << e.what() << "\n";
    return suanli::kExitFailed;
  }
  return suanli::kExitUsage;
}
