// One result of a report flattened to named text fields: what every exporter reads.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "export/export.h"

namespace suanli::exports {

struct ResultRow {
  std::string report, host, suite, backend, device, device_name, workload, name, op, dtype, shape;
  std::string model, mode, batch;  // model workloads only
  std::string status, verified;    // verified: "true", "false" or "" (no verification ran)
  bool measured = false;           // has a median time (status ok or failed)
  double time_median_s = 0, time_min_s = 0, time_cv = 0;
  int samples = 0;
  double flops_per_second = -1, bytes_per_second = -1, peak_fraction = -1;
  double samples_per_second = -1;  // models: images or sequences per second
  std::string throughput_unit, sample_unit, library, implementation, reason;
  const nlohmann::json* result = nullptr;  // the result in the report
};

// The results of one report, in report order.
std::vector<ResultRow> result_rows(const ReportDoc& report);

// A number as the exports write it: shortest round-trip decimal ("1.5e+11"), empty when < 0
// and `absent_below_zero`.
std::string number_text(double v, bool absent_below_zero = true);

}  // namespace suanli::exports
