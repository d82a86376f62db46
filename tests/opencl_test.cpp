// The OpenCL backend run for real (on PoCL here): every gemm dtype and every tile candidate
// verified through the harness, peak and stream, the tuning cache (and a corrupt one), build
// logs in the error, `suanli run` end to end, and the out-of-tree template plugin built against
// a staged install and checked by `suanli conformance`, and HPL / HPL-MxP through GEMM_EX.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/backend_host.h"
#include "harness/runner.h"
#include "hpl/formulas.h"
#include "hpl/hpl_run.h"
#include "report/report.h"
#include "suite/suite.h"
#include "test_support.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;

const std::string kPlugin = test::plugin_path("opencl");

std::unique_ptr<Backend> opencl(std::vector<std::pair<std::string, std::string>> options) {
  return load_backend_file(kPlugin, options);
}

Suite small_suite(const std::string& workloads) {
  return parse_suite(R"({"suanli_suite": 1, "name": "t", "settings": {"min_time": 0.002,
                         "repetitions": 2, "max_noise": 1.0, "max_time": 0.2,
                         "warmup_time": 0}, "workloads": )" +
                         workloads + "}",
                     "t.json");
}

std::vector<Result> run_all(Backend& b, const Suite& s) {
  std::vector<Result> out;
  for (const Workload& w : s.workloads) out.push_back(run_workload(b, 0, w, {}));
  return out;
}

fs::path scratch(const std::string& name) {
  return test::fresh_dir("suanli_opencl_" + name);
}

std::string read_file(const fs::path& p) {
  return test::read_text(p);
}

using Cmd = test::CommandResult;
Cmd sh(const std::string& cmd) {
  return test::run_shell(cmd);
}

TEST(OpenCL, FindsADeviceWithIdentity) {
  auto b = opencl({{"tune", "off"}});
  ASSERT_GE(b->devices().size(), 1u) << "no OpenCL device: is pocl-opencl-icd installed?";
  const DeviceInfo& d = b->devices()[0];
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.compute_units, 0);
  EXPECT_GT(d.memory_bytes, 0u);
  EXPECT_NE(d.features.find("OpenCL"), std::string::npos) << d.features;
  EXPECT_TRUE(d.peaks.empty()) << "no invented theoretical peak";
  ASSERT_FALSE(b->libraries().empty());
}

TEST(OpenCL, GemmEveryDtypeVerifiedOrHonestlyUnsupported) {
  auto b = opencl({{"tune", "off"}});
  const Suite s = small_suite(R"([
    {"op": "gemm", "dtype": ["fp32", "fp64", "int8", "fp16"], "m": 37, "n": 29, "k": 41},
    {"op": "gemm", "name": "tb", "dtype": ["fp32", "int8"], "m": 20, "n": 33, "k": 18,
     "batch": 3, "trans_a": true, "trans_b": true}])");
  const bool fp16 = b->devices()[0].features.find("cl_khr_fp16") != std::string::npos;
  for (const Result& r : run_all(*b, s)) {
    SCOPED_TRACE(r.workload);
    if (r.op.dtype == Dtype::fp16 && !fp16) {
      EXPECT_EQ(r.status, Status::unsupported);
      EXPECT_NE(r.reason.find("cl_khr_fp16"), std::string::npos) << r.reason;
      continue;
    }
    EXPECT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed);
    EXPECT_GT(r.time.median, 0);
    EXPECT_NE(r.implementation.find("register tile"), std::string::npos) << r.implementation;
  }
}

TEST(OpenCL, EveryTileCandidateComputesTheRightAnswer) {
  // The tuner may pick any of these; each must be right at sizes that do not fill a tile, in GEMM
  // and in GEMM_EX.
  // Odd and even MR, one and two vectors per row, 16/8/4/2 lanes.
  for (const char* tile : {"12,16,1", "6,16,2", "8,8,2", "4,4,1", "3,2,1"}) {
    SCOPED_TRACE(tile);
    auto b = opencl({{"gemm_tile", tile}});
    const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "m": 29, "n": 35, "k": 23,
                                     "batch": 2, "trans_b": true}])");
    for (const Result& r : run_all(*b, s)) {
      EXPECT_EQ(r.status, Status::ok) << r.reason;
      EXPECT_NE(r.implementation.find("gemm_tile option"), std::string::npos);
    }
    // GEMM_EX (its own store path over column-major C) with the same tile, through a small HPL.
    const Suite h = small_suite(R"([{"op": "hpl", "dtype": "fp64", "n": 97, "nb": 16}])");
    const Result r = hpl::run_hpl_workload(*b, 0, h.workloads.at(0), RunOptions{}, {});
    EXPECT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
  }
  EXPECT_THROW(opencl({{"gemm_tile", "8,3,1"}}), std::runtime_error);
}

