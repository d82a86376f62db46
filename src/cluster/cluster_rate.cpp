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

void expand_one(const std::string& path, const json& report, ExpandedReports& out,
                bool include_marked) {
  check_cluster_report(report, path);
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
