// The distributed solve's failure handling (hpl_dist_guard.h). Built only with MPI.
#ifdef SUANLI_HAVE_MPI
#include "cluster/hpl_dist_guard.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace suanli::cluster {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMessageBytes = 1024;
constexpr int kFailureTag = 7;

// "generation\nmessage", cut to the buffer.
std::array<char, kMessageBytes> pack(int generation, const std::string& message) {
  std::array<char, kMessageBytes> buf{};
  std::snprintf(buf.data(), buf.size(), "%d\n%s", generation, message.c_str());
  return buf;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

SolveGuard::SolveGuard(int rank, double timeout_s, RankThrowHook hook,
                       std::function<void(int, const std::string&)> on_stuck)
    : rank_(rank),
      timeout_s_(timeout_s),
      grace_s_(std::min(timeout_s, 30.0)),
      hook_(hook),
      on_stuck_(std::move(on_stuck)),
      last_progress_(Clock::now()) {
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
  int level = 0;
  MPI_Query_thread(&level);
  multiple_ = level >= MPI_THREAD_MULTIPLE;
  if (rank_ == 0) watchdog_ = std::thread([this] { watch(); });
}

SolveGuard::~SolveGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void SolveGuard::touch() {
  std::lock_guard<std::mutex> lock(mu_);
  last_progress_ = Clock::now();
}

void SolveGuard::begin_workload(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  workload_ = id;
  in_workload_ = true;
  step_ = -1;
  pending_.clear();
  last_progress_ = Clock::now();
}

void SolveGuard::step(int64_t step) {
  step_ = step;
  if (hook_.active() && !hook_.mid && hook_.rank == rank_ && hook_.step == step)
    throw std::runtime_error(fmt::format(
        "test hook SUANLI_TEST_RANK_THROW: rank {} throws at the boundary of LU block step {}",
        rank_, step));
  agree(0, "");
}

void SolveGuard::mid_step(int64_t step) {
  if (hook_.active() && hook_.mid && hook_.rank == rank_ && hook_.step == step)
    throw std::runtime_error(fmt::format(
        "test hook SUANLI_TEST_RANK_THROW: rank {} throws in the middle of LU block step {}, "
        "after the panel",
        rank_, step));
}

void SolveGuard::checkpoint() {
  agree(0, "");
}

void SolveGuard::end_workload() {
  agree(0, "");
  std::lock_guard<std::mutex> lock(mu_);
  in_workload_ = false;
}

void SolveGuard::fail(const std::string& what) {
  const std::string where = step_ >= 0 ? fmt::format("in or after LU block step {}", step_)
                                       : std::string("before the LU");
  const std::string message = fmt::format("rank {} failed {}: {}", rank_, where, what);
  if (rank_ == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) {
      pending_ = message;
      pending_rank_ = 0;
      pending_since_ = Clock::now();
    }
  } else {
    std::array<char, kMessageBytes> buf = pack(generation_, message);
    MPI_Send(buf.data(), kMessageBytes, MPI_CHAR, 0, kFailureTag, comm_);
  }
  agree(1, message);
  throw RankFailure(rank_, step_, message);  // not reached: agree throws
}

void SolveGuard::agree(int flag, const std::string& message) {
  int mine = flag ? rank_ + 1 : 0, worst = 0;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm_);
  touch();
  if (worst == 0) return;
  const int failed = worst - 1;
  std::array<char, kMessageBytes> buf{};
  if (rank_ == failed) std::snprintf(buf.data(), buf.size(), "%s", message.c_str());
  int64_t st = step_;
  MPI_Bcast(buf.data(), kMessageBytes, MPI_CHAR, failed, comm_);
  MPI_Bcast(&st, 1, MPI_INT64_T, failed, comm_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.clear();
    in_workload_ = false;
  }
  throw RankFailure(failed, st, buf.data());
}

// Rank 0: receives the failed ranks' messages (MPI_THREAD_MULTIPLE) and ends the job when the
// others do not reach the agreement within the grace, or nothing progresses within timeout_s.
void SolveGuard::watch() {
  std::array<char, kMessageBytes> buf{};
  MPI_Request req = MPI_REQUEST_NULL;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; });
      if (stop_) break;
    }
    if (multiple_) {
      if (req == MPI_REQUEST_NULL)
        MPI_Irecv(buf.data(), kMessageBytes, MPI_CHAR, MPI_ANY_SOURCE, kFailureTag, comm_, &req);
      int done = 0;
      MPI_Status st;
      MPI_Test(&req, &done, &st);
      if (done) {
        char* text = nullptr;
        const long gen = std::strtol(buf.data(), &text, 10);
        std::lock_guard<std::mutex> lock(mu_);
        if (gen == generation_ && in_workload_ && pending_.empty() && text && *text == '\n') {
          pending_ = text + 1;
          pending_rank_ = st.MPI_SOURCE;
          pending_since_ = Clock::now();
        }
      }
    }
    std::string reason;
    int failed = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_.empty() && seconds_since(pending_since_) > grace_s_) {
        failed = pending_rank_;
        reason = fmt::format(
            "{} (the other ranks did not reach the next step boundary within {:g} s: they wait "
            "in a collective the failed rank left; rank 0 ended the job with MPI_Abort)",
            pending_, grace_s_);
      } else if (pending_.empty() && in_workload_ && seconds_since(last_progress_) > timeout_s_)
        reason = fmt::format(
            "no step boundary of {} passed for {:g} s (timeout_s) after LU block step {}: a rank "
            "is stuck or lost and none reported an error; rank 0 ended the job with MPI_Abort",
            workload_, timeout_s_, step_);
    }
    if (reason.empty()) continue;
    fmt::print(stderr, "suanli: {}\n", reason);
    try {
      on_stuck_(failed, reason);
    } catch (const std::exception& e) {
      fmt::print(stderr, "suanli: the report could not be written: {}\n", e.what());
    }
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, kExitFailed);
    std::_Exit(kExitFailed);
  }
  if (req != MPI_REQUEST_NULL) {
    MPI_Cancel(&req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
  }
}

}  // namespace suanli::cluster

#endif  // SUANLI_HAVE_MPI
