// A failure on one rank of a distributed HPL solve ends the solve on every rank in bounded time
// (docs/hpl.md, "When a rank fails"):
// - at every step boundary of the LU (and at the end of each workload) all ranks agree on a
//   status (MPI_Allreduce of "the highest failed rank + 1" on a communicator of its own); a rank
//   that threw joins that agreement instead of its next step, so every rank leaves the solve at
//   the same boundary with the failing rank's number and message (MPI_Bcast from it);
// - a rank that throws also sends its message to rank 0 at once, where a watchdog thread waits;
//   when the other ranks do not reach the boundary within the grace (they are stuck in a
//   collective the failed rank left), or when no step boundary is passed within timeout_s at all
//   (a rank hangs), rank 0's watchdog writes the report with what was finished and an `error`
//   result naming the rank and the reason, then ends the job with MPI_Abort.
// Needs MPI with MPI_THREAD_MULTIPLE for the watchdog's receive (without it, only the timeout).
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cluster/hpl_dist.h"

namespace suanli::cluster {

// Every rank throws this when the agreement says a rank failed.
struct RankFailure : std::runtime_error {
  RankFailure(int r, int64_t s, const std::string& msg)
      : std::runtime_error(msg), rank(r), step(s) {}
  int rank;
  int64_t step;  // LU block step, -1: outside the LU
};

class SolveGuard {
 public:
  // on_stuck (rank 0's watchdog thread): write what was finished and an error result with this
  // reason; the guard then calls MPI_Abort. timeout_s: no step boundary passed for that long.
  // on_stuck's rank: the failed rank, -1 when none reported (a timeout).
  SolveGuard(int rank, double timeout_s, RankThrowHook hook,
             std::function<void(int rank, const std::string& reason)> on_stuck);
  ~SolveGuard();
  SolveGuard(const SolveGuard&) = delete;
  SolveGuard& operator=(const SolveGuard&) = delete;

  void begin_workload(const std::string& id);
  // The step boundary of LU block step `step`: the hook, then the agreement. Throws RankFailure.
  void step(int64_t step);
  // Inside step `step`, after the panel (the hook's :mid case).
  void mid_step(int64_t step);
  // An agreement outside the LU (before a long stage: the ScaLAPACK cross-check). Throws
  // RankFailure.
  void checkpoint();
  // The end of a workload: the last agreement. Throws RankFailure.
  void end_workload();
  // On the rank that threw: tell rank 0, join the agreement; always throws RankFailure.
  [[noreturn]] void fail(const std::string& what);
  double timeout_s() const { return timeout_s_; }
  double grace_s() const { return grace_s_; }

 private:
  void agree(int flag, const std::string& message);
  void watch();
  void touch();

  int rank_;
  double timeout_s_, grace_s_;
  RankThrowHook hook_;
  std::function<void(int, const std::string&)> on_stuck_;
  MPI_Comm comm_ = MPI_COMM_NULL;  // agreement and messages to rank 0
  bool multiple_ = false;          // MPI_THREAD_MULTIPLE: the watchdog may receive
  std::atomic<int64_t> step_{-1};
  std::atomic<int> generation_{0};  // workload counter, tags the messages to rank 0
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, in_workload_ = false;
  std::string workload_;
  std::chrono::steady_clock::time_point last_progress_;
  std::string pending_;  // rank 0: a failure reported and not yet agreed
  int pending_rank_ = -1;
  std::chrono::steady_clock::time_point pending_since_;
  std::thread watchdog_;
};

}  // namespace suanli::cluster
