// The cluster report (reports/schema/cluster.schema.json): one entry per rank in `nodes` (the
// rank's single-node report with `rank`, `status` and, when it failed, `reason`), the MPI layout,
// per-workload cluster aggregates, fabric results, sealed like a single-node report. Pure JSON:
// nothing here needs MPI.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace suanli::cluster {

inline constexpr int kClusterSchemaMajor = 1;
inline constexpr int kClusterSchemaMinor = 0;

// A result's figure of merit, higher is better: flops_per_second for compute-bound ops,
// bytes_per_second for memory-bound ones, model samples per second; with its unit. < 0 when the
// result has none (not ok, unsupported).
double result_value(const nlohmann::json& result, std::string* unit = nullptr);
// "backend:device workload" that matches a result across nodes.
std::string result_key(const nlohmann::json& result);

// Per workload over the nodes whose result is ok: nodes, sum, min, median, max and spread
// ((max - min) / median).
nlohmann::json cluster_aggregates(const nlohmann::json& nodes);

struct ClusterMeta {
  std::vector<std::string> command;
  std::string started_utc, finished_utc;
  nlohmann::json suite = nlohmann::json::object();  // name, origin, sha256
  nlohmann::json mpi = nlohmann::json::object();    // library, standard, launcher, ranks, hosts
  nlohmann::json test_hooks = nlohmann::json::object();
};

// The sealed cluster report. `nodes` in rank order; `fabric` the fabric suite's results (empty
// for other suites).
nlohmann::json make_cluster_report(const ClusterMeta& meta, std::vector<nlohmann::json> nodes,
                                   nlohmann::json fabric = nlohmann::json::array());

// A node entry for a rank that sent nothing usable.
nlohmann::json lost_node(int rank, const std::string& host, const std::string& status,
                         const std::string& reason);

// A suite of src/cluster's own kinds (the fabric suite, distributed HPL suites): parsed with the
// bounded reader, its marker ("<marker>": 1 at the top) checked; InputError naming the file.
struct MarkedSuite {
  nlohmann::json doc;
  std::string name, description, origin, sha256;
};
MarkedSuite parse_marked_suite(const std::string& text, const std::string& origin,
                               const char* marker, const char* default_name);
// The same from a built-in suite of that name carrying the marker, else from the file
// `name_or_path`.
MarkedSuite load_marked_suite(const std::string& name_or_path, const char* marker,
                              const char* default_name);

bool is_cluster_report(const nlohmann::json& doc);
// Schema, version and hash of a cluster report read from `origin`; throws InputError.
void check_cluster_report(const nlohmann::json& doc, const std::string& origin);
// The node's own single-node report as the rank sealed it (without the cluster's fields);
// InputError when its hash does not match. Null for a node without one (lost, error).
nlohmann::json node_report(const nlohmann::json& node, const std::string& origin);

}  // namespace suanli::cluster
