// The cluster side of the command line: `run` under mpirun/srun, the fabric suite, `diagnose`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cluster/cluster_run.h"

namespace suanli::cli {

// nullptr when not started by a launcher (mpirun, srun); else MPI is up and this is one rank.
std::unique_ptr<cluster::ClusterRun> begin_cluster_run(const RunOptionsCli& o);

// `--suite fabric` or a fabric suite file ("suanli_fabric_suite" at its top).
bool is_fabric_suite(const std::string& name_or_path);
int cmd_run_fabric(const RunOptionsCli& o);
// A distributed HPL suite ("suanli_hpl_dist_suite" at its top, e.g. hpl-small): the solve
// across the job's ranks (src/cluster/hpl_dist.h).
bool is_hpl_dist_suite(const std::string& name_or_path);
int cmd_run_hpl_dist(const RunOptionsCli& o);

struct DiagnoseOptionsCli {
  std::string report;
  std::string baseline, rules, format = "text", out, make_baseline;
};
int cmd_diagnose(const DiagnoseOptionsCli& o);
// Registers `diagnose` on the app (options bound to `o`).
CLI::App* add_diagnose_command(CLI::App& app, DiagnoseOptionsCli& o);

}  // namespace suanli::cli
