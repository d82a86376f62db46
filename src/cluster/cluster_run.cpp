// `suanli run` under a launcher (see cluster_run.h).
#include "cluster/cluster_run.h"

#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "cluster/mpi_env.h"
#include "core/error.h"
#include "core/units.h"
#include "harness/backend_host.h"
#include "report/report.h"
#include "report/system_info.h"

#ifdef SUANLI_HAVE_MPI
#include <mpi.h>
#endif

namespace suanli::cluster {

using nlohmann::json;

namespace {

// "<rank>:<text>" from an environment variable; false when unset.
bool rank_and_value(const char* var, int* rank, std::string* value) {
  const char* v = std::getenv(var);
  if (!v || !*v) return false;
  const std::string s = v;
  const size_t colon = s.find(':');
  char* end = nullptr;
  const long r = std::strtol(s.c_str(), &end, 10);
  if (colon == std::string::npos || end != s.c_str() + colon || r < 0 || r > INT_MAX ||
      colon + 1 >= s.size())
    throw InputError(fmt::format("{}='{}': expected <rank>:<value>", var, s));
  *rank = static_cast<int>(r);
  *value = s.substr(colon + 1);
  return true;
}

}  // namespace

TestHooks read_test_hooks() {
  TestHooks h;
  std::string value;
  if (rank_and_value("SUANLI_TEST_SLOW_RANK", &h.slow_rank, &value)) {
    char* end = nullptr;
    h.slow_factor = std::strtod(value.c_str(), &end);
    if (*end || !(h.slow_factor >= 1) || h.slow_factor > 1000)
      throw InputError(
          fmt::format("SUANLI_TEST_SLOW_RANK: factor '{}' is not a number from 1 to 1000", value));
  }
  if (rank_and_value("SUANLI_TEST_FAIL_RANK", &h.fail_rank, &h.fail_mode) &&
      h.fail_mode != "error" && h.fail_mode != "exit" && h.fail_mode != "hang")
    throw InputError(
        fmt::format("SUANLI_TEST_FAIL_RANK: mode '{}' is not error, exit or hang", h.fail_mode));
  return h;
}

json test_hooks_json(const TestHooks& h) {
  json j = json::object();
  if (h.slow_rank >= 0)
    j["slow_rank"] = {
        {"rank", h.slow_rank}, {"factor", h.slow_factor}, {"variable", "SUANLI_TEST_SLOW_RANK"}};
  if (h.fail_rank >= 0)
    j["fail_rank"] = {
        {"rank", h.fail_rank}, {"mode", h.fail_mode}, {"variable", "SUANLI_TEST_FAIL_RANK"}};
  return j;
}

json mpi_json(const MpiSession& mpi) {
  json hosts = json::array();
  for (const auto& [h, count] : mpi.layout().ranks_per_host)
    hosts.push_back({{"host", h}, {"ranks", count}});
  return {{"library", mpi.library()},
          {"standard", mpi.standard()},
          {"launcher", std::string(launcher_name(mpi.launch().launcher))},
          {"ranks", mpi.size()},
          {"hosts", hosts}};
}

std::vector<json> collective_nodes(const MpiSession& mpi) {
  std::vector<json> nodes;
  for (int r = 0; r < mpi.size(); ++r) {
    const std::string& h = mpi.layout().host_of_rank[static_cast<size_t>(r)];
    nodes.push_back({{"rank", r},
                     {"host", {{"hostname", h}}},
                     {"mpi_host", h},
                     {"status", "ok"},
                     {"results", json::array()}});
  }
  return nodes;
}

std::unique_ptr<ClusterRun> ClusterRun::begin_if_launched(const ClusterRunOptions& o) {
  if (!detect_launch().under_launcher()) return nullptr;
  return std::unique_ptr<ClusterRun>(new ClusterRun(o));
}

ClusterRun::ClusterRun(const ClusterRunOptions& o)
    : mpi_(std::make_unique<MpiSession>()), opts_(o), started_utc_(utc_timestamp()) {
  hooks_ = read_test_hooks();
}

ClusterRun::~ClusterRun() = default;

MpiSession& ClusterRun::mpi() {
  return *mpi_;
}
int ClusterRun::rank() const {
  return mpi_->rank();
}
int ClusterRun::size() const {
  return mpi_->size();
}

int ClusterRun::threads_for(int requested) const {
  if (requested > 0 || mpi_->layout().local_size <= 1) return requested;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return std::max(1, static_cast<int>(cores / mpi_->layout().local_size));
}

#ifdef SUANLI_HAVE_MPI

namespace {

using Clock = std::chrono::steady_clock;

// Polls a request until it completes or the deadline passes; sleeps between polls so waiting
// ranks leave the cores to the ranks still working.
bool wait_until(MPI_Request* req, Clock::time_point deadline) {
  for (;;) {
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

Clock::time_point deadline_in(double seconds) {
  return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

constexpr int kTagSize = 16001, kTagBody = 16002;

}  // namespace

// One round: every rank contributes 1 while it still runs workloads, 0 once it is done (or
// failed); the sum says how many are still running, -1 on a timeout. A rank that is done keeps
// taking part until the sum is 0, so ranks with fewer workloads (or none, after an error) never
// leave the others waiting at a barrier.
int ClusterRun::round(int active, const char* what) {
  if (!synchronized_) return -1;
  int sum = 0;
  MPI_Request req;
  MPI_Iallreduce(&active, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &req);
  if (wait_until(&req, deadline_in(opts_.rank_timeout_s))) return sum;
  // A rank stopped answering: go on unsynchronized (the report says so); the gather records it.
  synchronized_ = false;
  fmt::print(stderr, "suanli: rank {}: barrier {} timed out after {} s; continuing without\n",
             rank(), what, opts_.rank_timeout_s);
  return -1;
}

void ClusterRun::drain() {
  while (round(0, "at the end") > 0) {
  }
}

std::vector<json> ClusterRun::gather(const json& mine) {
  const std::string text = mine.dump();
  const int n = size();
  std::vector<json> nodes(static_cast<size_t>(n));
  if (rank() != 0) {
    uint64_t len = text.size();
    MPI_Request reqs[2];
    MPI_Isend(&len, 1, MPI_UINT64_T, 0, kTagSize, MPI_COMM_WORLD, &reqs[0]);
    MPI_Isend(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, kTagBody, MPI_COMM_WORLD,
              &reqs[1]);
    const auto deadline = deadline_in(opts_.rank_timeout_s);
    for (MPI_Request& r : reqs)
      if (!wait_until(&r, deadline)) {
        fmt::print(stderr, "suanli: rank {}: rank 0 did not take this rank's report\n", rank());
        break;
      }
    return {};
  }
  nodes[0] = mine;
  std::vector<uint64_t> lens(static_cast<size_t>(n), 0);
  std::vector<MPI_Request> size_req(static_cast<size_t>(n), MPI_REQUEST_NULL);
  for (int r = 1; r < n; ++r)
    MPI_Irecv(&lens[static_cast<size_t>(r)], 1, MPI_UINT64_T, r, kTagSize, MPI_COMM_WORLD,
              &size_req[static_cast<size_t>(r)]);
  // Every rank has this long from now (they finished their last workload about together).
  const auto deadline = deadline_in(opts_.rank_timeout_s);
  for (int r = 1; r < n; ++r) {
    const size_t i = static_cast<size_t>(r);
    const std::string host = mpi_->layout().host_of_rank[i];
    if (!wait_until(&size_req[i], deadline)) {
      MPI_Cancel(&size_req[i]);
      nodes[i] = lost_node(r, host, "lost",
                           fmt::format("no report from rank {} within {} s (killed, exited or "
                                       "not answering)",
                                       r, opts_.rank_timeout_s));
      continue;
    }
    std::string body(lens[i], '\0');
    MPI_Request req;
    MPI_Irecv(body.data(), static_cast<int>(lens[i]), MPI_CHAR, r, kTagBody, MPI_COMM_WORLD, &req);
    if (!wait_until(&req, deadline)) {
      MPI_Cancel(&req);
      nodes[i] = lost_node(r, host, "lost", "the rank's report did not arrive within the timeout");
      continue;
    }
    try {
      nodes[i] = json::parse(body);
    } catch (const std::exception& e) {
      nodes[i] = lost_node(r, host, "error", fmt::format("unreadable report: {}", e.what()));
    }
  }
  return nodes;
}

#else

int ClusterRun::round(int, const char*) {
  return -1;
}
void ClusterRun::drain() {}
std::vector<json> ClusterRun::gather(const json& mine) {
  return {mine};
}

#endif

void ClusterRun::prepare(RunOptions& ro) {
  if (hooks_.slow_rank == rank()) set_execute_slowdown(hooks_.slow_factor);
  auto progress = rank() == 0 ? ro.on_progress : std::function<void(const Progress&)>{};
  ro.on_progress = [this, progress](const Progress& p) {
    round(1, "before a workload");
    if (progress) progress(p);
  };
}

json ClusterRun::node_entry(const std::function<json()>& produce) {
  json node;
  try {
    if (hooks_.fail_rank == rank()) {
      if (hooks_.fail_mode == "exit") std::_Exit(3);
      if (hooks_.fail_mode == "hang")
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      throw std::runtime_error("injected failure (SUANLI_TEST_FAIL_RANK)");
    }
    node = produce();
    const json& t = node["tally"];
    node["status"] = (t.value("failed", 0) || t.value("error", 0)) ? "failed" : "ok";
    if (node["status"] == "failed")
      node["reason"] = fmt::format("{} failed and {} errored results", t.value("failed", 0),
                                   t.value("error", 0));
  } catch (const std::exception& e) {
    node = lost_node(rank(), mpi_->host(), "error", e.what());
  }
  node["rank"] = rank();
  node["mpi_host"] = mpi_->host();
  if (hooks_.slow_rank == rank()) node["test_slowdown"] = hooks_.slow_factor;
  return node;
}

int ClusterRun::finish(const std::function<json()>& produce, const std::string& out) {
  const json mine = node_entry(produce);
  drain();
  std::vector<json> nodes = gather(mine);
  if (rank() != 0) return mine.value("status", "") == "ok" ? kExitOk : kExitFailed;

  ClusterMeta meta;
  meta.started_utc = started_utc_;
  meta.finished_utc = utc_timestamp();
  if (mine.contains("command")) meta.command = mine["command"].get<std::vector<std::string>>();
  if (mine.contains("suite")) meta.suite = mine["suite"];
  meta.mpi = mpi_json(*mpi_);
  meta.mpi["synchronized"] = synchronized_;
  meta.mpi["rank_timeout_s"] = opts_.rank_timeout_s;
  meta.test_hooks = test_hooks_json(hooks_);
  const json report = make_cluster_report(meta, std::move(nodes));
  write_file_atomic(out, report.dump(2) + "\n");
  const json& t = report["tally"];
  fmt::print("cluster report: {}\nnodes: {}  ok: {}  failed: {}  error: {}  lost: {}\n", out,
             t["nodes"].get<int>(), t["ok"].get<int>(), t["failed"].get<int>(),
             t["error"].get<int>(), t["lost"].get<int>());
  if (!report["test_hooks"].empty())
    fmt::print("note: test hooks were active: {}\n", report["test_hooks"].dump());
  const bool all_ok = t["ok"].get<int>() == t["nodes"].get<int>();
  if (t["lost"].get<int>() > 0) {
    std::fflush(stdout);
    mpi_->abort(kExitFailed);  // end the ranks that stopped answering; the report is written
  }
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace suanli::cluster
