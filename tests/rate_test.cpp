// Tests of src/rate: ratings from reports/examples/ and from accelerator reports built here on
// top of it, checked against figures computed by hand from the inputs.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "rate/rating.h"
#include "rate/render.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "scratch_dir.h"

namespace suanli::rate {
namespace {

using nlohmann::json;

const std::string kExample =
    std::string(SUANLI_SOURCE_DIR) + "/reports/examples/report-cpu-quick.json";
const std::string kClaims =
    std::string(SUANLI_SOURCE_DIR) + "/reports/examples/claims-h100-sxm.json";

// A scratch folder per test program run.
using test_files::scratch;
using test_files::write;

json example() {
  return read_json_file(kExample);
}

// Best verified (status ok, verification passed) GEMM flops_per_second of a dtype, by hand.
double best_gemm(const json& report, const std::string& dtype) {
  double best = -1;
  for (const json& r : report["results"])
    if (r["op"] == "gemm" && r["dtype"] == dtype && r["status"] == "ok" &&
        r["verification"]["passed"] == true)
      best = std::max(best, r["flops_per_second"].get<double>());
  return best;
}

double device_peak(const json& report, const std::string& dtype) {
  for (const json& p : report["backends"][0]["devices"][0]["peaks"])
    if (p["dtype"] == dtype) return p["ops_per_second"].get<double>();
  return -1;
}

json ok_result(const std::string& op, const std::string& dtype, int device, double rate,
               const std::string& workload, double power_w = -1) {
  const double flops = 2.0 * 4096 * 4096 * 4096;
  const double t = flops / rate;
  json r = {{"workload", workload},
            {"name", op},
            {"op", op},
            {"dtype", dtype},
            {"shape", op == "stream" ? json{{"kind", "triad"}, {"n", 1 << 28}}
                                     : json{{"m", 4096}, {"n", 4096}, {"k", 4096}, {"batch", 1}}},
            {"shape_text", "4096x4096x4096"},
            {"backend", "cuda"},
            {"device", device},
            {"status", "ok"},
            {"flops", op == "stream" ? 0.0 : flops},
            {"bytes", 3.0 * 4096 * 4096 * 2},
            {"library", "synthetic test fixture"},
            {"implementation", "synthetic"},
            {"iterations", 10},
            {"iterations_per_sample", 1},
            {"samples_s", {t, t, t}},
            {"time_s",
             {{"samples", 3},
              {"mean", t},
              {"median", t},
              {"stddev", 0.0},
              {"cv", 0.0},
              {"min", t},
              {"max", t}}},
            {"verification",
             {{"method", "freivalds"}, {"passed", true}, {"error", 0.1}, {"bound", 16.0}}}};
  if (op == "stream")
    r["bytes_per_second"] = rate;
  else {
    r["flops_per_second"] = rate;
    r["flops_per_second_best"] = rate;
  }
  if (power_w > 0) r["telemetry"] = {{"samples", 20}, {"power_w_mean", power_w}};
  return r;
}

// A node with the example's CPU as host and `gpus` synthetic H100s (the figures are made up for
// the arithmetic; they are test fixtures, not measurements). Per GPU: fp16 Rmax 7e14 at 600 W
// (a faster fp16 result that FAILED verification: 9.5e14), bf16 6.5e14, int8 1.5e15 OPS, fp32
// 5e13, fp64 5.5e13, peak-kernel fp16 9e14, stream triad 3e12 B/s.
json gpu_node(int gpus) {
  json rep = example();
  json devices = json::array();
  for (int g = 0; g < gpus; ++g) {
    devices.push_back(
        {{"index", g},
         {"name", "NVIDIA H100 80GB HBM3"},
         {"vendor", "NVIDIA"},
         {"kind", "gpu"},
         {"memory_bytes", 85899345920LL},
         {"compute_units", 132},
         {"clock_mhz", 1980},
         {"peaks",
          {{{"dtype", "fp64"}, {"ops_per_second", 6.69e13}, {"derivation", "H100 SXM spec, dense"}},
           {{"dtype", "fp32"}, {"ops_per_second", 6.69e13}, {"derivation", "H100 SXM spec, dense"}},
           {{"dtype", "fp16"},
            {"ops_per_second", 9.894e14},
            {"derivation", "H100 SXM spec, dense"}},
           {{"dtype", "bf16"},
            {"ops_per_second", 9.894e14},
            {"derivation", "H100 SXM spec, dense"}},
           {{"dtype", "int8"},
            {"ops_per_second", 1.979e15},
            {"derivation", "H100 SXM spec, dense"}}}}});
    json& res = rep["results"];
    const std::string s = std::to_string(g);
    res.push_back(ok_result("gemm", "fp16", g, 7e14, "gemm.fp16.a" + s, 600));
    json failed = ok_result("gemm", "fp16", g, 9.5e14, "gemm.fp16.b" + s, 650);
    failed["status"] = "failed";
    failed["reason"] = "verification failed";
    failed["verification"]["passed"] = false;
    failed["reason"] = "scaled residual 1e3 above 16";
    res.push_back(failed);
    res.push_back(ok_result("gemm", "bf16", g, 6.5e14, "gemm.bf16." + s, 590));
    res.push_back(ok_result("gemm", "int8", g, 1.5e15, "gemm.int8." + s, 620));
    res.push_back(ok_result("gemm", "fp32", g, 5e13, "gemm.fp32." + s, 500));
    res.push_back(ok_result("gemm", "fp64", g, 5.5e13, "gemm.fp64." + s, 550));
    res.push_back(ok_result("peak", "fp16", g, 9e14, "peak.fp16." + s));
    res.push_back(ok_result("stream", "fp64", g, 3e12, "stream.triad." + s));
  }
  rep["backends"].push_back({{"name", "cuda"},
                             {"version", "test"},
                             {"path", "synthetic"},
                             {"libraries", json::object()},
                             {"devices", devices}});
  seal_report(rep);
  return rep;
}

const CategoryFigure* category(const Rating& r, Category c) {
  for (const CategoryFigure& f : r.categories)
    if (f.category == c) return &f;
  return nullptr;
}

const PrecisionRating* prec(const Rating& r, const std::string& device_substr, Dtype d) {
  for (const NodeType& t : r.node_types)
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& dev : n.devices)
        if (dev.name.find(device_substr) != std::string::npos) return dev.at(d);
  return nullptr;
}

template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(Rate, RmaxIsBestVerifiedGemmAndRpeakIsTheDevicePeak) {
  const json rep = example();
  const Rating r = rate({kExample}, std::nullopt, {});
  ASSERT_EQ(r.node_types.size(), 1u);
  for (const std::string dt : {"fp64", "fp32", "bf16", "int8"}) {
    const PrecisionRating* p = prec(r, "", *dtype_from_name(dt));
    ASSERT_NE(p, nullptr) << dt;
    EXPECT_DOUBLE_EQ(p->rmax.value, best_gemm(rep, dt)) << dt;
    EXPECT_EQ(p->rmax.basis, Basis::measured);
    // The peak self-check: a device peak the verified peak kernel confirms (within 85%..103%)
    // is Rpeak; one it contradicts gives way to the measured ceiling, and both are kept.
    ASSERT_TRUE(p->ceiling.present()) << dt;
    const double ratio = p->ceiling.value / device_peak(rep, dt);
    if (ratio >= kPeakCheckLow && ratio <= kPeakCheckHigh) {
      EXPECT_FALSE(p->peak_suspect) << dt;
      EXPECT_DOUBLE_EQ(p->rpeak.value, device_peak(rep, dt)) << dt;
      EXPECT_EQ(p->rpeak.basis, Basis::formula) << "the CPU peak is cores x clock x FLOP/cycle";
    } else {
      EXPECT_TRUE(p->peak_suspect) << dt;
      EXPECT_DOUBLE_EQ(p->rpeak_theoretical, device_peak(rep, dt)) << dt;
      EXPECT_DOUBLE_EQ(p->rpeak.value, p->ceiling.value) << dt;
      EXPECT_EQ(p->rpeak.basis, Basis::measured);
      EXPECT_NE(p->rpeak.source.find("SUSPECT"), std::string::npos) << p->rpeak.source;
    }
    EXPECT_NEAR(p->efficiency(), best_gemm(rep, dt) / p->rpeak.value, 1e-12);
  }
  // The CPU node is general computing at FP32, and the only category.
  ASSERT_EQ(r.categories.size(), 1u);
  EXPECT_EQ(r.categories[0].category, Category::general);
  EXPECT_EQ(r.categories[0].precision, "fp32");
  EXPECT_DOUBLE_EQ(r.categories[0].rmax, best_gemm(rep, "fp32"));
  EXPECT_FALSE(r.total.has_value()) << "no cross-precision total unless asked";
}

TEST(Rate, SuspectTheoreticalPeakGivesWayToTheMeasuredCeiling) {
  json rep = example();
  // Make the fp32 peak claim 4x what the peak kernel reached: the self-check must catch it.
  for (json& b : rep["backends"])
    for (json& d : b["devices"])
      for (json& p : d["peaks"])
        if (p["dtype"] == "fp32") p["ops_per_second"] = p["ops_per_second"].get<double>() * 4;
  seal_report(rep);
  const NodeRating n = rate_report(rep, "edited.json", std::nullopt);
  const PrecisionRating* p = n.devices.at(0).at(Dtype::fp32);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->peak_suspect);
  EXPECT_DOUBLE_EQ(p->rpeak.value, p->ceiling.value);
  EXPECT_GT(p->rpeak_theoretical, 3 * p->ceiling.value);
  bool checked = false;
  for (const PeakCheck& c : peak_checks(rep))
    if (c.dtype == Dtype::fp32) checked = c.suspect();
  EXPECT_TRUE(checked);
  const Rating r = rate({write("edited.json", rep)}, std::nullopt, {});
  bool noted = false;
  for (const std::string& note : r.notes)
    noted = noted || note.find("SUSPECT") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Rate, MarkedResultsAreLeftOutOfRmaxUnlessAskedFor) {
  json rep = example();
  double best = -1;
  for (json& r : rep["results"])
    if (r["op"] == "gemm" && r["dtype"] == "fp32" && r["status"] == "ok") {
      r["marks"] = json::array({{{"kind", "noisy"}, {"detail", "CV 0.4 > 0.05"}}});
      r["noisy"] = true;
      best = std::max(best, r["flops_per_second"].get<double>());
    }
  seal_report(rep);
  ASSERT_GT(best, 0);
  const NodeRating left_out = rate_report(rep, "m.json", std::nullopt);  // kept: `out` points in
  const PrecisionRating* out = left_out.devices.at(0).at(Dtype::fp32);
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(out->rmax.present());
  EXPECT_GT(out->marked, 0);
  const NodeRating in = rate_report(rep, "m.json", std::nullopt, true);
  EXPECT_DOUBLE_EQ(in.devices.at(0).at(Dtype::fp32)->rmax.value, best);
}

