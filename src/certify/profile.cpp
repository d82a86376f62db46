// Certification profiles: validate, expand the workloads through the suite parser, hash.
#include "certify/profile.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "report/file_io.h"
#include "report/hash.h"
#include "report/json_schema.h"

namespace suanli {
// Generated from suites/certify/*.json by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_certify_profiles();
}  // namespace suanli

namespace suanli::certify {
namespace {

using nlohmann::json;

// Keys of a profile workload that are not suite keys.
const char* const kCertifyKeys[] = {"sustain_s", "against_claim", "cache_check"};

// The index i of a suite workload's source "ORIGIN: /workloads/i".
size_t source_index(const std::string& source) {
  const std::string tag = "/workloads/";
  const auto at = source.rfind(tag);
  return static_cast<size_t>(std::stoul(source.substr(at + tag.size())));
}

}  // namespace

std::string canonical_json(const json& j) {
  return j.dump();
}

Profile parse_profile(const json& doc, const std::string& origin) {
  require_valid(doc, "certify-profile.schema.json", origin, "certification profile", "profiles");
  Profile p;
  p.origin = origin;
  p.document = doc;
  p.sha256 = sha256_hex(canonical_json(doc));
  p.name = doc["name"].get<std::string>();
  p.description = doc.value("description", "");
  p.shipped = shipped_profile_sha256(p.name) == p.sha256;
  const json& c = doc["criteria"];
  p.limits.min_claim_fraction = c["min_claim_fraction"].get<double>();
  p.limits.max_cv = c["max_cv"].get<double>();
  p.limits.max_throttle_drop = c["max_throttle_drop"].get<double>();
  p.limits.max_clock_drop = c.value("max_clock_drop", p.limits.max_clock_drop);
  p.limits.max_cache_speedup = c.value("max_cache_speedup", p.limits.max_cache_speedup);
  p.limits.window_fraction = c.value("window_fraction", p.limits.window_fraction);
  const double sustain = doc["sustain_s"].get<double>();

  // The workloads go through the suite parser (axes, shapes, their checks), stripped of the
  // certification keys; the synthesized suite keeps the profile's order, so its error
  // locations (/workloads/i/...) are the profile's.
  json suite = {{"suanli_suite", 1}, {"name", p.name}, {"workloads", json::array()}};
  if (doc.contains("settings")) suite["settings"] = doc["settings"];
  for (json w : doc["workloads"]) {
    for (const char* k : kCertifyKeys) w.erase(k);
    suite["workloads"].push_back(std::move(w));
  }
  const Suite s = parse_suite(suite.dump(), origin);
  p.settings = s.settings;
  for (const Workload& w : s.workloads) {
    const json& entry = doc["workloads"][source_index(w.source)];
    ProfileWorkload pw;
    pw.workload = w;
    pw.sustain_s = entry.value("sustain_s", sustain);
    pw.against_claim = entry.value("against_claim", false);
    pw.cache_check = entry.value("cache_check", false);
    pw.cache_check_s = doc.value("cache_check_s", pw.sustain_s / 2);
    p.workloads.push_back(std::move(pw));
  }
  return p;
}

Profile load_profile(const std::string& name_or_path) {
  if (!names_a_file(name_or_path)) {
    for (const auto& [file, text] : builtin_certify_profiles())
      if (file == name_or_path + ".json")
        return parse_profile(parse_json_text(std::string(text), "builtin:" + name_or_path),
                             "builtin:" + name_or_path);
    const auto names = shipped_profile_names();
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw InputError(fmt::format(
        "no shipped certification profile named '{}' (shipped: {}); give a path to a .json file "
        "for your own",
        name_or_path, list));
  }
  return parse_profile(read_json_file(name_or_path), name_or_path);
}

std::vector<std::string> shipped_profile_names() {
  std::vector<std::string> out;
  for (const auto& [file, text] : builtin_certify_profiles()) {
    std::string n(file);
    out.push_back(n.substr(0, n.size() - 5));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string shipped_profile_sha256(const std::string& name) {
  for (const auto& [file, text] : builtin_certify_profiles())
    if (file == name + ".json")
      return sha256_hex(canonical_json(parse_json_text(std::string(text), "builtin:" + name)));
  return "";
}

Workload decoy_refill_workload(const Workload& w) {
  Workload f = w;
  f.name = w.name + "+refill";
  f.id = fmt::format("{}.{}.{}", f.name, dtype_name(f.op.dtype), shape_string(f.op));
  return f;
}

Workload fresh_input_workload(const Workload& w) {
  Workload f = w;
  f.name = w.name + "+fresh";
  f.id = fmt::format("{}.{}.{}", f.name, dtype_name(f.op.dtype), shape_string(f.op));
  return f;
}

}  // namespace suanli::certify
