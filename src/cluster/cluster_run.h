// `suanli run` under mpirun or srun: every rank runs the suite on its own node, all ranks start
// each workload together (a barrier before each), and rank 0 gathers the ranks' reports into one
// cluster report (reports/schema/cluster.schema.json). MPI calls happen in this (parent)
// process only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/runner.h"

namespace suanli::cluster {

class MpiSession;

// Test hooks read from the environment (documented in docs/cluster.md), recorded in the report:
//  SUANLI_TEST_SLOW_RANK=<rank>:<factor>  that rank's timed executes take factor times as long
//  SUANLI_TEST_FAIL_RANK=<rank>:<mode>    that rank fails: error (throws before running; the
//                                         rank reports the error), exit (the process exits
//                                         without a word), hang (never answers)
struct TestHooks {
  int slow_rank = -1;
  double slow_factor = 1;
  int fail_rank = -1;
  std::string fail_mode;
  bool any() const { return slow_rank >= 0 || fail_rank >= 0; }
};
// Throws InputError naming the variable and what was expected.
TestHooks read_test_hooks();
nlohmann::json test_hooks_json(const TestHooks& h);

// The report's `mpi` object for a session: library, standard, launcher, ranks, hosts with their
// rank counts.
nlohmann::json mpi_json(const MpiSession& mpi);
// The `nodes` of a suite run collectively by every rank (fabric, distributed HPL): one entry per
// rank with its host, status ok and no results of its own.
std::vector<nlohmann::json> collective_nodes(const MpiSession& mpi);

struct ClusterRunOptions {
  double rank_timeout_s = 600;  // a barrier or the gather waits this long for a rank
  bool quiet = false;
};

class ClusterRun {
 public:
  // nullptr when suanli was not started by a launcher; otherwise starts MPI (throws when
  // suanli was built without MPI).
  static std::unique_ptr<ClusterRun> begin_if_launched(const ClusterRunOptions& o);
  ~ClusterRun();

  int rank() const;
  int size() const;
  // Host threads for a CPU backend: `requested`, or, when 0 and several ranks share this host,
  // the host's cores divided among them.
  int threads_for(int requested) const;
  // Wraps the run's callbacks: a barrier before each workload (with the timeout), progress on
  // rank 0 only, the slow-rank hook armed on its rank.
  void prepare(RunOptions& ro);
  // Runs `produce` (which runs the suite and returns this rank's sealed report), gathers every
  // rank's report at rank 0, which writes one cluster report to `out`. Returns the exit status.
  int finish(const std::function<nlohmann::json()>& produce, const std::string& out);

  MpiSession& mpi();

 private:
  explicit ClusterRun(const ClusterRunOptions& o);
  int round(int active, const char* what);
  void drain();
  nlohmann::json node_entry(const std::function<nlohmann::json()>& produce);
  std::vector<nlohmann::json> gather(const nlohmann::json& mine);

  std::unique_ptr<MpiSession> mpi_;
  ClusterRunOptions opts_;
  TestHooks hooks_;
  bool synchronized_ = true;
  std::string started_utc_;
};

}  // namespace suanli::cluster
