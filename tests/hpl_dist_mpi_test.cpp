// Distributed HPL and HPL-MxP end to end: the suanli binary under mpirun with 4 ranks
// (oversubscribed on one machine, the real CPU backend), a small suite (seconds): both solves
// verified, the FP64 solution within 1e-9 of ScaLAPACK's pdgesv, and a corrupted factor failing
// both.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "cluster/cluster_report.h"
#include "cluster/hpl_dist.h"
#include "report/json_schema.h"
#include "test_support.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using suanli::test::CommandResult;
using suanli::test::run_shell;

std::string tmp(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("suanli-hpl-dist-" + std::to_string(getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

// 4 ranks on the tiny suite; the cluster report read back and checked (schema, hash).
json run4(const std::string& env, const std::string& out, int expect_rc) {
  const std::string cmd = env + " " + SUANLI_MPIRUN +
                          " --oversubscribe --allow-run-as-root --bind-to none -np 4 " +
                          SUANLI_BINARY + " run --backend cpu -q --suite " + SUANLI_SOURCE_DIR +
                          "/tests/data/hpl_dist_tiny.json --out " + out;
  const CommandResult o = run_shell(cmd);
  EXPECT_EQ(o.status, expect_rc) << o.out;
  const json r = suanli::read_json_file(out);
  suanli::cluster::check_cluster_report(r, out);
  return r;
}

TEST(HplDistMpi, FourRanksVerifiedAndAgreeWithScalapack) {
  const json r = run4("", tmp("ok.json"), 0);
  EXPECT_EQ(r["nodes"].size(), 4u);
  EXPECT_TRUE(r["test_hooks"].empty());
  const json& res = r["distributed"]["results"];
  ASSERT_EQ(res.size(), 2u);
  for (const json& x : res) {
    EXPECT_EQ(x["status"], "ok") << x.dump();
    EXPECT_LT(x["verification"]["error"].get<double>(), 16.0);
    EXPECT_EQ(x["hpl"]["distributed"]["grid"]["p"], 2);
    EXPECT_EQ(x["hpl"]["distributed"]["grid"]["q"], 2);
    EXPECT_GT(x["flops_per_second"].get<double>(), 0);
  }
  EXPECT_EQ(res[0]["op"], "hpl");
  EXPECT_EQ(res[1]["op"], "hpl_mxp");
  EXPECT_EQ(res[1]["hpl"]["benchmark"], "HPL-MxP");
  EXPECT_GE(res[1]["hpl"]["refinement"]["iterations"].get<int>(), 1);
  if (!suanli::cluster::scalapack_built()) GTEST_SKIP() << "built without ScaLAPACK";
  const json& sc = res[0]["hpl"]["scalapack"];
  EXPECT_EQ(sc["info"], 0);
  EXPECT_TRUE(sc["agree"].get<bool>());
  EXPECT_LE(sc["norm_relative_difference"].get<double>(), 1e-9);
  EXPECT_LT(sc["scaled_residual"].get<double>(), 16.0);
  EXPECT_GT(sc["flops_per_second"].get<double>(), 0);
}

TEST(HplDistMpi, CorruptedFactorFailsBoth) {
  const json r = run4("SUANLI_TEST_CORRUPT_FACTOR=all", tmp("bad.json"), 1);
  EXPECT_EQ(r["test_hooks"]["corrupt_factor"]["op"], "all");
  const json& res = r["distributed"]["results"];
  ASSERT_EQ(res.size(), 2u);
  for (const json& x : res) {
    EXPECT_EQ(x["status"], "failed") << x.dump();
    EXPECT_FALSE(x["verification"]["passed"].get<bool>());
  }
  if (suanli::cluster::scalapack_built())
    EXPECT_FALSE(res[0]["hpl"]["scalapack"]["agree"].get<bool>());
}

}  // namespace
