// src/cluster without an MPI job: launcher detection, the fabric suite's file and busbw factors,
// the cluster report (aggregates, schema, node hashes) and diagnose on synthetic reports.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "cluster/cluster_report.h"
#include "cluster/diagnose.h"
#include "cluster/fabric.h"
#include "cluster/mpi_env.h"
#include "core/error.h"
#include "report/json_schema.h"
#include "report/report.h"

namespace suanli::cluster {
namespace {

using nlohmann::json;

LaunchEnv detect(const std::map<std::string, std::string>& env) {
  return detect_launch([&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Launch, DetectsMpirunSrunAndNone) {
  EXPECT_FALSE(detect({}).under_launcher());
  EXPECT_FALSE(detect({{"SLURM_PROCID", "0"}}).under_launcher());  // sbatch alone: no step
  const LaunchEnv m = detect({{"OMPI_COMM_WORLD_SIZE", "4"},
                              {"OMPI_COMM_WORLD_RANK", "2"},
                              {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  EXPECT_EQ(m.launcher, Launcher::mpirun);
  EXPECT_EQ(m.rank, 2);
  EXPECT_EQ(m.size, 4);
  const LaunchEnv s =
      detect({{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(s.launcher, Launcher::srun);
  EXPECT_EQ(s.rank, 1);
  EXPECT_EQ(detect({{"PMIX_RANK", "3"}}).launcher, Launcher::other);
}

TEST(Fabric, BusBandwidthFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::allreduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::allgather, 4), 0.75);
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::reduce_scatter, 2), 0.5);
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::alltoall, 8), 0.875);
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::broadcast, 8), 1);
  EXPECT_DOUBLE_EQ(busbw_factor(FabricOp::sendrecv, 8), 1);
}

TEST(Fabric, BuiltinSuiteReachesOneGibibyteAndBadFilesAreNamed) {
  const FabricSuite s = load_fabric_suite("fabric");
  EXPECT_EQ(s.min_bytes, 8u);
  EXPECT_GE(s.max_bytes, uint64_t{1} << 30);
  EXPECT_EQ(s.tests.size(), 7u);
  try {
    parse_fabric_suite(R"({"suanli_fabric_suite":1,"tests":[{"op":"allreduce","dtype":["fp8"]}]})",
                       "x.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("x.json: /tests/0/dtype"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_fabric_suite(R"({"suanli_fabric_suite":1,"tests":[{"op":"gather"}]})", "y"),
               InputError);
}

// A node whose results are `values` (FLOP/s) of gemm workloads w0, w1, ...
json node(int rank, const std::vector<double>& values, const std::string& status = "ok") {
  json results = json::array();
  for (size_t i = 0; i < values.size(); ++i)
    results.push_back({{"workload", "gemm.fp32.w" + std::to_string(i)},
                       {"op", "gemm"},
                       {"dtype", "fp32"},
                       {"backend", "cpu"},
                       {"device", 0},
                       {"status", "ok"},
                       {"throughput_unit", "FLOP/s"},
                       {"flops_per_second", values[i]}});
  json n = {{"rank", rank},
            {"host", {{"hostname", "h" + std::to_string(rank)}}},
            {"status", status},
            {"results", results}};
  if (status != "ok") n["reason"] = "test";
  return n;
}

json report_of(std::vector<json> nodes) {
  ClusterMeta m;
  m.mpi = {{"library", "test"},
           {"launcher", "mpirun"},
           {"ranks", nodes.size()},
           {"hosts", json::array({{{"host", "h"}, {"ranks", nodes.size()}}})}};
  return make_cluster_report(m, std::move(nodes));
}

TEST(ClusterReport, AggregatesAndSchema) {
  const json r = report_of({node(1, {4, 40}), node(0, {2, 20}), node(2, {3, 30})});
  EXPECT_NO_THROW(check_cluster_report(r, "mem"));
  EXPECT_EQ(r["nodes"][0]["rank"], 0);  // sorted by rank
  ASSERT_EQ(r["aggregates"].size(), 2u);
  const json& a = r["aggregates"][0];
  EXPECT_DOUBLE_EQ(a["sum"].get<double>(), 9);
  EXPECT_DOUBLE_EQ(a["min"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(a["median"].get<double>(), 3);
  EXPECT_DOUBLE_EQ(a["max"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(a["spread"].get<double>(), 2.0 / 3);
  EXPECT_EQ(a["min_rank"], 0);
  json edited = r;
  edited["nodes"][0]["results"][0]["flops_per_second"] = 9;
  EXPECT_THROW(check_cluster_report(edited, "mem"), InputError);
  json lost = r;
  lost["nodes"][1] = lost_node(1, "h1", "lost", "no answer");
  lost["sha256"] = report_sha256(lost);
  EXPECT_NO_THROW(check_cluster_report(lost, "mem"));
  lost["nodes"][1].erase("reason");
  lost["sha256"] = report_sha256(lost);
  EXPECT_THROW(check_cluster_report(lost, "mem"), InputError);  // a lost node says why
}

std::vector<int> flagged(const json& d) {
  return d["flagged_ranks"].get<std::vector<int>>();
}

TEST(Diagnose, FlagsTheSlowNodeOnlyWithEvidence) {
  std::vector<json> nodes;
  const double noise[] = {1.00, 1.03, 0.97, 1.01, 0.99, 1.02, 0.98, 1.00};
  for (int r = 0; r < 8; ++r) nodes.push_back(node(r, {100 * noise[r], 50 * noise[7 - r]}));
  nodes[5]["results"][1]["flops_per_second"] = 25.0;  // rank 5: half as fast in workload 1
  const json d = diagnose(report_of(nodes), "c.json", DiagnoseRules{}, nullptr);
  EXPECT_EQ(flagged(d), std::vector<int>{5});
  const json& ev = d["nodes"][5]["evidence"][0];
  EXPECT_EQ(ev["workload"], "gemm.fp32.w1");
  EXPECT_DOUBLE_EQ(ev["value"].get<double>(), 25);
  EXPECT_NEAR(ev["deviation"].get<double>(), -0.5, 0.02);
  EXPECT_FALSE(d["nodes"][4]["flagged"].get<bool>());
  EXPECT_NE(diagnosis_text(d).find("FLAGGED"), std::string::npos);
}

TEST(Diagnose, LostNodesAndBaseline) {
  std::vector<json> nodes = {node(0, {100}), node(1, {101}), node(2, {99})};
  const json healthy = report_of(nodes);
  const json baseline = make_baseline(healthy, "healthy.json");
  EXPECT_NO_THROW(check_baseline(baseline, "b.json"));
  EXPECT_TRUE(flagged(diagnose(healthy, "h", DiagnoseRules{}, baseline)).empty());
  // Every node 30 % slower: the cluster median sees nothing, the baseline sees all.
  const json slow = report_of({node(0, {70}), node(1, {71}), node(2, {69})});
  EXPECT_TRUE(flagged(diagnose(slow, "s", DiagnoseRules{}, nullptr)).empty());
  EXPECT_EQ(flagged(diagnose(slow, "s", DiagnoseRules{}, baseline)), (std::vector<int>{0, 1, 2}));
  nodes[1] = lost_node(1, "h1", "lost", "no report within 5 s");
  EXPECT_EQ(flagged(diagnose(report_of(nodes), "l", DiagnoseRules{}, nullptr)),
            std::vector<int>{1});
  EXPECT_THROW(parse_rules(json{{"suanli_diagnose_rules", 1}, {"max_deviation", 2}}, "r.json"),
               InputError);
  EXPECT_THROW(check_baseline(json{{"x", 1}}, "b.json"), InputError);
}

}  // namespace
}  // namespace suanli::cluster
