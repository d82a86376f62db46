// Assembles the JSON report of a run: provenance, host, backends and devices, suite, results,
// tally.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend_host.h"
#include "report/report.h"
#include "suite/suite.h"

namespace suanli {

nlohmann::json build_info_json();  // suanli version, git revision, dirty flag
nlohmann::json backend_json(const Backend& b);
nlohmann::json device_json(const DeviceInfo& d);

struct RunMeta {
  std::vector<std::string> command;  // argv
  std::string started_utc, finished_utc;
  std::vector<std::pair<std::string, std::string>> options;  // effective options, for the record
  std::vector<Result> peak_probes;  // the built-in peak probe's results (harness/peak_probe.h)
};

// The sealed (hashed) report of a run.
nlohmann::json make_run_report(const Suite& suite, const std::vector<Backend*>& backends,
                               const std::vector<LoadIssue>& issues,
                               const std::vector<Result>& results, const RunMeta& meta);
// The same with the backends already described (backend_json of each, e.g. from a worker).
nlohmann::json make_run_report(const Suite& suite, const nlohmann::json& backends,
                               const std::vector<LoadIssue>& issues,
                               const std::vector<Result>& results, const RunMeta& meta);

}  // namespace suanli
