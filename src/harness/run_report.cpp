// Assembles the JSON report of a run: provenance, host, backends and devices, suite, results,
// tally.
#include "harness/run_report.h"

#include <fmt/format.h>

#include "report/hash.h"
#include "report/system_info.h"
#include "revision.h"

namespace suanli {

using nlohmann::json;

json build_info_json() {
  return {{"version", SUANLI_VERSION},
          {"git_revision", SUANLI_GIT_REVISION},
          {"git_dirty", SUANLI_GIT_DIRTY}};
}

json device_json(const DeviceInfo& d) {
  json peaks = json::array();
  for (const PeakInfo& p : d.peaks)
    peaks.push_back({{"dtype", std::string(dtype_name(p.dtype))},
                     {"ops_per_second", p.ops_per_second},
                     {"derivation", p.derivation}});
  json extra = json::object();
  for (const auto& [k, v] : d.extra) extra[k] = v;
  return {{"index", d.index},
          {"name", d.name},
          {"vendor", d.vendor},
          {"kind", d.kind},
          {"uuid", d.uuid},
          {"driver", d.driver},
          {"memory_bytes", d.memory_bytes},
          {"compute_units", d.compute_units},
          {"threads", d.threads},
          {"clock_mhz", d.clock_mhz},
          {"max_clock_mhz", d.max_clock_mhz},
          {"features", d.features},
          {"peaks", peaks},
          {"extra", extra}};
}

json backend_json(const Backend& b) {
  json libs = json::object();
  for (const auto& [k, v] : b.libraries()) libs[k] = v;
  json devices = json::array();
  for (const DeviceInfo& d : b.devices()) devices.push_back(device_json(d));
  std::string plugin_hash;
  try {
    plugin_hash = sha256_file_hex(b.path());
  } catch (const std::exception&) {
    plugin_hash = "";
  }
  return {{"name", b.name()},      {"version", b.version()}, {"path", b.path()},
          {"sha256", plugin_hash}, {"libraries", libs},      {"devices", devices}};
}

json make_run_report(const Suite& suite, const std::vector<Backend*>& backends,
                     const std::vector<LoadIssue>& issues, const std::vector<Result>& results,
                     const RunMeta& meta) {
  json described = json::array();
  for (const Backend* b : backends) described.push_back(backend_json(*b));
  return make_run_report(suite, described, issues, results, meta);
}

json make_run_report(const Suite& suite, const json& backends, const std::vector<LoadIssue>& issues,
                     const std::vector<Result>& results, const RunMeta& meta) {
  json j;
  j["schema_version"] = fmt::format("{}.{}", kReportSchemaMajor, kReportSchemaMinor);
  j["suanli"] = build_info_json();
  j["command"] = meta.command;
  j["started_utc"] = meta.started_utc;
  j["finished_utc"] = meta.finished_utc;
  json opts = json::object();
  for (const auto& [k, v] : meta.options) opts[k] = v;
  j["options"] = opts;
  j["host"] = host_info_json(host_info());
  j["backends"] = backends;
  j["load_issues"] = json::array();
  for (const LoadIssue& i : issues)
    j["load_issues"].push_back({{"path", i.path}, {"reason", i.reason}});
  const MeasureSettings& s = suite.settings;
  j["suite"] = {{"name", suite.name},
                {"origin", suite.origin},
                {"sha256", suite.sha256},
                {"workloads", suite.workloads.size()},
                {"settings",
                 {{"min_time", s.min_time},
                  {"repetitions", s.repetitions},
                  {"max_noise", s.max_noise},
                  {"max_time", s.max_time},
                  {"warmup_time", s.warmup_time},
                  {"seed", s.seed}}}};
  j["results"] = json::array();
  for (const Result& r : results) j["results"].push_back(result_to_json(r));
  const Tally t = tally(results);
  j["tally"] = {{"results", t.results},
                {"ok", t.ok},
                {"unsupported", t.unsupported},
                {"skipped", t.skipped},
                {"failed", t.failed},
                {"error", t.error},
                {"noisy", t.noisy},
                {"slowdown", t.slowdown},
                {"timing", t.timing},
                {"above_peak", t.above_peak}};
  // The suite checks its own theory: every device peak against the run's peak kernels, or the
  // built-in probe's where the suite has none.
  j["peak_probes"] = json::array();
  for (const Result& r : meta.peak_probes) j["peak_probes"].push_back(result_to_json(r));
  j["peak_checks"] = json::array();
  for (const PeakCheck& c : peak_checks(j)) j["peak_checks"].push_back(peak_check_json(c));
  seal_report(j);
  return j;
}

}  // namespace suanli
