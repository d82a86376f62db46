// The subcommands of `suanli`: info, list and run.
#include "cli/commands.h"
#include "cli/cluster_cmd.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "cli/output.h"
#include "core/error.h"
#include "core/units.h"
#include "harness/backend_host.h"
#include "harness/isolate.h"
#include "harness/peak_probe.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/summary.h"
#include "report/system_info.h"
#include "revision.h"
#include "suite/suite.h"

namespace suanli::cli {

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

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

LoadOptions load_options(const std::vector<std::string>& only, int threads,
                         const std::vector<std::string>& extra_options) {
  if (threads > available_cpus())
    throw InputError(fmt::format("--threads {}: more than the {} CPUs this process may use",
                                 threads, available_cpus()));
  LoadOptions lo;
  lo.only = only;
  if (threads > 0) lo.create_options.emplace_back("threads", std::to_string(threads));
  for (const std::string& kv : extra_options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("--backend-option '{}': expected KEY=VALUE", kv));
    lo.create_options.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return lo;
}

isolate::Enumeration enumerate(const LoadOptions& lo) {
  isolate::Enumeration r = isolate::enumerate_backends(lo);
  for (const std::string& name : lo.only) {
    bool found = false;
    for (const auto& b : r.backends) found = found || b.name == name;
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

std::string version_string() {
  return fmt::format("suanli {} ({}{})", SUANLI_VERSION, SUANLI_GIT_REVISION,
                     SUANLI_GIT_DIRTY ? ", modified" : "");
}

namespace {

// The peak self-check for `info --check-peaks`: the built-in peak probe (harness/peak_probe.h)
// for every dtype any device claims a peak for.
using PeakRuns = std::map<std::tuple<std::string, int, Dtype>, Result>;

PeakRuns run_peak_checks(const isolate::Enumeration& e, const LoadOptions& lo) {
  PeakRuns runs;
  for (Result& r : run_peak_probes(e.backends, peak_probe_targets(e.backends, {}, {}),
                                   lo.create_options, RunOptions{}))
    runs.emplace(std::make_tuple(r.backend, r.device, r.op.dtype), std::move(r));
  return runs;
}

// The self-check line of one device peak: the peak kernel's verified rate against the theory.
std::string check_peak(const PeakRuns& runs, const std::string& backend, const DeviceInfo& d,
                       const PeakInfo& p) {
  const auto it = runs.find(std::make_tuple(backend, d.index, p.dtype));
  if (it == runs.end()) return "not checked (no peak run)";
  const Result& r = it->second;
  if (r.status != Status::ok)
    return fmt::format("not checked ({}: {})", status_name(r.status), r.reason);
  PeakCheck c;
  c.backend = backend;
  c.device = d.index;
  c.dtype = p.dtype;
  c.theoretical = p.ops_per_second;
  c.measured = r.flops_per_second;
  c.source = "probe";
  for (const ResultMark& m : r.marks)  // a busy machine says nothing about the theory
    c.inconclusive += (c.inconclusive.empty() ? "" : ",") + m.kind;
  return peak_check_line(c);
}

}  // namespace

int cmd_info(const InfoOptions& o) {
  // Plugins are loaded and created in worker processes: one that crashes is a note here.
  const LoadOptions lo = load_options(o.backends, o.threads, {});
  const isolate::Enumeration r = enumerate(lo);
  if (o.json) {
    nlohmann::json j;
    j["suanli"] = build_info_json();
    j["host"] = host_info_json(host_info());
    j["backends"] = nlohmann::json::array();
    for (const auto& b : r.backends) j["backends"].push_back(b.json);
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
  const PeakRuns peak_runs = o.check_peaks ? run_peak_checks(r, lo) : PeakRuns{};
  for (const auto& b : r.backends) {
    fmt::print("\nbackend {} {}  ({})\n", b.name, b.version, b.path);
    for (const auto& [k, v] : b.libraries) fmt::print("  {:<10} {}\n", k, v);
    if (b.devices.empty()) fmt::print("  no devices\n");
    for (const DeviceInfo& d : b.devices) {
      fmt::print("  device {}: {} ({}, {})\n", d.index, d.name, d.vendor, d.kind);
      fmt::print("    compute units {}, threads used {}, clock {:.0f} MHz measured",
                 d.compute_units, d.threads, d.clock_mhz);
      if (d.max_clock_mhz > 0) fmt::print(" (max {:.0f} MHz)", d.max_clock_mhz);
      fmt::print(", memory {}\n", format_bytes(static_cast<double>(d.memory_bytes)));
      if (!d.driver.empty()) fmt::print("    driver/microcode {}\n", d.driver);
      fmt::print("    features: {}\n", d.features.empty() ? "-" : d.features);
      for (const auto& [k, v] : d.extra) fmt::print("    {}: {}\n", k, v);
      fmt::print("    theoretical peak:\n");
      for (const PeakInfo& p : d.peaks) {
        fmt::print("      {:<5} {:>14}   {}\n", dtype_name(p.dtype),
                   format_si(p.ops_per_second, dtype_is_integer(p.dtype) ? "OP/s" : "FLOP/s"),
                   p.derivation);
        if (o.check_peaks)
          fmt::print("            self-check: {}\n", check_peak(peak_runs, b.name, d, p));
      }
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

}  // namespace suanli::cli
