// `suanli diagnose` (see diagnose.h).
#include "cluster/diagnose.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "report/report.h"
#include "core/error.h"

namespace suanli::cluster {

using nlohmann::json;

namespace {

struct Column {
  std::string workload, unit;
  std::map<int, double> by_rank;  // ok results only
};

// Workload key -> the value of every node that has it ok.
std::map<std::string, Column> columns(const json& report) {
  std::map<std::string, Column> cols;
  for (const json& n : report["nodes"])
    for (const json& r : n["results"]) {
      Column& c = cols[result_key(r)];
      c.workload = r.value("workload", "");
      std::string unit;
      const double v = result_value(r, &unit);
      if (v < 0) continue;
      c.unit = unit;
      c.by_rank[n["rank"].get<int>()] = v;
    }
  return cols;
}

double number(const json& j, const char* name, double def, const std::string& origin) {
  if (!j.contains(name)) return def;
  if (!j[name].is_number() || j[name].get<double>() < 0)
    throw InputError(fmt::format("{}: /{}: expected a number >= 0", origin, name));
  return j[name].get<double>();
}

json evidence(const std::string& key, const Column& c, double v, double ref, const char* against,
              const std::string& detail) {
  return {{"key", key},
          {"workload", c.workload},
          {"against", against},
          {"value", v},
          {"reference", ref},
          {"unit", c.unit},
          {"deviation", ref > 0 ? (v - ref) / ref : 0.0},
          {"detail", detail}};
}

// The evidence against node `rank` in column `c` (cluster and baseline rules).
void judge(const std::string& key, const Column& c, int rank, const DiagnoseRules& rules,
           const json& baseline, json& ev) {
  auto it = c.by_rank.find(rank);
  if (it == c.by_rank.end()) return;
  const double v = it->second;
  if (static_cast<int>(c.by_rank.size()) >= rules.min_nodes) {
    // Leave-one-out: the node is judged against its peers, so a slow node cannot widen the MAD
    // that would excuse it (at 4 nodes one outlier moves the MAD a lot).
    std::vector<double> vals;
    for (const auto& [r, x] : c.by_rank)
      if (r != rank) vals.push_back(x);
    const double med = median_of(vals), scaled = 1.4826 * median_absolute_deviation(vals, med);
    const double sigmas = scaled > 0 ? (med - v) / scaled : (v < med ? INFINITY : 0);
    if (v < med * (1 - rules.max_deviation) && sigmas > rules.mad_sigmas)
      ev.push_back(evidence(key, c, v, med, "cluster_median",
                            fmt::format("{:.1f} % below the median of {} peers, {:.1f} scaled "
                                        "MADs",
                                        100 * (med - v) / med, vals.size(), sigmas)));
  }
  if (!baseline.is_null() && baseline["workloads"].contains(key)) {
    const double ref = baseline["workloads"][key].value("median", 0.0);
    if (ref > 0 && v < ref * (1 - rules.baseline_max_deviation))
      ev.push_back(evidence(key, c, v, ref, "baseline",
                            fmt::format("{:.1f} % below the baseline", 100 * (ref - v) / ref)));
  }
}

}  // namespace

DiagnoseRules parse_rules(const json& j, const std::string& origin) {
  if (!j.is_object() || j.value("suanli_diagnose_rules", 0) != 1)
    throw InputError(fmt::format("{}: expected \"suanli_diagnose_rules\": 1 at /", origin));
  DiagnoseRules r;
  r.max_deviation = number(j, "max_deviation", r.max_deviation, origin);
  r.mad_sigmas = number(j, "mad_sigmas", r.mad_sigmas, origin);
  r.min_nodes = static_cast<int>(number(j, "min_nodes", r.min_nodes, origin));
  r.baseline_max_deviation = number(j, "baseline_max_deviation", r.baseline_max_deviation, origin);
  r.min_fraction = number(j, "min_fraction", r.min_fraction, origin);
  if (r.max_deviation >= 1 || r.baseline_max_deviation >= 1 || r.min_nodes < 2 ||
      r.min_fraction > 1)
    throw InputError(fmt::format("{}: expected deviations below 1 and min_nodes >= 2", origin));
  return r;
}

json make_baseline(const json& report, const std::string& origin) {
  json w = json::object();
  for (const auto& [key, c] : columns(report)) {
    if (c.by_rank.empty()) continue;
    std::vector<double> vals;
    for (const auto& [r, x] : c.by_rank) vals.push_back(x);
    const double med = median_of(vals);
    w[key] = {{"workload", c.workload},
              {"unit", c.unit},
              {"median", med},
              {"mad", median_absolute_deviation(vals, med)},
              {"nodes", vals.size()}};
  }
  return {{"suanli_diagnose_baseline", 1},
          {"source", origin},
          {"source_sha256", report.value("sha256", "")},
          {"test_hooks", report.value("test_hooks", json::object())},
          {"workloads", w}};
}

void check_baseline(const json& b, const std::string& origin) {
  if (!b.is_object() || b.value("suanli_diagnose_baseline", 0) != 1 || !b.contains("workloads") ||
      !b["workloads"].is_object())
    throw InputError(fmt::format(
        "{}: not a baseline (expected \"suanli_diagnose_baseline\": 1 and a \"workloads\" "
        "object at /; make one with `suanli diagnose --make-baseline`)",
        origin));
  for (const auto& [key, w] : b["workloads"].items())
    if (!w.is_object() || !w.contains("median") || !w["median"].is_number())
      throw InputError(
          fmt::format("{}: /workloads/{}: expected an object with a number "
                      "\"median\"",
                      origin, key));
}

json diagnose(const json& report, const std::string& origin, const DiagnoseRules& rules,
              const json& baseline) {
  const std::map<std::string, Column> cols = columns(report);
  json nodes = json::array(), flagged = json::array();
  for (const json& n : report["nodes"]) {
    const int rank = n["rank"].get<int>();
    json ev = json::array();
    const std::string status = n.value("status", "error");
    if (status != "ok")
      ev.push_back({{"against", "status"},
                    {"detail", fmt::format("node {}: {}", status, n.value("reason", ""))}});
    std::set<std::string> mine;
    for (const json& r : n["results"]) mine.insert(result_key(r));
    bool structural = status != "ok";  // failed, lost or incomplete: flagged whatever else
    size_t judged = 0, slow = 0;
    for (const auto& [key, c] : cols) {
      structural = structural || (!mine.count(key) && status == "ok");
      if (!mine.count(key) && status == "ok")
        ev.push_back({{"key", key},
                      {"workload", c.workload},
                      {"against", "missing"},
                      {"detail", "the node has no result for a workload its peers ran"}});
      const size_t before = ev.size();
      judge(key, c, rank, rules, baseline, ev);
      judged += c.by_rank.count(rank);
      slow += ev.size() > before;
    }
    // Slow workloads flag the node when they are at least min_fraction of its measured ones.
    const bool f = structural || (slow > 0 && static_cast<double>(slow) >=
                                                  rules.min_fraction * static_cast<double>(judged));
    if (f) flagged.push_back(rank);
    nodes.push_back({{"rank", rank},
                     {"host", n["host"].value("hostname", "")},
                     {"status", status},
                     {"test_slowdown", n.value("test_slowdown", 1.0)},
                     {"flagged", f},
                     {"evidence", ev}});
  }
  return {{"suanli_diagnose", 1},
          {"report", origin},
          {"report_sha256", report.value("sha256", "")},
          {"test_hooks", report.value("test_hooks", json::object())},
          {"baseline", baseline.is_null() ? json(nullptr) : json(baseline.value("source", ""))},
          {"rules",
           {{"max_deviation", rules.max_deviation},
            {"mad_sigmas", rules.mad_sigmas},
            {"min_nodes", rules.min_nodes},
            {"baseline_max_deviation", rules.baseline_max_deviation},
            {"min_fraction", rules.min_fraction}}},
          {"flagged_ranks", flagged},
          {"nodes", nodes}};
}

namespace {

std::string evidence_line(const json& e) {
  if (!e.contains("value"))
    return fmt::format("{} {}", e.value("workload", ""), e["detail"].get<std::string>());
  return fmt::format("{}: {:.4g} {} vs {} {:.4g} ({:+.1f} %): {}", e["key"].get<std::string>(),
                     e["value"].get<double>(), e["unit"].get<std::string>(),
                     e["against"].get<std::string>(), e["reference"].get<double>(),
                     100 * e["deviation"].get<double>(), e["detail"].get<std::string>());
}

}  // namespace

std::string diagnosis_text(const json& d) {
  std::string s = fmt::format("diagnosis of {} ({} nodes)\n", d["report"].get<std::string>(),
                              d["nodes"].size());
  if (!d["test_hooks"].empty())
    s += fmt::format("note: the report was made with test hooks: {}\n", d["test_hooks"].dump());
  for (const json& n : d["nodes"]) {
    s += fmt::format("rank {:>5} {:<24} {:<6} {}\n", n["rank"].get<int>(),
                     n["host"].get<std::string>(), n["status"].get<std::string>(),
                     n["flagged"].get<bool>() ? "FLAGGED" : "healthy");
    for (const json& e : n["evidence"]) s += "    " + evidence_line(e) + "\n";
  }
  s += fmt::format("flagged ranks: {}\n",
                   d["flagged_ranks"].empty() ? std::string("none") : d["flagged_ranks"].dump());
  return s;
}

std::string diagnosis_markdown(const json& d) {
  std::string s = fmt::format(
      "# Diagnosis of `{}`\n\n| rank | host | status | verdict | "
      "evidence |\n|---:|---|---|---|---|\n",
      d["report"].get<std::string>());
  for (const json& n : d["nodes"]) {
    std::string ev;
    for (const json& e : n["evidence"]) ev += (ev.empty() ? "" : "<br>") + evidence_line(e);
    s += fmt::format("| {} | {} | {} | {} | {} |\n", n["rank"].get<int>(),
                     n["host"].get<std::string>(), n["status"].get<std::string>(),
                     n["flagged"].get<bool>() ? "**flagged**" : "healthy", ev);
  }
  s += fmt::format("\nFlagged ranks: {}\n",
                   d["flagged_ranks"].empty() ? std::string("none") : d["flagged_ranks"].dump());
  return s;
}

}  // namespace suanli::cluster
