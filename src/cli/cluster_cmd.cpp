// The cluster side of the command line (see cluster_cmd.h).
#include "cli/cluster_cmd.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "cluster/diagnose.h"
#include "cluster/fabric.h"
#include "cluster/hpl_dist.h"
#include "cluster/mpi_env.h"
#include "core/error.h"
#include "core/units.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/system_info.h"

namespace suanli {
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_suites();
}

namespace suanli::cli {

using nlohmann::json;

std::unique_ptr<cluster::ClusterRun> begin_cluster_run(const RunOptionsCli& o) {
  cluster::ClusterRunOptions co;
  co.rank_timeout_s = o.rank_timeout;
  co.quiet = o.quiet;
  return cluster::ClusterRun::begin_if_launched(co);
}

namespace {

// The text of a built-in suite or a suite file; empty when neither (load_suite says why).
std::string suite_text(const std::string& name_or_path) {
  for (const auto& [file, text] : builtin_suites())
    if (file == name_or_path + ".json") return std::string(text);
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) return "";
  // Through the bounded reader: an oversized file or /dev/zero is refused, not read to the end.
  return read_text_file(name_or_path, "suite file");
}

}  // namespace

bool is_fabric_suite(const std::string& name_or_path) {
  return cluster::is_fabric_suite_text(suite_text(name_or_path));
}

bool is_hpl_dist_suite(const std::string& name_or_path) {
  return cluster::is_hpl_dist_suite_text(suite_text(name_or_path));
}

int cmd_run_hpl_dist(const RunOptionsCli& o) {
  cluster::DistRunOptions d;
  d.suite = o.suite;
  d.out = o.out;
  d.load = load_options(o.backends, o.threads, o.backend_options);
  d.threads = o.threads;
  d.timeout_s = o.timeout_s;
  d.quiet = o.quiet;
  d.argv = o.argv;
  return cluster::run_hpl_dist(d);
}

namespace {

std::string fabric_summary(const json& results) {
  std::string s = fmt::format("{:<14} {:<5} {:<10} {:>12} {:>12} {:>12} {:>12}  {}\n", "op",
                              "dtype", "scope", "bytes", "time", "algbw", "busbw", "status");
  for (const json& r : results) {
    const bool timed = r.contains("time_s");
    s += fmt::format("{:<14} {:<5} {:<10} {:>12} {:>12} {:>10.3f}GB {:>10.3f}GB  {}\n",
                     r["op"].get<std::string>(), r["dtype"].get<std::string>(),
                     r["scope"].get<std::string>(), r["bytes"].get<uint64_t>(),
                     timed ? fmt::format("{:.3g} us", r["time_s"].get<double>() * 1e6) : "-",
                     r["algbw_bytes_per_second"].get<double>() / 1e9,
                     r["busbw_bytes_per_second"].get<double>() / 1e9,
                     r["status"].get<std::string>());
  }
  return s;
}

}  // namespace

