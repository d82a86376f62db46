// `suanli rate cluster.json` (see cluster_rate.h).
#include "cluster/cluster_rate.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "rate/rating.h"
#include "report/json_schema.h"
#include "report/report.h"

namespace suanli::cluster {

using nlohmann::json;

ExpandedReports::~ExpandedReports() {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

namespace {

// Per dtype: every measured node's Rmax (its devices' sum), min / median / max, lowest rank.
void distribution_notes(const std::string& origin,
                        const std::vector<std::pair<int, rate::NodeRating>>& rated,
                        std::vector<std::string>& notes) {
  std::map<Dtype, std::vector<std::pair<double, int>>> by_dtype;
  for (const auto& [rank, nr] : rated) {
    std::map<Dtype, double> sum;
    for (const rate::DeviceRating& d : nr.devices)
      for (const rate::PrecisionRating& p : d.precisions)
        if (p.rmax.present()) sum[p.dtype] += p.rmax.value;
    for (const auto& [dt, v] : sum) by_dtype[dt].push_back({v, rank});
  }
  for (auto& [dt, v] : by_dtype) {
    std::sort(v.begin(), v.end());
    double total = 0;
    for (const auto& x : v) total += x.first;
    const double med = v.size() % 2 ? v[v.size() / 2].first
                                    : 0.5 * (v[v.size() / 2 - 1].first + v[v.size() / 2].first);
    std::string per;
    for (const auto& [val, rank] : v)
      per += fmt::format(" r{}={}", rank, rate::format_rate(val, dtype_is_integer(dt)));
    notes.push_back(fmt::format(
        "{}: {} Rmax measured on {} nodes (not extrapolated): sum {}, per node min {} (rank {}), "
        "median {}, max {}; per node:{}",
        origin, dtype_name(dt), v.size(), rate::format_rate(total, dtype_is_integer(dt)),
        rate::format_rate(v.front().first, dtype_is_integer(dt)), v.front().second,
        rate::format_rate(med, dtype_is_integer(dt)),
        rate::format_rate(v.back().first, dtype_is_integer(dt)), per));
  }
}

// The best verified busbw per op and scope, and the smallest latency of ping-pong.
void fabric_notes(const std::string& origin, const json& report, std::vector<std::string>& notes) {
  std::map<std::string, json> best;
  for (const json& r : report["fabric"]["results"]) {
    if (r.value("status", "") != "ok") continue;
    const std::string key =
        fmt::format("{} {} {}", r["op"].get<std::string>(), r["dtype"].get<std::string>(),
                    r["scope"].get<std::string>());
    const bool lat = r["op"] == "pingpong";
    auto it = best.find(key);
    if (it == best.end() || (lat ? r.value("time_s", 1e9) < it->second.value("time_s", 1e9)
                                 : r["busbw_bytes_per_second"].get<double>() >
                                       it->second["busbw_bytes_per_second"].get<double>()))
      best[key] = r;
  }
  for (const auto& [key, r] : best)
    notes.push_back(
        r["op"] == "pingpong"
            ? fmt::format("{}: fabric {}: latency {:.2f} us at {} B ({} ranks)", origin, key,
                          r.value("time_s", 0.0) * 1e6, r["bytes"].get<uint64_t>(),
                          r["ranks"].get<int>())
            : fmt::format("{}: fabric {}: busbw {:.2f} GB/s (algbw {:.2f} GB/s) at {} B over {} "
                          "ranks, verified",
                          origin, key, r["busbw_bytes_per_second"].get<double>() / 1e9,
                          r["algbw_bytes_per_second"].get<double>() / 1e9,
                          r["bytes"].get<uint64_t>(), r["ranks"].get<int>()));
}

// A CPU's ranks share its cores: their peaks summed, at most the whole CPU's (per-thread peak x
// cores); an accelerator used by several ranks counts once.
struct PeakGroup {
  bool cpu = true;
  int ranks = 0;
  double sum = 0, max = 0, whole = 0;
  double total() const { return cpu ? (whole > 0 ? std::min(sum, whole) : sum) : max; }
};

// The FP64 Rpeak of the ranks that took part in a distributed solve, from each node entry's
// `device` (the device the rank solved on, with its declared peaks for the rank's threads).
rate::Figure job_rpeak(const json& report) {
  std::map<std::string, PeakGroup> groups;
  for (const json& node : report["nodes"]) {
    const json d = node.value("device", json());
    const int rank = node.value("rank", -1);
    if (!d.is_object())
      return {-1, rate::Basis::formula,
              fmt::format("rank {} does not say which device it solved on (a report written "
                          "before suanli recorded it): no Rpeak",
                          rank)};
    const double v = d.value("peaks", json::object())
                         .value("fp64", json::object())
                         .value("ops_per_second", -1.0);
    if (v <= 0)
      return {-1, rate::Basis::formula,
              fmt::format("rank {}'s device ({}) declares no FP64 peak: no Rpeak", rank,
                          d.value("name", ""))};
    PeakGroup& g =
        groups[fmt::format("{} {}:{} {} {}", node.value("mpi_host", ""), d.value("backend", ""),
                           d.value("index", 0), d.value("name", ""), d.value("uuid", ""))];
    g.cpu = d.value("kind", "cpu") == "cpu";
    ++g.ranks;
    g.sum += v;
    g.max = std::max(g.max, v);
    const int threads = d.value("threads", 0), cores = d.value("compute_units", 0);
    if (g.cpu && threads > 0 && cores > 0)
      g.whole = std::max(g.whole, v / std::min(threads, cores) * cores);
  }
  double total = 0;
  std::string per;
  for (const auto& [key, g] : groups) {
    total += g.total();
    per += fmt::format("; {} ({} rank{}): {}{}", key, g.ranks, g.ranks == 1 ? "" : "s",
                       rate::format_rate(g.total(), false),
                       g.cpu && g.whole > 0 && g.sum > g.whole ? " (its cores, counted once)" : "");
  }
  return {total, rate::Basis::formula,
          "sum of the FP64 peaks the ranks' devices declared for their threads, ranks sharing a "
          "host's cores counted up to those cores, a shared accelerator once (not self-checked: "
          "a distributed run measures no peak kernel)" +
              per};
}

std::string scalapack_line(const json& h) {
  if (!h.contains("scalapack")) return "";
  const json& s = h["scalapack"];
  if (!s.contains("seconds"))
    return fmt::format("ScaLAPACK cross-check {}: {}", s.value("status", "not run"),
                       s.value("reason", ""));
  return fmt::format(
      "ScaLAPACK pdgesv on the same system: {}, scaled residual {:.3g}, info {}, solution "
      "2-norms {:.3g} relative apart (bound {:g}): {}",
      rate::format_rate(s.value("flops_per_second", -1.0), false), s.value("scaled_residual", -1.0),
      s.value("info", 0), s.value("norm_relative_difference", -1.0), s.value("bound", 1e-9),
      s.value("agree", false) ? "agrees" : "DISAGREES");
}

rate::ClusterSolve cluster_solve(const std::string& path, const json& report, const json& r,
                                 const rate::Figure& rpeak) {
  rate::ClusterSolve s;
  const json h = r.value("hpl", json::object());
  const json dist = h.value("distributed", json::object());
  s.report = path;
  s.op = r.value("op", "");
  s.benchmark = h.value("benchmark", s.op == "hpl" ? "HPL" : "HPL-MxP");
  s.precision = h.value("factorization_precision", r.value("dtype", ""));
  s.workload = r.value("workload", "");
  s.status = r.value("status", "");
  s.reason = r.value("reason", "");
  s.n = h.value("n", int64_t{0});
  s.nb = h.value("nb", int64_t{0});
  s.p = dist.value("grid", json::object()).value("p", 0);
  s.q = dist.value("grid", json::object()).value("q", 0);
  s.ranks = dist.value("ranks", 0);
  s.hosts = static_cast<int>(report["mpi"]["hosts"].size());
  s.backend = r.value("backend", "");
  s.rpeak = rpeak;
  s.scalapack = scalapack_line(h);
  if (h.contains("scalapack")) {
    const json& sc = h["scalapack"];
    s.scalapack_verdict =
        !sc.contains("seconds") ? sc.value("status", "not run")
        : sc.value("agree", false)
            ? fmt::format("agrees ({:.2g} apart)", sc.value("norm_relative_difference", -1.0))
            : "DISAGREES";
  }
  if (h.contains("refinement")) s.refinement_iterations = h["refinement"].value("iterations", -1);
  const json v = r.value("verification", json());
  if (v.is_object()) {
    s.scaled_residual = v.value("error", -1.0);
    s.verification =
        fmt::format("{}: {:.3g} (bound {:g}){}", v.value("method", ""), s.scaled_residual,
                    v.value("bound", 16.0), v.value("passed", false) ? "" : ": FAILED");
  }
  const double fps = r.value("flops_per_second", -1.0);
  if (s.status == "ok" && v.is_object() && v.value("passed", false) && fps > 0)
    s.rmax = {fps, rate::Basis::measured,
              fmt::format("{} {} across {} ranks ({} x {} grid, {} host{}), n={} nb={}, {}",
                          s.benchmark, s.workload, s.ranks, s.p, s.q, s.hosts,
                          s.hosts == 1 ? "" : "s", s.n, s.nb, s.verification)};
  else if (s.status == "ok")
    s.status = "unverified";
  return s;
}

// The solves of a distributed HPL suite (distributed.results), each with the job's Rpeak; the
// ranks carry no results of their own.
void distributed_solves(const std::string& path, const json& report, ExpandedReports& out) {
  const rate::Figure rpeak = job_rpeak(report);
  size_t rated = 0;
  for (const json& r : report["distributed"]["results"]) {
    out.solves.push_back(cluster_solve(path, report, r, rpeak));
    rated += out.solves.back().rated();
  }
  out.notes.push_back(fmt::format(
      "{}: distributed HPL report of {} ranks on {} host(s) ({}, launcher {}): {} solves across "
      "all "
      "ranks at once, {} verified and rated (Distributed HPL table); the ranks have no results of "
      "their own",
      path, report["mpi"]["ranks"].get<int>(), report["mpi"]["hosts"].size(),
      report["mpi"]["library"].get<std::string>(), report["mpi"]["launcher"].get<std::string>(),
      report["distributed"]["results"].size(), rated));
  if (!report.value("test_hooks", json::object()).empty())
    out.notes.push_back(fmt::format("{}: test hooks were active ({}): its figures are not real",
                                    path, report["test_hooks"].dump()));
}

void expand_one(const std::string& path, const json& report, ExpandedReports& out,
                bool include_marked) {
  check_cluster_report(report, path);
  if (report.contains("distributed")) return distributed_solves(path, report, out);
  if (out.dir.empty()) {
    char tmpl[] = "/tmp/suanli-rate-cluster-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("rate: cannot create a temporary directory");
    out.dir = tmpl;
  }
  std::vector<std::pair<int, rate::NodeRating>> rated;
  int lost = 0;
  for (const json& node : report["nodes"]) {
    const int rank = node["rank"].get<int>();
    const json nr = node_report(node, path);
    if (nr.is_null()) {
      ++lost;
      out.notes.push_back(
          node.value("status", "") == "ok"
              ? fmt::format("{}: rank {} carries no node report (a fabric run)", path, rank)
              : fmt::format("{}: rank {} not rated: {} ({})", path, rank, node.value("status", ""),
                            node.value("reason", "")));
      continue;
    }
    if (node.contains("test_slowdown"))
      out.notes.push_back(
          fmt::format("{}: rank {} ran under the test hook SUANLI_TEST_SLOW_RANK "
                      "(x{}): its figures are not real",
                      path, rank, node["test_slowdown"].get<double>()));
    const std::string file = fmt::format("{}/{}.rank{}.json", out.dir,
                                         std::filesystem::path(path).stem().string(), rank);
    write_file_atomic(file, nr.dump() + "\n");
    out.reports.push_back(file);
    rated.emplace_back(rank, rate::rate_report(nr, file, std::nullopt, include_marked));
  }
  out.notes.push_back(fmt::format(
      "{}: cluster report of {} ranks on {} hosts ({}, launcher {}): {} nodes measured at once "
      "and rated one by one, {} not rated",
      path, report["mpi"]["ranks"].get<int>(), report["mpi"]["hosts"].size(),
      report["mpi"]["library"].get<std::string>(), report["mpi"]["launcher"].get<std::string>(),
      rated.size(), lost));
  distribution_notes(path, rated, out.notes);
  fabric_notes(path, report, out.notes);
}

}  // namespace

void expand_cluster_reports(const std::vector<std::string>& inputs, ExpandedReports& out,
                            bool include_marked) {
  for (const std::string& p : inputs) {
    json doc;
    try {
      doc = read_json_file(p);
    } catch (const std::exception&) {
      out.reports.push_back(p);  // the rating says what is wrong with it
      continue;
    }
    if (is_cluster_report(doc))
      expand_one(p, doc, out, include_marked);
    else
      out.reports.push_back(p);
  }
}

}  // namespace suanli::cluster