TEST(Rate, FailedFasterResultIsIgnored) {
  const std::string p = write("gpu1.json", gpu_node(1));
  const Rating r = rate({p}, std::nullopt, {});
  const PrecisionRating* f16 = prec(r, "H100", Dtype::fp16);
  ASSERT_NE(f16, nullptr);
  EXPECT_DOUBLE_EQ(f16->rmax.value, 7e14) << "the failed 9.5e14 result must not count";
  EXPECT_EQ(f16->not_counted, 1);
  EXPECT_DOUBLE_EQ(f16->power_w, 600);
  EXPECT_DOUBLE_EQ(f16->flops_per_watt(), 7e14 / 600);
  EXPECT_DOUBLE_EQ(f16->ceiling.value, 9e14);
  bool noted = false;
  for (const std::string& n : r.notes) noted = noted || n.find("not counted") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Rate, Int8StaysOutOfFlopsTotalsAndSparseOutOfRpeak) {
  const std::string p = write("gpu1b.json", gpu_node(1));
  RateOptions o;
  o.claims = load_claims(kClaims);
  o.total = parse_total("nominal");
  const Rating r = rate({p}, std::nullopt, o);
  const PrecisionRating* f16 = prec(r, "H100", Dtype::fp16);
  ASSERT_NE(f16, nullptr);
  EXPECT_DOUBLE_EQ(f16->rpeak.value, 9.895e14) << "dense claim";
  EXPECT_EQ(f16->rpeak.basis, Basis::spec);
  EXPECT_DOUBLE_EQ(f16->rpeak_sparse.value, 1.979e15) << "the sparse claim is a note";
  const CategoryFigure* intel = category(r, Category::intelligent);
  ASSERT_NE(intel, nullptr);
  EXPECT_EQ(intel->precision, "fp16") << "fp16 verified higher than bf16";
  EXPECT_DOUBLE_EQ(intel->rpeak, 9.895e14);
  EXPECT_DOUBLE_EQ(intel->rmax, 7e14);
  // Host CPU on its own line, outside the total; INT8 (1.5e15 OPS) and the sparse claim nowhere.
  const CategoryFigure* hosts = category(r, Category::general_hosts);
  ASSERT_NE(hosts, nullptr);
  EXPECT_FALSE(hosts->included_in_total);
  ASSERT_TRUE(r.total.has_value());
  EXPECT_DOUBLE_EQ(r.total->rpeak, 9.895e14);
  EXPECT_DOUBLE_EQ(r.total->rmax, 7e14);
  // INT8 stays a per-precision OPS figure.
  const PrecisionSum* i8 = r.node_types[0].node_at(Dtype::int8);
  ASSERT_NE(i8, nullptr);
  EXPECT_DOUBLE_EQ(i8->rmax, 1.5e15);
  EXPECT_EQ(rate_unit(Dtype::int8), "OPS");
  const json j = rating_to_json(r, "test");
  for (const json& d : j["devices"])
    for (const json& pr : d["precisions"])
      if (pr["precision"] == "int8" && !pr["rmax"].is_null()) {
        EXPECT_EQ(pr["rmax"]["unit"], "OP/s");
      }
}

