// The report model as JSON: statistics, result serialisation, hashing, atomic writing and checking.
#include "report/report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/error.h"
#include "report/hash.h"
#include "report/json_schema.h"

namespace suanli {

using nlohmann::json;

std::string_view status_name(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::unsupported:
      return "unsupported";
    case Status::skipped:
      return "skipped";
    case Status::failed:
      return "failed";
    case Status::error:
      return "error";
  }
  return "error";
}

TimeStats compute_stats(const std::vector<double>& v) {
  TimeStats t;
  t.samples = static_cast<int>(v.size());
  if (v.empty()) return t;
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  double sum = 0;
  for (double x : s) sum += x;
  t.mean = sum / static_cast<double>(s.size());
  const size_t n = s.size();
  t.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  double ss = 0;
  for (double x : s) ss += (x - t.mean) * (x - t.mean);
  // Sample standard deviation, as Google Benchmark's aggregates compute it.
  t.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  t.cv = t.mean > 0 ? t.stddev / t.mean : 0.0;
  t.min = s.front();
  t.max = s.back();
  return t;
}

Tally tally(const std::vector<Result>& results) {
  Tally t;
  t.results = results.size();
  for (const Result& r : results) {
    switch (r.status) {
      case Status::ok:
        ++t.ok;
        break;
      case Status::unsupported:
        ++t.unsupported;
        break;
      case Status::skipped:
        ++t.skipped;
        break;
      case Status::failed:
        ++t.failed;
        break;
      case Status::error:
        ++t.error;
        break;
    }
  }
  return t;
}

std::string tally_line(const Tally& t) {
  return fmt::format("results: {}  ok: {}  unsupported: {}  skipped: {}  failed: {}  error: {}",
                     t.results, t.ok, t.unsupported, t.skipped, t.failed, t.error);
}

json op_shape_json(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::gemm: {
      const GemmShape& g = op.gemm();
      return {{"m", g.m},
              {"n", g.n},
              {"k", g.k},
              {"batch", g.batch},
              {"trans_a", g.trans_a},
              {"trans_b", g.trans_b}};
    }
    case OpKind::conv2d: {
      const Conv2dShape& c = op.conv2d();
      return {{"n", c.n},
              {"c", c.c},
              {"h", c.h},
              {"w", c.w},
              {"k", c.k},
              {"r", c.r},
              {"s", c.s},
              {"stride", {c.stride_h, c.stride_w}},
              {"pad", {c.pad_h, c.pad_w}},
              {"dilation", {c.dil_h, c.dil_w}},
              {"groups", c.groups},
              {"p", c.p()},
              {"q", c.q()}};
    }
    case OpKind::peak:
      return {{"elements", op.peak().elements}, {"depth", op.peak().depth}};
    case OpKind::stream:
      return {{"kind", std::string(stream_kind_name(op.stream().kind))}, {"n", op.stream().n}};
  }
  return json::object();
}

