// The report model: one run's host, backends, devices, suite and verified results, as
// schema-versioned JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/op.h"
#include "report/file_io.h"
#include "verify/verify.h"

namespace suanli {

// Report format version, apart from the tool's (nvbench's file version idea):
// readers refuse another major version.
constexpr int kReportSchemaMajor = 1;
constexpr int kReportSchemaMinor = 0;

// Result statuses, after benchdnn/clpeak: ok; unsupported (the device cannot
// do it natively); skipped (not run, e.g. filtered or over a limit); failed
// (ran, but verification failed); error (the run broke).
enum class Status { ok, unsupported, skipped, failed, error };
std::string_view status_name(Status s);

struct TimeStats {
  int samples = 0;
  double mean = 0, median = 0, stddev = 0, cv = 0, min = 0, max = 0;  // seconds per op
};
TimeStats compute_stats(const std::vector<double>& samples);
// The median (the mean of the two middle values for an even count; 0 for no values).
double median_of(std::vector<double> values);
// The median absolute deviation of `values` from `median`.
double median_absolute_deviation(const std::vector<double>& values, double median);
// The "time_s" object of a result: the statistics of its samples.
nlohmann::json time_stats_json(const TimeStats& t);
// Robust coefficient of variation: 1.4826 x the median absolute deviation / the median (the
// factor makes it equal the CV for normally distributed samples). One sample in twenty slowed
// by a scheduler hiccup moves the CV by 0.4 and this by almost nothing; a spread of the bulk of
// the samples (a device that alternates between two speeds) moves both. 0 for no samples.
double robust_cv(const std::vector<double>& samples);

struct TelemetrySummary {
  int samples = 0;
  double power_w_mean = -1;  // < 0: not available
  double energy_j = -1;
  double temperature_c_max = -1;
  double clock_mhz_mean = -1;
};

// Why timed sampling stopped (reported as the text of stop_reason_text).
enum class StopReason {
  none,          // sampling did not finish (an error)
  noise_target,  // the samples' CV reached the suite's max_noise
  time_limit,    // max_time ran out before the noise target was reached
  sample_cap,    // the engine's cap of kMaxSamples samples
  sustained,     // sustain_s (certification) elapsed
  single_run,    // the workload is timed as one run (HPL: one solve)
};
std::string_view stop_reason_text(StopReason s);  // "noise target reached", ...
inline constexpr size_t kMaxSamples = 1000;

// Host wall time the harness measured around every timed execute call (through the backend's
// synchronize), beside the device time the plugin reported for the same calls.
struct HostTiming {
  int64_t calls = 0;
  double device_s = 0, wall_s = 0;  // summed over the calls
  double device_over_wall() const { return wall_s > 0 ? device_s / wall_s : -1; }
  double call_wall_mean_s() const { return calls > 0 ? wall_s / static_cast<double>(calls) : 0; }
};

// The host interference probe (a dependent imul chain on every CPU the harness may use), in
// chain steps per second, before and after the timed sampling; reference: the fastest probe
// seen since the run began (before, when the workload ran alone).
struct HostProbe {
  double before = -1, after = -1, reference = -1;  // < 0: not run
  double slowdown = 0;                             // 1 - min(before, after) / reference
};

// Marks on a result whose figure the harness cannot stand behind; a marked result is kept in
// the report but left out of Rmax and certification (unless the user includes marked results).
//   noisy:      CV still above the suite's max_noise when the time limit or sample cap ended it
//   slowdown:   the host probe ran slower than at the start (another tenant, throttling)
//   timing:     device time implausibly lower than the harness's wall time
//   above_peak: throughput above the device's theoretical peak by more than kAbovePeakTolerance
struct ResultMark {
  std::string kind;
  std::string detail;
};
inline constexpr double kSlowdownThreshold = 0.15;       // probe slowdown that marks
inline constexpr double kTimingMinCallWall = 1e-3;       // calls at least this long are judged ...
inline constexpr double kTimingMinDeviceOverWall = 0.5;  // ... and device/wall below this marks
inline constexpr double kAbovePeakTolerance = 1.05;      // throughput / theoretical peak above this
// The peak self-check: measured peak kernel / theoretical peak outside this range is suspect.
inline constexpr double kPeakCheckLow = 0.85, kPeakCheckHigh = 1.03;

struct Result {
  std::string workload;  // workload id
  std::string name;
  std::string backend;
  int device = 0;
  OpDesc op;
  Status status = Status::error;
  std::string reason;  // set whenever status != ok
  std::string library, implementation;
  int64_t iterations_per_sample = 0;  // ops per Google Benchmark iteration ...
  int64_t iterations = 0;             // ... and ops timed in all
  std::vector<double> samples;        // seconds per op, one per repetition, in order
  TimeStats time;
  double flops = 0, bytes = 0;       // per op, from src/core
  double flops_per_second = 0;       // at the median time
  double flops_per_second_best = 0;  // at the minimum time
  double bytes_per_second = 0;
  double peak_fraction = -1;  // flops_per_second / device peak of the dtype; < 0: unknown
  // The stopping rule: target CV, CV reached, rounds, why sampling stopped.
  double noise_target = 0, noise_reached = 0, sampling_seconds = 0;
  int rounds = 0;
  StopReason stop_reason = StopReason::none;
  bool noisy = false;  // CV above the target when the time limit / sample cap stopped sampling
  HostTiming host_timing;
  HostProbe probe;
  std::vector<ResultMark> marks;
  bool verified = false;  // verification ran
  verify::Verification verification;
  TelemetrySummary telemetry;
  // Model workloads: model, batch, samples/s, latency percentiles, ... (null for kernels);
  // result_to_json writes it as "model" and reports the op as "model".
  nlohmann::json model;
  // HPL / HPL-MxP workloads (src/hpl): n, nb, precision, refinement, placement (null otherwise);
  // result_to_json writes it as "hpl" and reports the op as "hpl" or "hpl_mxp".
  nlohmann::json hpl;
  // A result that came back from an isolated worker or a journal: result_to_json returns this
  // document as it was recorded (the fields above hold what the harness needs of it).
  nlohmann::json recorded;
};

struct Tally {
  size_t results = 0, ok = 0, unsupported = 0, skipped = 0, failed = 0, error = 0;
  size_t noisy = 0, slowdown = 0, timing = 0, above_peak = 0;  // marked results, by mark
};
Tally tally(const std::vector<Result>& results);
std::string tally_line(const Tally& t);  // "results: 42  ok: 40  unsupported: 2  ..."

// True when the report result (JSON) carries a mark of any kind; the marks' kinds joined by ","
// otherwise empty.
bool result_is_marked(const nlohmann::json& r);
std::string result_mark_kinds(const nlohmann::json& r);

// The peak self-check of one device and dtype: the best verified, unmarked peak-kernel
// throughput of the run's suite (source "suite") or, where the suite measured none, of the
// built-in peak probe (source "probe"), against the device's theoretical peak.
struct PeakCheck {
  std::string backend;
  int device = 0;
  Dtype dtype = Dtype::invalid;
  double theoretical = 0;
  double measured = -1;  // < 0: not checked
  std::string workload;  // the peak workload that measured it
  std::string source;    // "suite" or "probe"; empty when not checked
  // The probe's marks (noisy, slowdown, ...) when it ran on a busy machine and its figure cannot
  // tell a wrong theory from the disturbance: the check is "inconclusive".
  std::string inconclusive;
  // "median", or "fastest sample" for a probe marked only noisy whose least disturbed sample
  // still misses the range (a busy machine only slows a kernel down: the peak is suspect).
  std::string figure = "median";
  std::string why_not;  // not checked: why
  double ratio() const { return measured >= 0 && theoretical > 0 ? measured / theoretical : -1; }
  bool checked() const { return measured >= 0 && theoretical > 0 && inconclusive.empty(); }
  bool suspect() const {
    return checked() && (ratio() < kPeakCheckLow || ratio() > kPeakCheckHigh);
  }
  std::string status() const;  // ok, suspect, inconclusive, not checked
};
// The checks of every device peak a report declares, from its results and its peak probes.
std::vector<PeakCheck> peak_checks(const nlohmann::json& report);
nlohmann::json peak_check_json(const PeakCheck& c);
// The inverse (a certificate's or a report's recorded check); missing fields stay unset.
PeakCheck peak_check_from_json(const nlohmann::json& j);
// "cpu:0 fp32 theoretical 1.20 TFLOP/s, peak kernel (probe) 180 GFLOP/s (15.0%): SUSPECT ..."
std::string peak_check_line(const PeakCheck& c);

nlohmann::json result_to_json(const Result& r);
// The inverse for what the harness needs between processes (identity, status, reason, op kind,
// dtype, figures); the whole document is kept in Result::recorded. Throws InputError when a
// field is missing or of the wrong type.
Result result_from_json(const nlohmann::json& j);
nlohmann::json op_shape_json(const OpDesc& op);

// The document's SHA-256: over the canonical JSON (sorted keys, no spaces)
// of the report without its own "sha256" member.
std::string report_sha256(const nlohmann::json& report);
// Sets report["sha256"].
void seal_report(nlohmann::json& report);

// write_file_atomic and the checks on output paths: report/file_io.h.

// Checks a report read from disk: schema major version first (a clear
// message for another version), then the schema, then the hash. Throws
// InputError naming `origin`.
void check_report(const nlohmann::json& report, const std::string& origin);

}  // namespace suanli