// HPL's trailing update runs as GEMM_EX and its triangular solves and row swaps as TRSM / LASWP
// on the device, the panel on the host (the opencl backend has no getrf): HPL's own check must
// pass for HPL and HPL-MxP, and a corrupted factor must fail it.
TEST(OpenCL, HplAndHplMxpVerifiedThroughGemmEx) {
  auto b = opencl({{"tune", "off"}});
  auto run = [&](const std::string& entry, const hpl::HplHooks& hooks = {}) {
    const Suite s = small_suite("[" + entry + "]");
    return hpl::run_hpl_workload(*b, 0, s.workloads.at(0), RunOptions{}, hooks);
  };
  for (const char* entry : {R"({"op": "hpl", "dtype": "fp64", "n": 301, "nb": 32})",
                            R"({"op": "hpl_mxp", "dtype": "fp32", "n": 400, "nb": 64})"}) {
    SCOPED_TRACE(entry);
    const Result r = run(entry);
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed);
    EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
    EXPECT_GT(r.flops_per_second, 0);
    const nlohmann::json j = result_to_json(r);
    const std::string gemm = j["hpl"]["placement"]["gemm"], panel = j["hpl"]["placement"]["panel"];
    EXPECT_EQ(gemm.rfind("device (suanli gemm.cl", 0), 0u) << gemm;
    EXPECT_EQ(panel.rfind("host (backend: ", 0), 0u) << panel;
    const std::string solves = j["hpl"]["placement"]["triangular_solves"];
    EXPECT_EQ(solves.rfind("device (suanli linalg.cl trsm", 0), 0u) << solves;
  }
  // fp16 and bf16 factorizations: run and verified, or unsupported with the device's reason.
  for (const char* dt : {"fp16", "bf16"}) {
    const Result r =
        run(std::string(R"({"op": "hpl_mxp", "n": 200, "nb": 32, "dtype": ")") + dt + "\"}");
    if (r.status == Status::unsupported) {
      EXPECT_NE(r.reason.find(std::string("gemm_ex ") + dt), std::string::npos) << r.reason;
      continue;
    }
    ASSERT_EQ(r.status, Status::ok) << dt << ": " << r.reason;
    EXPECT_LT(r.verification.error, hpl::kResidualThreshold);
  }
  hpl::HplHooks h;
  h.corrupt_factor = [](Backend& be, const hpl::Sub& f, int64_t n, Dtype t) {
    hpl::perturb_element(be, f, n / 2, n / 2 + 3, t, 1e-3);
  };
  const Result bad = run(R"({"op": "hpl", "dtype": "fp64", "n": 256, "nb": 64})", h);
  EXPECT_EQ(bad.status, Status::failed) << bad.reason;
}

TEST(OpenCL, PeakAndStreamVerified) {
  auto b = opencl({{"tune", "off"}});
  const Suite s = small_suite(R"([
    {"op": "peak", "dtype": ["fp32", "fp64", "int8"], "elements": 8192, "depth": 128},
    {"op": "stream", "dtype": ["fp64", "fp32"], "kind": ["copy", "scale", "add", "triad"],
     "n": 100003}])");
  for (const Result& r : run_all(*b, s)) {
    SCOPED_TRACE(r.workload);
    EXPECT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed);
  }
  const Suite bf =
      small_suite(R"([{"op": "peak", "dtype": "bf16", "elements": 4096, "depth": 64}])");
  const Result r = run_all(*b, bf)[0];
  EXPECT_EQ(r.status, Status::unsupported);
  EXPECT_FALSE(r.reason.empty());
}

