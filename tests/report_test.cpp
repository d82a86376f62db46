// Tests of src/report: statistics, atomic writes, hashing, schema and version checks of reports.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "report/claims.h"
#include "report/hash.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/report_reader.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(Stats, MatchesHandComputedValues) {
  const TimeStats t = compute_stats({4.0, 1.0, 3.0, 2.0});
  EXPECT_EQ(t.samples, 4);
  EXPECT_DOUBLE_EQ(t.mean, 2.5);
  EXPECT_DOUBLE_EQ(t.median, 2.5);
  EXPECT_DOUBLE_EQ(t.min, 1.0);
  EXPECT_DOUBLE_EQ(t.max, 4.0);
  EXPECT_NEAR(t.stddev, 1.2909944487358056, 1e-12);  // sample stddev
  EXPECT_NEAR(t.cv, 1.2909944487358056 / 2.5, 1e-12);
  EXPECT_DOUBLE_EQ(compute_stats({5.0}).cv, 0.0);
}

TEST(Stats, RobustCvIsMadOverMedian) {
  // median 2.5, absolute deviations {1.5, 0.5, 0.5, 97.5} -> MAD 1.
  EXPECT_NEAR(robust_cv({1.0, 2.0, 3.0, 100.0}), 1.4826 * 1.0 / 2.5, 1e-12);
  EXPECT_NEAR(robust_cv({1.0, 2.0, 3.0}), 1.4826 * 1.0 / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(robust_cv({}), 0.0);
  EXPECT_DOUBLE_EQ(robust_cv({5.0, 5.0, 5.0}), 0.0);
}

TEST(Hash, Sha256KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AtomicWrite, CreatesDirectoriesAndLeavesNoTemporaries) {
  const fs::path dir = fs::temp_directory_path() / "suanli_atomic" / "a" / "b";
  fs::remove_all(fs::temp_directory_path() / "suanli_atomic");
  const std::string path = (dir / "r.json").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "second");
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  fs::remove_all(fs::temp_directory_path() / "suanli_atomic");
}

TEST(AtomicWrite, UnwritableDirectoryNamesThePath) {
  try {
    write_file_atomic("/proc/suanli/x.json", "x");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/suanli/x.json"), std::string::npos) << e.what();
  }
}

Result ok_result() {
  Result r;
  r.workload = "gemm.fp32.8x8x8";
  r.name = "gemm";
  r.backend = "cpu";
  r.op.kind = OpKind::gemm;
  r.op.dtype = Dtype::fp32;
  r.op.shape = GemmShape{8, 8, 8};
  r.status = Status::ok;
  r.library = "lib";
  r.implementation = "impl";
  r.samples = {1e-6, 1.1e-6};
  r.time = compute_stats(r.samples);
  r.iterations = 100;
  r.iterations_per_sample = 50;
  r.flops = 1024;
  r.flops_per_second = 1e9;
  r.flops_per_second_best = 1.1e9;
  r.bytes = 768;
  r.bytes_per_second = 7e8;
  r.rounds = 1;
  r.stop_reason = StopReason::noise_target;
  r.verified = true;
  r.verification = {"freivalds", true, 0.5, 16, "ok"};
  return r;
}

json minimal_report(const std::vector<Result>& results) {
  json j;
  j["schema_version"] = "1.0";
  j["suanli"] = {{"version", "0.1.0"}, {"git_revision", "abc"}, {"git_dirty", false}};
  j["started_utc"] = "2026-01-01T00:00:00Z";
  j["host"] = {{"hostname", "h"},  {"os", "o"},         {"kernel", "k"},
               {"cpu_model", "c"}, {"logical_cpus", 2}, {"memory_bytes", 1}};
  j["backends"] = json::array();
  j["suite"] = {{"name", "t"},
                {"origin", "t.json"},
                {"sha256", std::string(64, 'a')},
                {"settings", json::object()}};
  j["results"] = json::array();
  for (const Result& r : results) j["results"].push_back(result_to_json(r));
  j["tally"] = {{"results", 1}, {"ok", 1},     {"unsupported", 0},
                {"skipped", 0}, {"failed", 0}, {"error", 0}};
  seal_report(j);
  return j;
}

TEST(Report, SealedReportValidatesAndAnEditBreaksTheHash) {
  json j = minimal_report({ok_result()});
  EXPECT_NO_THROW(check_report(j, "r.json"));
  j["results"][0]["flops_per_second"] = 2e9;
  try {
    check_report(j, "r.json");
    FAIL() << "expected a hash mismatch";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("hash mismatch"), std::string::npos) << e.what();
  }
}

TEST(Report, UnknownMajorVersionIsRefusedClearly) {
  json j = minimal_report({ok_result()});
  j["schema_version"] = "2.0";
  seal_report(j);
  try {
    check_report(j, "future.json");
    FAIL() << "expected a version error";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("future.json"), std::string::npos) << m;
    EXPECT_NE(m.find("schema version 2.0"), std::string::npos) << m;
  }
}

