// Cluster runs end to end: the suanli binary under mpirun (--oversubscribe --allow-run-as-root,
// 2 and 4 ranks on one machine) with the real CPU backend and tiny suites (seconds per test).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "cluster/cluster_report.h"
#include "report/json_schema.h"
#include "test_support.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using suanli::test::CommandResult;
using suanli::test::run_shell;
using suanli::test::run_suanli;

std::string mpirun(int np, const std::string& env = "", const std::string& flags = "") {
  return env + " " + SUANLI_MPIRUN + " --oversubscribe --allow-run-as-root --bind-to none " +
         flags + " -np " + std::to_string(np) + " " + SUANLI_BINARY;
}

std::string tmp(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("suanli-cluster-test-" + std::to_string(getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

const std::string kTiny = std::string(SUANLI_SOURCE_DIR) + "/tests/data/cluster_tiny.json";
const std::string kFabric = std::string(SUANLI_SOURCE_DIR) + "/tests/data/fabric_tiny.json";
const std::string kRun = " run --backend cpu --threads 1 -q --suite " + kTiny + " --out ";

json load_checked(const std::string& path) {
  const json r = suanli::read_json_file(path);
  suanli::cluster::check_cluster_report(r, path);  // schema, version, hash
  for (const json& n : r["nodes"])
    if (n.value("status", "") == "ok") suanli::cluster::node_report(n, path);  // node hashes
  return r;
}

TEST(ClusterMpi, TwoRanksOneReportEveryResultVerified) {
  const std::string out = tmp("two.json");
  const CommandResult o = run_shell(mpirun(2) + kRun + out);
  ASSERT_EQ(o.status, 0) << o.out;
  const json r = load_checked(out);
  ASSERT_EQ(r["nodes"].size(), 2u);
  EXPECT_EQ(r["mpi"]["ranks"], 2);
  EXPECT_EQ(r["mpi"]["launcher"], "mpirun");
  EXPECT_NE(r["mpi"]["library"].get<std::string>().find("Open MPI"), std::string::npos);
  EXPECT_TRUE(r["test_hooks"].empty());
  for (int i = 0; i < 2; ++i) {
    const json& n = r["nodes"][i];
    EXPECT_EQ(n["rank"], i);
    EXPECT_EQ(n["status"], "ok");
    ASSERT_EQ(n["results"].size(), 4u);
    for (const json& res : n["results"]) {
      EXPECT_EQ(res["status"], "ok") << res.dump();
      EXPECT_TRUE(res["verification"]["passed"].get<bool>());
    }
  }
  for (const json& a : r["aggregates"]) EXPECT_EQ(a["nodes"], 2) << a.dump();
}

TEST(ClusterMpi, FourRanksSlowRankFlaggedAndRatedAsMeasured) {
  const std::string out = tmp("slow.json");
  // Its own suite, with no workload near the peak (tests/data/cluster_slow.json says why).
  const std::string run = " run --backend cpu --threads 1 -q --suite " +
                          std::string(SUANLI_SOURCE_DIR) + "/tests/data/cluster_slow.json --out ";
  const CommandResult o = run_shell(mpirun(4, "SUANLI_TEST_SLOW_RANK=2:50") + run + out);
  ASSERT_EQ(o.status, 0) << o.out;
  const json r = load_checked(out);
  ASSERT_EQ(r["nodes"].size(), 4u);
  EXPECT_EQ(r["test_hooks"]["slow_rank"]["rank"], 2);  // a real run cannot carry it unnoticed
  EXPECT_EQ(r["nodes"][2]["test_slowdown"], 50.0);
  // 4 ranks on 2 cores: rules for a shared machine (flagged when half a node's workloads are
  // 4x slower than its peers' median; healthy ranks were seen at worst 0.27x in one workload);
  // the default rules suit quiet nodes.
  const CommandResult d =
      run_suanli(std::string("diagnose --format json --rules ") + SUANLI_SOURCE_DIR +
                 "/tests/data/diagnose_shared_rules.json " + out);
  EXPECT_EQ(d.status, 1) << d.out;
  const json dj = json::parse(d.out);
  ASSERT_EQ(dj["nodes"].size(), 4u);
  for (const json& n : dj["nodes"]) EXPECT_EQ(n["flagged"].get<bool>(), n["rank"] == 2) << n.dump();
  // 4 ranks share 2 cores: results come out marked (noisy, slowdown), which is right; the
  // rating of marked results is asked for explicitly.
  const CommandResult rate = run_suanli("rate --include-marked " + out);
  EXPECT_EQ(rate.status, 0) << rate.out;
  EXPECT_NE(rate.out.find("measured on 4 nodes (not extrapolated)"), std::string::npos) << rate.out;
}

TEST(ClusterMpi, FailingRankRecordedOthersKept) {
  const std::string out = tmp("fail.json");
  const CommandResult o = run_shell(mpirun(3, "SUANLI_TEST_FAIL_RANK=1:error") + kRun + out);
  EXPECT_EQ(o.status, 1) << o.out;
  const json r = load_checked(out);
  ASSERT_EQ(r["nodes"].size(), 3u);
  EXPECT_EQ(r["nodes"][1]["status"], "error");
  EXPECT_NE(r["nodes"][1]["reason"].get<std::string>().find("injected"), std::string::npos);
  for (int i : {0, 2}) {
    EXPECT_EQ(r["nodes"][i]["status"], "ok");
    EXPECT_EQ(r["nodes"][i]["results"].size(), 4u);
  }
  const CommandResult d = run_suanli("diagnose " + out);
  EXPECT_EQ(d.status, 1) << d.out;
}

TEST(ClusterMpi, HangingRankRecordedAsLostAfterTimeout) {
  const std::string out = tmp("hang.json");
  const CommandResult o =
      run_shell(mpirun(2, "SUANLI_TEST_FAIL_RANK=1:hang") + kRun + out + " --rank-timeout 2");
  EXPECT_NE(o.status, 0) << o.out;
  const json r = load_checked(out);
  ASSERT_EQ(r["nodes"].size(), 2u);
  EXPECT_EQ(r["nodes"][0]["status"], "ok");
  EXPECT_EQ(r["nodes"][0]["results"].size(), 4u);
  EXPECT_EQ(r["nodes"][1]["status"], "lost");
  EXPECT_FALSE(r["mpi"]["synchronized"].get<bool>());
}

TEST(ClusterMpi, KilledRankRecordedAsLostUnderEnableRecovery) {
  // Without --enable-recovery Open MPI's mpirun ends the whole job when a process dies.
  const std::string out = tmp("exit.json");
  const CommandResult o = run_shell(mpirun(3, "SUANLI_TEST_FAIL_RANK=2:exit", "--enable-recovery") +
                                    kRun + out + " --rank-timeout 2");
  const json r = load_checked(out);
  ASSERT_EQ(r["nodes"].size(), 3u) << o.out;
  EXPECT_EQ(r["nodes"][2]["status"], "lost");
  for (int i : {0, 1}) EXPECT_EQ(r["nodes"][i]["results"].size(), 4u);
}

TEST(ClusterMpi, FabricVerifiedAndCorruptionCaught) {
  const std::string out = tmp("fabric.json");
  const CommandResult o = run_shell(mpirun(4) + " run -q --suite " + kFabric + " --out " + out);
  ASSERT_EQ(o.status, 0) << o.out;
  const json r = load_checked(out);
  const json& res = r["fabric"]["results"];
  ASSERT_GE(res.size(), 11u * 14);
  std::set<std::string> ops;
  for (const json& f : res) {
    ops.insert(f["op"].get<std::string>());
    EXPECT_EQ(f["scope"], "intra_node");
    if (f["status"] == "skipped") continue;  // < 1 element per rank at 8 B
    EXPECT_EQ(f["status"], "ok") << f.dump();
    EXPECT_GT(f["algbw_bytes_per_second"].get<double>(), 0);
  }
  EXPECT_EQ(ops.size(), 7u);
  const std::string bad = tmp("fabric_bad.json");
  const CommandResult c = run_shell(mpirun(2, "SUANLI_TEST_CORRUPT_COLLECTIVE=allreduce") +
                                    " run -q --suite " + kFabric + " --out " + bad);
  EXPECT_EQ(c.status, 1) << c.out;
  const json rb = load_checked(bad);
  EXPECT_EQ(rb["test_hooks"]["corrupt_collective"]["op"], "allreduce");
  for (const json& f : rb["fabric"]["results"])
    EXPECT_EQ(f["status"] == "failed", f["op"] == "allreduce") << f.dump();
}

}  // namespace
