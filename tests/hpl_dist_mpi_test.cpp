// Distributed HPL and HPL-MxP end to end: the suanli binary under mpirun with 4 ranks
// (oversubscribed on one machine, the real CPU backend), a small suite (seconds): both solves
// verified, the FP64 solution within 1e-9 of ScaLAPACK's pdgesv, and a corrupted factor failing
// both.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "cluster/cluster_report.h"
#include "cluster/hpl_dist.h"
#include "report/file_io.h"
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

// `np` ranks on the tiny suite; the cluster report read back and checked (schema, hash).
json run_np(int np, const std::string& env, const std::string& out, int expect_rc,
            const std::string& extra = "") {
  const std::string cmd =
      env + " " + SUANLI_MPIRUN + " --oversubscribe --allow-run-as-root --bind-to none -np " +
      std::to_string(np) + " " + SUANLI_BINARY + " run --backend cpu -q --suite " +
      SUANLI_SOURCE_DIR + "/tests/data/hpl_dist_tiny.json --out " + out + " " + extra;
  const CommandResult o = run_shell(cmd);
  EXPECT_EQ(o.status, expect_rc) << o.out;
  const json r = suanli::read_json_file(out);
  suanli::cluster::check_cluster_report(r, out);
  return r;
}

json run4(const std::string& env, const std::string& out, int expect_rc) {
  return run_np(4, env, out, expect_rc);
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
  if (suanli::cluster::scalapack_built()) {
    EXPECT_FALSE(res[0]["hpl"]["scalapack"]["agree"].get<bool>());
  }
}

// `suanli rate` of a 2- and a 4-rank job: the cluster HPL Rmax and HPL-MxP are the report's own
// rates, on the grid the job used, in every output format.
TEST(HplDistMpi, RateOfTwoAndFourRankJobs) {
  for (int np : {2, 4}) {
    const std::string out = tmp("rate" + std::to_string(np) + ".json");
    const json r = run_np(np, "", out, 0);
    const json& res = r["distributed"]["results"];
    ASSERT_EQ(res.size(), 2u);
    const CommandResult o = run_shell(std::string(SUANLI_BINARY) + " rate --format json " + out);
    ASSERT_EQ(o.status, 0) << o.out;
    const json rating = json::parse(o.out.substr(o.out.find('{')));
    ASSERT_EQ(rating["cluster_solves"].size(), 2u) << o.out;
    for (size_t i = 0; i < 2; ++i) {
      const json& c = rating["cluster_solves"][i];
      EXPECT_TRUE(c["rated"].get<bool>()) << c.dump();
      EXPECT_EQ(c["ranks"], np);
      EXPECT_EQ(c["grid"]["p"].get<int>() * c["grid"]["q"].get<int>(), np);
      EXPECT_EQ(c["grid"]["p"], res[i]["hpl"]["distributed"]["grid"]["p"]);
      EXPECT_DOUBLE_EQ(c["rmax"]["value"].get<double>(), res[i]["flops_per_second"].get<double>());
      EXPECT_GT(c["rpeak"]["value"].get<double>(), c["rmax"]["value"].get<double>());
      EXPECT_EQ(c["benchmark"], i == 0 ? "HPL" : "HPL-MxP");
    }
    for (const char* fmt : {"text", "md", "html", "csv"}) {
      const CommandResult f =
          run_shell(std::string(SUANLI_BINARY) + " rate --format " + fmt + " " + out);
      EXPECT_EQ(f.status, 0) << f.out;
      EXPECT_NE(f.out.find(std::string(fmt) == "csv" ? "HPL-MxP n=601" : "cluster HPL-MxP"),
                std::string::npos)
          << fmt << ": " << f.out;
    }
  }
}

