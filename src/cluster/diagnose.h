// `suanli diagnose`: finds the slow nodes of a cluster report. Every node's every workload is
// compared with the cluster median (robust: median and MAD) and, when given, with a stored
// baseline; a node is flagged when any of its results is slower than both rules allow, when it
// failed, was lost, or lacks a workload its peers ran. Pure JSON (no MPI).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace suanli::cluster {

struct DiagnoseRules {
  // Against the cluster: slower than median x (1 - max_deviation) AND more than mad_sigmas
  // scaled MADs (1.4826 x MAD) below the median. Needs min_nodes results of the workload.
  double max_deviation = 0.10;
  double mad_sigmas = 4.0;
  int min_nodes = 3;
  // Against a baseline: slower than the baseline's median x (1 - baseline_max_deviation).
  double baseline_max_deviation = 0.10;
  // A node is flagged when its slow workloads are at least this fraction of those measured
  // (0: any one; a noisy shared machine wants more, so one unlucky sample flags nothing).
  double min_fraction = 0;
};
// {"suanli_diagnose_rules": 1, "max_deviation": .., "mad_sigmas": .., "min_nodes": ..,
//  "baseline_max_deviation": ..}; InputError naming origin and the member otherwise.
DiagnoseRules parse_rules(const nlohmann::json& j, const std::string& origin);

// A baseline from a healthy cluster report: per workload key the median, MAD, unit, nodes.
nlohmann::json make_baseline(const nlohmann::json& cluster_report, const std::string& origin);
void check_baseline(const nlohmann::json& baseline, const std::string& origin);

// The diagnosis: {suanli_diagnose, report, rules, flagged_ranks, nodes: [{rank, host, status,
// flagged, evidence: [...]}]}. `baseline` may be null.
nlohmann::json diagnose(const nlohmann::json& cluster_report, const std::string& origin,
                        const DiagnoseRules& rules, const nlohmann::json& baseline);

std::string diagnosis_text(const nlohmann::json& d);
std::string diagnosis_markdown(const nlohmann::json& d);

}  // namespace suanli::cluster
