// HPL and HPL-MxP: the reference formulas, the generators, small solves through the CPU backend
// (device ops and host fallbacks), the suite entries, and fault injection (a corrupted factor).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "harness/backend_host.h"
#include "hpl/formulas.h"
#include "hpl/hpl_run.h"
#include "report/report.h"
#include "suite/suite.h"

using namespace suanli;
using nlohmann::json;

namespace {

std::unique_ptr<Backend> cpu() {
  return load_backend_file(std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cpu.so",
                           {{"threads", "2"}});
}

Workload workload(const std::string& entry) {
  Suite s = parse_suite(R"({"suanli_suite": 1, "name": "t", "settings": {"seed": 7},
      "workloads": [)" + entry +
                            "]}",
                        "test");
  return s.workloads.at(0);
}

}  // namespace

TEST(HplFormulas, OperationCountIsHpls) {
  EXPECT_DOUBLE_EQ(hpl::hpl_flops(1000), 2.0 / 3.0 * 1e9 + 1.5 * 1e6);
  EXPECT_DOUBLE_EQ(hpl::hpl_flops(10000), 2.0 / 3.0 * 1e12 + 1.5 * 1e8);
}

TEST(HplFormulas, ScaledResidualMatchesDefinition) {
  const double eps = std::ldexp(1.0, -53);
  // ||r|| = 16 eps (||A|| ||x|| + ||b||) n is exactly the threshold.
  const double a = 250, x = 3, b = 0.5, n = 1000;
  EXPECT_NEAR(hpl::scaled_residual(16 * eps * (a * x + b) * n, a, x, b, 1000), 16.0, 1e-12);
  EXPECT_DOUBLE_EQ(hpl::scaled_residual(0, a, x, b, 1000), 0.0);
  EXPECT_TRUE(std::isinf(hpl::scaled_residual(NAN, a, x, b, 1000)));
  EXPECT_TRUE(std::isinf(hpl::scaled_residual(1, a, INFINITY, b, 1000)));
}

TEST(HplFormulas, GeneratorIsSeededUniformAndRandomAccess) {
  const hpl::Matrix g(300, 5, false), same(300, 5, false), other(300, 6, false);
  double sum = 0, lo = 1, hi = -1;
  std::vector<double> cols(300 * 2);
  g.fill_columns(10, 12, cols.data(), 300);
  for (int64_t i = 0; i < 300; ++i) {
    EXPECT_EQ(cols[static_cast<size_t>(i)], g(i, 10));
    EXPECT_EQ(cols[static_cast<size_t>(300 + i)], g(i, 11));
  }
  for (int64_t j = 0; j < 300; ++j)
    for (int64_t i = 0; i < 300; ++i) {
      EXPECT_EQ(g(i, j), same(i, j));
      sum += g(i, j);
      lo = std::min(lo, g(i, j));
      hi = std::max(hi, g(i, j));
    }
  EXPECT_NE(g(3, 4), other(3, 4));
  EXPECT_GE(lo, -0.5);
  EXPECT_LT(hi, 0.5);
  EXPECT_GT(hi - lo, 0.99);
  EXPECT_NEAR(sum / 90000.0, 0.0, 0.01);  // mean of U(-0.5, 0.5): 0 +- 0.001 (1 sigma)
}

TEST(HplFormulas, MxpGeneratorIsRowDiagonallyDominant) {
  const hpl::Matrix g(200, 1, true);
  for (int64_t i = 0; i < 200; ++i) {
    double off = 0;
    for (int64_t j = 0; j < 200; ++j)
      if (j != i) off += std::fabs(g(i, j));
    EXPECT_DOUBLE_EQ(g(i, i), off);
  }
}

TEST(HplFormulas, ResidualOfExactSolutionIsSmallAndOfWrongOneLarge) {
  // A diagonal system (n = 1 keeps it exact): x = b / a.
  const hpl::Matrix g(1, 9, false);
  const hpl::Residual ok = hpl::residual(g, {g.b(0) / g(0, 0)});
  EXPECT_LT(ok.scaled, 1.0);
  const hpl::Residual bad = hpl::residual(g, {g.b(0) / g(0, 0) + 1e-6});
  EXPECT_GT(bad.scaled, 1e6);
}

