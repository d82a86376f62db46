// The built-in peak probe: a temporary peak suite run through the isolated workers.
#include "harness/peak_probe.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "report/report_reader.h"

namespace suanli {

namespace {

// A result from a worker or a journal keeps its document only (Result::recorded): read that.
// A suite's peak workload stands in for the probe only when it is at least as deep: a shallow
// one (the certify profiles' depth 1024) loses up to a fifth of an int8 call to the threads'
// fork/join, the harness's cost, not the theory's. Otherwise the probe runs as well and the
// check takes the faster of the two (peak_checks in report.cpp).
bool counted_peak(const Result& r, const PeakProbeTarget& t) {
  if (r.backend != t.backend || r.device != t.device || r.op.dtype != t.dtype) return false;
  const nlohmann::json j = result_to_json(r);
  const ReportResult rr = read_report_result(j);
  const nlohmann::json depth = j.contains("shape") ? j["shape"].value("depth", nlohmann::json())
                                                   : nlohmann::json();
  return rr.op == "peak" && rr.counts() && !rr.marked && depth.is_number() &&
         depth.get<double>() >= static_cast<double>(kPeakProbeDepth);
}

nlohmann::json probe_suite(const std::set<Dtype>& dtypes) {
  nlohmann::json suite = {{"suanli_suite", 1},
                          {"name", "peak-probe"},
                          {"settings",
                           {{"min_time", 0.03},
                            {"repetitions", 3},
                            {"max_noise", kPeakProbeMaxNoise},
                            {"max_time", kPeakProbeMaxTime},
                            {"warmup_time", 0.02}}},
                          {"workloads", nlohmann::json::array()}};
  for (Dtype t : dtypes)
    suite["workloads"].push_back({{"op", "peak"},
                                  {"dtype", dtype_name(t)},
                                  {"elements", kPeakProbeElements},
                                  {"depth", kPeakProbeDepth}});
  return suite;
}

// The suite in a temporary file (workers load a suite by its path), removed after `fn`.
template <typename Fn>
void with_suite_file(const nlohmann::json& suite, Fn fn) {
  char path[] = "/tmp/suanli-peak-probe-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error(fmt::format("peak probe: mkstemp: {}", strerror(errno)));
  const std::string text = suite.dump(2);
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  try {
    if (!written) throw std::runtime_error(fmt::format("peak probe: cannot write {}", path));
    fn(std::string(path));
  } catch (...) {
    unlink(path);
    throw;
  }
  unlink(path);
}

}  // namespace

std::set<Dtype> suite_dtypes(const Suite& suite) {
  std::set<Dtype> out;
  for (const Workload& w : suite.workloads) out.insert(w.op.dtype);
  return out;
}

std::vector<PeakProbeTarget> peak_probe_targets(const std::vector<isolate::BackendDesc>& backends,
                                                const std::set<Dtype>& dtypes,
                                                const std::vector<Result>& results) {
  std::vector<PeakProbeTarget> out;
  for (const isolate::BackendDesc& b : backends)
    for (const DeviceInfo& d : b.devices)
      for (const PeakInfo& p : d.peaks) {
        if (!dtypes.empty() && !dtypes.count(p.dtype)) continue;
        const PeakProbeTarget t{b.name, d.index, p.dtype};
        if (std::none_of(results.begin(), results.end(),
                         [&](const Result& r) { return counted_peak(r, t); }))
          out.push_back(t);
      }
  return out;
}

std::vector<Result> run_peak_probes(
    const std::vector<isolate::BackendDesc>& backends, const std::vector<PeakProbeTarget>& targets,
    const std::vector<std::pair<std::string, std::string>>& create_options,
    const RunOptions& opts) {
  std::set<Dtype> dtypes;
  std::set<std::string> names;
  for (const PeakProbeTarget& t : targets) dtypes.insert(t.dtype), names.insert(t.backend);
  if (targets.empty()) return {};
  std::vector<isolate::BackendDesc> probed;
  for (const isolate::BackendDesc& b : backends)
    if (names.count(b.name)) probed.push_back(b);
  std::vector<Result> ran;
  with_suite_file(probe_suite(dtypes), [&](const std::string& path) {
    const Suite s = load_suite(path);
    isolate::RunSpec spec;
    spec.suite = path;
    spec.suite_sha256 = s.sha256;
    spec.create_options = create_options;
    ran = isolate::run_isolated(s, probed, spec, opts);
  });
  std::vector<Result> out;
  for (Result& r : ran)
    for (const PeakProbeTarget& t : targets)
      if (r.backend == t.backend && r.device == t.device && r.op.dtype == t.dtype)
        out.push_back(std::move(r));  // one target a result at most
  return out;
}

}  // namespace suanli
