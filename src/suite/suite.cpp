// Suite files: read, validate against suite.schema.json, and expand their axes into workloads.
#include "suite/suite.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hpl/hpl_run.h"
#include "report/hash.h"
#include "report/json_schema.h"

namespace suanli {

// Generated from suites/*.json by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_suites();

namespace {

using nlohmann::json;

// Fields of a workload that are not axes of its shape.
const std::set<std::string> kNonAxisFields = {"op",        "name",     "min_time",    "repetitions",
                                              "max_noise", "max_time", "warmup_time", "model",
                                              "mode",      "timeout_s"};

MeasureSettings read_settings(const json& j, MeasureSettings s) {
  if (j.contains("min_time")) s.min_time = j["min_time"].get<double>();
  if (j.contains("repetitions")) s.repetitions = j["repetitions"].get<int>();
  if (j.contains("max_noise")) s.max_noise = j["max_noise"].get<double>();
  if (j.contains("max_time")) s.max_time = j["max_time"].get<double>();
  if (j.contains("warmup_time")) s.warmup_time = j["warmup_time"].get<double>();
  if (j.contains("seed")) s.seed = j["seed"].get<uint64_t>();
  if (j.contains("timeout_s")) s.timeout_s = j["timeout_s"].get<double>();
  return s;
}

bool is_axis(const std::string& key, const json& v) {
  // stride, pad and dilation take an [h, w] pair, so they are never axes.
  return v.is_array() && !kNonAxisFields.count(key) && key != "stride" && key != "pad" &&
         key != "dilation";
}

// How many workloads expand_axes would make of w, saturated at `cap` + 1: counted before
// anything is allocated.
size_t expansion_count(const json& w, size_t cap) {
  size_t n = 1;
  for (auto it = w.begin(); it != w.end(); ++it)
    if (is_axis(it.key(), it.value())) {
      const size_t len = it.value().size();
      if (len == 0) return 0;
      if (n > (cap + 1) / len) return cap + 1;
      n *= len;
    }
  return n;
}

// Expands array-valued fields into the cartesian product of scalar workloads.
std::vector<json> expand_axes(const json& w) {
  std::vector<json> out{json::object()};
  for (auto it = w.begin(); it != w.end(); ++it) {
    const bool axis = is_axis(it.key(), it.value());
    std::vector<json> next;
    if (axis) {
      for (const json& o : out)
        for (const json& v : it.value()) {
          json n = o;
          n[it.key()] = v;
          next.push_back(std::move(n));
        }
    } else {
      for (json o : out) {
        o[it.key()] = it.value();
        next.push_back(std::move(o));
      }
    }
    out = std::move(next);
  }
  return out;
}

// A scalar or [h, w] pair for conv stride/pad/dilation.
std::pair<int64_t, int64_t> pair_field(const json& w, const char* key, int64_t dflt) {
  if (!w.contains(key)) return {dflt, dflt};
  const json& v = w[key];
  if (v.is_array()) return {v[0].get<int64_t>(), v[1].get<int64_t>()};
  return {v.get<int64_t>(), v.get<int64_t>()};
}

int64_t need(const json& w, const char* key, const std::string& where, const char* op) {
  if (!w.contains(key))
    throw InputError(
        fmt::format("{}: {} workload needs '{}' (a positive integer)", where, op, key));
  return w[key].get<int64_t>();
}

OpDesc make_op(const json& w, const std::string& where) {
  OpDesc op;
  const std::string kind = w["op"].get<std::string>();
  const std::string dtype = w.value("dtype", "fp32");
  op.dtype = *dtype_from_name(dtype);  // the schema's enum guarantees a known name
  if (w.contains("accumulate"))
    op.accumulate = *dtype_from_name(w["accumulate"].get<std::string>());
  if (kind == "gemm") {
    op.kind = OpKind::gemm;
    GemmShape g;
    if (w.contains("size")) g.m = g.n = g.k = w["size"].get<int64_t>();
    if (w.contains("m")) g.m = w["m"].get<int64_t>();
    if (w.contains("n")) g.n = w["n"].get<int64_t>();
    if (w.contains("k")) g.k = w["k"].get<int64_t>();
    if (!g.m || !g.n || !g.k)
      throw InputError(
          fmt::format("{}: gemm workload needs 'size' or all of 'm', 'n', 'k'", where));
    g.batch = w.value("batch", int64_t{1});
    g.trans_a = w.value("trans_a", false);
    g.trans_b = w.value("trans_b", false);
    op.shape = g;
  } else if (kind == "conv2d") {
    op.kind = OpKind::conv2d;
    Conv2dShape c;
    c.n = w.value("n", int64_t{1});
    c.c = need(w, "c", where, "conv2d");
    c.h = need(w, "h", where, "conv2d");
    c.w = need(w, "w", where, "conv2d");
    c.k = need(w, "k", where, "conv2d");
    c.r = need(w, "r", where, "conv2d");
    c.s = need(w, "s", where, "conv2d");
    std::tie(c.stride_h, c.stride_w) = pair_field(w, "stride", 1);
    std::tie(c.pad_h, c.pad_w) = pair_field(w, "pad", 0);
    std::tie(c.dil_h, c.dil_w) = pair_field(w, "dilation", 1);
    c.groups = w.value("groups", int64_t{1});
    if (c.c % c.groups || c.k % c.groups)
      throw InputError(
          fmt::format("{}: conv2d groups={} must divide c={} and k={}", where, c.groups, c.c, c.k));
    if (c.p() < 1 || c.q() < 1)
      throw InputError(
          fmt::format("{}: conv2d filter {}x{} (dilation {}) does not fit the "
                      "padded {}x{} input",
                      where, c.r, c.s, c.dil_h, c.h, c.w));
    op.shape = c;
  } else if (kind == "peak") {
    op.kind = OpKind::peak;
    PeakShape p{need(w, "elements", where, "peak"), need(w, "depth", where, "peak")};
    if (p.elements % 4096)
      throw InputError(
          fmt::format("{}: peak 'elements' = {} must be a multiple of 4096", where, p.elements));
    if (p.depth % 64)
      throw InputError(
          fmt::format("{}: peak 'depth' = {} must be a multiple of 64", where, p.depth));
    op.shape = p;
  } else {  // stream (the schema allows nothing else)
    op.kind = OpKind::stream;
    StreamShape s;
    const std::string k = w.value("kind", "triad");
    static const std::map<std::string, StreamKind> kinds = {{"copy", StreamKind::copy},
                                                            {"scale", StreamKind::scale},
                                                            {"add", StreamKind::add},
                                                            {"triad", StreamKind::triad}};
    s.kind = kinds.at(k);
    s.n = need(w, "n", where, "stream");
    op.shape = s;
  }
  // Shapes whose buffers could not even be addressed are input errors; whether
  // they fit a given device is checked against that device before a run.
  for (const int64_t e : op_buffer_elements(op))
    if (e <= 0 || e > (int64_t{1} << 40))
      throw InputError(
          fmt::format("{}: {} shape {} gives a buffer of {} elements (expected 1 to "
                      "2^40)",
                      where, kind, shape_string(op), e));
  return op;
}

std::string workload_id(const Workload& w) {
  return fmt::format("{}.{}.{}", w.name, dtype_name(w.op.dtype), shape_string(w.op));
}

}  // namespace

Suite parse_suite(const std::string& text, const std::string& origin) {
  const json doc = parse_json_text(text, origin);
  const std::vector<SchemaError> errors = validate_against_schema(doc, "suite.schema.json");
  if (!errors.empty()) {
    // For the enumerated fields, say what is accepted.
    static const std::map<std::string, std::string> kExpected = {
        {"op", "gemm, conv2d, peak, stream, model, hpl or hpl_mxp"},
        {"dtype", "fp64, fp32, tf32, fp16, bf16, fp8_e4m3, fp8_e5m2 or int8"},
        {"kind", "copy, scale, add or triad"},
        {"accumulate", "fp64, fp32, fp16, bf16 or int32"}};
    const SchemaError& first = errors.front();
    std::string hint;
    for (const auto& [field, values] : kExpected) {
      const std::string tail = "/" + field;
      const auto at = first.path.rfind(tail);
      if (at != std::string::npos &&
          (at + tail.size() == first.path.size() || first.path[at + tail.size()] == '/'))
        hint = "; expected " + values;
    }
    std::string msg = fmt::format("{}: not a valid suite file: at {}: {}{}", origin, first.path,
                                  first.message, hint);
    for (size_t i = 1; i < errors.size() && i < 4; ++i)
      msg += fmt::format("\n  also at {}: {}", errors[i].path, errors[i].message);
    throw InputError(msg);
  }
  Suite s;
  s.origin = origin;
  s.sha256 = sha256_hex(text);
  s.name = doc["name"].get<std::string>();
  s.description = doc.value("description", "");
  if (doc.contains("settings")) s.settings = read_settings(doc["settings"], s.settings);
  std::set<std::string> ids;
  const json& ws = doc["workloads"];
  size_t expanded = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    expanded += expansion_count(ws[i], kMaxSuiteWorkloads);
    if (expanded > kMaxSuiteWorkloads)
      throw InputError(fmt::format(
          "{}: /workloads/{}: the suite expands into more than {} workloads (axes multiply: {} "
          "by this entry alone); split it or list fewer values",
          origin, i, kMaxSuiteWorkloads, [&] {
            const size_t n = expansion_count(ws[i], size_t{1} << 62);
            return n > (size_t{1} << 62) ? std::string("over 4.6e18") : std::to_string(n);
          }()));
  }
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string where = fmt::format("{}: /workloads/{}", origin, i);
    const MeasureSettings settings = read_settings(ws[i], s.settings);
    for (const json& one : expand_axes(ws[i])) {
      Workload w;
      w.source = where;
      w.name = one.value("name", one["op"].get<std::string>());
      if (one["op"] == "model") {  // a whole network: src/model
        if (!one.contains("model"))
          throw InputError(
              fmt::format("{}: model workload needs 'model' (a built-in model name "
                          "or a path to a model .json)",
                          where));
        w.model = one["model"].get<std::string>();
        if (!one.contains("name")) w.name = w.model;
        w.op.dtype = *dtype_from_name(one.value("dtype", "fp32"));
        w.model_batch = one.value("batch", int64_t{1});
        w.model_verify_batch = std::min(w.model_batch, one.value("verify_batch", int64_t{1}));
        w.model_layers = one.value("layers", int64_t{0});
        w.model_training = one.value("mode", "inference") == "training";
        w.settings = settings;
        w.id = fmt::format("{}.{}.batch{}", w.name, dtype_name(w.op.dtype), w.model_batch);
        if (w.model_layers > 0) w.id += fmt::format(".layers{}", w.model_layers);
        if (w.model_training) w.id += ".training";
        if (ids.insert(w.id).second) s.workloads.push_back(std::move(w));
        continue;
      }
      if (one["op"] == "hpl" || one["op"] == "hpl_mxp") {  // a linear system: src/hpl
        w = hpl::hpl_workload(one, where);
        w.settings = settings;
        if (ids.insert(w.id).second) s.workloads.push_back(std::move(w));
        continue;
      }
      w.op = make_op(one, where);
      w.settings = settings;
      w.id = workload_id(w);
      if (!ids.insert(w.id).second) continue;  // the same workload listed twice runs once
      s.workloads.push_back(std::move(w));
    }
  }
  return s;
}

