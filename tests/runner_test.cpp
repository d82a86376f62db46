// Tests of the runner: measurement, stopping rule, verification outcomes, errors that do not stop a
// run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "cli/workload_kinds.h"
#include "core/error.h"
#include "harness/backend_host.h"
#include "harness/journal.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "model/model_run.h"
#include "rate/rating.h"
#include "report/json_schema.h"

namespace suanli {
namespace {

// Models and HPL reach the runner through the handlers the program registers (as main() does).
const bool kWorkloadKindsRegistered = (cli::register_workload_kinds(), true);

std::unique_ptr<Backend> test_plugin(const std::string& mode) {
  return load_backend_file(
      std::string(SUANLI_TEST_PLUGIN_DIR) + "/libsuanli_backend_test_" + mode + ".so", {});
}

Suite small_suite(const std::string& workloads, const std::string& settings =
                                                    R"({"min_time": 0.002, "repetitions": 3,
                                                        "max_noise": 1.0, "max_time": 0.5,
                                                        "warmup_time": 0})") {
  return parse_suite(R"({"suanli_suite": 1, "name": "t", "settings": )" + settings +
                         R"(, "workloads": )" + workloads + "}",
                     "t.json");
}

TEST(Runner, GoodBackendGivesVerifiedTimedResults) {
  auto b = test_plugin("good");
  const Suite s =
      small_suite(R"([{"op": "gemm", "dtype": ["fp32", "fp64"], "m": 40, "n": 24, "k": 56}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs.size(), 2u);
  for (const Result& r : rs) {
    EXPECT_EQ(r.status, Status::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed) << r.verification.detail;
    EXPECT_EQ(r.verification.method, "freivalds");
    EXPECT_GE(r.time.samples, 3);
    EXPECT_GT(r.time.median, 0);
    EXPECT_GE(r.iterations, r.time.samples);
    EXPECT_NEAR(r.flops_per_second, 2.0 * 40 * 24 * 56 / r.time.median, 1e-6 * r.flops_per_second);
    EXPECT_EQ(r.library, "naive");
    // The stop reason says what happened: the target reached, or (on a machine loaded enough
    // for a CV above 100 %) the time limit with the result marked noisy.
    if (r.stop_reason == StopReason::noise_target)
      EXPECT_LE(r.time.cv, 1.0);
    else
      EXPECT_TRUE(r.stop_reason == StopReason::time_limit && r.noisy) << r.time.cv;
    EXPECT_GT(r.telemetry.samples, 0);
  }
  // The fp32 peak the test device declares gives a peak fraction; fp64 has none.
  EXPECT_GT(rs[0].peak_fraction, 0);
  EXPECT_LT(rs[1].peak_fraction, 0);
}

TEST(Runner, ReportOfARunValidatesAgainstTheSchema) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": ["fp32", "bf16"], "size": 16}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  const nlohmann::json j = make_run_report(s, {b.get()}, {}, rs, RunMeta{});
  const auto errors = validate_against_schema(j, "report.schema.json");
  EXPECT_TRUE(errors.empty()) << errors.front().path << ": " << errors.front().message;
  EXPECT_NO_THROW(check_report(j, "mem"));
  EXPECT_EQ(j["results"][1]["status"], "unsupported");
  EXPECT_EQ(j["tally"]["ok"], 1);
}

TEST(Runner, WrongAnswerIsRecordedAsFailed) {
  auto b = test_plugin("wrong");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 32}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, Status::failed);
  EXPECT_FALSE(rs[0].verification.passed);
  EXPECT_NE(rs[0].reason.find("verification failed"), std::string::npos) << rs[0].reason;
}

TEST(Runner, ErrorsAreRecordedAndTheRunGoesOn) {
  auto bad = test_plugin("errors");
  auto good = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": [8, 16]}])");
  const std::vector<Result> rs = run_suite(s, {bad.get(), good.get()}, {});
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].status, Status::error);
  EXPECT_NE(rs[0].reason.find("injected"), std::string::npos) << rs[0].reason;
  EXPECT_EQ(rs[1].status, Status::error);
  EXPECT_EQ(rs[2].status, Status::ok) << rs[2].reason;
  EXPECT_EQ(rs[3].status, Status::ok) << rs[3].reason;
}

