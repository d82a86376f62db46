// The cluster report (see cluster_report.h).
#include "cluster/cluster_report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "harness/run_report.h"
#include "report/hash.h"
#include "report/json_schema.h"
#include "report/report.h"

namespace suanli {
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_suites();
}

namespace suanli::cluster {
namespace {

using nlohmann::json;

// Members a node entry adds to the rank's own report.
constexpr const char* kNodeOnlyFields[] = {"rank", "status", "reason", "mpi_host", "test_slowdown"};

}  // namespace

double result_value(const json& r, std::string* unit) {
  if (!r.is_object() || r.value("status", "") != "ok") return -1;
  auto pick = [&](const char* field, const char* u) {
    if (!r.contains(field) || !r[field].is_number() || !(r[field].get<double>() > 0)) return -1.0;
    if (unit) *unit = u;
    return r[field].get<double>();
  };
  if (r.contains("model") && r["model"].is_object()) {
    const json& m = r["model"];
    if (m.contains("samples_per_second") && m["samples_per_second"].is_number()) {
      if (unit) *unit = "samples/s";
      return m["samples_per_second"].get<double>();
    }
  }
  const double f = pick("flops_per_second", r.value("throughput_unit", "FLOP/s").c_str());
  if (f > 0) return f;
  return pick("bytes_per_second", "B/s");
}

std::string result_key(const json& r) {
  return fmt::format("{}:{} {}", r.value("backend", "?"), r.value("device", 0),
                     r.value("workload", "?"));
}

json cluster_aggregates(const json& nodes) {
  struct Acc {
    json first;
    std::string unit;
    std::vector<double> values;
    std::vector<int> ranks;
  };
  std::map<std::string, Acc> by_key;
  std::vector<std::string> order;
  for (const json& n : nodes) {
    if (!n.contains("results")) continue;
    for (const json& r : n["results"]) {
      const std::string key = result_key(r);
      auto [it, inserted] = by_key.try_emplace(key);
      if (inserted) {
        order.push_back(key);
        it->second.first = r;
      }
      std::string unit;
      const double v = result_value(r, &unit);
      if (v < 0) continue;
      it->second.unit = unit;
      it->second.values.push_back(v);
      it->second.ranks.push_back(n.value("rank", -1));
    }
  }
  json out = json::array();
  for (const std::string& key : order) {
    const Acc& a = by_key[key];
    json j = {{"key", key},
              {"workload", a.first.value("workload", "")},
              {"backend", a.first.value("backend", "")},
              {"device", a.first.value("device", 0)},
              {"op", a.first.value("op", "")},
              {"dtype", a.first.value("dtype", "")},
              {"nodes", a.values.size()}};
    if (!a.values.empty()) {
      const auto [mn, mx] = std::minmax_element(a.values.begin(), a.values.end());
      double sum = 0;
      for (double v : a.values) sum += v;
      const double med = median_of(a.values);
      j["unit"] = a.unit;
      j["sum"] = sum;
      j["min"] = *mn;
      j["median"] = med;
      j["max"] = *mx;
      j["spread"] = med > 0 ? (*mx - *mn) / med : 0.0;
      j["min_rank"] = a.ranks[static_cast<size_t>(mn - a.values.begin())];
    }
    out.push_back(std::move(j));
  }
  return out;
}

json lost_node(int rank, const std::string& host, const std::string& status,
               const std::string& reason) {
  return {{"rank", rank},     {"host", {{"hostname", host}}},
          {"mpi_host", host}, {"status", status},
          {"reason", reason}, {"results", json::array()}};
}

json make_cluster_report(const ClusterMeta& meta, std::vector<json> nodes, json fabric) {
  json j;
  j["suanli_cluster"] = fmt::format("{}.{}", kClusterSchemaMajor, kClusterSchemaMinor);
  j["suanli"] = build_info_json();
  j["command"] = meta.command;
  j["started_utc"] = meta.started_utc;
  j["finished_utc"] = meta.finished_utc;
  j["suite"] = meta.suite;
  j["mpi"] = meta.mpi;
  j["test_hooks"] = meta.test_hooks;
  std::sort(nodes.begin(), nodes.end(),
            [](const json& a, const json& b) { return a.value("rank", 0) < b.value("rank", 0); });
  json tally = {{"nodes", nodes.size()}, {"ok", 0}, {"failed", 0}, {"error", 0}, {"lost", 0}};
  for (const json& n : nodes) {
    const std::string s = n.value("status", "error");
    tally[tally.contains(s) ? s : "error"] = tally[tally.contains(s) ? s : "error"].get<int>() + 1;
  }
  j["aggregates"] = cluster_aggregates(json(nodes));
  j["nodes"] = std::move(nodes);
  j["fabric"] = {{"results", std::move(fabric)}};
  j["tally"] = tally;
  j["sha256"] = report_sha256(j);
  return j;
}

MarkedSuite parse_marked_suite(const std::string& text, const std::string& origin,
                               const char* marker, const char* default_name) {
  MarkedSuite m;
  m.doc = parse_json_text(text, origin);
  if (!m.doc.is_object() || !m.doc.contains(marker) || m.doc[marker] != 1)
    throw InputError(fmt::format("{}: expected \"{}\": 1 at /", origin, marker));
  m.name = m.doc.value("name", default_name);
  m.description = m.doc.value("description", "");
  m.origin = origin;
  m.sha256 = sha256_hex(text);
  return m;
}

MarkedSuite load_marked_suite(const std::string& name_or_path, const char* marker,
                              const char* default_name) {
  const std::string quoted = fmt::format("\"{}\"", marker);
  for (const auto& [file, text] : builtin_suites())
    if (file == name_or_path + ".json" && text.find(quoted) != std::string_view::npos)
      return parse_marked_suite(std::string(text), "builtin:" + name_or_path, marker, default_name);
  return parse_marked_suite(read_text_file(name_or_path, "suite file"), name_or_path, marker,
                            default_name);
}

bool is_cluster_report(const json& doc) {
  return doc.is_object() && doc.contains("suanli_cluster");
}

void check_cluster_report(const json& doc, const std::string& origin) {
  if (!is_cluster_report(doc) || !doc["suanli_cluster"].is_string())
    throw InputError(fmt::format(
        "{}: not a suanli cluster report (no \"suanli_cluster\" version string at /)", origin));
  const std::string v = doc["suanli_cluster"].get<std::string>();
  if (std::atoi(v.c_str()) != kClusterSchemaMajor)
    throw InputError(
        fmt::format("{}: cluster report version {} is not readable by this suanli, "
                    "which reads major version {} (at /suanli_cluster)",
                    origin, v, kClusterSchemaMajor));
  const auto errors = validate_against_schema(doc, "cluster.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format("{}: not a valid cluster report: at {}: {}", origin,
                                 errors.front().path, errors.front().message));
  if (!doc.contains("sha256") || doc["sha256"] != report_sha256(doc))
    throw InputError(fmt::format(
        "{}: cluster report hash mismatch at /sha256: the file was edited after it was written",
        origin));
}

json node_report(const json& node, const std::string& origin) {
  if (!node.contains("schema_version")) return nullptr;
  json r = node;
  for (const char* f : kNodeOnlyFields) r.erase(f);
  const std::string where = fmt::format("{} (node of rank {})", origin, node.value("rank", -1));
  check_report(r, where);
  return r;
}

}  // namespace suanli::cluster