// An unsupported result: the reason given, no samples, nothing verified.
Result unsupported_result(const std::string& reason) {
  Result r = ok_result();
  r.status = Status::unsupported;
  r.reason = reason;
  r.samples.clear();
  r.verified = false;
  return r;
}

TEST(Report, SchemaRequiresReasonWhenNotOk) {
  const Result r = unsupported_result("");
  json j = minimal_report({r});
  const auto errors = validate_against_schema(j, "report.schema.json");
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.front().path.rfind("/results/0", 0), 0u) << errors.front().path;
}

TEST(Report, OkWithFailedVerificationIsRejectedBySchema) {
  Result r = ok_result();
  r.verification.passed = false;
  const json j = minimal_report({r});
  EXPECT_FALSE(validate_against_schema(j, "report.schema.json").empty());
}

TEST(Report, UnsupportedResultCarriesReasonAndNoThroughput) {
  const Result r = unsupported_result("CPU lacks AVX512_FP16");
  const json j = result_to_json(r);
  EXPECT_EQ(j["status"], "unsupported");
  EXPECT_EQ(j["reason"], "CPU lacks AVX512_FP16");
  EXPECT_FALSE(j.contains("flops_per_second"));
  EXPECT_TRUE(validate_against_schema(minimal_report({r}), "report.schema.json").empty());
}

TEST(Report, TallyLine) {
  Result a = ok_result(), b = ok_result(), c = ok_result();
  b.status = Status::failed;
  c.status = Status::unsupported;
  a.marks.push_back({"noisy", "CV 0.4 > 0.05"});
  a.marks.push_back({"slowdown", "probe 30% slower"});
  EXPECT_EQ(tally_line(tally({a, b, c})),
            "results: 3  ok: 1  unsupported: 1  skipped: 0  failed: 1  error: 0  "
            "marked noisy: 1  slowdown: 1  timing: 0  above peak: 0");
}

}  // namespace
// The typed reader against the JSON it reads: every backend, device, peak and result, and the
// figures a rating uses, field by field.
TEST(ReportReader, ReadsTheExampleFieldByField) {
  const std::string path =
      std::string(SUANLI_SOURCE_DIR) + "/reports/examples/report-cpu-quick.json";
  const json j = read_json_file(path);
  check_report(j, path);
  const ReportDocument doc = read_report(j, path);
  EXPECT_EQ(doc.sha256, j["sha256"].get<std::string>());
  EXPECT_EQ(doc.hostname, j["host"]["hostname"].get<std::string>());
  ASSERT_EQ(doc.backends.size(), j["backends"].size());
  for (size_t b = 0; b < doc.backends.size(); ++b) {
    const json& jb = j["backends"][b];
    EXPECT_EQ(doc.backends[b].name, jb["name"].get<std::string>());
    ASSERT_EQ(doc.backends[b].devices.size(), jb["devices"].size());
    for (size_t d = 0; d < jb["devices"].size(); ++d) {
      const ReportDevice& dev = doc.backends[b].devices[d];
      const json& jd = jb["devices"][d];
      EXPECT_EQ(dev.index, jd["index"].get<int>());
      EXPECT_EQ(dev.name, jd["name"].get<std::string>());
      EXPECT_EQ(dev.kind, jd["kind"].get<std::string>());
      EXPECT_DOUBLE_EQ(dev.clock_mhz, jd["clock_mhz"].get<double>());
      ASSERT_EQ(dev.peaks.size(), jd["peaks"].size());
      for (size_t p = 0; p < dev.peaks.size(); ++p) {
        EXPECT_EQ(dev.peaks[p].dtype, jd["peaks"][p]["dtype"].get<std::string>());
        EXPECT_DOUBLE_EQ(dev.peaks[p].ops_per_second,
                         jd["peaks"][p]["ops_per_second"].get<double>());
      }
    }
  }
  ASSERT_EQ(doc.results.size(), j["results"].size());
  size_t verified = 0, with_rate = 0;
  for (size_t i = 0; i < doc.results.size(); ++i) {
    const ReportResult& r = doc.results[i];
    const json& jr = j["results"][i];
    EXPECT_EQ(r.workload, jr["workload"].get<std::string>());
    EXPECT_EQ(r.op, jr["op"].get<std::string>());
    EXPECT_EQ(r.dtype, jr["dtype"].get<std::string>());
    EXPECT_EQ(r.status, jr["status"].get<std::string>());
    EXPECT_EQ(r.device, jr["device"].get<int>());
    EXPECT_EQ(r.counts(), jr["status"] == "ok" && jr.contains("verification") &&
                              jr["verification"]["passed"].get<bool>());
    EXPECT_EQ(r.marked, result_is_marked(jr));
    EXPECT_EQ(r.mark_kinds(), result_mark_kinds(jr));
    EXPECT_EQ(r.flops_per_second.has_value(), jr.contains("flops_per_second"));
    if (r.flops_per_second) {
      EXPECT_DOUBLE_EQ(*r.flops_per_second, jr["flops_per_second"].get<double>());
      ++with_rate;
    }
    EXPECT_EQ(r.samples_s.size(), jr.value("samples_s", json::array()).size());
    if (r.time) EXPECT_EQ(r.time->samples, jr["time_s"]["samples"].get<int>());
    if (r.verification) {
      ++verified;
      EXPECT_EQ(r.verification->method, jr["verification"]["method"].get<std::string>());
    }
    EXPECT_EQ(doc.find(r.backend, r.device, r.workload)->workload, r.workload);
  }
  EXPECT_GT(verified, 0u);
  EXPECT_GT(with_rate, 0u);
  EXPECT_EQ(doc.find("cpu", 0, "no such workload"), nullptr);
}