json result_to_json(const Result& r) {
  if (!r.recorded.is_null()) return r.recorded;
  const OperandTypes types = operand_types(r.op);
  json j = {{"workload", r.workload},
            {"name", r.name},
            {"op", std::string(op_kind_name(r.op.kind))},
            {"dtype", std::string(dtype_name(r.op.dtype))},
            {"accumulate", std::string(dtype_name(types.compute))},
            {"shape", op_shape_json(r.op)},
            {"shape_text", shape_string(r.op)},
            {"backend", r.backend},
            {"device", r.device},
            {"status", std::string(status_name(r.status))},
            {"flops", r.flops},
            {"bytes", r.bytes}};
  json operands = json::object();  // the storage types, where the op has that operand
  for (const auto& [name, t] : {std::pair{"a", types.a}, {"b", types.b}, {"c", types.c}})
    if (t != Dtype::invalid) operands[name] = std::string(dtype_name(t));
  j["operands"] = operands;
  if (r.status != Status::ok) j["reason"] = r.reason;
  if (!r.library.empty()) j["library"] = r.library;
  if (!r.implementation.empty()) j["implementation"] = r.implementation;
  if (!r.samples.empty()) {
    j["iterations"] = r.iterations;
    j["iterations_per_sample"] = r.iterations_per_sample;
    j["samples_s"] = r.samples;
    j["time_s"] = {{"samples", r.time.samples}, {"mean", r.time.mean}, {"median", r.time.median},
                   {"stddev", r.time.stddev},   {"cv", r.time.cv},     {"min", r.time.min},
                   {"max", r.time.max}};
    j["throughput_unit"] = !op_is_compute_bound(r.op)     ? "B/s"
                           : dtype_is_integer(r.op.dtype) ? "OP/s"
                                                          : "FLOP/s";
    if (op_is_compute_bound(r.op)) {
      j["flops_per_second"] = r.flops_per_second;
      j["flops_per_second_best"] = r.flops_per_second_best;
      if (r.peak_fraction >= 0) j["peak_fraction"] = r.peak_fraction;
    }
    if (r.bytes > 0) j["bytes_per_second"] = r.bytes_per_second;
    j["noise"] = {{"target_cv", r.noise_target},
                  {"reached_cv", r.noise_reached},
                  {"rounds", r.rounds},
                  {"stop_reason", r.stop_reason},
                  {"seconds", r.sampling_seconds}};
  }
  if (r.verified)
    j["verification"] = {{"method", r.verification.method},
                         {"passed", r.verification.passed},
                         {"error", r.verification.error},
                         {"bound", r.verification.bound},
                         {"detail", r.verification.detail}};
  if (r.telemetry.samples > 0) {
    json t = {{"samples", r.telemetry.samples}};
    if (r.telemetry.power_w_mean >= 0) t["power_w_mean"] = r.telemetry.power_w_mean;
    if (r.telemetry.energy_j >= 0) t["energy_j"] = r.telemetry.energy_j;
    if (r.telemetry.temperature_c_max >= 0) t["temperature_c_max"] = r.telemetry.temperature_c_max;
    if (r.telemetry.clock_mhz_mean >= 0) t["clock_mhz_mean"] = r.telemetry.clock_mhz_mean;
    j["telemetry"] = t;
  }
  if (!r.model.is_null()) {  // a whole network (src/model): its own op, shape and figures
    j["op"] = "model";
    j["operands"] = json::object();
    j["accumulate"] = std::string(dtype_name(types.compute));
    j["shape"] = {{"model", r.model.value("model", "")}, {"batch", r.model.value("batch", 0)}};
    j["shape_text"] = fmt::format("batch {}", r.model.value("batch", 0));
    if (r.model.value("mode", "inference") == "training") {
      j["shape"]["mode"] = "training";
      j["shape_text"] = fmt::format("batch {}, training step", r.model.value("batch", 0));
    }
    j["model"] = r.model;
  }
  return j;
}

std::string report_sha256(const json& report) {
  json copy = report;
  copy.erase("sha256");
  copy.erase("signature");  // a keyed signature over the hash (certify/report_sign.h)
  // nlohmann's objects keep keys sorted, so dump() without indentation is canonical.
  return sha256_hex(copy.dump());
}

void seal_report(json& report) {
  report["sha256"] = report_sha256(report);
}

void check_report(const json& report, const std::string& origin) {
  if (!report.is_object() || !report.contains("schema_version") ||
      !report["schema_version"].is_string())
    throw InputError(
        fmt::format("{}: not a suanli report (no \"schema_version\" string at /)", origin));
  const std::string v = report["schema_version"].get<std::string>();
  const int major = std::atoi(v.c_str());
  if (major != kReportSchemaMajor)
    throw InputError(
        fmt::format("{}: report schema version {} is not readable by this suanli, "
                    "which reads major version {} (at /schema_version)",
                    origin, v, kReportSchemaMajor));
  const std::vector<SchemaError> errors = validate_against_schema(report, "report.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format("{}: not a valid report: at {}: {}", origin, errors.front().path,
                                 errors.front().message));
  if (!report.contains("sha256") || report["sha256"] != report_sha256(report))
    throw InputError(
        fmt::format("{}: report hash mismatch at /sha256: the file was edited after "
                    "it was written",
                    origin));
}

}  // namespace suanli

namespace suanli {

Result result_from_json(const json& j) {
  // NaN and infinities are written as null: read back as 0.
  auto num = [&j](const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  Result r;
  try {
    r.workload = j.at("workload").get<std::string>();
    r.name = j.value("name", r.workload);
    r.backend = j.at("backend").get<std::string>();
    r.device = j.at("device").get<int>();
    const std::string status = j.at("status").get<std::string>();
    bool known = false;
    for (Status s :
         {Status::ok, Status::unsupported, Status::skipped, Status::failed, Status::error})
      if (status_name(s) == status) r.status = s, known = true;
    if (!known) throw InputError("unknown status '" + status + "'");
    r.reason = j.value("reason", "");
    if (auto d = dtype_from_name(j.value("dtype", "fp32"))) r.op.dtype = *d;
    r.flops = num("flops");
    r.bytes = num("bytes");
    r.flops_per_second = num("flops_per_second");
    r.bytes_per_second = num("bytes_per_second");
    r.library = j.value("library", "");
    r.implementation = j.value("implementation", "");
    if (j.contains("model")) r.model = j["model"];
  } catch (const json::exception& e) {
    throw InputError(std::string("a recorded result is malformed: ") + e.what());
  }
  r.recorded = j;
  return r;
}

}  // namespace suanli
