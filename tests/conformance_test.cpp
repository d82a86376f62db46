// `suanli conformance`: the real cpu and opencl plugins pass every check; a deliberately broken
// plugin (tests/plugins/broken_backend.cpp) fails exactly the checks it should, its crash
// included, and the command's exit status says so.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <set>
#include <string>

#include "conformance/conformance.h"
#include "core/error.h"
#include "test_support.h"

namespace {

using suanli::conformance::Check;

std::string failures(const std::vector<Check>& checks) {
  std::string s;
  for (const Check& c : checks)
    if (!c.passed) s += c.name + ": " + c.reason + "\n";
  return s;
}

const Check* find(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks)
    if (c.name == name) return &c;
  return nullptr;
}

using Cli = suanli::test::CommandResult;
Cli run_cli(const std::string& args) { return suanli::test::run_suanli(args); }

TEST(Conformance, CpuPluginPassesEveryCheck) {
  suanli::conformance::Options o;
  o.plugin = std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cpu.so";
  o.create_options = {{"threads", "1"}};
  const std::vector<Check> checks = suanli::conformance::run(o);
  EXPECT_EQ(failures(checks), "");
  ASSERT_GT(checks.size(), 40u);
  // Real work was verified, not just declined.
  const Check* g = find(checks, "op.gemm.fp32.64x48x80[0]");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->reason.rfind("verified", 0), 0u) << g->reason;
  EXPECT_NE(find(checks, "destroy"), nullptr);
}

#if SUANLI_HAVE_OPENCL
TEST(Conformance, OpenclPluginPassesEveryCheck) {
  suanli::conformance::Options o;
  o.plugin = std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_opencl.so";
  o.create_options = {{"tune", "off"}, {"tune_cache", ""}};
  const std::vector<Check> checks = suanli::conformance::run(o);
  EXPECT_EQ(failures(checks), "");
  for (const char* name :
       {"op.gemm.fp32.64x48x80[0]", "op.gemm.fp64.2x7x9x11_TT[0]", "op.gemm.int8_u8s8.64x48x80[0]",
        "op.peak.fp32.4096x128[0]", "op.stream.fp64.triad_10007[0]"}) {
    const Check* c = find(checks, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->reason.rfind("verified", 0), 0u) << name << ": " << c->reason;
  }
  const Check* conv = find(checks, "op.conv2d.fp32.n1_c8_10x10_k16_3x3_p1[0]");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->reason.rfind("unsupported: ", 0), 0u) << conv->reason;
}
#endif

TEST(Conformance, BrokenPluginFailsExactlyTheChecksItShould) {
  suanli::conformance::Options o;
  o.plugin = SUANLI_BROKEN_PLUGIN;
  o.check_timeout_s = 30;
  const std::vector<Check> checks = suanli::conformance::run(o);
  std::set<std::string> failed;
  for (const Check& c : checks)
    if (!c.passed) failed.insert(c.name);
  const std::set<std::string> expected = {
      // wrong answers
      "op.gemm.fp32.64x48x80[0]", "op.gemm.fp32.33x17x29_TN[0]", "op.gemm.fp32.3x24x40x16_NT[0]",
      // UNSUPPORTED without a reason
      "op.peak.fp64.4096x128[0]", "op.peak.fp32.4096x128[0]", "op.peak.fp16.4096x128[0]",
      "op.peak.bf16.4096x128[0]", "op.peak.int8.4096x128[0]",
      // claims an op kind it cannot know
      "unsupported.unknown_kind[0]",
      // constant device time
      "timing[0]",
      // crashes on a too-small buffer
      "errors.small_buffer[0]",
      // claims ABI 1.2's linear-algebra ops (supports() says OK to kinds it does not know) and
      // cannot plan them
      "linalg.gemm_ex.fp64[0]", "linalg.getrf.fp64[0]", "linalg.laswp_trsm.fp64[0]"};
  EXPECT_EQ(failed, expected) << failures(checks);
  // The crash was caught and reported, and the checks after it still ran.
  const Check* crash = find(checks, "errors.small_buffer[0]");
  ASSERT_NE(crash, nullptr);
  EXPECT_NE(crash->reason.find("crashed"), std::string::npos) << crash->reason;
  EXPECT_NE(find(checks, "errors.bad_device[0]"), nullptr);
  EXPECT_NE(find(checks, "destroy"), nullptr);
  const Check* wrong = find(checks, "op.gemm.fp32.64x48x80[0]");
  EXPECT_NE(wrong->reason.find("wrong answer"), std::string::npos) << wrong->reason;
  // Right where it is right: fp64 gemm verified.
  const Check* f64 = find(checks, "op.gemm.fp64.64x48x80[0]");
  ASSERT_NE(f64, nullptr);
  EXPECT_TRUE(f64->passed) << f64->reason;
}

TEST(Conformance, CommandExitStatus) {
  const Cli bad = run_cli(std::string("conformance --backend ") + SUANLI_BROKEN_PLUGIN);
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("FAIL  errors.small_buffer[0]"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("failed: 14"), std::string::npos) << bad.out;
  const Cli good = run_cli("conformance --backend cpu --backend-option threads=1");
  EXPECT_EQ(good.status, 0) << good.out;
  EXPECT_NE(good.out.find("failed: 0"), std::string::npos) << good.out;
  const Cli missing = run_cli("conformance --backend /nonexistent/libsuanli_backend_x.so");
  EXPECT_EQ(missing.status, 2) << missing.out;
  EXPECT_NE(missing.out.find("no such plugin file"), std::string::npos) << missing.out;
}

}  // namespace