// Non-finite figures are written as null; the reader keeps them apart from absent ones.
TEST(ReportReader, NullErrorIsInfinityAndAbsentFiguresStayAbsent) {
  const json r = {
      {"workload", "w"},
      {"op", "gemm"},
      {"dtype", "fp32"},
      {"backend", "cpu"},
      {"device", 0},
      {"status", "failed"},
      {"flops", 1.0},
      {"bytes", 2.0},
      {"shape", json::object()},
      {"verification",
       {{"method", "freivalds"}, {"passed", false}, {"error", nullptr}, {"bound", nullptr}}},
      {"marks", {{{"kind", "noisy"}, {"detail", "cv"}}, {{"kind", "timing"}, {"detail", ""}}}}};
  const ReportResult rr = read_report_result(r);
  ASSERT_TRUE(rr.verification);
  EXPECT_TRUE(std::isinf(rr.verification->error));
  EXPECT_TRUE(std::isnan(rr.verification->bound));
  EXPECT_FALSE(rr.counts());
  EXPECT_FALSE(rr.flops_per_second);
  EXPECT_FALSE(rr.time);
  EXPECT_EQ(rr.mark_kinds(), "noisy,timing");
  EXPECT_FALSE(rr.model);
  json m = r;
  m["model"] = {{"model", "resnet50"},
                {"batch", 1},
                {"mode", "training"},
                {"samples_per_second", 42.5},
                {"latency_s", {{"queries", 20}, {"p50", 0.02}, {"p90", 0.03}, {"p99", 0.05}}}};
  const ReportResult mr = read_report_result(m);
  ASSERT_TRUE(mr.model);
  EXPECT_EQ(mr.model->model, "resnet50");
  EXPECT_EQ(mr.model->mode, "training");
  EXPECT_EQ(mr.model->batch, 1);
  EXPECT_DOUBLE_EQ(mr.model->samples_per_second.value_or(-1), 42.5);
  EXPECT_FALSE(mr.model->tokens_per_second);
  ASSERT_TRUE(mr.model->latency);
  EXPECT_DOUBLE_EQ(mr.model->latency->p99, 0.05);
  json broken = r;
  broken.erase("backend");
  EXPECT_THROW(read_report({{"backends", json::array()}, {"results", {broken}}}, "x.json"),
               InputError);
}

TEST(Claims, ExampleLoadsAndTheLongestMatchWins) {
  const Claims c =
      load_claims(std::string(SUANLI_SOURCE_DIR) + "/reports/examples/claims-h100-sxm.json");
  const auto fp16 = c.find("NVIDIA H100 80GB HBM3", Dtype::fp16);
  ASSERT_TRUE(fp16.has_value());
  EXPECT_DOUBLE_EQ(fp16->flops_per_second, 9.895e14);
  const auto sparse = c.find("nvidia h100 80gb hbm3", Dtype::fp16, true);
  ASSERT_TRUE(sparse.has_value());
  EXPECT_DOUBLE_EQ(sparse->flops_per_second, 1.979e15);
  EXPECT_FALSE(c.find("NVIDIA A100-SXM4-80GB", Dtype::fp16).has_value());
  EXPECT_FALSE(c.find("NVIDIA H100 80GB HBM3", Dtype::fp32).has_value());
}

TEST(Claims, BadFileNamesThePlace) {
  const auto dir = std::filesystem::temp_directory_path() / "suanli_claims_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "bad.json").string();
  std::ofstream(path) << R"({"suanli_claims": 1, "claims": [{"device": "X", "dtype": "fp17",
      "flops_per_second": 1, "source": "s"}]})";
  try {
    load_claims(path);
    FAIL() << "a bad dtype was accepted";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("/claims/0/dtype"), std::string::npos) << m;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace suanli
