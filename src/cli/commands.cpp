// The subcommands of `suanli`: info, list and run.
#include "cli/commands.h"
#include "cli/cluster_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli/output.h"
#include "core/error.h"
#include "core/units.h"
#include "harness/backend_host.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/summary.h"
#include "report/system_info.h"
#include "revision.h"
#include "suite/suite.h"

namespace suanli::cli {
namespace {

std::vector<Dtype> parse_dtypes(const std::vector<std::string>& names) {
  std::vector<Dtype> out;
  for (const std::string& n : names) {
    const auto d = dtype_from_name(n);
    if (!d || *d == Dtype::uint8 || *d == Dtype::int32)
      throw InputError(
          fmt::format("--dtype: unknown dtype '{}' (expected fp64, fp32, tf32, fp16, "
                      "bf16, fp8_e4m3, fp8_e5m2 or int8)",
                      n));
    out.push_back(*d);
  }
  return out;
}

LoadResult load(const std::vector<std::string>& only, int threads,
                const std::vector<std::string>& extra_options) {
  LoadOptions lo;
  lo.only = only;
  if (threads > 0) lo.create_options.emplace_back("threads", std::to_string(threads));
  for (const std::string& kv : extra_options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("--backend-option '{}': expected KEY=VALUE", kv));
    lo.create_options.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  LoadResult r = load_backends(lo);
  for (const std::string& name : only) {
    bool found = false;
    for (const auto& b : r.backends) found = found || b->name() == name;
    if (!found) {
      std::string why;
      for (const LoadIssue& i : r.issues) why += fmt::format("\n  {}: {}", i.path, i.reason);
      throw InputError(
          fmt::format("--backend {}: no such backend could be loaded{}", name,
                      why.empty() ? " (none found on the search path; see suanli info)" : why));
    }
  }
  return r;
}

void print_issues(const std::vector<LoadIssue>& issues, std::FILE* to) {
  for (const LoadIssue& i : issues) fmt::print(to, "note: backend {}: {}\n", i.path, i.reason);
}

}  // namespace

std::string version_string() {
  return fmt::format("suanli {} ({}{})", SUANLI_VERSION, SUANLI_GIT_REVISION,
                     SUANLI_GIT_DIRTY ? ", modified" : "");
}

int cmd_info(const InfoOptions& o) {
  LoadResult r = load(o.backends, o.threads, {});
  if (o.json) {
    nlohmann::json j;
    j["suanli"] = build_info_json();
    j["host"] = host_info_json(host_info());
    j["backends"] = nlohmann::json::array();
    for (const auto& b : r.backends) j["backends"].push_back(backend_json(*b));
    j["load_issues"] = nlohmann::json::array();
    for (const LoadIssue& i : r.issues)
      j["load_issues"].push_back({{"path", i.path}, {"reason", i.reason}});
    j["search_path"] = default_backend_search_path();
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  const HostInfo h = host_info();
  fmt::print("{}\n", version_string());
  fmt::print("host: {}  {}  {}  {} logical CPUs  {}\n", h.hostname, h.os, h.kernel, h.logical_cpus,
             format_bytes(static_cast<double>(h.memory_bytes)));
  if (r.backends.empty()) fmt::print("no backends loaded\n");
  for (const auto& b : r.backends) {
    fmt::print("\nbackend {} {}  ({})\n", b->name(), b->version(), b->path());
    for (const auto& [k, v] : b->libraries()) fmt::print("  {:<10} {}\n", k, v);
    if (b->devices().empty()) fmt::print("  no devices\n");
    for (const DeviceInfo& d : b->devices()) {
      fmt::print("  device {}: {} ({}, {})\n", d.index, d.name, d.vendor, d.kind);
      fmt::print("    compute units {}, threads used {}, clock {:.0f} MHz measured",
                 d.compute_units, d.threads, d.clock_mhz);
      if (d.max_clock_mhz > 0) fmt::print(" (max {:.0f} MHz)", d.max_clock_mhz);
      fmt::print(", memory {}\n", format_bytes(static_cast<double>(d.memory_bytes)));
      if (!d.driver.empty()) fmt::print("    driver/microcode {}\n", d.driver);
      fmt::print("    features: {}\n", d.features.empty() ? "-" : d.features);
      for (const auto& [k, v] : d.extra) fmt::print("    {}: {}\n", k, v);
      fmt::print("    theoretical peak:\n");
      for (const PeakInfo& p : d.peaks)
        fmt::print("      {:<5} {:>14}   {}\n", dtype_name(p.dtype),
                   format_si(p.ops_per_second, dtype_is_integer(p.dtype) ? "OP/s" : "FLOP/s"),
                   p.derivation);
    }
  }
  if (!r.issues.empty()) fmt::print("\n");
  print_issues(r.issues, stdout);
  return kExitOk;
}

int cmd_list(const ListOptions& o) {
  if (o.what == "suites") {
    for (const SuiteEntry& e : builtin_suite_list())
      fmt::print("{:<10} {:>4} workloads  {}\n", e.name, e.workloads, e.description);
    return kExitOk;
  }
  Suite s = load_suite(o.suite);
  filter_dtypes(s, parse_dtypes(o.dtypes));
  for (const Workload& w : s.workloads)
    fmt::print("{:<60} {:>12}\n", w.id,
               op_is_compute_bound(w.op) ? format_si(op_flops(w.op), "FLOP")
                                         : format_si(op_bytes(w.op), "B"));
  fmt::print("{} workloads in suite {} ({})\n", s.workloads.size(), s.name, s.origin);
  return kExitOk;
}

int cmd_run(const RunOptionsCli& o) {
  // Under mpirun/srun: one rank of a cluster run (src/cluster, cluster_cmd.cpp).
  if (is_fabric_suite(o.suite)) return cmd_run_fabric(o);
  std::unique_ptr<cluster::ClusterRun> cluster = begin_cluster_run(o);
  // Everything that can be wrong with the input is checked before anything runs.
  Suite suite = load_suite(o.suite);
  filter_dtypes(suite, parse_dtypes(o.dtypes));
  if (suite.workloads.empty())
    throw InputError(fmt::format("suite {}: no workload left after --dtype filtering", suite.name));
  LoadResult loaded =
      load(o.backends, cluster ? cluster->threads_for(o.threads) : o.threads, o.backend_options);
  std::vector<Backend*> backends;
  for (const auto& b : loaded.backends) backends.push_back(b.get());
  if (backends.empty())
    throw InputError("no backend could be loaded (see `suanli info` for the reasons)");
  check_suite_fits(suite, backends);

  const bool tty = isatty(STDERR_FILENO) && !o.quiet;
  print_issues(loaded.issues, stderr);
  RunOptions ro;
  if (o.min_time > 0) ro.min_time = o.min_time;
  if (o.repetitions > 0) ro.repetitions = o.repetitions;
  if (o.max_time >= 0) ro.max_time = o.max_time;
  if (tty) ro.on_progress = progress_bar();
  RunMeta meta;
  meta.command = o.argv;
  meta.started_utc = utc_timestamp();
  const std::string stamp = utc_compact_timestamp();
  std::string out = o.out;
  if (out.empty()) out = fmt::format("suanli-reports/{}-{}.json", host_info().hostname, stamp);
  meta.options = {{"suite", o.suite}, {"out", out}};
  if (o.threads) meta.options.emplace_back("threads", std::to_string(o.threads));
  for (const std::string& kv : o.backend_options) meta.options.emplace_back("backend_option", kv);

  if (cluster) {
    cluster->prepare(ro);
    return cluster->finish(
        [&] {
          const std::vector<Result> results = run_suite(suite, backends, ro);
          if (tty) fmt::print(stderr, "\r\033[K");
          meta.finished_utc = utc_timestamp();
          return make_run_report(suite, backends, loaded.issues, results, meta);
        },
        out);
  }
  const std::vector<Result> results = run_suite(suite, backends, ro);
  if (tty) fmt::print(stderr, "\r\033[K");
  meta.finished_utc = utc_timestamp();
  const nlohmann::json report = make_run_report(suite, backends, loaded.issues, results, meta);
  write_file_atomic(out, report.dump(2) + "\n");
  const Tally t = tally(results);
  print_run_output(report, out, t, o.format, o.wide, o.quiet);
  return (t.failed || t.error) ? kExitFailed : kExitOk;
}

}  // namespace suanli::cli
