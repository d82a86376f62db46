// The distributed HPL's pieces that need no MPI job: the grid choice, the block-cyclic index
// arithmetic (against a direct enumeration), the suite format and the test hook's variable.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "cluster/hpl_dist.h"
#include "core/error.h"

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

}  // namespace
