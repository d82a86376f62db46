// The subcommands of `suanli`, each a function over parsed options returning the exit status.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "harness/backend_host.h"
#include "harness/isolate.h"

namespace suanli::cli {

struct InfoOptions {
  bool json = false;
  bool check_peaks = false;  // run a short peak kernel per device and dtype (the self-check)
  std::vector<std::string> backends;
  int threads = 0;
};

struct ListOptions {
  std::string what;
  std::string suite = "standard";
  std::vector<std::string> dtypes;
};

struct RunOptionsCli {
  std::string suite = "standard";
  std::vector<std::string> backends;
  std::vector<std::string> dtypes;
  std::string out;
  int threads = 0;
  double min_time = 0, max_time = -1;
  int repetitions = 0;
  std::vector<std::string> backend_options;
  bool quiet = false;
  double rank_timeout = 600;     // cluster runs: seconds a barrier or the gather waits for a rank
  std::string format = "table";  // what goes to stdout: table, json, csv, md (src/cli/output.cpp)
  bool wide = false;             // table: full library column
  std::vector<std::string> argv;
  // Robustness (src/cli/run_cmd.cpp): finish the run of this journal; per-workload timeout
  // (0: the suite's or the default); sign the report with this certify secret key.
  std::string resume;
  double timeout_s = 0;
  std::string sign_key;
  // The built-in peak probe (harness/peak_probe.h) after the suite; off: dtypes the suite has no
  // peak workload for are "not checked".
  bool no_peak_probe = false;
};

// `suanli rate` (src/cli/rate_cmd.cpp).
struct RateOptionsCli {
  std::vector<std::string> reports;
  std::string inventory, claims, target, total, format, out;
  bool include_hosts = false;
  bool include_marked = false;
  std::string require_signed;  // public key file: every report must be signed by its key
};

// `suanli compare` (src/cli/compare_cmd.cpp).
struct CompareOptionsCli {
  std::string old_report, new_report;
  double threshold = 0.05, noise_sigmas = 2;
  std::string format = "text", out;
};

struct ConformanceOptionsCli {
  std::string backend;  // plugin path or backend name
  std::vector<std::string> backend_options;
  bool no_fork = false;
  double timeout_s = 120;
};

std::string version_string();
// Shared by the subcommands (commands.cpp): --dtype names, the backends' load options (--threads
// bounded by the CPUs this process may use), the logical CPUs available.
std::vector<Dtype> parse_dtypes(const std::vector<std::string>& names);
LoadOptions load_options(const std::vector<std::string>& only, int threads,
                         const std::vector<std::string>& extra_options);
int available_cpus();
isolate::Enumeration enumerate(const LoadOptions& lo);
void print_issues(const std::vector<LoadIssue>& issues, std::FILE* to);
int cmd_info(const InfoOptions& o);
int cmd_list(const ListOptions& o);
int cmd_run(const RunOptionsCli& o);
int cmd_conformance(const ConformanceOptionsCli& o);  // conformance_cmd.cpp
int cmd_rate(const RateOptionsCli& o);
int cmd_compare(const CompareOptionsCli& o);

}  // namespace suanli::cli