TEST(Rate, UnitsScaleFromGigaToExa) {
  EXPECT_EQ(format_rate(5e8, false), "0.500 GFLOPS");
  EXPECT_EQ(format_rate(1.5e9, false), "1.50 GFLOPS");
  EXPECT_EQ(format_rate(2.3e12, false), "2.30 TFLOPS");
  EXPECT_EQ(format_rate(989.4e12, false), "989 TFLOPS");
  EXPECT_EQ(format_rate(14e18, false), "14.0 EFLOPS");
  EXPECT_EQ(format_rate(4.5e20, false), "450 EFLOPS");
  EXPECT_EQ(format_rate(1.979e15, true), "1.98 POPS");
  EXPECT_EQ(format_rate(-1, false), "-");
}

TEST(Rate, NodeSumsItsDevicesAndIsFlaggedExtrapolated) {
  const std::string p = write("gpu2.json", gpu_node(2));
  const Rating r = rate({p}, std::nullopt, {});
  const NodeType& t = r.node_types[0];
  const PrecisionSum* f16 = t.node_at(Dtype::fp16);
  ASSERT_NE(f16, nullptr);
  EXPECT_DOUBLE_EQ(f16->rmax, 2 * 7e14);
  EXPECT_DOUBLE_EQ(f16->rpeak, 2 * 9.894e14);
  EXPECT_DOUBLE_EQ(f16->power_w, 2 * 600);
  EXPECT_TRUE(t.extrapolated) << "two GPUs measured one after the other";
  ASSERT_FALSE(t.extrapolation_reasons.empty());
  EXPECT_NE(t.extrapolation_reasons[0].find("not concurrently"), std::string::npos);
  // One GPU alone is not extrapolated.
  const std::string p1 = write("gpu1c.json", gpu_node(1));
  EXPECT_FALSE(rate({p1}, std::nullopt, {}).node_types[0].extrapolated);
}

