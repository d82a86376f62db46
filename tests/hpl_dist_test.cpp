// The distributed HPL's pieces that need no MPI job: the grid choice, the block-cyclic index
// arithmetic (against a direct enumeration), the suite format and the test hook's variable.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "cluster/cluster_rate.h"
#include "cluster/hpl_dist.h"
#include "core/error.h"
#include "rate/render.h"
#include "report/json_schema.h"

namespace {

using namespace suanli::cluster;

TEST(HplDistGrid, NearSquareWithPNotAboveQ) {
  EXPECT_EQ(choose_grid(1, 0, 0), std::make_pair(1, 1));
  EXPECT_EQ(choose_grid(4, 0, 0), std::make_pair(2, 2));
  EXPECT_EQ(choose_grid(6, 0, 0), std::make_pair(2, 3));
  EXPECT_EQ(choose_grid(7, 0, 0), std::make_pair(1, 7));
  EXPECT_EQ(choose_grid(12, 0, 0), std::make_pair(3, 4));
  EXPECT_EQ(choose_grid(4, 4, 1), std::make_pair(4, 1));
  EXPECT_THROW(choose_grid(4, 3, 1), suanli::InputError);
  EXPECT_THROW(choose_grid(4, 2, 0), suanli::InputError);
}

TEST(HplDistGrid, BlockCyclicIndicesMatchAnEnumeration) {
  for (int procs : {1, 2, 3, 4})
    for (int64_t nb : {1, 3, 8})
      for (int64_t g = 0; g < 50; ++g) {
        std::vector<int64_t> seen(static_cast<size_t>(procs), 0);
        for (int64_t i = 0; i < g; ++i) ++seen[static_cast<size_t>((i / nb) % procs)];
        for (int c = 0; c < procs; ++c)
          ASSERT_EQ(count_before(g, nb, c, procs), seen[static_cast<size_t>(c)])
              << "g " << g << " nb " << nb << " coord " << c << " of " << procs;
        const int o = owner(g, nb, procs);
        EXPECT_EQ(to_local(g, nb, procs), count_before(g, nb, o, procs));
        EXPECT_EQ(to_global(to_local(g, nb, procs), nb, o, procs), g);
      }
}

TEST(HplDistSuite, ParsesTheBuiltInAndRefusesBadEntries) {
  const DistSuite s = load_hpl_dist_suite("hpl-small");
  ASSERT_EQ(s.workloads.size(), 2u);
  EXPECT_EQ(s.workloads[0].op, "hpl");
  EXPECT_TRUE(s.workloads[0].scalapack);
  EXPECT_EQ(s.workloads[1].op, "hpl_mxp");
  EXPECT_FALSE(s.workloads[1].scalapack);
  EXPECT_TRUE(is_hpl_dist_suite_text(R"({"suanli_hpl_dist_suite": 1})"));
  const char* head = R"({"suanli_hpl_dist_suite": 1, "workloads": [)";
  for (const char* bad :
       {R"({"op": "gemm", "n": 10}]})", R"({"op": "hpl", "dtype": "fp32", "n": 10}]})",
        R"({"op": "hpl_mxp", "dtype": "int8", "n": 10}]})", R"({"op": "hpl", "n": 0}]})",
        R"({"op": "hpl", "n": 10, "p": -1}]})"}) {
    try {
      parse_hpl_dist_suite(std::string(head) + bad, "x.json");
      ADD_FAILURE() << bad;
    } catch (const suanli::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("x.json: /workloads/0"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_hpl_dist_suite(R"({"workloads": []})", "y"), suanli::InputError);
}

TEST(HplDistSuite, CorruptFactorHookTakesKnownOpsOnly) {
  setenv("SUANLI_TEST_CORRUPT_FACTOR", "hpl_mxp", 1);
  EXPECT_EQ(corrupt_factor_hook(), "hpl_mxp");
  setenv("SUANLI_TEST_CORRUPT_FACTOR", "gemm", 1);
  EXPECT_THROW(corrupt_factor_hook(), suanli::InputError);
  unsetenv("SUANLI_TEST_CORRUPT_FACTOR");
  EXPECT_EQ(corrupt_factor_hook(), "");
}

TEST(HplDistSuite, RankThrowHookParsesRankStepAndMid) {
  unsetenv("SUANLI_TEST_RANK_THROW");
  EXPECT_FALSE(rank_throw_hook().active());
  setenv("SUANLI_TEST_RANK_THROW", "2:3", 1);
  RankThrowHook h = rank_throw_hook();
  EXPECT_EQ(h.rank, 2);
  EXPECT_EQ(h.step, 3);
  EXPECT_FALSE(h.mid);
  setenv("SUANLI_TEST_RANK_THROW", "0:0:mid", 1);
  h = rank_throw_hook();
  EXPECT_EQ(h.rank, 0);
  EXPECT_TRUE(h.mid);
  for (const char* bad : {"2", "x:1", "1:", "1:2:later", "-1:2"}) {
    setenv("SUANLI_TEST_RANK_THROW", bad, 1);
    EXPECT_THROW(rank_throw_hook(), suanli::InputError) << bad;
  }
  unsetenv("SUANLI_TEST_RANK_THROW");
}

// The FP64 Rpeak the rating must give, from the report's own nodes: per host and device, the
// ranks' declared peaks summed, at most the highest per-thread peak times the CPU's cores.
double expected_rpeak(const nlohmann::json& report) {
  std::map<std::string, std::pair<double, double>> per;  // sum, whole CPU
  for (const nlohmann::json& node : report["nodes"]) {
    const nlohmann::json& d = node["device"];
    const double v = d["peaks"]["fp64"]["ops_per_second"].get<double>();
    auto& [sum, whole] = per[node["mpi_host"].get<std::string>() + d["name"].get<std::string>()];
    sum += v;
    whole = std::max(whole, v / std::min(d["threads"].get<int>(), d["compute_units"].get<int>()) *
                                d["compute_units"].get<int>());
  }
  double total = 0;
  for (const auto& [k, v] : per) total += std::min(v.first, v.second);
  return total;
}

// tests/data/hpl_dist_report.json: 4 ranks (2 x 2) on one host, HPL and HPL-MxP verified, a
// bf16 HPL-MxP that the build which wrote it recorded unsupported (listed, not rated). The rating's
// figures are the report's own.
TEST(HplDistRate, CheckedInReportRatedInEveryFormat) {
  const std::string path = std::string(SUANLI_SOURCE_DIR) + "/tests/data/hpl_dist_report.json";
  const nlohmann::json report = suanli::read_json_file(path);
  ExpandedReports ex;
  expand_cluster_reports({path}, ex);
  EXPECT_TRUE(ex.reports.empty());  // the ranks have no results of their own
  ASSERT_EQ(ex.solves.size(), 3u);
  const nlohmann::json& res = report["distributed"]["results"];
  const double rpeak = expected_rpeak(report);
  for (size_t i = 0; i < 3; ++i) {
    const suanli::rate::ClusterSolve& c = ex.solves[i];
    const nlohmann::json& r = res[i];
    EXPECT_EQ(c.workload, r["workload"]);
    EXPECT_EQ(c.n, r["hpl"]["n"].get<int64_t>());
    EXPECT_EQ(c.nb, r["hpl"]["nb"].get<int64_t>());
    EXPECT_EQ(c.p, r["hpl"]["distributed"]["grid"]["p"].get<int>());
    EXPECT_EQ(c.q, r["hpl"]["distributed"]["grid"]["q"].get<int>());
    EXPECT_EQ(c.p * c.q, report["mpi"]["ranks"].get<int>());
    EXPECT_DOUBLE_EQ(c.rpeak.value, rpeak);
    EXPECT_EQ(c.rated(), r["status"] == "ok");
    if (!c.rated()) continue;
    EXPECT_DOUBLE_EQ(c.rmax.value, r["flops_per_second"].get<double>());
    EXPECT_DOUBLE_EQ(c.scaled_residual, r["verification"]["error"].get<double>());
    EXPECT_DOUBLE_EQ(c.efficiency(), c.rmax.value / rpeak);
  }
  EXPECT_EQ(ex.solves[0].benchmark, "HPL");
  EXPECT_NE(ex.solves[0].scalapack_verdict.find("agrees"), std::string::npos);
  EXPECT_EQ(ex.solves[1].benchmark, "HPL-MxP");
  EXPECT_EQ(ex.solves[1].refinement_iterations,
            res[1]["hpl"]["refinement"]["iterations"].get<int>());
  EXPECT_EQ(ex.solves[2].status, "unsupported");

  suanli::rate::Rating rating;
  rating.cluster_solves = ex.solves;
  const nlohmann::json j = suanli::rate::rating_to_json(rating, "test");
  EXPECT_TRUE(suanli::validate_against_schema(j, "rating.schema.json").empty());
  ASSERT_EQ(j["cluster_solves"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["cluster_solves"][0]["rmax"]["value"].get<double>(),
                   res[0]["flops_per_second"].get<double>());
  EXPECT_EQ(j["cluster_solves"][0]["rmax"]["precision"], "fp64");
  EXPECT_TRUE(j["cluster_solves"][2]["rmax"].is_null());
  const std::string hpl =
      suanli::rate::format_rate(res[0]["flops_per_second"].get<double>(), false);
  const std::string mxp =
      suanli::rate::format_rate(res[1]["flops_per_second"].get<double>(), false);
  const std::string peak = suanli::rate::format_rate(rpeak, false);
  for (const std::string& out :
       {suanli::rate::render_text(rating), suanli::rate::render_markdown(rating),
        suanli::rate::render_html(rating, "test")}) {
    EXPECT_NE(out.find("cluster HPL Rmax " + hpl + " / " + peak + " Rpeak"), std::string::npos)
        << out;
    EXPECT_NE(out.find("cluster HPL-MxP (fp32 LU) " + mxp), std::string::npos);
    EXPECT_NE(out.find("grid 2 x 2, n=601 nb=40"), std::string::npos);
    EXPECT_NE(out.find("unsupported"), std::string::npos);  // listed, not rated
  }
}

}  // namespace