Suite load_suite(const std::string& name_or_path) {
  const bool looks_like_path =
      name_or_path.find('/') != std::string::npos ||
      (name_or_path.size() > 5 && name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  if (!looks_like_path) {
    for (const auto& [file, text] : builtin_suites())
      if (file == name_or_path + ".json") {
        Suite s = parse_suite(std::string(text), "builtin:" + name_or_path);
        return s;
      }
    std::vector<std::string> names;
    for (const auto& e : builtin_suite_list()) names.push_back(e.name);
    throw InputError(
        fmt::format("no built-in suite named '{}' (built-in: {}); give a path to a "
                    ".json file for your own",
                    name_or_path, fmt::join(names, ", ")));
  }
  return parse_suite(read_text_file(name_or_path, "suite file"), name_or_path);
}

std::vector<SuiteEntry> builtin_suite_list() {
  std::vector<SuiteEntry> out;
  for (const auto& [file, text] : builtin_suites()) {
    if (text.find("\"suanli_fabric_suite\"") != std::string_view::npos ||
        text.find("\"suanli_hpl_dist_suite\"") != std::string_view::npos) {  // src/cluster
      const nlohmann::json j = nlohmann::json::parse(text);
      out.push_back({j.value("name", ""), j.value("description", ""),
                     j.contains("tests") ? j["tests"].size() : j["workloads"].size()});
      continue;
    }
    Suite s = parse_suite(std::string(text), "builtin:" + std::string(file));
    out.push_back({s.name, s.description, s.workloads.size()});
  }
  return out;
}

void filter_dtypes(Suite& suite, const std::vector<Dtype>& dtypes) {
  if (dtypes.empty()) return;
  auto keep = [&](const Workload& w) {
    return std::find(dtypes.begin(), dtypes.end(), w.op.dtype) != dtypes.end();
  };
  suite.workloads.erase(std::remove_if(suite.workloads.begin(), suite.workloads.end(),
                                       [&](const Workload& w) { return !keep(w); }),
                        suite.workloads.end());
}

}  // namespace suanli