json inventory_json(const std::string& gpu_report) {
  return {{"suanli_inventory", 1},
          {"site", "test site"},
          {"pue", 1.3},
          {"node_types",
           {{{"name", "cpu"},
             {"reports", {kExample}},
             {"count", 100},
             {"nodes_per_rack", 20},
             {"power_per_node_w", 500},
             {"power_tag", "P2"}},
            {{"name", "gpu"},
             {"reports", {gpu_report}},
             {"count", 64},
             {"nodes_per_rack", 4},
             {"accelerators_per_node", 8},
             {"power_per_node_w", 10200}},
            {{"name", "hpc-cpu"}, {"reports", {kExample}}, {"count", 3}, {"category", "hpc"}}}}};
}

TEST(Rate, FleetFromInventoryMultipliesCountsRacksAndPower) {
  const json ex = example();
  const std::string gpu = write("gpu-inv.json", gpu_node(1));
  const std::string inv_path = write("inventory.json", inventory_json("gpu-inv.json"));
  RateOptions o;
  o.target = parse_target("45EFLOPS:fp16");
  const Rating r = rate({}, load_inventory(inv_path), o);
  ASSERT_EQ(r.node_types.size(), 3u);
  const NodeType& cpu = r.node_types[0];
  const NodeType& g = r.node_types[1];
  EXPECT_EQ(cpu.racks(), 5);
  EXPECT_EQ(g.racks(), 16);
  EXPECT_DOUBLE_EQ(cpu.coverage(), 0.01);
  EXPECT_FALSE(cpu.coverage_sufficient()) << "1 of 100 < max(10 %, 1)";
  EXPECT_TRUE(r.node_types[2].coverage_sufficient()) << "1 of 3 >= max(10 %, 1)";
  // 1 of 8 GPUs measured: the node is 8 x the GPU, flagged.
  EXPECT_TRUE(g.extrapolated);
  EXPECT_DOUBLE_EQ(g.node_at(Dtype::fp16)->rmax, 8 * 7e14);
  // Categories: general = 100 x CPU fp32, intelligent = 64 x 8 x GPU fp16, super = 3 x CPU fp64,
  // hosts = 64 x CPU fp32 on their own line.
  const CategoryFigure* gen = category(r, Category::general);
  const CategoryFigure* intel = category(r, Category::intelligent);
  const CategoryFigure* sup = category(r, Category::super);
  const CategoryFigure* hosts = category(r, Category::general_hosts);
  ASSERT_TRUE(gen && intel && sup && hosts);
  EXPECT_NEAR(gen->rmax, 100 * best_gemm(ex, "fp32"), 1e-6 * gen->rmax);
  EXPECT_NEAR(intel->rmax, 64 * 8 * 7e14, 1e-6 * intel->rmax);
  EXPECT_NEAR(intel->rpeak, 64 * 8 * 9.894e14, 1e-6 * intel->rpeak);
  EXPECT_EQ(sup->precision, "fp64");
  EXPECT_NEAR(sup->rmax, 3 * best_gemm(ex, "fp64"), 1e-6 * sup->rmax);
  EXPECT_NEAR(hosts->rmax, 64 * best_gemm(ex, "fp32"), 1e-6 * hosts->rmax);
  EXPECT_TRUE(intel->extrapolated);
  // Each device in exactly one category: 100 + 3 CPUs, 512 GPUs, 64 hosts.
  EXPECT_EQ(gen->devices, 100);
  EXPECT_EQ(sup->devices, 3);
  EXPECT_EQ(intel->devices, 512);
  EXPECT_EQ(hosts->devices, 64);
  // Site power: no power for hpc-cpu, so no IT total.
  EXPECT_LT(r.it_power_w, 0);
  // Target: 45 EFLOPS fp16 on the GPU type: ceil(45e18 / (8 x 7e14)) and on Rpeak.
  ASSERT_EQ(r.target_answers.size(), 3u);
  const TargetAnswer& a = r.target_answers[1];
  EXPECT_EQ(a.nodes_on_rmax, 8036);   // 45e18 / 5.6e15 = 8035.7
  EXPECT_EQ(a.nodes_on_rpeak, 5686);  // 45e18 / 7.9152e15 = 5685.2
  EXPECT_DOUBLE_EQ(a.power_w_on_rmax, 8036 * 10200.0);
  EXPECT_DOUBLE_EQ(a.power_w_on_rpeak, 5686 * 10200.0);
  // The CPU types have no fp16 figure (the CPU has no native fp16): no answer, not a guess.
  EXPECT_EQ(r.target_answers[0].nodes_on_rmax, -1);
}

