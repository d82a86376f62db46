// `suanli compare`: two reports, workload by workload, with a regression verdict that accounts
// for the noise both runs measured.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace suanli::rate {

enum class Verdict {
  within_noise,      // |change| within the combined noise of the two runs
  faster,            // beyond noise, above 1, below the threshold
  slower,            // beyond noise, below 1, within the threshold
  improvement,       // beyond noise and beyond the threshold, faster
  regression,        // beyond noise and beyond the threshold, slower; or ok -> failed/error
  not_measured_now,  // ok before, unsupported or skipped now
  now_ok,            // not ok before, ok now
  not_ok_both,       // neither run has a verified figure
  only_old,
  only_new,
};
std::string_view verdict_name(Verdict v);

struct CompareOptions {
  double threshold = 0.05;  // relative change that counts as a regression (0.05 = 5 %)
  double noise_sigmas = 2;  // noise band = sigmas x sqrt(cv_old^2 + cv_new^2)
};

struct CompareRow {
  std::string backend, workload, op, dtype, shape, unit;  // unit: FLOP/s, OP/s, B/s
  int device = 0;
  std::string device_old, device_new;  // device names (may differ when comparing machines)
  std::string status_old, status_new;
  double old_rate = -1, new_rate = -1;  // median-time throughput of verified ok results
  double old_cv = -1, new_cv = -1;
  double ratio = -1;  // new / old
  double noise = -1;  // relative half-width of the noise band
  Verdict verdict = Verdict::not_ok_both;
};

struct Comparison {
  std::string old_path, new_path;
  CompareOptions options;
  std::vector<CompareRow> rows;
  int regressions() const;
  std::string tally() const;  // "compared: 22  regressions: 1  improvements: 0  ..."
};

// Both reports are checked (schema version, schema, hash); InputError names the bad one.
Comparison compare_reports(const nlohmann::json& old_report, const std::string& old_path,
                           const nlohmann::json& new_report, const std::string& new_path,
                           const CompareOptions& options);
Comparison compare_files(const std::string& old_path, const std::string& new_path,
                         const CompareOptions& options);

std::string render_comparison_text(const Comparison& c);
std::string render_comparison_markdown(const Comparison& c);
nlohmann::json comparison_to_json(const Comparison& c);

}  // namespace suanli::rate
