// Tests of the plugin loader: the real CPU plugin, and test plugins that break the contract in each
// way.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "harness/backend_host.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;

const LoadIssue* issue_for(const LoadResult& r, const std::string& file_part) {
  for (const LoadIssue& i : r.issues)
    if (i.path.find(file_part) != std::string::npos) return &i;
  return nullptr;
}

const Backend* backend_named(const LoadResult& r, const std::string& name) {
  for (const auto& b : r.backends)
    if (b->name() == name) return b.get();
  return nullptr;
}

TEST(Loader, EachBrokenPluginGetsItsReasonAndTheOthersLoad) {
  LoadOptions o;
  o.search = {SUANLI_TEST_PLUGIN_DIR};
  const LoadResult r = load_backends(o);

  const LoadIssue* abi = issue_for(r, "test_wrong_abi");
  ASSERT_NE(abi, nullptr);
  EXPECT_NE(abi->reason.find("ABI version mismatch"), std::string::npos) << abi->reason;

  const LoadIssue* entry = issue_for(r, "test_no_entry");
  ASSERT_NE(entry, nullptr);
  EXPECT_NE(entry->reason.find("suanli_backend_get"), std::string::npos) << entry->reason;

  const LoadIssue* create = issue_for(r, "test_create_fails");
  ASSERT_NE(create, nullptr);
  EXPECT_NE(create->reason.find("device is on fire"), std::string::npos) << create->reason;
  EXPECT_NE(create->reason.find("device error"), std::string::npos) << create->reason;

  const LoadIssue* zero = issue_for(r, "test_zero_devices");
  ASSERT_NE(zero, nullptr);
  EXPECT_NE(zero->reason.find("no devices"), std::string::npos) << zero->reason;

  // The healthy ones, and the zero-device one (loaded, nothing to run on), go on.
  ASSERT_NE(backend_named(r, "test_good"), nullptr);
  EXPECT_NE(backend_named(r, "test_errors"), nullptr);
  EXPECT_NE(backend_named(r, "test_wrong"), nullptr);
  ASSERT_NE(backend_named(r, "test_zero_devices"), nullptr);
  EXPECT_TRUE(backend_named(r, "test_zero_devices")->devices().empty());
  EXPECT_EQ(backend_named(r, "test_wrong_abi"), nullptr);

  const Backend* good = backend_named(r, "test_good");
  ASSERT_EQ(good->devices().size(), 1u);
  EXPECT_EQ(good->devices()[0].name, "test device");
  ASSERT_EQ(good->devices()[0].peaks.size(), 1u);
  EXPECT_EQ(good->devices()[0].peaks[0].dtype, Dtype::fp32);
}

TEST(Loader, MissingFileIsAClearError) {
  try {
    load_backend_file("/nonexistent/libsuanli_backend_x.so", {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load"), std::string::npos) << e.what();
  }
}

TEST(Loader, Duplicates) {
  const fs::path dir = fs::temp_directory_path() / "suanli_loader_dup";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(SUANLI_TEST_PLUGIN_DIR) / "libsuanli_backend_test_good.so",
                dir / "libsuanli_backend_test_good_copy.so");
  LoadOptions o;
  o.search = {std::string(SUANLI_TEST_PLUGIN_DIR) + "/libsuanli_backend_test_good.so",
              dir.string()};
  const LoadResult r = load_backends(o);
  ASSERT_EQ(r.backends.size(), 1u);
  const LoadIssue* dup = issue_for(r, "test_good_copy");
  ASSERT_NE(dup, nullptr);
  EXPECT_NE(dup->reason.find("duplicate backend 'test_good'"), std::string::npos) << dup->reason;
  fs::remove_all(dir);
}

TEST(Loader, OnlyFilterDoesNotOpenPluginsNamedOtherwise) {
  LoadOptions o;
  o.search = {SUANLI_TEST_PLUGIN_DIR};
  o.only = {"test_good"};
  const LoadResult r = load_backends(o);
  ASSERT_EQ(r.backends.size(), 1u);
  EXPECT_EQ(r.backends[0]->name(), "test_good");
  // The broken plugins in the same folder were never opened, so none of them is an issue.
  EXPECT_TRUE(r.issues.empty()) << r.issues[0].path << ": " << r.issues[0].reason;
}

TEST(Loader, EnvironmentPathComesFirst) {
  setenv("SUANLI_BACKEND_PATH", "/a/b:/c/d", 1);
  const std::vector<std::string> path = default_backend_search_path();
  unsetenv("SUANLI_BACKEND_PATH");
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], "/a/b");
  EXPECT_EQ(path[1], "/c/d");
}

TEST(Loader, RealCpuPluginDescribesTheHost) {
  LoadOptions o;
  o.search = {SUANLI_BACKEND_DIR};
  o.only = {"cpu"};
  o.create_options = {{"threads", "1"}};
  const LoadResult r = load_backends(o);
  const Backend* cpu = backend_named(r, "cpu");
  ASSERT_NE(cpu, nullptr) << (r.issues.empty() ? "" : r.issues[0].reason);
  ASSERT_EQ(cpu->devices().size(), 1u);
  const DeviceInfo& d = cpu->devices()[0];
  EXPECT_FALSE(d.name.empty());
  EXPECT_EQ(d.kind, "cpu");
  EXPECT_EQ(d.threads, 1);
  EXPECT_GT(d.memory_bytes, 0u);
  EXPECT_GT(d.clock_mhz, 100.0);
  ASSERT_NE(d.peak(Dtype::fp64), nullptr);
  ASSERT_NE(d.peak(Dtype::fp32), nullptr);
  EXPECT_GT(d.peak(Dtype::fp32)->ops_per_second, d.peak(Dtype::fp64)->ops_per_second);
  EXPECT_NE(d.peak(Dtype::fp32)->derivation.find("MHz"), std::string::npos);
  bool has_onednn = false;
  for (const auto& [k, v] : cpu->libraries()) has_onednn = has_onednn || k == "onednn";
  EXPECT_TRUE(has_onednn);
}

TEST(Loader, BadCreateOptionIsRefusedWithTheReason) {
  LoadOptions o;
  o.search = {SUANLI_BACKEND_DIR};
  o.create_options = {{"threads", "many"}};
  const LoadResult r = load_backends(o);
  EXPECT_EQ(backend_named(r, "cpu"), nullptr);
  const LoadIssue* i = issue_for(r, "libsuanli_backend_cpu");
  ASSERT_NE(i, nullptr);
  EXPECT_NE(i->reason.find("threads='many'"), std::string::npos) << i->reason;
}

}  // namespace
}  // namespace suanli