TEST(Rate, ReportAlsoInTheInventoryIsNotASecondNodeType) {
  const std::string gpu = write("gpu-inv2.json", gpu_node(1));
  const std::string inv_path = write("inventory2.json", inventory_json("gpu-inv2.json"));
  const Rating with = rate({gpu}, load_inventory(inv_path), RateOptions{});
  const Rating without = rate({}, load_inventory(inv_path), RateOptions{});
  ASSERT_EQ(with.node_types.size(), without.node_types.size());
  // A report outside the inventory still adds a node type of one node.
  json other_node = gpu_node(1);  // another node: another host, so another report
  other_node["host"]["hostname"] = "gpu-other-host";
  seal_report(other_node);
  const std::string other = write("gpu-other.json", other_node);
  const Rating more = rate({other}, load_inventory(inv_path), RateOptions{});
  ASSERT_EQ(more.node_types.size(), without.node_types.size() + 1);
  EXPECT_EQ(more.node_types.back().name, "gpu-other");
  EXPECT_EQ(more.node_types.back().count, 1);
}

TEST(Rate, SitePowerUsesPueOnlyWhenGiven) {
  const std::string gpu = write("gpu-site.json", gpu_node(1));
  json inv = inventory_json("gpu-site.json");
  inv["node_types"].erase(2);  // the one without power
  const Rating r = rate({}, load_inventory(write("inv-site.json", inv)), {});
  EXPECT_DOUBLE_EQ(r.it_power_w, 100 * 500.0 + 64 * 10200.0);
  EXPECT_DOUBLE_EQ(r.facility_power_w, 1.3 * (100 * 500.0 + 64 * 10200.0));
  // Per category: the node types whose main devices are in it.
  EXPECT_DOUBLE_EQ(category(r, Category::general)->it_power_w, 100 * 500.0);
  EXPECT_DOUBLE_EQ(category(r, Category::intelligent)->it_power_w, 64 * 10200.0);
  EXPECT_LT(category(r, Category::general_hosts)->it_power_w, 0) << "hosts share their node's";
  inv.erase("pue");
  const Rating r2 = rate({}, load_inventory(write("inv-site2.json", inv)), {});
  EXPECT_DOUBLE_EQ(r2.it_power_w, 100 * 500.0 + 64 * 10200.0);
  EXPECT_LT(r2.facility_power_w, 0) << "no PUE, no facility figure";
}

TEST(Rate, IncludeHostsMovesHostsIntoTheTotal) {
  const json ex = example();
  const std::string p = write("gpu-hosts.json", gpu_node(1));
  RateOptions o;
  o.total = parse_total("nominal");
  o.include_hosts = true;
  const Rating r = rate({p}, std::nullopt, o);
  EXPECT_TRUE(category(r, Category::general_hosts)->included_in_total);
  EXPECT_NEAR(r.total->rmax, 7e14 + best_gemm(ex, "fp32"), 1);
}