TEST(Runner, UnsupportedCarriesTheBackendsReason) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "stream", "kind": "copy", "n": 1024, "dtype": "fp64"}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, Status::unsupported);
  EXPECT_NE(rs[0].reason.find("only plain fp32/fp64"), std::string::npos) << rs[0].reason;
}

TEST(Runner, Int8FallsBackToSignedInputsWhenTheBackendHasOnlyThose) {
  // The test backend multiplies s8 x s8 only (like cuBLASLt); the CPU backend takes u8 x s8.
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "int8", "m": 24, "n": 40, "k": 64}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, Status::ok) << rs[0].reason;
  EXPECT_TRUE(rs[0].op.int8_signed_a);
  EXPECT_TRUE(rs[0].verification.passed) << rs[0].verification.detail;
  EXPECT_EQ(operand_types(rs[0].op).a, Dtype::int8);

  auto cpu = load_backend_file(std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cpu.so",
                               {{"threads", "1"}});
  const std::vector<Result> on_cpu = run_suite(s, {cpu.get()}, {});
  ASSERT_EQ(on_cpu.size(), 1u);
  EXPECT_EQ(on_cpu[0].status, Status::ok) << on_cpu[0].reason;
  EXPECT_FALSE(on_cpu[0].op.int8_signed_a);
}

TEST(Runner, NoiseRuleStopsOnTheTimeLimitWhenTheTargetIsUnreachable) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 24}])",
                              R"({"min_time": 0.002, "repetitions": 2, "max_noise": 0.0,
                                  "max_time": 0.4, "warmup_time": 0})");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs[0].status, Status::ok) << rs[0].reason;
  EXPECT_EQ(rs[0].stop_reason, StopReason::time_limit);
  EXPECT_TRUE(rs[0].noisy);  // a CV above 0 with a target of 0
  EXPECT_NE(result_to_json(rs[0]).dump().find("\"noisy\":true"), std::string::npos);
  EXPECT_GT(rs[0].rounds, 1);  // it kept sampling before giving up
  EXPECT_EQ(static_cast<int>(rs[0].samples.size()), 2 * rs[0].rounds);
  EXPECT_LT(rs[0].sampling_seconds, 2.0);
}

TEST(Runner, CommandLineOverridesTheSuite) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 8}])");
  RunOptions o;
  o.repetitions = 6;
  const std::vector<Result> rs = run_suite(s, {b.get()}, o);
  EXPECT_EQ(rs[0].time.samples, 6 * rs[0].rounds);  // 6 per round (more rounds when loaded)
}

TEST(Runner, InjectedCorruptionOfARealCpuResultFailsVerification) {
  auto cpu = load_backend_file(std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cpu.so",
                               {{"threads", "1"}});
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": ["fp32", "int8"], "size": 96}])");
  RunOptions o;
  o.corrupt_output = [](const Result& r, void* out, uint64_t) {
    if (r.op.dtype == Dtype::fp32)
      static_cast<float*>(out)[96 * 50 + 7] *= 1.05f;
    else
      static_cast<int32_t*>(out)[96 * 3 + 90] += 1;
  };
  const std::vector<Result> rs = run_suite(s, {cpu.get()}, o);
  ASSERT_EQ(rs.size(), 2u);
  for (const Result& r : rs) {
    EXPECT_EQ(r.status, Status::failed) << r.reason;
    EXPECT_FALSE(r.verification.passed);
  }
}

TEST(Runner, SuiteTooLargeForTheDeviceIsAnInputError) {
  auto b = test_plugin("good");  // declares 1 GiB
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp64", "size": 16384}])");
  try {
    check_suite_fits(s, {b.get()});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("t.json: /workloads/0"), std::string::npos) << m;
    EXPECT_NE(m.find("test device"), std::string::npos) << m;
  }
}

TEST(Runner, ModelTooLargeForTheDeviceIsAnInputError) {
  auto b = test_plugin("good");  // declares 1 GiB
  // resnet_tiny inference at batch 4 fits; a ResNet-50 training step at batch 16 keeps every
  // activation and gradient (over 4 GiB) and does not.
  EXPECT_NO_THROW(check_suite_fits(
      small_suite(R"([{"op": "model", "model": "resnet_tiny", "dtype": "fp32", "batch": 4}])"),
      {b.get()}));
  const Suite s = small_suite(
      R"([{"op": "model", "model": "resnet50", "mode": "training", "dtype": "fp32", "batch": 16}])");
  const uint64_t need = model::model_device_bytes(s.workloads.at(0));
  EXPECT_GT(need, 4ull << 30);
  EXPECT_LT(need, 16ull << 30);
  try {
    check_suite_fits(s, {b.get()});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("t.json: /workloads/0: model resnet50 fp32 batch 16 training step needs"),
              std::string::npos)
        << m;
  }
  // Inference needs far less than training at the same batch.
  const Suite inf =
      small_suite(R"([{"op": "model", "model": "resnet50", "dtype": "fp32", "batch": 16}])");
  EXPECT_LT(model::model_device_bytes(inf.workloads.at(0)), need / 2);
}