// A rank that throws at a step boundary: every rank leaves the solve there, each solve is an
// error naming the rank and the reason, the job ends at once and the report is written.
TEST(HplDistMpi, RankThrowEndsEverySolveWithAnError) {
  const auto t0 = std::chrono::steady_clock::now();
  const json r = run_np(4, "SUANLI_TEST_RANK_THROW=2:3", tmp("throw.json"), 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60);
  EXPECT_EQ(r["test_hooks"]["rank_throw"]["rank"], 2);
  const json& res = r["distributed"]["results"];
  ASSERT_EQ(res.size(), 2u);
  for (const json& x : res) {
    EXPECT_EQ(x["status"], "error") << x.dump();
    EXPECT_EQ(x["hpl"]["failure"]["rank"], 2);
    EXPECT_EQ(x["hpl"]["failure"]["lu_block_step"], 3);
    EXPECT_NE(x["reason"].get<std::string>().find("rank 2 failed"), std::string::npos);
    EXPECT_NE(x["reason"].get<std::string>().find("SUANLI_TEST_RANK_THROW"), std::string::npos);
  }
  const CommandResult o =
      run_shell(std::string(SUANLI_BINARY) + " rate --format json " + tmp("throw.json"));
  ASSERT_EQ(o.status, 0) << o.out;
  const json rating = json::parse(o.out.substr(o.out.find('{')));
  for (const json& c : rating["cluster_solves"]) EXPECT_FALSE(c["rated"].get<bool>());
}

// A rank that throws in the middle of a step, where the others wait in a collective it left:
// rank 0's watchdog writes the report (the error naming the rank) after the grace and ends the
// job with MPI_Abort, within seconds (--timeout 3).
TEST(HplDistMpi, RankThrowMidStepEndsTheJobThroughTheWatchdog) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = tmp("mid.json");
  const std::string cmd = std::string("SUANLI_TEST_RANK_THROW=1:2:mid ") + SUANLI_MPIRUN +
                          " --oversubscribe --allow-run-as-root --bind-to none -np 4 " +
                          SUANLI_BINARY + " run --backend cpu -q --timeout 3 --suite " +
                          SUANLI_SOURCE_DIR + "/tests/data/hpl_dist_tiny.json --out " + out;
  const CommandResult o = run_shell(cmd);
  EXPECT_NE(o.status, 0) << o.out;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60);
  const json r = suanli::read_json_file(out);
  suanli::cluster::check_cluster_report(r, out);
  const json& res = r["distributed"]["results"];
  ASSERT_EQ(res.size(), 1u);  // the first solve never ended; the second never started
  EXPECT_EQ(res[0]["status"], "error");
  EXPECT_EQ(res[0]["hpl"]["failure"]["rank"], 1);
  const std::string why = res[0]["reason"].get<std::string>();
  EXPECT_NE(why.find("rank 1 failed"), std::string::npos) << why;
  EXPECT_NE(why.find("MPI_Abort"), std::string::npos) << why;
  EXPECT_FALSE(fs::exists(out + ".journal"));
}

// HPL-MxP with a bf16 / fp16 trailing update across 2 ranks: verified by HPL's backward error, or
// refused as unsupported with the backend's reason (never computed in another precision).
TEST(HplDistMpi, SixteenBitMxpVerifiedOrRefused) {
  const std::string suite = tmp("half.json"), out = tmp("half-report.json");
  suanli::write_file_atomic(suite, R"({"suanli_hpl_dist_suite": 1, "name": "half",
    "settings": {"seed": 3}, "workloads": [
      {"op": "hpl_mxp", "dtype": "bf16", "n": 601, "nb": 40},
      {"op": "hpl_mxp", "dtype": "fp16", "n": 601, "nb": 40}]})");
  const CommandResult o = run_shell(
      std::string(SUANLI_MPIRUN) + " --oversubscribe --allow-run-as-root --bind-to none -np 2 " +
      SUANLI_BINARY + " run --backend cpu -q --suite " + suite + " --out " + out);
  const json r = suanli::read_json_file(out);
  const json& res = r["distributed"]["results"];
  ASSERT_EQ(res.size(), 2u) << o.out;
  int ok = 0;
  for (const json& x : res) {
    if (x["status"] == "unsupported") {
      EXPECT_NE(x["reason"].get<std::string>().find(
                    x["hpl"]["factorization_precision"].get<std::string>()),
                std::string::npos)
          << x.dump();
      continue;
    }
    ++ok;
    EXPECT_EQ(x["status"], "ok") << x.dump();
    EXPECT_LT(x["verification"]["error"].get<double>(), 16.0);
    EXPECT_EQ(x["hpl"]["trailing_update_precision"], x["hpl"]["factorization_precision"]);
  }
  EXPECT_EQ(o.status, ok == 2 ? 0 : 1) << o.out;
}

}  // namespace
