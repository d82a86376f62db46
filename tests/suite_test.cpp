// Tests of src/suite: parsing, schema validation with located errors, axis expansion, built-in
// suites.
#include <gtest/gtest.h>

#include <initializer_list>
#include <set>
#include <string>

#include "core/error.h"
#include "suite/suite.h"

namespace suanli {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_suite(text, "my.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Suite, ExpandsAxesIntoTheCartesianProduct) {
  const Suite s = parse_suite(R"({"suanli_suite": 1, "name": "t", "workloads": [
      {"op": "gemm", "dtype": ["fp32", "bf16"], "size": [64, 128, 256]},
      {"op": "stream", "kind": ["copy", "triad"], "n": 1024, "dtype": "fp64"}]})",
                              "t.json");
  ASSERT_EQ(s.workloads.size(), 8u);
  EXPECT_EQ(s.workloads[0].id, "gemm.fp32.64x64x64");
  EXPECT_EQ(s.workloads[5].id, "gemm.bf16.256x256x256");
  EXPECT_EQ(s.workloads[7].op.stream().kind, StreamKind::triad);
  EXPECT_EQ(s.sha256.size(), 64u);
}

TEST(Suite, SettingsCascade) {
  const Suite s = parse_suite(R"({"suanli_suite": 1, "name": "t",
      "settings": {"min_time": 0.5, "repetitions": 7, "seed": 9},
      "workloads": [{"op": "gemm", "size": 8, "repetitions": 2},
                    {"op": "gemm", "size": 16}]})",
                              "t.json");
  EXPECT_EQ(s.workloads[0].settings.repetitions, 2);
  EXPECT_EQ(s.workloads[0].settings.min_time, 0.5);
  EXPECT_EQ(s.workloads[1].settings.repetitions, 7);
  EXPECT_EQ(s.workloads[1].settings.seed, 9u);
}

TEST(Suite, ConvPairsAndDerivedShape) {
  const Suite s = parse_suite(R"({"suanli_suite": 1, "name": "t", "workloads": [
      {"op": "conv2d", "c": 3, "h": 224, "w": 224, "k": 64, "r": 7, "s": 7,
       "stride": [2, 2], "pad": 3}]})",
                              "t.json");
  const Conv2dShape& c = s.workloads[0].op.conv2d();
  EXPECT_EQ(c.stride_h, 2);
  EXPECT_EQ(c.pad_w, 3);
  EXPECT_EQ(c.p(), 112);
}

TEST(Suite, BadJsonNamesFileLineAndColumn) {
  const std::string e = error_of("{\"suanli_suite\": 1,\n  \"name\": \"t\",,\n}");
  EXPECT_NE(e.find("my.json:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
}

TEST(Suite, UnknownOpNamesThePath) {
  const std::string e =
      error_of(R"({"suanli_suite": 1, "name": "t", "workloads": [{"op": "gemm", "size": 8},
                  {"op": "gemv", "size": 8}]})");
  EXPECT_NE(e.find("my.json"), std::string::npos) << e;
  EXPECT_NE(e.find("/workloads/1/op"), std::string::npos) << e;
}

// A suite with one workload entry (or a whole document when `entry` starts with "{\"suanli"):
// the error must name every one of `expected`.
void expect_error_naming(const std::string& entry, std::initializer_list<const char*> expected) {
  const std::string text =
      entry.rfind("{\"suanli", 0) == 0
          ? entry
          : R"({"suanli_suite": 1, "name": "t", "workloads": [)" + entry + "]}";
  const std::string e = error_of(text);
  for (const char* part : expected) EXPECT_NE(e.find(part), std::string::npos) << part << ": " << e;
}

TEST(Suite, BadEntriesAreNamedWithTheirPath) {
  expect_error_naming(R"({"op": "gemm", "size": 8, "dtype": ["fp32", "fp128"]})",
                      {"/workloads/0/dtype"});
  expect_error_naming(R"({"op": "gemm", "m": -4, "n": 8, "k": 8})", {"/workloads/0/m"});
  expect_error_naming(R"({"op": "gemm", "sizes": 8})", {"/workloads/0"});  // misspelled field
  expect_error_naming(R"({"op": "conv2d", "c": 3, "h": 8, "w": 8, "k": 4, "r": 3})",
                      {"/workloads/0", "'s'"});  // a missing shape field
  expect_error_naming(R"({"op": "peak", "elements": 1000, "depth": 64})", {"multiple of 4096"});
  expect_error_naming(
      R"({"suanli_suite": 2, "name": "t", "workloads": [{"op": "gemm", "size": 8}]})",
      {"/suanli_suite"});  // a version this suanli does not read
}

TEST(Suite, BuiltinSuitesParseAndQuickCoversEveryOpAndDtype) {
  const auto list = builtin_suite_list();
  ASSERT_GE(list.size(), 3u);
  const Suite quick = load_suite("quick");
  std::set<std::string> seen;
  for (const Workload& w : quick.workloads)
    seen.insert(std::string(op_kind_name(w.op.kind)) + "/" + std::string(dtype_name(w.op.dtype)));
  for (const char* want : {"gemm/fp64", "gemm/fp32", "gemm/bf16", "gemm/fp16", "gemm/int8",
                           "conv2d/fp32", "conv2d/bf16", "conv2d/int8", "peak/fp64", "peak/fp32",
                           "peak/bf16", "peak/int8", "stream/fp64"})
    EXPECT_TRUE(seen.count(want)) << want;
  EXPECT_NO_THROW(load_suite("standard"));
  EXPECT_NO_THROW(load_suite("kernels"));
  // Training steps: a tiny one in quick, ResNet-50 at batch 16 in models.
  bool tiny_training = false;
  for (const Workload& w : quick.workloads)
    tiny_training |= w.model_training && w.model == "resnet_tiny";
  EXPECT_TRUE(tiny_training);
  bool r50_training = false;
  for (const Workload& w : load_suite("models").workloads)
    r50_training |= w.id == "resnet50.fp32.batch16.training" && w.model_training;
  EXPECT_TRUE(r50_training);
}

TEST(Suite, UnknownBuiltinListsTheKnownOnes) {
  try {
    load_suite("qiuck");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("quick"), std::string::npos) << e.what();
  }
}

TEST(Suite, DtypeFilter) {
  Suite s = load_suite("quick");
  filter_dtypes(s, {Dtype::bf16});
  ASSERT_FALSE(s.workloads.empty());
  for (const Workload& w : s.workloads) EXPECT_EQ(w.op.dtype, Dtype::bf16);
}

}  // namespace
}  // namespace suanli