int cmd_run_fabric(const RunOptionsCli& o) {
  const cluster::FabricSuite suite = cluster::load_fabric_suite(o.suite);
  const cluster::TestHooks hooks = cluster::read_test_hooks();
  const std::string started = utc_timestamp();
  cluster::MpiSession mpi;
  const bool tty = isatty(STDERR_FILENO) && !o.quiet;
  const json results = cluster::run_fabric(mpi, suite, tty);
  if (mpi.rank() != 0) return kExitOk;

  std::vector<json> nodes = cluster::collective_nodes(mpi);
  cluster::ClusterMeta meta;
  meta.command = o.argv;
  meta.started_utc = started;
  meta.finished_utc = utc_timestamp();
  meta.suite = {{"name", suite.name}, {"origin", suite.origin}, {"sha256", suite.sha256}};
  meta.mpi = cluster::mpi_json(mpi);
  meta.test_hooks = cluster::test_hooks_json(hooks);
  if (!cluster::corrupt_collective_hook().empty())
    meta.test_hooks["corrupt_collective"] = {{"op", cluster::corrupt_collective_hook()},
                                             {"variable", "SUANLI_TEST_CORRUPT_COLLECTIVE"}};
  const std::string out = o.out.empty() ? fmt::format("suanli-reports/fabric-{}-{}.json",
                                                      host_info().hostname, utc_compact_timestamp())
                                        : o.out;
  json report = cluster::make_cluster_report(meta, std::move(nodes), results);
  report["fabric"]["device_collectives"] = {
      {"status", "unsupported"},
      {"reason",
       "no device collective library is plugged in: NCCL through the CUDA backend (or "
       "a vendor's library) goes behind CollectiveLibrary in src/cluster/fabric_run.cpp; "
       "host-memory MPI collectives were measured"}};
  report["sha256"] = report_sha256(report);
  write_file_atomic(out, report.dump(2) + "\n");
  if (!o.quiet) std::cout << fabric_summary(results);
  size_t bad = 0;
  for (const json& r : results) bad += r["status"] == "failed" || r["status"] == "error";
  fmt::print("cluster report: {}\nfabric results: {}  failed or errored: {}\n", out, results.size(),
             bad);
  return bad ? kExitFailed : kExitOk;
}

int cmd_diagnose(const DiagnoseOptionsCli& o) {
  const json report = read_json_file(o.report);
  cluster::check_cluster_report(report, o.report);
  if (!o.make_baseline.empty()) {
    write_file_atomic(o.make_baseline, cluster::make_baseline(report, o.report).dump(2) + "\n");
    fmt::print("baseline: {} (from {}, {} nodes)\n", o.make_baseline, o.report,
               report["nodes"].size());
    return kExitOk;
  }
  cluster::DiagnoseRules rules;
  if (!o.rules.empty()) rules = cluster::parse_rules(read_json_file(o.rules), o.rules);
  json baseline;
  if (!o.baseline.empty()) {
    baseline = read_json_file(o.baseline);
    cluster::check_baseline(baseline, o.baseline);
  }
  const json d = cluster::diagnose(report, o.report, rules, baseline);
  const std::string text = o.format == "json" ? d.dump(2) + "\n"
                           : o.format == "md" ? cluster::diagnosis_markdown(d)
                                              : cluster::diagnosis_text(d);
  if (!o.out.empty())
    write_file_atomic(o.out, text);
  else
    std::cout << text;
  return d["flagged_ranks"].empty() ? kExitOk : kExitFailed;
}

void add_diagnose_options(CLI::App* cmd, DiagnoseOptionsCli& o) {
  cmd->footer(
      "Examples:\n"
      "  suanli diagnose cluster.json\n"
      "  suanli diagnose healthy.json --make-baseline baseline.json\n"
      "  suanli diagnose cluster.json --baseline baseline.json --format json -o diag.json\n"
      "Rules file: {\"suanli_diagnose_rules\": 1, \"max_deviation\": 0.1, \"mad_sigmas\": 4, "
      "\"min_nodes\": 3, \"baseline_max_deviation\": 0.1, \"min_fraction\": 0}\n"
      "min_fraction: the share of a node's workloads that must be slow to flag it (0: any one).");
  cmd->add_option("report", o.report, "Cluster report from `suanli run` under mpirun/srun")
      ->required();
  cmd->add_option("--baseline", o.baseline, "Baseline from --make-baseline");
  cmd->add_option("--rules", o.rules, "Rules file (thresholds; see below)");
  cmd->add_option("--format", o.format, "text, json or md (default text)")
      ->check(CLI::IsMember({"text", "json", "md"}));
  cmd->add_option("-o,--out", o.out, "Write the diagnosis here instead of stdout");
  cmd->add_option("--make-baseline", o.make_baseline,
                  "Write a baseline (per workload: median and MAD over the nodes) from this "
                  "healthy report to FILE, and diagnose nothing");
}

}  // namespace suanli::cli