TEST(HplSuite, EntriesParseAndBadOnesAreRefused) {
  const Workload w = workload(R"({"op": "hpl", "n": 500, "nb": 64})");
  EXPECT_EQ(w.hpl, "hpl");
  EXPECT_EQ(w.hpl_n, 500);
  EXPECT_EQ(w.hpl_nb, 64);
  EXPECT_EQ(w.op.dtype, Dtype::fp64);
  const Workload m = workload(R"({"op": "hpl_mxp", "dtype": "bf16", "memory_fraction": 0.5})");
  EXPECT_EQ(m.op.dtype, Dtype::bf16);
  EXPECT_EQ(hpl::problem_size(m, uint64_t{12} << 30) % m.hpl_nb, 0);
  // 0.5 * 12 GiB / 12 bytes per element = 2^29 elements: n = 23170 rounded down to 256s.
  EXPECT_EQ(hpl::problem_size(m, uint64_t{12} << 30), 23040);
  EXPECT_THROW(workload(R"({"op": "hpl", "dtype": "fp32", "n": 100})"), InputError);
  EXPECT_THROW(workload(R"({"op": "hpl_mxp", "dtype": "int8", "n": 100})"), InputError);
  EXPECT_THROW(workload(R"({"op": "hpl_mxp", "dtype": "fp8_e4m3", "n": 100})"), InputError);
  EXPECT_THROW(workload(R"({"op": "hpl"})"), InputError);
}

class HplRun : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = cpu(); }
  Result run(const std::string& entry, const hpl::HplHooks& hooks = {}) {
    return hpl::run_hpl_workload(*backend_, 0, workload(entry), RunOptions{}, hooks);
  }
  std::unique_ptr<Backend> backend_;
};

TEST_F(HplRun, Fp64SolvePassesHplsCheckOnDeviceAndOnHost) {
  for (bool host : {false, true}) {
    hpl::HplHooks h;
    h.host_ops = host;
    // n not a multiple of nb: the last panel is narrower.
    const Result r = run(R"({"op": "hpl", "n": 301, "nb": 32})", h);
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
    EXPECT_GT(r.flops_per_second, 0);
    EXPECT_DOUBLE_EQ(r.flops, hpl::hpl_flops(301));
    const json j = result_to_json(r);
    EXPECT_EQ(j["op"], "hpl");
    EXPECT_EQ(j["hpl"]["benchmark"], "HPL");
    EXPECT_EQ(j["hpl"]["n"], 301);
    const std::string panel = j["hpl"]["placement"]["panel"];
    EXPECT_EQ(panel.rfind(host ? "host" : "device", 0), 0u) << panel;
  }
}

TEST_F(HplRun, CorruptedFp64FactorFails) {
  hpl::HplHooks h;
  h.corrupt_factor = [](Backend& b, const hpl::Sub& f, int64_t n, Dtype t) {
    hpl::perturb_element(b, f, n / 2, n / 2 + 3, t, 1e-3);  // one entry of U
  };
  const Result r = run(R"({"op": "hpl", "n": 256, "nb": 64})", h);
  EXPECT_EQ(r.status, Status::failed) << r.reason;
  EXPECT_GT(r.verification.error, hpl::kResidualThreshold);
}

TEST_F(HplRun, MxpRefinesLowPrecisionFactorsToFp64Accuracy) {
  for (const char* dt : {"fp32", "bf16"}) {
    const Result r =
        run(std::string(R"({"op": "hpl_mxp", "n": 400, "nb": 64, "dtype": ")") + dt + "\"}");
    if (r.status == Status::unsupported) {
      EXPECT_STREQ(dt, "bf16") << r.reason;  // a CPU without AVX512_BF16
      continue;
    }
    ASSERT_EQ(r.status, Status::ok) << dt << ": " << r.reason;
    EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
    const json j = result_to_json(r);
    EXPECT_EQ(j["op"], "hpl_mxp");
    EXPECT_EQ(j["hpl"]["benchmark"], "HPL-MxP");
    EXPECT_EQ(j["hpl"]["factorization_precision"], dt);
    // Low-precision factors alone do not reach FP64 accuracy: refinement had to iterate.
    EXPECT_GE(j["hpl"]["refinement"]["iterations"].get<int>(), 1);
  }
}

TEST_F(HplRun, MxpOnHostFallbacksToo) {
  hpl::HplHooks h;
  h.host_ops = true;
  const Result r = run(R"({"op": "hpl_mxp", "n": 150, "nb": 32, "dtype": "fp32"})", h);
  ASSERT_EQ(r.status, Status::ok) << r.reason;
  EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
}

TEST_F(HplRun, CorruptedMxpFactorFails) {
  hpl::HplHooks h;
  h.corrupt_factor = [](Backend& b, const hpl::Sub& f, int64_t n, Dtype t) {
    hpl::perturb_element(b, f, n / 3, n / 3, t, std::numeric_limits<double>::quiet_NaN());
  };
  const Result r = run(R"({"op": "hpl_mxp", "n": 200, "nb": 64, "dtype": "fp32"})", h);
  EXPECT_EQ(r.status, Status::failed) << r.reason;
}
