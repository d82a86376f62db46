// Tests of `suanli compare`: matching, ratio, the noise-aware verdict and the exit status.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "rate/compare.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "scratch_dir.h"

namespace suanli::rate {
namespace {

using nlohmann::json;

const std::string kExample =
    std::string(SUANLI_SOURCE_DIR) + "/reports/examples/report-cpu-quick.json";

using test_files::scratch;
using test_files::write;

// Index of the first verified ok result of an op and dtype in the example.
size_t find(const json& rep, const std::string& op, const std::string& dtype) {
  for (size_t i = 0; i < rep["results"].size(); ++i) {
    const json& r = rep["results"][i];
    if (r["op"] == op && r["dtype"] == dtype && r["status"] == "ok") return i;
  }
  ADD_FAILURE() << "no " << op << " " << dtype << " in the example";
  return 0;
}

// Sets a result's throughput to `factor` x its old value with the given CV, as if measured so.
void scale(json& rep, size_t i, double factor, double cv) {
  json& r = rep["results"][i];
  const char* key = r["op"] == "stream" ? "bytes_per_second" : "flops_per_second";
  r[key] = r[key].get<double>() * factor;
  r["noise"]["reached_cv"] = cv;
  r["time_s"]["cv"] = cv;
}

const CompareRow& row(const Comparison& c, const std::string& workload) {
  for (const CompareRow& r : c.rows)
    if (r.workload == workload) return r;
  ADD_FAILURE() << "no row " << workload;
  static CompareRow none;
  return none;
}

int run(const std::string& args) {
  const std::string cmd = std::string(SUANLI_BINARY) + " compare " + args + " >/dev/null 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(Compare, IdenticalReportsHaveNoChange) {
  const Comparison c = compare_files(kExample, kExample, {});
  EXPECT_EQ(c.regressions(), 0);
  int compared = 0;
  for (const CompareRow& r : c.rows)
    if (r.ratio > 0) {
      ++compared;
      EXPECT_DOUBLE_EQ(r.ratio, 1.0);
      EXPECT_EQ(r.verdict, Verdict::within_noise);
    }
  EXPECT_GT(compared, 10);
}

TEST(Compare, VerdictsAccountForThresholdAndNoise) {
  const json a0 = read_json_file(kExample);
  json a = a0, b = a0;
  const size_t g64 = find(a, "gemm", "fp64"), g32 = find(a, "gemm", "fp32"),
               gbf = find(a, "gemm", "bf16"), gi8 = find(a, "gemm", "int8"),
               tri = find(a, "peak", "fp64");
  // Quiet runs (CV 1 %): half the speed is a regression, 3 % slower is below the 5 % threshold.
  scale(a, g64, 1.0, 0.01);
  scale(b, g64, 0.5, 0.01);
  scale(a, g32, 1.0, 0.01);
  scale(b, g32, 0.97, 0.01);
  // Noisy runs (CV 30 %): 20 % slower is within the noise both runs measured.
  scale(a, gbf, 1.0, 0.3);
  scale(b, gbf, 0.8, 0.3);
  // 40 % faster in quiet runs is an improvement.
  scale(a, gi8, 1.0, 0.01);
  scale(b, gi8, 1.4, 0.01);
  // A verified result that now fails is a regression.
  json& f = b["results"][tri];
  f["status"] = "failed";
  f["reason"] = "verification failed";
  f["verification"]["passed"] = false;
  seal_report(a);
  seal_report(b);
  const std::string pa = write("a.json", a), pb = write("b.json", b);
  const Comparison c = compare_files(pa, pb, {});
  const std::string w64 = a["results"][g64]["workload"], w32 = a["results"][g32]["workload"],
                    wbf = a["results"][gbf]["workload"], wi8 = a["results"][gi8]["workload"],
                    wpk = a["results"][tri]["workload"];
  EXPECT_DOUBLE_EQ(row(c, w64).ratio, 0.5);
  EXPECT_EQ(row(c, w64).verdict, Verdict::regression);
  EXPECT_NEAR(row(c, w64).noise, 2 * std::hypot(0.01, 0.01), 1e-12);
  EXPECT_EQ(row(c, w32).verdict, Verdict::slower);
  EXPECT_EQ(row(c, wbf).verdict, Verdict::within_noise);
  EXPECT_EQ(row(c, wi8).verdict, Verdict::improvement);
  EXPECT_NEAR(row(c, wi8).ratio, 1.4, 1e-12);
  EXPECT_EQ(row(c, wpk).verdict, Verdict::regression);
  EXPECT_EQ(c.regressions(), 2);
  EXPECT_NE(render_comparison_text(c).find("REGRESSION"), std::string::npos);
  EXPECT_EQ(comparison_to_json(c)["regressions"], 2);
  // A stricter threshold turns the 3 % slowdown into a regression.
  CompareOptions strict;
  strict.threshold = 0.02;
  EXPECT_EQ(row(compare_files(pa, pb, strict), w32).verdict, Verdict::regression);

  // The command: exit 1 on a regression, 0 without, 2 on bad input.
  EXPECT_EQ(run(pa + " " + pb), 1);
  EXPECT_EQ(run(pa + " " + pa), 0);
  EXPECT_EQ(run(pa + " " + pb + " --threshold 0.6"), 1) << "the failed result still counts";
  json v2 = a;
  v2["schema_version"] = "2.0";
  const std::string pv2 = write("v2.json", v2);
  EXPECT_EQ(run(pa + " " + pv2), 2);
  EXPECT_EQ(run(pa + " " + scratch() + "/missing.json"), 2);
  try {
    compare_files(pa, pv2, {});
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(pv2), std::string::npos);
  }
}

TEST(Compare, WorkloadsInOnlyOneReportAreListedNotFailed) {
  json a = read_json_file(kExample), b = a;
  b["results"].erase(b["results"].begin());
  seal_report(b);
  const Comparison c = compare_files(kExample, write("fewer.json", b), {});
  EXPECT_EQ(row(c, a["results"][0]["workload"]).verdict, Verdict::only_old);
  EXPECT_EQ(c.regressions(), 0);
}

}  // namespace
}  // namespace suanli::rate