TEST(OpenCL, TuningIsCachedPerDeviceAndSurvivesACorruptCache) {
  const fs::path dir = scratch("tune");
  const std::string cache = (dir / "sub" / "opencl-tune.txt").string();
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 48}])");
  {
    auto b = opencl({{"tune_cache", cache}});
    const Result r = run_all(*b, s)[0];
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_NE(r.implementation.find("tuned over"), std::string::npos) << r.implementation;
  }
  const std::string text = read_file(cache);
  EXPECT_NE(text.find(opencl({{"tune", "off"}})->devices()[0].name), std::string::npos) << text;
  EXPECT_NE(text.find("gemm fp32"), std::string::npos) << text;
  {
    auto b = opencl({{"tune_cache", cache}});
    const Result r = run_all(*b, s)[0];
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_NE(r.implementation.find("tuning cache"), std::string::npos) << r.implementation;
  }
  // Garbage, a line with the right key and nonsense values, binary junk: ignored, re-tuned,
  // and the file is good again afterwards.
  const std::string key = text.substr(0, text.find('\t'));
  {
    std::ofstream f(cache, std::ios::trunc | std::ios::binary);
    f << "not a cache\n"
      << key << "\t999 7 -1\n"
      << key << "\tabc\n"
      << std::string("\0\xff\x01", 3);
  }
  {
    auto b = opencl({{"tune_cache", cache}});
    const Result r = run_all(*b, s)[0];
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_NE(r.implementation.find("tuned over"), std::string::npos) << r.implementation;
  }
  const std::string healed = read_file(cache);
  EXPECT_EQ(healed.find("999 7 -1"), std::string::npos) << healed;
  EXPECT_NE(healed.find(key + "\t"), std::string::npos) << healed;
}

TEST(OpenCL, KernelBuildFailureShowsTheBuildLog) {
  auto b = opencl({{"tune", "off"}, {"build_options", "-DSUANLI_BROKEN_BUILD=1 -DMR=("}});
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 32}])");
  const Result r = run_all(*b, s)[0];
  EXPECT_EQ(r.status, Status::error);
  EXPECT_NE(r.reason.find("build log"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("gemm.cl"), std::string::npos) << r.reason;
}

TEST(OpenCL, SuanliRunEndToEnd) {
  const fs::path dir = scratch("run");
  std::ofstream(dir / "s.json") << R"({"suanli_suite": 1, "name": "ocl", "settings": {
      "min_time": 0.002, "repetitions": 2, "max_noise": 1.0, "max_time": 0.2, "warmup_time": 0},
      "workloads": [{"op": "gemm", "dtype": ["fp32", "int8", "bf16"], "size": 64},
                    {"op": "peak", "dtype": "fp32", "elements": 4096, "depth": 64},
                    {"op": "stream", "dtype": "fp64", "kind": "triad", "n": 65536}]})";
  const Cmd r = sh(std::string(SUANLI_BINARY) + " run --backend opencl --backend-option tune=off" +
                   " --suite " + (dir / "s.json").string() + " -q -o " + (dir / "r.json").string());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("results: 5  ok: 4  unsupported: 1"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "r.json"));
}

TEST(OpenCL, TemplatePluginBuildsOutOfTreeAgainstAStagedInstallAndConforms) {
  const fs::path dir = scratch("template");
  const std::string cmake = SUANLI_CMAKE_COMMAND;
  const std::string prefix = (dir / "prefix").string(), build = (dir / "build").string();
  Cmd r =
      sh(cmake + " --install " + SUANLI_BINARY_DIR + " --prefix " + prefix + " --component sdk");
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_TRUE(fs::exists(fs::path(prefix) / "include/suanli/backend.h"));
  r = sh(cmake + " -S " + SUANLI_SOURCE_DIR + "/backends/template -B " + build +
         " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("suanli ABI "), std::string::npos) << r.out;
  r = sh(cmake + " --build " + build);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string so = build + "/libsuanli_backend_template.so";
  ASSERT_TRUE(fs::exists(so));
  r = sh(std::string(SUANLI_BINARY) + " conformance --backend " + so);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("failed: 0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace suanli
