// Certification profiles (suites/certify/*.json, schema certify-profile.schema.json): the
// workloads to sustain, for how long, and the limits a device must meet.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "suite/suite.h"

namespace suanli::certify {

// The limits of a profile ("criteria"); defaults as in the schema.
struct Limits {
  double min_claim_fraction = 0;
  double max_cv = 0;
  double max_throttle_drop = 0;
  double max_clock_drop = 0.05;
  double max_cache_speedup = 0.1;
  double window_fraction = 0.2;
};

// One expanded workload of a profile with its certification settings.
struct ProfileWorkload {
  Workload workload;  // as a suite would expand it; its seed is replaced at run time
  double sustain_s = 0;
  bool against_claim = false;
  bool cache_check = false;
  double cache_check_s = 0;
};

struct Profile {
  std::string name, description;
  std::string origin;       // "builtin:quick" or the file path
  std::string sha256;       // of the canonical JSON (canonical_json) of `document`
  nlohmann::json document;  // the profile as parsed, embedded in certificates
  bool shipped = false;     // `document` equals the shipped profile of the same name
  Limits limits;
  MeasureSettings settings;  // sample length, repetitions, warm-up
  std::vector<ProfileWorkload> workloads;
};

// The canonical JSON suanli hashes and signs: nlohmann's dump() with no indentation (object
// keys sorted, as nlohmann::json keeps objects in a std::map; no whitespace; UTF-8 as is;
// numbers in nlohmann's shortest round-trip form).
std::string canonical_json(const nlohmann::json& j);

// Parses and validates a profile document. Throws InputError naming `origin`, the JSON
// pointer and what was expected.
Profile parse_profile(const nlohmann::json& doc, const std::string& origin);
// NAME (a shipped profile: quick, standard, datacenter) or PATH (a .json file).
Profile load_profile(const std::string& name_or_path);

// The shipped profiles' names, sorted.
std::vector<std::string> shipped_profile_names();
// The canonical SHA-256 of the shipped profile `name`; empty when there is none.
std::string shipped_profile_sha256(const std::string& name);

// The workload of a cache check's fresh-input run: same op, name + "+fresh".
Workload fresh_input_workload(const Workload& w);
// The cache check's baseline twin ("NAME+refill"): the same inputs every call, with a decoy
// refill of the same size (new data into scratch buffers) before each timed call, so that it
// pays exactly what the fresh-input run pays outside the op (RunOptions::decoy_refill).
Workload decoy_refill_workload(const Workload& w);

}  // namespace suanli::certify
