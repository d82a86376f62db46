// End-to-end tests of a run that survives its plugins and its users: isolated backends (crash,
// abort, exit, hang), the journal and --resume, interrupts, bounded inputs, safe outputs, reports
// and ratings that defend themselves.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "conformance/conformance.h"
#include "core/error.h"
#include "core/text.h"
#include "report/report.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kPlugin = std::string(SUANLI_TEST_PLUGIN_DIR) + "/libsuanli_backend_test_good.so";

struct Outcome {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  double seconds = 0;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("suanli_robust_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Starts `suanli args` in `dir` with extra environment; stdout and stderr go to dir/NAME.out/.err.
pid_t spawn(const fs::path& dir, const std::string& name, const std::vector<std::string>& args,
            const std::vector<std::string>& env) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    const int o = open((name + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open((name + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    setenv("SUANLI_BACKEND_PATH", kPlugin.c_str(), 1);
    for (const std::string& kv : env) putenv(strdup(kv.c_str()));
    std::vector<char*> argv{const_cast<char*>(SUANLI_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SUANLI_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

Outcome finish(pid_t pid, const fs::path& dir, const std::string& name, Clock::time_point t0) {
  int st = 0;
  waitpid(pid, &st, 0);
  Outcome r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(dir / (name + ".out"));
  r.err = slurp(dir / (name + ".err"));
  return r;
}

Outcome suanli(const fs::path& dir, const std::vector<std::string>& args,
               const std::vector<std::string>& env = {}) {
  const auto t0 = Clock::now();
  return finish(spawn(dir, "cmd", args, env), dir, "cmd", t0);
}

// Three small gemms (m = 32, 48, 64) the test plugin runs in milliseconds.
fs::path tiny_suite(const fs::path& dir, int extra_m = 0) {
  std::string ms = "[32, 48, 64";
  if (extra_m) ms += ", " + std::to_string(extra_m);
  ms += "]";
  const fs::path p = dir / "tiny.json";
  write(
      p,
      R"({"suanli_suite": 1, "name": "tiny", "settings": {"min_time": 0.001, "repetitions": 2, "max_time": 0.05,
              "warmup_time": 0}, "workloads": [{"op": "gemm", "dtype": "fp32", "m": )" +
          ms + R"(, "n": 32, "k": 32}]})");
  return p;
}

std::vector<std::string> run_args(const fs::path& suite, const fs::path& out) {
  return {"run", "--suite", suite.string(), "--backend", "test_good", "--out", out.string(), "-q"};
}

const json* result_with_m(const json& report, int m) {
  for (const json& r : report["results"])
    if (r["shape"].value("m", 0) == m) return &r;
  return nullptr;
}

// --- isolation ---------------------------------------------------------------------------

void expect_fault_isolated(const std::string& fault, const std::string& expected) {
  const fs::path d = scratch("fault_" + fault);
  const Outcome r = suanli(d, run_args(tiny_suite(d), d / "r.json"),
                           {"SUANLI_TEST_FAULT=" + fault, "SUANLI_TEST_FAULT_M=48"});
  EXPECT_EQ(r.status, kExitFailed) << r.out << r.err;
  ASSERT_TRUE(fs::exists(d / "r.json")) << r.err;
  const json rep = json::parse(slurp(d / "r.json"));
  ASSERT_EQ(rep["results"].size(), 3u);
  for (int m : {32, 64}) EXPECT_EQ((*result_with_m(rep, m))["status"], "ok") << m;
  const json& bad = *result_with_m(rep, 48);
  EXPECT_EQ(bad["status"], "error");
  const std::string reason = bad.value("reason", "");
  EXPECT_NE(reason.find(expected), std::string::npos) << reason;
  EXPECT_NE(reason.find("gemm.fp32.48x32x32"), std::string::npos) << reason;
  EXPECT_FALSE(fs::exists(d / "r.json.journal")) << "the journal goes once the report is written";
}

TEST(Isolation, SegfaultInExecuteIsOneErrorResult) {
  expect_fault_isolated("segv", "SIGSEGV");
}
TEST(Isolation, AbortInExecuteIsOneErrorResult) {
  expect_fault_isolated("abort", "SIGABRT");
}
TEST(Isolation, BusErrorInExecuteIsOneErrorResult) {
  expect_fault_isolated("bus", "SIGBUS");
}
TEST(Isolation, ExitZeroInExecuteIsOneErrorResult) {
  expect_fault_isolated("exit0", "exit status 0");
}

TEST(Isolation, HungPluginIsKilledAtItsTimeout) {
  const fs::path d = scratch("hang");
  std::vector<std::string> args = run_args(tiny_suite(d), d / "r.json");
  args.insert(args.end(), {"--timeout", "2"});
  const Outcome r = suanli(d, args, {"SUANLI_TEST_FAULT=hang", "SUANLI_TEST_FAULT_M=48"});
  EXPECT_EQ(r.status, kExitFailed) << r.err;
  EXPECT_LT(r.seconds, 30);
  const json rep = json::parse(slurp(d / "r.json"));
  const std::string reason = (*result_with_m(rep, 48)).value("reason", "");
  EXPECT_NE(reason.find("timed out after 2 s"), std::string::npos) << reason;
  EXPECT_EQ((*result_with_m(rep, 64))["status"], "ok");
}

TEST(Isolation, CrashInCreateIsANoteForInfoAndRun) {
  const fs::path d = scratch("create");
  const Outcome info = suanli(d, {"info"}, {"SUANLI_TEST_FAULT=create_segv"});
  EXPECT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("SIGSEGV"), std::string::npos) << info.out;
  const Outcome run =
      suanli(d, run_args(tiny_suite(d), d / "r.json"), {"SUANLI_TEST_FAULT=create_segv"});
  EXPECT_EQ(run.status, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("SIGSEGV"), std::string::npos) << run.err;
}

TEST(Isolation, ZeroDevicesIsRefused) {
  const fs::path d = scratch("zero");
  const Outcome r = suanli(d,
                           {"run", "--suite", tiny_suite(d).string(), "--backend",
                            "test_zero_devices", "--out", (d / "r.json").string()},
                           {"SUANLI_BACKEND_PATH=" + std::string(SUANLI_TEST_PLUGIN_DIR) +
                            "/libsuanli_backend_test_zero_devices.so"});
  EXPECT_EQ(r.status, kExitUsage) << r.err;
  EXPECT_FALSE(fs::exists(d / "r.json"));
}

// --- certify through the same workers ------------------------------------------------------

// A key pair and a one-workload-per-m profile (m = 32, 48, 64) the test plugin sustains briefly.
std::vector<std::string> certify_args(const fs::path& d) {
  const Outcome k = suanli(d, {"keygen", "--out", (d / "keys").string()});
  EXPECT_EQ(k.status, 0) << k.err;
  write(d / "p.json",
        R"({"suanli_certify_profile": 1, "name": "tiny", "sustain_s": 0.2,
            "settings": {"min_time": 0.01, "repetitions": 3, "warmup_time": 0.01},
            "criteria": {"min_claim_fraction": 0.1, "max_cv": 1.0, "max_throttle_drop": 1.0},
            "workloads": [{"op": "gemm", "dtype": "fp32", "m": [32, 48, 64], "n": 32, "k": 32}]})");
  return {"certify",
          "--profile",
          (d / "p.json").string(),
          "--backend",
          "test_good",
          "--key",
          (d / "keys/suanli-certify.secret").string(),
          "--unofficial",
          "-q",
          "--out",
          (d / "c.json").string()};
}

// The certification finishes and writes its four files; the faulty run is an error naming how
// its worker ended, a FAIL of the certificate, and the others are ok; verify agrees.
void expect_certify_survives(const fs::path& d, const Outcome& r, const std::string& expected) {
  EXPECT_EQ(r.status, kExitFailed) << r.out << r.err;
  for (const char* f : {"c.json", "c.report.json", "c.md", "c.html"})
    ASSERT_TRUE(fs::exists(d / f)) << f << "\n" << r.err;
  const json rep = json::parse(slurp(d / "c.report.json"));
  ASSERT_EQ(rep["results"].size(), 3u);
  for (int m : {32, 64}) EXPECT_EQ((*result_with_m(rep, m))["status"], "ok") << m;
  const std::string reason = (*result_with_m(rep, 48)).value("reason", "");
  EXPECT_EQ((*result_with_m(rep, 48))["status"], "error");
  EXPECT_NE(reason.find(expected), std::string::npos) << reason;
  EXPECT_NE(reason.find("gemm.fp32.48x32x32"), std::string::npos) << reason;
  const json cert = json::parse(slurp(d / "c.json"));
  EXPECT_EQ(cert["verdict"], "FAIL");
  const Outcome v = suanli(
      d, {"verify", (d / "c.json").string(), "--pubkey", (d / "keys/suanli-certify.pub").string(),
          "--report", (d / "c.report.json").string()});
  EXPECT_EQ(v.status, kExitFailed) << v.out;
  EXPECT_NE(v.out.find("authentic: verdict FAIL"), std::string::npos) << v.out;
}

TEST(Isolation, CertifySurvivesASegfaultingPlugin) {
  const fs::path d = scratch("certify_segv");
  const Outcome r =
      suanli(d, certify_args(d), {"SUANLI_TEST_FAULT=segv", "SUANLI_TEST_FAULT_M=48"});
  expect_certify_survives(d, r, "signal 11 (SIGSEGV");
}

TEST(Isolation, CertifyKillsAHungPluginAtItsTimeout) {
  const fs::path d = scratch("certify_hang");
  std::vector<std::string> args = certify_args(d);
  args.insert(args.end(), {"--timeout", "2"});
  const Outcome r = suanli(d, args, {"SUANLI_TEST_FAULT=hang", "SUANLI_TEST_FAULT_M=48"});
  EXPECT_LT(r.seconds, 30);
  expect_certify_survives(d, r, "timed out after 2 s");
}

TEST(Isolation, CertifyInterruptedWritesNothing) {
  const fs::path d = scratch("certify_int");
  const auto t0 = Clock::now();
  const pid_t pid =
      spawn(d, "c", certify_args(d), {"SUANLI_TEST_FAULT=hang", "SUANLI_TEST_FAULT_M=48"});
  std::this_thread::sleep_for(std::chrono::seconds(2));  // inside the hung run by then
  kill(pid, SIGTERM);
  const Outcome r = finish(pid, d, "c", t0);
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_NE(r.err.find("interrupted by SIGTERM: nothing written"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "c.json"));
  EXPECT_FALSE(fs::exists(d / "c.report.json"));
}

// --- journal, interrupts, resume -----------------------------------------------------------

size_t journal_results(const fs::path& journal) {
  std::istringstream in(slurp(journal));
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) n += line.find("\"result\"") != std::string::npos;
  return n;
}

// Starts a run that hangs at its third workload and waits until two results are journaled.
pid_t start_and_wait_for_two(const fs::path& d, const std::string& name, Clock::time_point* t0) {
  *t0 = Clock::now();
  const pid_t pid = spawn(d, name, run_args(tiny_suite(d), d / "r.json"),
                          {"SUANLI_TEST_FAULT=hang", "SUANLI_TEST_FAULT_M=64"});
  for (int i = 0; i < 600 && journal_results(d / "r.json.journal") < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return pid;
}

TEST(Journal, SigintKeepsTheJournalAndSaysWhere) {
  const fs::path d = scratch("sigint");
  Clock::time_point t0;
  const pid_t pid = start_and_wait_for_two(d, "run", &t0);
  ASSERT_EQ(journal_results(d / "r.json.journal"), 2u);
  kill(pid, SIGINT);
  const Outcome r = finish(pid, d, "run", t0);
  EXPECT_EQ(r.status, 130) << r.err;
  EXPECT_NE(r.err.find("interrupted by SIGINT: 2 of 3 results kept in"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "r.json"));
  EXPECT_TRUE(fs::exists(d / "r.json.journal"));
}

TEST(Journal, SigkillThenResumeFinishesWithoutRedoing) {
  const fs::path d = scratch("resume");
  Clock::time_point t0;
  const pid_t pid = start_and_wait_for_two(d, "run", &t0);
  kill(pid, SIGKILL);  // the harness itself dies; its worker follows (PDEATHSIG)
  finish(pid, d, "run", t0);
  std::vector<json> before;
  {
    std::istringstream in(slurp(d / "r.json.journal"));
    std::string line;
    while (std::getline(in, line))
      if (line.find("\"result\"") != std::string::npos)
        before.push_back(json::parse(line)["result"]);
  }
  ASSERT_EQ(before.size(), 2u);
  const Outcome r = suanli(d, {"run", "--resume", (d / "r.json.journal").string(), "-q"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("2 results recorded, not run again"), std::string::npos) << r.err;
  const json rep = json::parse(slurp(d / "r.json"));
  ASSERT_EQ(rep["results"].size(), 3u);
  for (const json& b : before) {
    const json* now = result_with_m(rep, b["shape"]["m"].get<int>());
    ASSERT_NE(now, nullptr);
    EXPECT_EQ(*now, b) << "a journaled result is kept as it was, not measured again";
  }
  EXPECT_FALSE(fs::exists(d / "r.json.journal"));
}

TEST(Journal, ResumeRefusesAnotherSuite) {
  const fs::path d = scratch("resume_other");
  Clock::time_point t0;
  const pid_t pid = start_and_wait_for_two(d, "run", &t0);
  kill(pid, SIGKILL);
  finish(pid, d, "run", t0);
  tiny_suite(d, 80);  // the suite file changed since
  const Outcome r = suanli(d, {"run", "--resume", (d / "r.json.journal").string(), "-q"});
  EXPECT_EQ(r.status, kExitUsage) << r.err;
  EXPECT_NE(r.err.find("changed since the journal was written"), std::string::npos) << r.err;
}

// --- bounded inputs ------------------------------------------------------------------------

struct BadInput {
  std::string name, text, expected;
};

std::vector<BadInput> bad_inputs() {
  return {{"nested", std::string(70000, '[') + std::string(70000, ']'), "nested deeper than"},
          {"overflow", R"({"name": "x", "workloads": [{"op": "gemm", "size": 1e400}]})",
           "number out of range at /workloads/0/size"},
          {"duplicate", R"({"name": "x", "name": "y", "workloads": []})", "duplicate key"},
          {"syntax", "{\"name\": \"x\",\n", "bad:2:1: not valid JSON"}};
}

TEST(Inputs, EveryReaderRefusesBadJsonWithExitTwoQuickly) {
  const fs::path d = scratch("inputs");
  for (const BadInput& b : bad_inputs()) {
    const fs::path f = d / (b.name == "syntax" ? "bad" : b.name + ".json");
    write(f, b.text);
    const std::string p = f.string();
    const std::vector<std::vector<std::string>> commands = {
        {"run", "--suite", p, "--out", (d / "o.json").string()},
        {"list", "workloads", "--suite", p},
        {"rate", p},
        {"rate", "--inventory", p},
        {"rate", (d / "none.json").string(), "--claims", p},
        {"compare", p, p},
        {"verify", p, "--pubkey", p},
        {"certify", "--profile", p, "--key", p, "--unofficial"}};
    for (const auto& args : commands) {
      const Outcome r = suanli(d, args);
      const std::string what = b.name + ": " + args[0] + " " + args[1];
      EXPECT_EQ(r.status, kExitUsage) << what << "\n" << r.err;
      EXPECT_LT(r.seconds, 2.0) << what;
      EXPECT_NE(r.err.find(p), std::string::npos) << what << "\n" << r.err;
      if (args[0] == "run" || args[0] == "rate" || args[0] == "compare")
        EXPECT_NE(r.err.find(b.expected), std::string::npos) << what << "\n" << r.err;
    }
  }
}

TEST(Inputs, OversizedAndEndlessInputsAreRefused) {
  const fs::path d = scratch("big");
  {
    std::ofstream f(d / "big.json");
    f << "[";
    const std::string chunk(1 << 20, ' ');
    for (int i = 0; i < 40; ++i) f << chunk;
    f << "]";
  }
  Outcome r = suanli(d, {"rate", (d / "big.json").string()});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("MiB"), std::string::npos) << r.err;
  r = suanli(d, {"rate", "/dev/zero"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("/dev/zero"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 5);
}

TEST(Inputs, ExplodingSuiteIsRefusedBeforeExpanding) {
  const fs::path d = scratch("explode");
  std::string values = "[";
  for (int i = 1; i <= 1000; ++i) values += std::to_string(i) + (i < 1000 ? "," : "]");
  write(d / "s.json", R"({"suanli_suite": 1, "name": "x", "workloads": [{"op": "gemm", "m": )" +
                          values + ", \"n\": " + values + ", \"k\": " + values + "}]}");
  const Outcome r = suanli(d, {"list", "workloads", "--suite", (d / "s.json").string()});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_LT(r.seconds, 2.0);
  EXPECT_NE(r.err.find("1000000000"), std::string::npos) << r.err;
}

// The bar on bad inputs: every command that reads a JSON file refuses a deeply nested, an
// oversized, an endless (/dev/zero), an out-of-range (1e400) and an exploding-suite input with
// exit 2, naming the file,
// within a second of CPU time and under 100 MB of memory.
struct Measured {
  Outcome outcome;
  long max_rss_kb = 0;
  double cpu_s = 0;  // user + system
};

Measured suanli_measured(const fs::path& dir, const std::vector<std::string>& args) {
  const auto t0 = Clock::now();
  const pid_t pid = spawn(dir, "cmd", args, {});
  int st = 0;
  struct rusage ru {};
  wait4(pid, &st, 0, &ru);
  Measured m;
  m.outcome.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  m.outcome.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  m.outcome.err = slurp(dir / "cmd.err");
  m.max_rss_kb = ru.ru_maxrss;
  m.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  return m;
}

// name -> file text of each bad kind (the oversized one is 33 MiB, past the 32 MiB limit).
std::vector<std::pair<std::string, std::string>> bounded_inputs() {
  std::string values = "[";
  for (int i = 1; i <= 1000; ++i) values += std::to_string(i) + (i < 1000 ? "," : "]");
  return {{"nested", std::string(70000, '[') + std::string(70000, ']')},
          {"overflow", R"({"suanli_suite": 1, "name": "x", "size": 1e400})"},
          {"oversized", "[" + std::string(33u << 20, ' ') + "]"},
          {"exploding", R"({"suanli_suite": 1, "name": "x", "workloads": [{"op": "gemm", "m": )" +
                            values + ", \"n\": " + values + ", \"k\": " + values + "}]}"}};
}

// Every command and option that reads a JSON file, with F in the place of the file.
std::vector<std::vector<std::string>> reading_commands(const fs::path& d) {
  const std::string report =
      std::string(SUANLI_SOURCE_DIR) + "/reports/examples/report-cpu-quick.json";
  const std::string cert =
      std::string(SUANLI_SOURCE_DIR) + "/fuzz/corpus/certificate/pass-test-plugin.json";
  const std::string key = (d / "keys/suanli-certify.secret").string();
  const std::string pub = (d / "keys/suanli-certify.pub").string();
  const std::string out = (d / "o.json").string();
  return {{"run", "--suite", "F", "--out", out},
          {"run", "--suite", (d / "model_suite.json").string(), "--out", out},
          {"run", "--resume", "F"},
          {"run", "--suite", tiny_suite(d).string(), "--sign-key", "F", "--out", out},
          {"list", "workloads", "--suite", "F"},
          {"rate", "F"},
          {"rate", "--inventory", "F"},
          {"rate", report, "--claims", "F"},
          {"rate", report, "--total", "factors:F"},
          {"rate", report, "--require-signed", "F"},
          {"compare", "F", report},
          {"compare", report, "F"},
          {"verify", "F", "--pubkey", pub},
          {"verify", cert, "--pubkey", "F"},
          {"verify", cert, "--pubkey", pub, "--report", "F"},
          {"certify", "--profile", "F", "--key", key, "--unofficial"},
          {"certify", "--profile", "quick", "--key", "F", "--unofficial"},
          {"certify", "--profile", "quick", "--key", key, "--claims", "F", "--unofficial"},
          {"export", "F", "--format", "csv"},
          {"diagnose", "F"}};
}

TEST(Inputs, EveryReaderRefusesBadInputsFastAndSmall) {
  const fs::path d = scratch("bounded");
  ASSERT_EQ(suanli(d, {"keygen", "--out", (d / "keys").string()}).status, 0);
  double max_s = 0, max_cpu = 0;
  long max_kb = 0;
  std::string slowest, busiest, largest;
  std::vector<std::pair<std::string, std::string>> kinds = bounded_inputs();
  kinds.emplace_back("endless", "");
  for (const auto& [kind, text] : kinds) {
    const fs::path f = kind == "endless" ? fs::path("/dev/zero") : d / (kind + ".json");
    if (kind != "endless") {
      write(f, text);
      fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write);  // a key's mode
    }
    write(d / "model_suite.json",
          R"({"suanli_suite": 1, "name": "m", "workloads": [{"op": "model", "model": ")" +
              f.string() + R"(", "dtype": "fp32", "batch": 1}]})");
    for (std::vector<std::string> args : reading_commands(d)) {
      std::string what = kind + ":";
      for (std::string& a : args) {
        if (a == "F") a = f.string();
        if (a.rfind("factors:F", 0) == 0) a = "factors:" + f.string();
        what += " " + fs::path(a).filename().string();
      }
      const Measured m = suanli_measured(d, args);
      EXPECT_EQ(m.outcome.status, kExitUsage) << what << "\n" << m.outcome.err;
      EXPECT_NE(m.outcome.err.find(f.string()), std::string::npos) << what << "\n" << m.outcome.err;
      // A second of CPU time; the wall clock only as a guard against a hang (the machines that
      // run the tests are shared, and wall time there says more about the neighbours).
      EXPECT_LT(m.cpu_s, 1.0) << what;
      EXPECT_LT(m.outcome.seconds, 10.0) << what;
      EXPECT_LT(m.max_rss_kb, 100 * 1024) << what;
      if (m.outcome.seconds > max_s) max_s = m.outcome.seconds, slowest = what;
      if (m.cpu_s > max_cpu) max_cpu = m.cpu_s, busiest = what;
      if (m.max_rss_kb > max_kb) max_kb = m.max_rss_kb, largest = what;
    }
  }
  std::printf("slowest refusal %.3f s wall (%s); most CPU %.3f s (%s); largest %ld KiB (%s)\n",
              max_s, slowest.c_str(), max_cpu, busiest.c_str(), max_kb, largest.c_str());
}

TEST(Inputs, ThreadsBeyondTheCpusAreRefused) {
  const fs::path d = scratch("threads");
  const Outcome r = suanli(d, {"info", "--threads", "4096"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("CPUs"), std::string::npos) << r.err;
}

// --- safe outputs --------------------------------------------------------------------------

TEST(Outputs, BadOutputPathsFailBeforeAnyWork) {
  const fs::path d = scratch("outputs");
  const fs::path s = tiny_suite(d);
  for (const std::string& out :
       {std::string("/nonexistent/dir/x.json"), d.string(), s.string(), std::string("/dev/null")}) {
    const Outcome r = suanli(d, run_args(s, out));
    EXPECT_EQ(r.status, kExitUsage) << out << "\n" << r.err;
    EXPECT_LT(r.seconds, 1.0) << out;
    EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
  }
  EXPECT_EQ(json::parse(slurp(s))["name"], "tiny") << "the suite is intact";
}

TEST(Outputs, InputIsNeverItsOwnOutputAndModesAreKept) {
  const fs::path d = scratch("inout");
  Outcome r = suanli(d, run_args(tiny_suite(d), d / "r.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string before = slurp(d / "r.json");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"rate", "r.json", "-o", "r.json"},
           {"compare", "r.json", "r.json", "-o", "r.json"},
           {"rate", "r.json", "-o", "./r.json", "--format", "json"}}) {
    r = suanli(d, args);
    EXPECT_EQ(r.status, kExitUsage) << args[0] << r.err;
    EXPECT_NE(r.err.find("same file as the input"), std::string::npos) << r.err;
  }
  EXPECT_EQ(slurp(d / "r.json"), before);
  write(d / "rating.md", "old");
  chmod((d / "rating.md").c_str(), 0600);
  r = suanli(d, {"compare", "r.json", "r.json", "-o", "rating.md"});
  ASSERT_EQ(r.status, 0) << r.err;
  struct stat st {};
  stat((d / "rating.md").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a replaced output keeps its mode";
}

TEST(Outputs, ThreeRunsInOneSecondLeaveThreeReports) {
  const fs::path d = scratch("three");
  const fs::path s = tiny_suite(d);
  std::vector<pid_t> pids;
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i)
    pids.push_back(spawn(d, "run" + std::to_string(i),
                         {"run", "--suite", s.string(), "--backend", "test_good", "-q"}, {}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(finish(pids[i], d, "run" + std::to_string(i), t0).status, 0);
  size_t reports = 0;
  for (const auto& e : fs::directory_iterator(d / "suanli-reports"))
    reports += e.path().extension() == ".json";
  EXPECT_EQ(reports, 3u);
}

TEST(Outputs, ConcurrentKeygensLeaveOneMatchingPairInA0700Directory) {
  const fs::path d = scratch("keygen");
  const mode_t old = umask(0);
  std::vector<pid_t> pids;
  const auto t0 = Clock::now();
  for (int i = 0; i < 6; ++i)
    pids.push_back(spawn(d, "k" + std::to_string(i), {"keygen", "--out", "keys"}, {}));
  int winners = 0;
  for (int i = 0; i < 6; ++i)
    winners += finish(pids[i], d, "k" + std::to_string(i), t0).status == 0;
  umask(old);
  EXPECT_EQ(winners, 1);
  struct stat st {};
  stat((d / "keys").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const json sec = json::parse(slurp(d / "keys/suanli-certify.secret"));
  const json pub = json::parse(slurp(d / "keys/suanli-certify.pub"));
  EXPECT_EQ(sec["public_key"], pub["public_key"]) << "the pair belongs together";
}

// --- reports and ratings that defend themselves --------------------------------------------

TEST(Defend, RateRefusesAbovePeakDuplicatesAndUnsignedReports) {
  const fs::path d = scratch("defend");
  Outcome r = suanli(d, {"keygen", "--out", "keys"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The real CPU backend: the test plugin's decreed 1 GFLOP/s peak is below what it measures.
  const std::vector<std::string> cpu = {"SUANLI_BACKEND_PATH=" + std::string(SUANLI_BACKEND_DIR) +
                                        "/libsuanli_backend_cpu.so"};
  r = suanli(d,
             {"run", "--suite", tiny_suite(d).string(), "--backend", "cpu", "--threads", "1",
              "--out", "r.json", "-q", "--sign-key", "keys/suanli-certify.secret"},
             cpu);
  ASSERT_EQ(r.status, 0) << r.err;
  r = suanli(d, {"rate", "r.json", "--require-signed", "keys/suanli-certify.pub"});
  EXPECT_EQ(r.status, 0) << r.err;

  fs::copy_file(d / "r.json", d / "copy.json");
  r = suanli(d, {"rate", "r.json", "copy.json"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("are the same report"), std::string::npos) << r.err;

  json edited = json::parse(slurp(d / "r.json"));
  edited["results"][0]["flops_per_second"] = 1e308;
  seal_report(edited);  // resealed: the hash alone has no key
  write(d / "edited.json", edited.dump());
  r = suanli(d, {"rate", "edited.json"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("peak"), std::string::npos) << r.err;
  edited["results"][0]["flops_per_second"] = 1e3;
  seal_report(edited);
  write(d / "edited.json", edited.dump());
  r = suanli(d, {"rate", "edited.json", "--require-signed", "keys/suanli-certify.pub"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("does not verify"), std::string::npos) << r.err;

  const std::string device = json::parse(slurp(d / "r.json"))["backends"][0]["devices"][0]["name"];
  write(d / "claims.json", R"({"suanli_claims": 1, "vendor": "v", "claims": [
    {"device": ")" + device + R"(", "dtype": "fp32", "flops_per_second": 1e12, "source": "a"},
    {"device": ")" + device + R"(", "dtype": "fp32", "flops_per_second": 2e12, "source": "b"}]})");
  r = suanli(d, {"rate", "r.json", "--claims", "claims.json"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_NE(r.err.find("claimed twice"), std::string::npos) << r.err;
}

TEST(Defend, CompareOfReportsWithNothingInCommonFails) {
  const fs::path d = scratch("compare");
  ASSERT_EQ(suanli(d, run_args(tiny_suite(d), d / "a.json")).status, 0);
  ASSERT_EQ(suanli(d, run_args(tiny_suite(d, 80), d / "b.json")).status, 0);
  json b = json::parse(slurp(d / "b.json"));
  json only;
  for (const json& r : b["results"])
    if (r["shape"]["m"] == 80) only.push_back(r);
  b["results"] = only;
  seal_report(b);
  write(d / "b.json", b.dump());
  const Outcome r = suanli(d, {"compare", "a.json", "b.json"});
  EXPECT_EQ(r.status, kExitUsage) << r.out << r.err;
  EXPECT_NE(r.err.find("share no workload"), std::string::npos) << r.err;
}

TEST(Defend, ConformanceRunsEveryCheckSoAWrongAnswerIsCaughtByName) {
  auto failed = [](const std::string& plugin) {
    conformance::Options o;
    o.plugin = std::string(SUANLI_TEST_PLUGIN_DIR) + "/libsuanli_backend_" + plugin + ".so";
    o.check_timeout_s = 60;
    std::set<std::string> names;
    for (const conformance::Check& c : conformance::run(o))
      if (!c.passed) names.insert(c.name);
    return names;
  };
  const std::set<std::string> good = failed("test_good"), wrong = failed("test_wrong");
  EXPECT_TRUE(good.count("abi.version")) << "the test plugins accept any ABI major";
  EXPECT_FALSE(good.count("op.gemm.fp32.64x48x80[0]"));
  EXPECT_TRUE(wrong.count("op.gemm.fp32.64x48x80[0]")) << "checks went on after abi.version";
  EXPECT_NE(good, wrong);
}

TEST(Text, ControlCharactersAndHtmlAreDefused) {
  EXPECT_EQ(strip_control("dev\x1b[31mred\r"), "dev?[31mred?");
  EXPECT_EQ(markdown_cell_escape("<b>x|y</b>"), "&lt;b&gt;x\\|y&lt;/b&gt;");
}

}  // namespace
}  // namespace suanli
