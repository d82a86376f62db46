// The `suanli` command: parses arguments (CLI11) and calls the modules; nothing else lives here.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/certify_cmd.h"
#include "cli/cluster_cmd.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/workload_kinds.h"
#include "core/error.h"
#include "harness/isolate.h"

namespace {

// Isolation, journal and signing options of `run` (README: Isolation, journal and resume).
void add_run_robustness_options(CLI::App* run_cmd, suanli::cli::RunOptionsCli& run) {
  run_cmd->add_option("--resume", run.resume,
                      "Finish the run recorded in this journal (REPORT.journal, left by an "
                      "interrupted or killed run): its suite and options are used, workloads "
                      "already recorded are not run again, then the report is written as usual");
  run_cmd
      ->add_option("--timeout", run.timeout_s,
                   "Seconds one workload may take before its worker process is killed and the "
                   "workload recorded as error (default: the suite's timeout_s, else from its "
                   "time settings and FLOPs)")
      ->check(CLI::Range(1.0, 604800.0));
  run_cmd->add_option("--sign-key", run.sign_key,
                      "Sign the report with this secret key from `suanli keygen` (Ed25519 over "
                      "the report's sha256; `rate --require-signed PUB` checks it)");
}

}  // namespace

int main(int argc, char** argv) {
  suanli::cli::register_workload_kinds();  // models and HPL reach the runner through these
  // The worker process of an isolated run (src/harness/isolate.h): not a user command.
  if (argc == 2 && std::string(argv[1]) == "__worker") return suanli::isolate::worker_main();
  using suanli::cli::InfoOptions;
  using suanli::cli::ListOptions;
  using suanli::cli::RunOptionsCli;

  CLI::App app{
      "suanli (算力): measures what AI accelerators and CPUs really sustain at FP64, FP32, "
      "FP16/BF16 and INT8, with every result verified, and writes JSON reports.\n"
      "Backends are plugins (libsuanli_backend_*.so) found next to the program, in its "
      "../lib/suanli/backends, and in the directories of SUANLI_BACKEND_PATH.",
      "suanli"};
  suanli::cli::setup_help(app);
  app.require_subcommand(1);
  app.set_version_flag("--version", suanli::cli::version_string());

  InfoOptions info;
  CLI::App* info_cmd = app.add_subcommand(
      "info",
      "Show the backends found, their devices (identity, ISA features, clock, memory), "
      "library versions and theoretical peak per dtype with its derivation.");
  info_cmd->add_flag("--json", info.json, "Print JSON instead of text");
  info_cmd->add_flag("--check-peaks", info.check_peaks,
                     "Run a short peak kernel per device and dtype (~0.3 s each) and check each "
                     "theoretical peak against it (suspect outside 85%..103%)");
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
      "report and print a summary.\nPlugins run in worker processes: a crash, exit or hang (past "
      "the "
      "workload's timeout) is an error result of that workload and the run goes on. Results are "
      "journaled to REPORT.journal as they complete (removed once the report is written).\n"
      "Exit status: 0 when every result is ok or unsupported, 1 when any failed verification or "
      "errored or there was no result, 2 for bad usage or bad input files (checked before any "
      "work), 128+N when interrupted by signal N (130: SIGINT; the journal is kept: --resume).");
  run_cmd
      ->add_option("--suite", run.suite,
                   "Built-in suite name (quick, standard, kernels, models) or path to a suite .json")
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
  run_cmd
      ->add_option("--rank-timeout", run.rank_timeout,
                   "Under mpirun/srun: seconds a barrier or the gather waits for a rank before "
                   "it is recorded as lost (default 600; docs/cluster.md)")
      ->check(CLI::Range(0.1, 86400.0));
  run_cmd
      ->add_option("--format", run.format,
                   "What goes to stdout: table (default), json (the report), csv or md; the report "
                   "file is written either way")
      ->check(CLI::IsMember({"table", "json", "csv", "md"}));
  run_cmd->add_flag("--wide", run.wide,
                    "Table with full library names, however wide (default: fit the terminal)");
  add_run_robustness_options(run_cmd, run);

  suanli::cli::ConformanceOptionsCli conf;
  CLI::App* conf_cmd = app.add_subcommand(
      "conformance",
      "Check a backend plugin against the ABI contract (backends/README.md): ABI version and "
      "struct sizes, device enumeration and identity, buffer round trips, every supported op and "
      "dtype verified at small shapes, unsupported answered as UNSUPPORTED with a reason, device "
      "time positive and growing with iterations, errors (not crashes) on bad descriptors. Each "
      "check runs in a forked child, so a crash fails that check only.\nExit status: 0 all "
      "passed, 1 any failed, 2 bad usage.");
  conf_cmd
      ->add_option("--backend", conf.backend,
                   "Plugin file (libsuanli_backend_NAME.so) or a backend name found on the search "
                   "path")
      ->required();
  conf_cmd->add_option("--backend-option", conf.backend_options,
                       "KEY=VALUE passed to the plugin's create");
  conf_cmd->add_flag("--no-fork", conf.no_fork,
                     "Run the checks in this process (debugging; a crash ends the tool)");
  conf_cmd->add_option("--timeout", conf.timeout_s, "Seconds one check may take (default 120)")
      ->check(CLI::Range(1.0, 86400.0));

  suanli::cli::RateOptionsCli rate;
  CLI::App* rate_cmd = app.add_subcommand(
      "rate",
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
      "Without --inventory every report is one node. Exit status: 0 ok, 2 bad input.");
  rate_cmd->footer(
      "Examples:\n"
      "  suanli rate node.json                                   one node, text tables\n"
      "  suanli rate gpu.json --claims claims-h100-sxm.json --target 45EFLOPS:fp16\n"
      "  suanli rate --inventory fleet.json --total nominal -o rating.html\n"
      "  scripts/render_html.sh rating.html                      look at it as a browser draws it");
  rate_cmd->add_option("reports", rate.reports, "Report files from `suanli run` (one per node)");
  rate_cmd->add_option("--inventory", rate.inventory,
                       "Fleet file (reports/schema/inventory.schema.json): node types, their "
                       "reports, counts, nodes per rack, power per node, PUE, hpc tag");
  rate_cmd->add_option("--claims", rate.claims,
                       "Vendor claims file (reports/schema/claims.schema.json) used as Rpeak "
                       "(basis spec) where a device matches");
  rate_cmd->add_option("--target", rate.target,
                       "VALUE[UNIT]:DTYPE, e.g. 45EFLOPS:fp16: nodes of each type needed to "
                       "reach it, on Rmax and on Rpeak, and their power");
  rate_cmd->add_option("--total", rate.total,
                       "Add a labelled cross-precision total: nominal (plain sum of the "
                       "categories, CAICT-style), fp32-native (every device's own FP32), or "
                       "factors:FILE ({\"suanli_factors\":1,\"to\":\"fp32\",\"factors\":{...}}; "
                       "every factor is printed and stored)");
  rate_cmd->add_option("--require-signed", rate.require_signed,
                       "Public key file (suanli keygen): refuse any report not signed with its "
                       "key by `run --sign-key` (or altered since)");
  rate_cmd->add_flag("--include-hosts", rate.include_hosts,
                     "Count host CPUs of accelerator nodes in the general total");
  rate_cmd->add_flag("--include-marked", rate.include_marked,
                     "Count results the run marked (noisy, slowdown, timing, above_peak); by "
                     "default they are left out of Rmax and the ceiling");
  rate_cmd->add_option("--format", rate.format, "text, json, md, html or csv (default: from "
                                                "--out's extension, else text)")
      ->check(CLI::IsMember({"text", "json", "md", "html", "csv"}));
  rate_cmd->add_option("-o,--out", rate.out,
                       "Write the rating here (atomically); the text summary still goes to "
                       "stdout");

  suanli::cli::CompareOptionsCli compare;
  CLI::App* compare_cmd = app.add_subcommand(
      "compare",
      "Compare two reports workload by workload (matched by backend, device and workload id): "
      "old and new median throughput, new/old, and whether the change is beyond the noise both "
      "runs measured.\nA regression is a verified result that got slower by more than "
      "--threshold and by more than --noise-sigmas x sqrt(cv_old^2 + cv_new^2), or one that "
      "verified before and now fails or errors.\nExit status: 0 no regression, 1 regression, 2 "
      "bad input or no workload in common.");
  compare_cmd->add_option("old", compare.old_report, "The baseline report")->required();
  compare_cmd->add_option("new", compare.new_report, "The report to check")->required();
  compare_cmd
      ->add_option("--threshold", compare.threshold,
                   "Relative slowdown that counts as a regression (default 0.05 = 5 %)")
      ->check(CLI::Range(0.0, 1.0));
  compare_cmd
      ->add_option("--noise-sigmas", compare.noise_sigmas,
                   "Width of the noise band in combined CVs (default 2)")
      ->check(CLI::Range(0.0, 100.0));
  compare_cmd->add_option("--format", compare.format, "text, json or md")
      ->check(CLI::IsMember({"text", "json", "md"}));
  compare_cmd->add_option("-o,--out", compare.out, "Write the comparison here (atomically)");

  suanli::cli::CertifyOptionsCli certify;
  CLI::App* certify_cmd = app.add_subcommand(
      "certify",
      "Run a certification profile (sustained workloads, every output verified, a caching check, "
      "throttling windows), write the report and a certificate signed with Ed25519 (JSON, plus "
      "Markdown and HTML beside it). The input seed is drawn at run time. Refuses a build with "
      "uncommitted changes or a modified profile unless --unofficial.\nExit status: 0 PASS, 1 "
      "FAIL (the certificate is still written: a failed criterion is a result), 2 bad input.");
  certify_cmd
      ->add_option("--profile", certify.profile,
                   "Shipped profile (quick, standard, datacenter) or path to a profile .json")
      ->default_str("standard");
  certify_cmd->add_option("--claims", certify.claims,
                          "Vendor claims file (reports/schema/claims.schema.json); without it "
                          "the criteria against claims are recorded as not evaluated");
  certify_cmd->add_option("--key", certify.key, "Secret key file from `suanli keygen`")
      ->required();
  certify_cmd->add_option("-o,--out", certify.out,
                          "Certificate file (default: ./suanli-certificates/HOST-UTCTIME.json)");
  certify_cmd->add_option("--report", certify.report,
                          "Report file (default: the certificate's name with .report.json)");
  certify_cmd->add_option("--backend", certify.backends, "Only these backends (comma-separated)")
      ->delimiter(',');
  certify_cmd
      ->add_option("--threads", certify.threads, "Host threads a CPU backend uses (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  certify_cmd->add_flag("--unofficial", certify.unofficial,
                        "Allow a dirty build or a modified profile; the certificate says "
                        "UNOFFICIAL");
  certify_cmd
      ->add_option(
          "--timeout", certify.timeout_s,
          "Seconds one run may take before its worker process is killed and the run recorded as "
          "error (default: from the workload's settings, FLOPs and sustain time)")
      ->check(CLI::Range(1.0, 86400.0));
  certify_cmd->add_flag("--quiet,-q", certify.quiet, "No progress lines");

  suanli::cli::KeygenOptions keygen;
  CLI::App* keygen_cmd = app.add_subcommand(
      "keygen", "Write an Ed25519 key pair for certificates: DIR/suanli-certify.secret (mode 0600) "
                "and DIR/suanli-certify.pub. Never overwrites a key.");
  keygen_cmd->add_option("--out", keygen.out, "Directory for the key pair")->required();

  suanli::cli::VerifyOptions verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify",
      "Verify a certificate: the signer's key, the Ed25519 signature, the profile (hash, shipped "
      "or not), every criterion's limit and verdict re-derived from its numbers, the overall "
      "verdict; with --report also the report's hash and every measured value re-derived from "
      "the report's samples. Prints each check.\nExit status: 0 authentic and PASS, 1 authentic "
      "and FAIL, 2 bad input (unreadable or malformed files), 3 not authentic or inconsistent, 4 "
      "authentic PASS but UNOFFICIAL (a dirty build or a modified profile).");
  verify_cmd->add_option("certificate", verify.certificate, "Certificate .json")->required();
  verify_cmd->add_option("--pubkey", verify.pubkey, "Public key file of the issuer")->required();
  verify_cmd->add_option("--report", verify.report, "The report the certificate names");

  suanli::cli::DiagnoseOptionsCli diagnose;
  CLI::App* diagnose_cmd = suanli::cli::add_diagnose_command(app, diagnose);
  suanli::cli::ExportOptionsCli export_opts;
  CLI::App* export_cmd = suanli::cli::add_export_command(app, export_opts);
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

  try {
    if (*info_cmd) return suanli::cli::cmd_info(info);
    if (*list_cmd) return suanli::cli::cmd_list(list);
    if (*conf_cmd) return suanli::cli::cmd_conformance(conf);
    if (*rate_cmd) return suanli::cli::cmd_rate(rate);
    if (*compare_cmd) return suanli::cli::cmd_compare(compare);
    if (*diagnose_cmd) return suanli::cli::cmd_diagnose(diagnose);
    if (*export_cmd) return suanli::cli::cmd_export(export_opts);
    if (*keygen_cmd) return suanli::cli::cmd_keygen(keygen);
    if (*verify_cmd) return suanli::cli::cmd_verify(verify);
    if (*certify_cmd) {
      certify.argv.assign(argv, argv + argc);
      return suanli::cli::cmd_certify(certify);
    }
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