// A module workload reaches the runner through the handler that claims it; the runner itself
// knows no model or HPL code.
TEST(Runner, ModuleWorkloadsRunThroughTheirHandler) {
  auto b = test_plugin("good");
  Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "m": 8, "n": 8, "k": 8}])");
  Workload w = s.workloads.at(0);
  w.hpl = "test_kind";
  WorkloadHandler h;
  h.name = "test_kind";
  h.handles = [](const Workload& x) { return x.hpl == "test_kind"; };
  h.run = [](Backend& be, int device, const Workload& x, const RunOptions&) {
    Result r = workload_result(x, be.name(), device);
    r.status = Status::unsupported;
    r.reason = "from the test handler";
    return r;
  };
  h.device_bytes = [](const Workload&) -> std::optional<uint64_t> { return uint64_t{4} << 30; };
  h.fit_label = [](const Workload&) { return std::string("the test kind"); };
  h.progress_label = [](const Workload&) { return std::string("test kind label"); };
  register_workload_handler(h);
  const Result r = run_job(*b, 0, w, {});
  EXPECT_EQ(r.reason, "from the test handler");
  EXPECT_EQ(r.workload, w.id);
  EXPECT_EQ(workload_label(w), "test kind label");
  s.workloads = {w};
  try {
    check_suite_fits(s, {b.get()});  // the test device declares 1 GiB
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the test kind needs 4.0 GiB"), std::string::npos)
        << e.what();
  }
}

bool has_mark(const Result& r, const std::string& kind) {
  for (const ResultMark& m : r.marks)
    if (m.kind == kind) return true;
  return false;
}

// The fp32 Rmax a rating gives the test device of a run's report (< 0: none).
double rated_rmax(const Suite& s, Backend& b, const std::vector<Result>& rs,
                  bool include_marked = false) {
  const nlohmann::json j = make_run_report(s, {&b}, {}, rs, RunMeta{});
  const rate::NodeRating n = rate::rate_report(j, "mem.json", std::nullopt, include_marked);
  for (const rate::DeviceRating& d : n.devices)
    if (const rate::PrecisionRating* p = d.at(Dtype::fp32)) return p->rmax.value;
  return -1;
}

TEST(Runner, EveryResultCarriesHostWallTimeBesideDeviceTime) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 48}])");
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  ASSERT_EQ(rs[0].status, Status::ok) << rs[0].reason;
  const HostTiming& h = rs[0].host_timing;
  EXPECT_GE(h.calls, rs[0].time.samples);
  // The honest plugin times its own loop: its device time cannot exceed the harness's wall time.
  EXPECT_GT(h.device_s, 0);
  EXPECT_LE(h.device_s, h.wall_s * 1.001);
  EXPECT_FALSE(has_mark(rs[0], "timing"));
  const nlohmann::json j = result_to_json(rs[0]);
  EXPECT_EQ(j["host_timing"]["calls"], h.calls);
  EXPECT_TRUE(j.contains("host_probe"));
}

// Issue 13: a plugin that divides its device time by 10 is caught by the harness's own clock:
// marked, and left out of Rmax.
TEST(Runner, DeviceTimeTenTimesBelowWallTimeIsMarkedAndNotRated) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 64}])");
  setenv("SUANLI_TEST_TIME_DIVISOR", "10", 1);
  const std::vector<Result> rs = run_suite(s, {b.get()}, {});
  unsetenv("SUANLI_TEST_TIME_DIVISOR");
  ASSERT_EQ(rs[0].status, Status::ok) << rs[0].reason;  // the output is right; the time is not
  EXPECT_TRUE(has_mark(rs[0], "timing"));
  EXPECT_LT(rs[0].host_timing.device_over_wall(), 0.2);
  EXPECT_GE(rs[0].host_timing.call_wall_mean_s(), kTimingMinCallWall);
  EXPECT_LT(rated_rmax(s, *b, rs), 0);        // not in Rmax ...
  EXPECT_GT(rated_rmax(s, *b, rs, true), 0);  // ... unless marked results are asked for
  const nlohmann::json j = make_run_report(s, {b.get()}, {}, rs, RunMeta{});
  EXPECT_EQ(j["tally"]["timing"], 1);
  EXPECT_TRUE(validate_against_schema(j, "report.schema.json").empty());
}

