// End to end: `suanli keygen`, `suanli certify` on the CPU backend and `suanli verify`, with
// their exit statuses, files and refusals.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "report/report.h"
#include "test_support.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using Outcome = test::CommandResult;

Outcome run(const std::string& args) { return test::run_suanli(args); }

json read(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

class CertifyCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("suanli_certify_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Outcome k = run("keygen --out " + (dir_ / "keys").string());
    ASSERT_EQ(k.status, 0) << k.out;
  }
  static std::string secret() { return (dir_ / "keys" / "suanli-certify.secret").string(); }
  static std::string pub() { return (dir_ / "keys" / "suanli-certify.pub").string(); }
  static fs::path dir_;
};
fs::path CertifyCli::dir_;

TEST_F(CertifyCli, KeygenWritesAPrivateSecretKeyAndNeverOverwrites) {
  struct stat st {};
  ASSERT_EQ(stat(secret().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const Outcome again = run("keygen --out " + (dir_ / "keys").string());
  EXPECT_EQ(again.status, kExitUsage) << again.out;
  EXPECT_NE(again.out.find("never overwrites"), std::string::npos) << again.out;
}

TEST_F(CertifyCli, QuickProfileCertifiesAndVerifies) {
  const fs::path cert = dir_ / "quick.json";
  const Outcome c = run("certify --profile quick --backend cpu --unofficial --key " + secret() +
                        " --out " + cert.string());
  ASSERT_TRUE(c.status == 0 || c.status == 1) << c.out;  // PASS or FAIL: both are results
  EXPECT_NE(c.out.find("suanli certificate:"), std::string::npos) << c.out;
  for (const char* f : {"quick.json", "quick.report.json", "quick.md", "quick.html"})
    EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  const json j = read(cert);
  EXPECT_EQ(j["verdict"], c.status == 0 ? "PASS" : "FAIL");
  EXPECT_FALSE(j["claims_evaluated"].get<bool>());
  EXPECT_EQ(j["devices"][0]["backend"], "cpu");
  EXPECT_EQ(j["suanli"]["binary_sha256"].get<std::string>().size(), 64u);
  const json report = read(dir_ / "quick.report.json");
  EXPECT_EQ(report["sha256"], j["report"]["sha256"]);
  EXPECT_EQ(report["suite"]["settings"]["seed"], j["seed"]);

  const Outcome v = run("verify " + cert.string() + " --pubkey " + pub() + " --report " +
                        (dir_ / "quick.report.json").string());
  // An authentic PASS that is UNOFFICIAL has an exit status of its own (4).
  const int expected = c.status != 0 ? 1 : j["official"].get<bool>() ? 0 : 4;
  EXPECT_EQ(v.status, expected) << v.out;
  EXPECT_NE(v.out.find("authentic: verdict"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("every criterion re-derived from the report"), std::string::npos) << v.out;

  // A report edited after the fact (one sample, hash recomputed) no longer matches.
  json edited = report;
  for (json& r : edited["results"])
    if (r.contains("samples_s")) {
      r["samples_s"][0] = r["samples_s"][0].get<double>() * 0.5;
      break;
    }
  seal_report(edited);
  write(dir_ / "edited.report.json", edited.dump());
  const Outcome e = run("verify " + cert.string() + " --pubkey " + pub() + " --report " +
                        (dir_ / "edited.report.json").string());
  EXPECT_EQ(e.status, 3) << e.out;
  EXPECT_NE(e.out.find("NOT AUTHENTIC"), std::string::npos) << e.out;

  // Another key: not authentic.
  const Outcome k2 = run("keygen --out " + (dir_ / "other").string());
  ASSERT_EQ(k2.status, 0);
  const Outcome w = run("verify " + cert.string() + " --pubkey " +
                        (dir_ / "other" / "suanli-certify.pub").string());
  EXPECT_EQ(w.status, 3) << w.out;
}

TEST_F(CertifyCli, ImpossibleProfileGivesASignedFailThatVerifies) {
  const json profile = {
      {"suanli_certify_profile", 1},
      {"name", "impossible"},
      {"settings", {{"min_time", 0.01}, {"repetitions", 3}, {"warmup_time", 0.01}}},
      {"sustain_s", 0.2},
      {"criteria", {{"min_claim_fraction", 1000.0}, {"max_cv", 0.0}, {"max_throttle_drop", 0.0}}},
      {"workloads", {{{"op", "gemm"}, {"dtype", "fp32"}, {"size", 256}, {"against_claim", true}}}}};
  write(dir_ / "impossible.json", profile.dump());
  // A claims file naming this CPU: its model, as the backend reports it.
  const Outcome info = run("info --json --backend cpu");
  ASSERT_EQ(info.status, 0) << info.out;
  const std::string model = json::parse(info.out)["backends"][0]["devices"][0]["name"];
  const json claims = {
      {"suanli_claims", 1},
      {"claims",
       {{{"device", model}, {"dtype", "fp32"}, {"flops_per_second", 1e11}, {"source", "test"}}}}};
  write(dir_ / "claims.json", claims.dump());

  // A profile that is not shipped is refused unless --unofficial.
  const std::string base = "certify --profile " + (dir_ / "impossible.json").string() +
                           " --backend cpu --claims " + (dir_ / "claims.json").string() +
                           " --key " + secret() + " --out " + (dir_ / "imp.json").string();
  const Outcome refused = run(base);
  EXPECT_EQ(refused.status, kExitUsage) << refused.out;
  EXPECT_NE(refused.out.find("--unofficial"), std::string::npos) << refused.out;
  EXPECT_FALSE(fs::exists(dir_ / "imp.json"));

  const Outcome c = run(base + " --unofficial");
  ASSERT_EQ(c.status, 1) << c.out;
  EXPECT_NE(c.out.find("FAIL"), std::string::npos);
  EXPECT_NE(c.out.find("claim_fraction"), std::string::npos) << c.out;
  const json cert = read(dir_ / "imp.json");
  EXPECT_EQ(cert["verdict"], "FAIL");
  EXPECT_TRUE(cert["claims_evaluated"].get<bool>());
  EXPECT_FALSE(cert["official"].get<bool>());
  const Outcome v = run("verify " + (dir_ / "imp.json").string() + " --pubkey " + pub() +
                        " --report " + (dir_ / "imp.report.json").string());
  EXPECT_EQ(v.status, 1) << v.out;
  EXPECT_NE(v.out.find("authentic: verdict FAIL (UNOFFICIAL)"), std::string::npos) << v.out;
}

TEST_F(CertifyCli, BadInputExitsTwoWithTheFileNamed) {
  write(dir_ / "trunc.json", "{\"suanli_certificate\": 1, \"criteria\": [");
  const Outcome t = run("verify " + (dir_ / "trunc.json").string() + " --pubkey " + pub());
  EXPECT_EQ(t.status, kExitUsage) << t.out;
  EXPECT_NE(t.out.find("trunc.json"), std::string::npos) << t.out;
  write(dir_ / "notcert.json", "{\"hello\": 1}");
  const Outcome n = run("verify " + (dir_ / "notcert.json").string() + " --pubkey " + pub());
  EXPECT_EQ(n.status, kExitUsage) << n.out;
  EXPECT_NE(n.out.find("not a valid certificate"), std::string::npos) << n.out;
  const Outcome p = run("certify --profile nosuch --key " + secret());
  EXPECT_EQ(p.status, kExitUsage) << p.out;
  const Outcome k = run("certify --profile quick --key " + pub());
  EXPECT_EQ(k.status, kExitUsage) << k.out;
  for (const char* sub : {"certify", "keygen", "verify"}) {
    const Outcome h = run(std::string(sub) + " --help");
    EXPECT_EQ(h.status, 0) << sub;
  }
}

}  // namespace
}  // namespace suanli
