// `suanli rate cluster.json`: a cluster report's measured nodes rated one by one (each node a
// measured node, never extrapolated), with the per-node distribution and the fabric figures as
// notes beside the rating.
#pragma once

#include <string>
#include <vector>

#include "rate/rating.h"

namespace suanli::cluster {

struct ExpandedReports {
  std::vector<std::string> reports;        // the inputs with every cluster report replaced by its
                                           // nodes' reports (files in `dir`)
  std::vector<std::string> notes;          // per-node distribution, lost nodes, fabric figures
  std::vector<rate::ClusterSolve> solves;  // distributed HPL / HPL-MxP (distributed.results)
  std::string dir;                         // temporary directory, removed on destruction
  ExpandedReports() = default;
  ExpandedReports(const ExpandedReports&) = delete;
  ExpandedReports& operator=(const ExpandedReports&) = delete;
  ~ExpandedReports();
};

// Reads each input; a cluster report is checked (schema, hash, every node's own hash) and
// expanded. Other paths pass through untouched. include_marked: the per-node distribution counts
// marked results too (as `rate --include-marked` does).
void expand_cluster_reports(const std::vector<std::string>& inputs, ExpandedReports& out,
                            bool include_marked = false);

}  // namespace suanli::cluster