TEST(Runner, ThroughputAboveTheTheoreticalPeakIsMarked) {
  Result r;
  r.op = parse_suite(R"({"suanli_suite": 1, "name": "t", "workloads": [{"op": "gemm",
                        "dtype": "fp32", "size": 8}]})",
                     "t.json")
             .workloads[0]
             .op;
  r.flops_per_second = 1.2e9;
  mark_result(r, 1e9);
  EXPECT_TRUE(has_mark(r, "above_peak"));
  Result fine = r;
  fine.marks.clear();
  fine.flops_per_second = 1.0e9;
  mark_result(fine, 1e9);
  EXPECT_TRUE(fine.marks.empty());
}

// Busy processes on every CPU (several each), started when timed sampling starts and stopped
// after the workload: a sustained slowdown that the host probe after the workload sees.
class Competitors {
 public:
  void start(int per_cpu) {
    const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    for (long i = 0; i < cpus * per_cpu; ++i) {
      const pid_t pid = fork();
      if (pid == 0)
        for (volatile uint64_t x = 0;; x = x + 1) {
        }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  void stop() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
    pids_.clear();
  }
  ~Competitors() { stop(); }

 private:
  std::vector<pid_t> pids_;
};

TEST(Runner, ResultDisturbedMidWorkloadIsMarkedAndNotRated) {
  auto b = test_plugin("good");
  const Suite s = small_suite(R"([{"op": "gemm", "dtype": "fp32", "size": 64}])",
                              R"({"min_time": 0.01, "repetitions": 3, "max_noise": 1.0,
                                  "max_time": 0.5, "warmup_time": 0})");
  Competitors busy;
  RunOptions o;
  // Eight busy processes per CPU: whatever else loads the machine, the harness's share of it
  // drops far below the 85% that marks.
  o.on_sampling = [&](bool on) {
    if (on) busy.start(8);
  };
  o.on_result = [&](const Result&) { busy.stop(); };
  const std::vector<Result> rs = run_suite(s, {b.get()}, o);
  ASSERT_EQ(rs[0].status, Status::ok) << rs[0].reason;
  EXPECT_TRUE(has_mark(rs[0], "slowdown"))
      << "probe before " << rs[0].probe.before << ", after " << rs[0].probe.after << ", reference "
      << rs[0].probe.reference;
  EXPECT_LT(rs[0].probe.after, rs[0].probe.reference);
  EXPECT_LT(rated_rmax(s, *b, rs), 0);
}

// The journal keeps the built-in peak probe's results apart from the suite's: a resume finds
// both (run_cmd.cpp reuses the probe's instead of running it again).
TEST(Journal, KeepsPeakProbeResultsApart) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("suanli_journal_probe_" + std::to_string(getpid())))
                               .string();
  std::filesystem::remove(path);
  Result suite_result, probe;
  suite_result.workload = "gemm.fp32.64x64x64";
  suite_result.backend = probe.backend = "cpu";
  suite_result.status = Status::unsupported;
  suite_result.reason = "test";
  probe.workload = "peak.fp32.16384x16384";
  probe.op.kind = OpKind::peak;
  probe.op.dtype = Dtype::fp32;
  probe.op.shape = PeakShape{16384, 16384};
  probe.status = Status::unsupported;
  probe.reason = "no peak";
  {
    Journal j = Journal::create(path, {{"cli", {{"suite", "s"}}}});
    j.append(suite_result);
    j.append_probe(probe);
  }
  const Journal resumed = Journal::resume(path);
  ASSERT_EQ(resumed.recorded().size(), 1u);
  EXPECT_EQ(resumed.recorded()[0].workload, suite_result.workload);
  ASSERT_EQ(resumed.recorded_probes().size(), 1u);
  EXPECT_EQ(resumed.recorded_probes()[0].workload, probe.workload);
  EXPECT_EQ(resumed.recorded_probes()[0].op.dtype, Dtype::fp32);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace suanli
