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

struct TelemetrySummary {
  int samples = 0;
  double power_w_mean = -1;  // < 0: not available
  double energy_j = -1;
  double temperature_c_max = -1;
  double clock_mhz_mean = -1;
};

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
  std::string stop_reason;
  bool verified = false;  // verification ran
  verify::Verification verification;
  TelemetrySummary telemetry;
  // Model workloads: model, batch, samples/s, latency percentiles, ... (null for kernels);
  // result_to_json writes it as "model" and reports the op as "model".
  nlohmann::json model;
  // A result that came back from an isolated worker or a journal: result_to_json returns this
  // document as it was recorded (the fields above hold what the harness needs of it).
  nlohmann::json recorded;
};

struct Tally {
  size_t results = 0, ok = 0, unsupported = 0, skipped = 0, failed = 0, error = 0;
};
Tally tally(const std::vector<Result>& results);
std::string tally_line(const Tally& t);  // "results: 42  ok: 40  unsupported: 2  ..."

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
