// The typed report reader: a report document (already schema-checked and hash-verified by
// check_report) read once into structs, so that rate, compare, certify and diagnose read fields by
// name instead of by string key. Absent optional figures stay absent (std::optional), so that
// every reader keeps its own default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/report.h"

namespace suanli {

struct ReportPeak {
  std::string dtype;
  double ops_per_second = 0;
  std::string derivation;
};

struct ReportDevice {
  int index = 0;
  std::string name, vendor, kind;  // kind: cpu, gpu, accelerator
  double memory_bytes = 0;
  int compute_units = 0;
  double clock_mhz = 0, max_clock_mhz = -1;  // max < 0: not reported
  std::vector<ReportPeak> peaks;
  nlohmann::json extra;  // backend-specific, as reported (null when absent)
};

struct ReportBackend {
  std::string name, version, path;
  std::vector<ReportDevice> devices;
};

struct ReportVerification {
  std::string method;
  bool passed = false;
  double error = 0;  // a non-finite error is written as null: read as +infinity
  double bound = 0;  // null: NaN
  std::string detail;
};

// HPL and HPL-MxP results (src/hpl).
struct ReportHpl {
  int64_t n = 0, nb = 0;
  std::optional<int64_t> refinement_iterations;  // HPL-MxP: GMRES iterations
};

// A model workload's metrics (src/model), the fields readers use; model_run.cpp writes them
// (Result::model) with more detail (per-sample FLOPs, weights, KV cache, ...).
struct ModelMetrics {
  std::string model, origin;
  std::string mode = "inference";  // inference or training
  int64_t batch = 0;
  std::string sample_unit;  // "images", "tokens", ...
  std::optional<double> samples_per_second, samples_per_second_best;
  std::optional<double> tokens_per_second, weight_kv_bytes_per_second;
  struct Latency {
    int64_t queries = 0;
    double p50 = 0, p90 = 0, p99 = 0;
  };
  std::optional<Latency> latency;  // batch 1: single-stream latency in seconds
};
ModelMetrics read_model_metrics(const nlohmann::json& model);

struct ReportResult {
  std::string workload, name, op, dtype, backend, status, reason;
  int device = 0;
  std::string shape_text;
  std::string shape_kind;  // stream: copy, scale, add, triad ("" for other ops)
  std::optional<std::string> throughput_unit;
  double flops = 0, bytes = 0;  // per op
  std::optional<double> flops_per_second, bytes_per_second;
  std::optional<double> flops_per_second_best;  // at the fastest sample
  std::vector<double> samples_s;
  std::optional<TimeStats> time;
  std::optional<double> noise_reached_cv, noise_seconds;
  std::optional<TelemetrySummary> telemetry;  // figures < 0 where absent
  bool marked = false;                        // a non-empty "marks" array
  std::vector<ResultMark> marks;              // its well-formed entries
  std::optional<ReportVerification> verification;
  std::optional<ReportHpl> hpl;
  std::optional<ModelMetrics> model;  // model workloads only

  // Only results that ran, finished and whose output was checked and found right count.
  bool counts() const { return status == "ok" && verification && verification->passed; }
  // The marks' kinds joined by "," (empty when unmarked).
  std::string mark_kinds() const;
  // Power mean during the timed run from telemetry; < 0: none.
  double power_w() const { return telemetry ? telemetry->power_w_mean : -1; }
};

// A telemetry series the certification run kept for one workload (certify/run.cpp).
struct ReportTelemetry {
  std::string backend;
  int device = 0;
  std::string workload;
  nlohmann::json series;
};

struct ReportDocument {
  std::string schema_version, sha256;
  std::string hostname;
  bool concurrent_devices = false;  // options.concurrent_devices == "true"
  nlohmann::json seed;              // suite.settings.seed (null when absent)
  // A certification run's record: its seed (null when absent) and telemetry series.
  nlohmann::json certification_seed;
  std::vector<ReportTelemetry> certification_telemetry;
  std::vector<ReportBackend> backends;
  std::vector<ReportResult> results;
  // The built-in peak probe's results (`peak_probes`: a peak kernel per device and dtype the
  // suite did not measure itself); empty in reports written before the probe existed.
  std::vector<ReportResult> peak_probes;
  bool peak_probe_off = false;  // options.peak_probe == "off"

  // The result of one workload on one device; nullptr when the report has none.
  const ReportResult* find(const std::string& backend, int device,
                           const std::string& workload) const;
};

// Reads a report that check_report accepted. Throws InputError naming `origin` when a field the
// schema requires is missing or of the wrong type.
ReportDocument read_report(const nlohmann::json& report, const std::string& origin = "report");
ReportResult read_report_result(const nlohmann::json& result);

}  // namespace suanli