TEST(Rate, TotalAlternativesStateTheirFactors) {
  const json ex = example();
  const std::string p = write("gpu-tot.json", gpu_node(1));
  // fp32-native: every device's own FP32, hosts included.
  RateOptions o;
  o.total = parse_total("fp32-native");
  Rating r = rate({kExample, p}, std::nullopt, o);
  EXPECT_NEAR(r.total->rmax, 2 * best_gemm(ex, "fp32") + 5e13, 1);
  EXPECT_NE(r.total->label.find("FP32-native"), std::string::npos);
  // factors: fp16 x 0.5 on the intelligent line, fp32 x 1 for general.
  const std::string f = write("factors.json", {{"suanli_factors", 1},
                                               {"to", "fp32"},
                                               {"factors", {{"fp16", 0.5}, {"fp64", 2}}},
                                               {"note", "test factors"}});
  o.total = parse_total("factors:" + f);
  r = rate({kExample, p}, std::nullopt, o);
  EXPECT_NEAR(r.total->rmax, best_gemm(ex, "fp32") + 0.5 * 7e14, 1);
  const json j = rating_to_json(r, "test");
  EXPECT_EQ(j["total"]["method"], "factors");
  EXPECT_DOUBLE_EQ(j["total"]["factors"]["fp16"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["total"]["factors"]["fp64"].get<double>(), 2.0);
  bool printed = false;
  for (const std::string& t : r.total->terms) printed = printed || t == "factor fp16 -> fp32: 0.5";
  EXPECT_TRUE(printed);
  EXPECT_NE(render_text(r).find("factor fp16 -> fp32: 0.5"), std::string::npos);
  // A precision summed without a factor is refused, naming the file and the pointer.
  const std::string f2 =
      write("factors2.json", {{"suanli_factors", 1}, {"to", "fp32"}, {"factors", {{"fp64", 2}}}});
  o.total = parse_total("factors:" + f2);
  const std::string e = input_error([&] { rate({p}, std::nullopt, o); });
  EXPECT_NE(e.find(f2), std::string::npos) << e;
  EXPECT_NE(e.find("/factors/fp16"), std::string::npos) << e;
  // INT8 cannot get a FLOPS factor.
  const std::string f3 =
      write("factors3.json", {{"suanli_factors", 1}, {"to", "fp32"}, {"factors", {{"int8", 1}}}});
  EXPECT_NE(input_error([&] { parse_total("factors:" + f3); }).find("/factors/int8"),
            std::string::npos);
  EXPECT_NE(input_error([] { parse_total("average"); }).find("nominal"), std::string::npos);
}

TEST(Rate, TargetParsing) {
  Target t = parse_target("45EFLOPS:fp16");
  EXPECT_DOUBLE_EQ(t.value, 45e18);
  EXPECT_EQ(t.dtype, Dtype::fp16);
  EXPECT_DOUBLE_EQ(parse_target("2.5 PFLOPS:fp64").value, 2.5e15);
  EXPECT_DOUBLE_EQ(parse_target("100POPS:int8").value, 1e17);
  EXPECT_DOUBLE_EQ(parse_target("1e18:fp32").value, 1e18);
  EXPECT_NE(input_error([] { parse_target("45EFLOPS:int8"); }).find("OPS"), std::string::npos);
  EXPECT_NE(input_error([] { parse_target("45EFLOPS"); }).find("VALUE"), std::string::npos);
  EXPECT_NE(input_error([] { parse_target("45EFLOPS:fp17"); }).find("fp17"), std::string::npos);
}

TEST(Rate, JsonOutputValidatesAgainstTheSchema) {
  const std::string gpu = write("gpu-js.json", gpu_node(2));
  const std::string inv_path = write("inventory-js.json", inventory_json("gpu-js.json"));
  RateOptions o;
  o.claims = load_claims(kClaims);
  o.target = parse_target("45EFLOPS:fp16");
  o.total = parse_total("nominal");
  for (const Rating& r : {rate({kExample}, std::nullopt, {}), rate({}, load_inventory(inv_path), o),
                          rate({kExample, gpu}, std::nullopt, o)}) {
    const json j = rating_to_json(r, "test");
    const auto errors = validate_against_schema(j, "rating.schema.json");
    EXPECT_TRUE(errors.empty()) << (errors.empty() ? ""
                                                   : errors[0].path + ": " + errors[0].message);
  }
  // And the schema is not vacuous: a sparse Rmax is rejected.
  json j = rating_to_json(rate({gpu}, std::nullopt, o), "test");
  j["devices"][1]["precisions"][0]["rmax"]["sparsity"] = "sparse";
  EXPECT_FALSE(validate_against_schema(j, "rating.schema.json").empty());
}

TEST(Rate, BadInputsNameTheFileAndThePointer) {
  json inv = inventory_json("nowhere.json");
  inv["node_types"][1]["count"] = "sixty-four";
  const std::string p = write("bad-inventory.json", inv);
  std::string e = input_error([&] { load_inventory(p); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("/node_types/1/count"), std::string::npos) << e;
  // More reports than nodes.
  inv = inventory_json("gpu-inv.json");
  inv["node_types"][0]["reports"] = {kExample, kExample};
  inv["node_types"][0]["count"] = 1;
  e = input_error([&] { load_inventory(write("bad-inventory2.json", inv)); });
  EXPECT_NE(e.find("/node_types/0/count"), std::string::npos) << e;
  // A report of another major version is refused.
  json rep = example();
  rep["schema_version"] = "2.0";
  const std::string v2 = write("v2.json", rep);
  e = input_error([&] { rate({v2}, std::nullopt, {}); });
  EXPECT_NE(e.find(v2), std::string::npos) << e;
  EXPECT_NE(e.find("schema version 2.0"), std::string::npos) << e;
  // A malformed report names the place.
  rep = example();
  rep["results"][0]["status"] = "great";
  seal_report(rep);
  const std::string bad = write("bad-report.json", rep);
  e = input_error([&] { rate({bad}, std::nullopt, {}); });
  EXPECT_NE(e.find(bad), std::string::npos) << e;
  EXPECT_NE(e.find("/results/0/status"), std::string::npos) << e;
  // An edited report (hash mismatch) is refused.
  rep = example();
  rep["results"][0]["flops_per_second"] = 1e20;
  const std::string edited = write("edited.json", rep);
  EXPECT_NE(input_error([&] { rate({edited}, std::nullopt, {}); }).find("hash"), std::string::npos);
  // A malformed claims file.
  const std::string c = write(
      "bad-claims.json", {{"suanli_claims", 1},
                          {"claims", {{{"device", "H100"}, {"dtype", "fp16"}, {"source", "x"}}}}});
  e = input_error([&] { load_claims(c); });
  EXPECT_NE(e.find(c), std::string::npos) << e;
  EXPECT_NE(e.find("/claims/0"), std::string::npos) << e;
}

TEST(Rate, HtmlIsSelfContainedWithSvgCharts) {
  const std::string gpu = write("gpu-html.json", gpu_node(1));
  RateOptions o;
  o.claims = load_claims(kClaims);
  const std::string html = render_html(rate({kExample, gpu}, std::nullopt, o), "test");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Roofline"), std::string::npos);
  EXPECT_NE(html.find("GEMM throughput vs size"), std::string::npos);
  EXPECT_NE(html.find("Fleet by category"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  const std::regex external(R"((src|href)\s*=\s*["']?\s*(https?:)?//)", std::regex::icase);
  EXPECT_FALSE(std::regex_search(html, external));
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  // Markdown carries the same headline.
  const std::string md = render_markdown(rate({kExample}, std::nullopt, {}));
  EXPECT_NE(md.find("## Headline"), std::string::npos);
  EXPECT_NE(md.find("| category |"), std::string::npos);
}

int run_rate(const std::string& args) {
  const std::string cmd = std::string(SUANLI_BINARY) + " rate " + args + " >/dev/null 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(RateCommand, WritesValidJsonAndRefusesBadInputWithoutTouchingTheOutput) {
  const std::string out = scratch() + "/rating.json";
  ASSERT_EQ(run_rate(kExample + " --total nominal --target 1PFLOPS:fp32 -o " + out), 0);
  const json j = read_json_file(out);
  EXPECT_TRUE(validate_against_schema(j, "rating.schema.json").empty());
  EXPECT_EQ(j["total"]["method"], "nominal");
  EXPECT_EQ(j["target"]["precision"], "fp32");
  json inv = inventory_json("nowhere.json");
  inv["pue"] = 0.5;  // below 1
  const std::string bad = write("bad-inv-cli.json", inv);
  EXPECT_EQ(run_rate("--inventory " + bad + " -o " + out), 2);
  EXPECT_EQ(read_json_file(out), j) << "a refused run leaves the earlier output as it was";
  EXPECT_EQ(run_rate(kExample + " --target 45EFLOPS:int8"), 2);
  EXPECT_EQ(run_rate(kExample + " --total factors:" + scratch() + "/missing.json"), 2);
  EXPECT_EQ(run_rate(scratch() + "/missing-report.json"), 2);
}

// HPL results (src/hpl) are their own figures: "HPL Rmax" (fp64) and "HPL-MxP" (per
// factorization precision) next to the GEMM Rmax, never mixed into it; Rmax/Rpeak uses HPL.
TEST(Rate, HplRmaxAndHplMxpAreSeparateFromGemmRmax) {
  json rep = example();
  const double gemm64 = best_gemm(rep, "fp64");
  json hpl;
  for (const json& r : rep["results"])
    if (r["op"] == "gemm" && r["dtype"] == "fp64" && r["status"] == "ok") hpl = r;
  ASSERT_FALSE(hpl.is_null());
  hpl["op"] = "hpl";
  hpl["workload"] = "hpl.fp64.n10000";
  hpl["flops_per_second"] = 0.8 * gemm64;
  hpl["hpl"] = {{"op", "hpl"},
                {"benchmark", "HPL"},
                {"n", 10000},
                {"nb", 256},
                {"factorization_precision", "fp64"}};
  json mxp = hpl;
  mxp["op"] = "hpl_mxp";
  mxp["dtype"] = "fp32";
  mxp["workload"] = "hpl_mxp.fp32.n10000";
  mxp["flops_per_second"] = 1.6 * gemm64;
  mxp["hpl"]["op"] = "hpl_mxp";
  mxp["hpl"]["benchmark"] = "HPL-MxP";
  mxp["hpl"]["refinement"] = {{"iterations", 3}};
  json failed = hpl;  // faster, but failed HPL's residual check: not counted
  failed["status"] = "failed";
  failed["verification"]["passed"] = false;
  failed["reason"] = "scaled residual 1e3 above 16";
  failed["flops_per_second"] = 2 * gemm64;
  for (const json& r : {hpl, mxp, failed}) rep["results"].push_back(r);
  rep.erase("sha256");
  seal_report(rep);
  const std::string path = write("hpl-node.json", rep);
  const Rating r = rate({path}, std::nullopt, {});
  const PrecisionRating* f64 = prec(r, "", Dtype::fp64);
  const PrecisionRating* f32 = prec(r, "", Dtype::fp32);
  ASSERT_NE(f64, nullptr);
  ASSERT_NE(f32, nullptr);
  EXPECT_DOUBLE_EQ(f64->rmax.value, gemm64) << "the GEMM Rmax is unchanged";
  EXPECT_DOUBLE_EQ(f64->hpl.value, 0.8 * gemm64);
  EXPECT_FALSE(f64->hpl_mxp.present());
  EXPECT_DOUBLE_EQ(f32->hpl_mxp.value, 1.6 * gemm64);
  EXPECT_FALSE(f32->hpl.present());
  EXPECT_NEAR(f64->efficiency(), 0.8 * gemm64 / f64->rpeak.value, 1e-12);
  const std::string text = render_text(r);
  EXPECT_NE(text.find("GEMM Rmax"), std::string::npos);
  EXPECT_NE(text.find("HPL Rmax"), std::string::npos);
  EXPECT_NE(text.find("HPL-MxP"), std::string::npos);
  const auto errors = validate_against_schema(rating_to_json(r, "test"), "rating.schema.json");
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors[0].path + ": " + errors[0].message);
}

// The roofline draws a ceiling only for a dtype the device ran (a verified peak kernel, or Rpeak
// dashed where a verified GEMM exists), never for an Rpeak alone; log axes carry at least four
// labelled ticks (the GEMM-vs-size chart of the quick suite spans one decade).
TEST(RateHtml, RooflineCeilingsOnlyForDtypesThatRanAndReadableTicks) {
  Rating r = rate({kExample}, std::nullopt, RateOptions{});
  DeviceRating& d = r.node_types.at(0).measured.at(0).devices.at(0);
  PrecisionRating fp16;  // theoretical peak known, nothing ran (unsupported)
  fp16.dtype = Dtype::fp16;
  fp16.rpeak = {1.25e12, Basis::formula, "test"};
  PrecisionRating fp8;  // a verified GEMM but no peak kernel: Rpeak dashed
  fp8.dtype = Dtype::fp8_e4m3;
  fp8.rpeak = {2.5e12, Basis::spec, "test"};
  fp8.rmax = {1e12, Basis::measured, "test"};
  d.precisions.push_back(fp16);
  d.precisions.push_back(fp8);
  const std::string html = render_html(r, "test");
  const size_t roof = html.find("Roofline:"), gemm = html.find("GEMM throughput vs size");
  ASSERT_NE(roof, std::string::npos);
  ASSERT_NE(gemm, std::string::npos);
  const std::string roofline = html.substr(roof, html.find("</svg>", roof) - roof);
  EXPECT_EQ(roofline.find(">fp16 1.25T"), std::string::npos) << "a ceiling for unsupported fp16";
  EXPECT_NE(roofline.find(">fp8_e4m3 2.5T Rpeak<"), std::string::npos);
  EXPECT_NE(roofline.find(">fp64 "), std::string::npos);
  const std::string chart = html.substr(gemm, html.find("</svg>", gemm) - gemm);
  const std::regex x_tick(R"re(text-anchor="middle" fill="#555">[0-9.]+[kMGTPE]?</text>)re");
  const auto ticks = std::distance(std::sregex_iterator(chart.begin(), chart.end(), x_tick),
                                   std::sregex_iterator());
  EXPECT_GE(ticks, 4) << chart;
}

}  // namespace
}  // namespace suanli::rate
