// Google Benchmark JSON of reports, for Google Benchmark's tools/compare.py (see export.h).
#include <cmath>

#include <fmt/format.h>

#include "export/export.h"
#include "export/rows.h"

namespace suanli::exports {

using nlohmann::json;

namespace {

json context_of(const std::vector<ReportDoc>& reports) {
  json c = json::object();
  if (reports.empty()) return c;
  const json& first = reports.front().doc;
  const json& host = first.at("host");
  c["date"] = first.value("started_utc", "");
  c["host_name"] = host.value("hostname", "");
  c["executable"] = "suanli";
  c["num_cpus"] = host.value("logical_cpus", 0);
  c["mhz_per_cpu"] = 0;
  c["cpu_scaling_enabled"] = false;
  c["caches"] = json::array();
  c["load_avg"] = json::array();
  c["library_build_type"] = "release";
  c["suanli_version"] = first.value("suanli", json::object()).value("version", "");
  json sources = json::array();
  for (const ReportDoc& r : reports) sources.push_back(r.origin);
  c["suanli_reports"] = sources;
  // suanli times devices, not host threads: cpu_time repeats the device time (real_time).
  c["suanli_note"] = "real_time and cpu_time are both the device time of one operation";
  return c;
}

// Fields every entry of one result shares.
json entry_base(const ResultRow& r, long family, int repetitions) {
  json e;
  e["name"] = fmt::format("{}/{}", r.device, r.workload);
  e["family_index"] = family;
  e["per_family_instance_index"] = 0;
  e["run_name"] = e["name"];
  e["repetitions"] = repetitions;
  e["threads"] = 1;
  e["time_unit"] = "ns";
  return e;
}

void add_counters(json& e, const ResultRow& r) {
  if (r.flops_per_second >= 0) e["flops_per_second"] = r.flops_per_second;
  if (r.bytes_per_second >= 0) e["bytes_per_second"] = r.bytes_per_second;
  if (r.peak_fraction >= 0) e["peak_fraction"] = r.peak_fraction;
  if (r.samples_per_second >= 0) e["items_per_second"] = r.samples_per_second;
}

void add_result(json& benchmarks, json& not_measured, const ResultRow& r, long family) {
  const json& res = *r.result;
  const json samples = res.value("samples_s", json::array());
  if (!r.measured || samples.empty()) {
    // compare.py needs a time in every entry: results without samples are listed in the context.
    not_measured.push_back(fmt::format("{}/{}: {}: {}", r.device, r.workload, r.status, r.reason));
    return;
  }
  const int n = static_cast<int>(samples.size());
  const long iterations = res.value("iterations_per_sample", 1L);
  for (int i = 0; i < n; ++i) {
    json e = entry_base(r, family, n);
    e["run_type"] = "iteration";
    e["repetition_index"] = i;
    e["iterations"] = iterations;
    e["real_time"] = e["cpu_time"] = samples[static_cast<size_t>(i)].get<double>() * 1e9;
    add_counters(e, r);
    benchmarks.push_back(e);
  }
  const json& t = res.at("time_s");
  const std::pair<const char*, double> aggregates[] = {{"mean", t.value("mean", 0.0) * 1e9},
                                                       {"median", t.value("median", 0.0) * 1e9},
                                                       {"stddev", t.value("stddev", 0.0) * 1e9},
                                                       {"cv", t.value("cv", 0.0)}};
  for (const auto& [agg, value] : aggregates) {
    json e = entry_base(r, family, n);
    e["name"] = fmt::format("{}_{}", e["run_name"].get<std::string>(), agg);
    e["run_type"] = "aggregate";
    e["aggregate_name"] = agg;
    e["aggregate_unit"] = std::string(agg) == "cv" ? "percentage" : "time";
    e["iterations"] = n;
    e["real_time"] = e["cpu_time"] = value;
    if (std::string(agg) != "cv") add_counters(e, r);
    benchmarks.push_back(e);
  }
}

}  // namespace

std::string to_gbench_json(const std::vector<ReportDoc>& reports) {
  json out;
  out["context"] = context_of(reports);
  json benchmarks = json::array(), not_measured = json::array();
  long family = 0;
  for (const ReportDoc& rep : reports)
    for (const ResultRow& r : result_rows(rep)) add_result(benchmarks, not_measured, r, family++);
  out["context"]["suanli_not_measured"] = not_measured;
  out["benchmarks"] = benchmarks;
  return out.dump(2) + "\n";
}

}  // namespace suanli::exports
