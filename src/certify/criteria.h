// Certification criteria: what a sustained run measured (throttling windows, caching check,
// claims), each as {measured, comparison, limit, verdict}, and the rule that derives a verdict
// from them. `certify` and `verify` use the same functions, so a verdict is a function of the
// numbers and the profile's limits only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "certify/profile.h"
#include "report/claims.h"
#include "report/report.h"
#include "report/report_reader.h"

namespace suanli::certify {

// Criterion names, stable: they are what certificates carry.
inline constexpr const char* kStatus = "status";              // measured: the result status == "ok"
inline constexpr const char* kVerification = "verification";  // verification error <= its bound
inline constexpr const char* kSustained = "sustained_s";      // sampling seconds >= sustain_s
inline constexpr const char* kCv = "cv";  // samples' robust CV (1.4826 MAD/median) <= max_cv
inline constexpr const char* kThrottle = "throttle_drop";     // 1 - last/first window <= max
inline constexpr const char* kClock = "clock_drop";           // telemetry clock, same windows
inline constexpr const char* kClaim = "claim_fraction";       // median throughput / claim >= min
inline constexpr const char* kCache = "cache_speedup";        // fresh / repeated median - 1 <= max
// Marks the harness put on the main run that disqualify its figure (timing: device time below
// half the harness's wall time; above_peak: over the theoretical peak; noisy): count <= 0.
inline constexpr const char* kTrusted = "trusted_figures";
// The CV criterion needs this many samples to mean anything; fewer: not evaluated.
inline constexpr size_t kCvMinSamples = 10;

enum class Verdict { pass, fail, not_evaluated };
std::string_view verdict_name(Verdict v);  // PASS, FAIL, NOT_EVALUATED

// A drop between the first and the last window of a series.
struct WindowDrop {
  bool evaluated = false;
  std::string why;   // when not evaluated
  int window = 0;    // samples per window
  double first = 0;  // the first window's level ...
  double last = 0;   // ... and the last's
  double drop = 0;   // 1 - throughput(last) / throughput(first)
};

// Throughput drop of a time series of seconds per op, in order: each window holds
// max(1, floor(n * fraction)) samples and its level is the median seconds per op;
// drop = 1 - median(first) / median(last), i.e. 1 - (last window's throughput / first's).
// Not evaluated with fewer than 2 samples.
WindowDrop throughput_drop(const std::vector<double>& samples_s, double fraction);

// Drop of a level (clock MHz) sampled at times t_s over [0, duration_s]: the first window is
// t < fraction * duration, the last t >= (1 - fraction) * duration, each level is the mean of
// its finite values; drop = 1 - last / first. Not evaluated when a window has no finite value.
WindowDrop level_drop(const std::vector<double>& t_s, const std::vector<double>& values,
                      double duration_s, double fraction);

// Telemetry sampled while a workload's timed sampling ran; NaN where the device did not say.
struct TelemetrySeries {
  std::vector<double> t_s, clock_mhz, power_w, temperature_c;
  double duration_s = 0;
};
nlohmann::json telemetry_series_json(const TelemetrySeries& s);  // NaN -> null
TelemetrySeries telemetry_series_from_json(const nlohmann::json& j);

// What a criterion needs of one run, from a Result (certify) or from its report JSON (verify).
struct RunFacts {
  std::string status;  // ok, unsupported, skipped, failed, error
  std::string reason;
  bool verified = false;
  std::string verification_method;
  double verification_error = 0, verification_bound = 0;
  double sampling_s = 0;
  std::vector<double> samples_s;
  double flops_per_second = 0;                             // median; 0 for bandwidth ops
  std::vector<std::pair<std::string, std::string>> marks;  // (kind, detail), from the runner
};
RunFacts facts_from_result(const Result& r);
RunFacts facts_from_report_result(const ReportResult& r);

// Everything criteria are derived from, for one workload on one device.
struct Evidence {
  std::string backend;
  int device = 0;
  std::string device_name;
  const ProfileWorkload* workload = nullptr;
  RunFacts main;
  std::optional<RunFacts> fresh;     // the cache check's fresh-input run, when it ran
  std::optional<RunFacts> baseline;  // its decoy-refill twin (same inputs); absent: the main run
  std::optional<TelemetrySeries> telemetry;  // of the main run
  const Claims* claims = nullptr;            // null: no claims file
};

// The criteria of one workload on one device, in a fixed order: the main run's (status,
// verification, sustained_s, cv, throttle_drop, clock_drop, claim_fraction), then the
// fresh-input run's (status, verification) and cache_speedup. Which appear depends on the
// statuses only (see required_criteria).
std::vector<nlohmann::json> evaluate(const Evidence& e, const Limits& limits);

// The criteria (workload id, name) that must appear for a workload given the statuses of its
// main and fresh-input runs ("" when that run did not happen).
std::vector<std::pair<std::string, std::string>> required_criteria(const ProfileWorkload& pw,
                                                                   const std::string& main_status,
                                                                   const std::string& fresh_status);

// The verdict a criterion's numbers give: null measured -> NOT_EVALUATED; status: "ok" PASS,
// "unsupported" NOT_EVALUATED unless basis.claimed, else FAIL; numbers compared with `<=` or
// `>=` against the limit; anything else FAIL.
Verdict derive_verdict(const nlohmann::json& criterion);

// The comparison a FAIL line shows: the one that held ("5.6 > 0.3" for a failed "<="); the
// criterion's own comparison otherwise.
std::string shown_comparison(const nlohmann::json& criterion);

// The overall verdict: FAIL if any criterion fails or none passed, else PASS.
Verdict overall_verdict(const std::vector<nlohmann::json>& criteria);

// The limit a profile sets for a criterion of a workload (status and verification have
// none from the profile: null).
nlohmann::json profile_limit(const std::string& criterion, const ProfileWorkload& pw,
                             const Limits& limits);

}  // namespace suanli::certify
