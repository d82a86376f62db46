// Model descriptions -> resolved layers, FLOP counts, seeded weights, and the fp64 host reference.
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "report/json_schema.h"

namespace suanli {
// Generated from suites/models/*.json by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_models();
}  // namespace suanli

namespace suanli::model {

using nlohmann::json;

std::string_view layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::conv:
      return "conv";
    case LayerKind::maxpool:
      return "maxpool";
    case LayerKind::avgpool:
      return "avgpool";
    case LayerKind::linear:
      return "linear";
  }
  return "invalid";
}

std::vector<std::string> builtin_model_names() {
  std::vector<std::string> out;
  for (const auto& [file, text] : builtin_models()) {
    std::string f(file);
    out.push_back(f.substr(0, f.size() - 5));
  }
  return out;
}

double output_tolerance(Dtype dtype) {
  // Relative L2 error of the output against the fp64 reference, which rounds every tensor to the
  // same storage type the device uses. What remains is the accumulation order (fp32 on the device)
  // and values that round to the other neighbour because of it, propagated through the graph:
  //  fp32: accumulation of ~10^3-10^4 products per output in fp32 (u = 6e-8), tens of layers
  //        -> observed ~1e-6; bound 1e-4.
  //  bf16/fp16: an activation that lands on the other side of a rounding boundary moves by one
  //        bf16 ulp (2^-8 relative) and that spreads through later layers -> observed ~1e-2;
  //        bound 5e-2.
  //  int8: likewise one quantization step (1/127 .. 1/255 of the range) -> bound 1e-1.
  // A corrupted layer output (tests/model_test.cpp) gives an error of order 1.
  switch (dtype) {
    case Dtype::fp32:
      return 1e-4;
    case Dtype::bf16:
    case Dtype::fp16:
      return 5e-2;
    case Dtype::int8:
      return 1e-1;
    default:
      return 1e-4;
  }
}

namespace {

std::string read_model_text(const std::string& name_or_path, std::string* origin) {
  const bool path =
      name_or_path.find('/') != std::string::npos ||
      (name_or_path.size() > 5 && name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  if (!path) {
    for (const auto& [file, text] : builtin_models())
      if (file == name_or_path + ".json") {
        *origin = "builtin:models/" + name_or_path;
        return std::string(text);
      }
    throw InputError(fmt::format("no built-in model named '{}' (built-in: {})", name_or_path,
                                 fmt::join(builtin_model_names(), ", ")));
  }
  std::ifstream f(name_or_path, std::ios::binary);
  if (!f) throw InputError(fmt::format("{}: cannot open model file", name_or_path));
  std::stringstream ss;
  ss << f.rdbuf();
  *origin = name_or_path;
  return ss.str();
}

// Per-sample shape of a tensor as the last layer left it: h, w, c (linear: 1, 1, features).
struct Shape {
  int64_t h = 1, w = 1, c = 1;
  int64_t elements() const { return h * w * c; }
};

// Storage type of an int8 model's tensor, and of bf16/fp32 models.
Dtype act_type(Dtype model, bool nonnegative) {
  if (model == Dtype::int8) return nonnegative ? Dtype::uint8 : Dtype::int8;
  return model;
}

double round_to(double v, Dtype t, float scale) {
  switch (t) {
    case Dtype::fp32:
      return static_cast<double>(static_cast<float>(v));
    case Dtype::bf16:
      return static_cast<double>(bf16_to_float(float_to_bf16(static_cast<float>(v))));
    case Dtype::fp16:
      return static_cast<double>(fp16_to_float(float_to_fp16(static_cast<float>(v))));
    case Dtype::int8:
      return std::clamp(std::nearbyint(v / scale), -128.0, 127.0) * scale;
    case Dtype::uint8:
      return std::clamp(std::nearbyint(v / scale), 0.0, 255.0) * scale;
    default:
      return v;
  }
}

double qmax(Dtype t) {
  return t == Dtype::uint8 ? 255.0 : 127.0;
}

// Rounds weights to their storage type (int8: per-tensor scale from max |w|).
void quantize_weights(Layer& L) {
  if (L.wei_t == Dtype::int8) {
    float mx = 0;
    for (float w : L.weights) mx = std::max(mx, std::fabs(w));
    L.wei_scale = mx > 0 ? mx / 127.f : 1.f;
  }
  for (float& w : L.weights) w = static_cast<float>(round_to(w, L.wei_t, L.wei_scale));
}

}  // namespace

std::vector<char> encode(const std::vector<float>& real, Dtype type, float scale) {
  std::vector<char> out(real.size() * dtype_size(type));
  for (size_t i = 0; i < real.size(); ++i) {
    double v = real[i];
    if (type == Dtype::int8 || type == Dtype::uint8) v = std::nearbyint(v / scale);
    store_from_double(out.data(), type, i, v);
  }
  return out;
}

Model build_model(const std::string& name_or_path, Dtype dtype, int64_t batch, uint64_t seed) {
  Model m;
  const std::string text = read_model_text(name_or_path, &m.origin);
  const json doc = parse_json_text(text, m.origin);
  const auto errors = validate_against_schema(doc, "model.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format("{}: not a valid model file: at {}: {}", m.origin,
                                 errors.front().path, errors.front().message));
  if (batch < 1) throw InputError(fmt::format("{}: batch must be >= 1", m.origin));
  m.name = doc["name"].get<std::string>();
  m.description = doc.value("description", "");
  m.sample = doc.value("sample", "sample");
  m.dtype = dtype;
  m.batch = batch;
  std::map<std::string, int> index;
  std::map<int, Shape> shape;
  std::map<int, Dtype> type;
  auto tensor = [&](const std::string& name) {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    const int i = static_cast<int>(m.tensors.size());
    m.tensors.push_back({name, 0, false});
    index[name] = i;
    return i;
  };
  const json& in = doc["input"];
  m.input = tensor(in["name"].get<std::string>());
  m.tensors[m.input].input = true;
  for (const json& d : in["shape"]) m.input_shape.push_back(d.get<int64_t>());
  {
    Shape s;
    s.h = m.input_shape.size() == 3 ? m.input_shape[0] : 1;
    s.w = m.input_shape.size() == 3 ? m.input_shape[1] : 1;
    s.c = m.input_shape.back();
    shape[m.input] = s;
    type[m.input] = act_type(dtype, false);
    m.tensors[m.input].bytes =
        static_cast<uint64_t>(batch * s.elements()) * dtype_size(type[m.input]);
  }
  const std::string output = doc["output"].get<std::string>();
  std::mt19937_64 rng(seed);
  const json& layers = doc["layers"];
  for (size_t li = 0; li < layers.size(); ++li) {
    const json& j = layers[li];
    const std::string where = fmt::format("{}: /layers/{}", m.origin, li);
    Layer L;
    L.name = j["name"].get<std::string>();
    const std::string op = j["op"].get<std::string>();
    const std::string in_name = j["in"].get<std::string>();
    if (!index.count(in_name))
      throw InputError(
          fmt::format("{}: layer '{}' reads tensor '{}', which no earlier layer "
                      "writes",
                      where, L.name, in_name));
    L.in = index[in_name];
    const std::string out_name = j["out"].get<std::string>();
    if (out_name == in_name || out_name == m.tensors[m.input].name)
      throw InputError(
          fmt::format("{}: layer '{}' may not write its input or the model input", where, L.name));
    L.residual = j.value("residual", false);
    if (L.residual && !index.count(out_name))
      throw InputError(
          fmt::format("{}: layer '{}' adds a residual in place into '{}', which no "
                      "earlier layer writes",
                      where, L.name, out_name));
    L.out = tensor(out_name);
    L.relu = j.value("act", "none") == "relu";
    const Shape s = shape[L.in];
    L.src_t = type[L.in];
    Shape o;
    const bool is_output = out_name == output;
    if (op == "conv") {
      L.kind = LayerKind::conv;
      Conv2dShape& c = L.conv;
      c.n = batch;
      c.h = s.h;
      c.w = s.w;
      c.c = s.c;
      c.k = j["k"].get<int64_t>();
      c.r = j["r"].get<int64_t>();
      c.s = j.value("s", c.r);
      c.stride_h = c.stride_w = j.value("stride", int64_t{1});
      c.pad_h = c.pad_w = j.value("pad", int64_t{0});
      if (c.p() < 1 || c.q() < 1)
        throw InputError(fmt::format("{}: conv '{}' filter does not fit its {}x{} input", where,
                                     L.name, c.h, c.w));
      o = {c.p(), c.q(), c.k};
      L.bias = j.value("bias", true);
      L.wei_t = dtype == Dtype::int8 ? Dtype::int8 : dtype;
      // He-style init; the residual branch's last conv is damped so the residual stream stays
      // in range over 16 blocks without batch norm.
      const double fan_in = static_cast<double>(c.c * c.r * c.s);
      const double sd = std::sqrt(2.0 / fan_in) * (L.residual ? 0.3 : 1.0);
      std::normal_distribution<float> nd(0.f, static_cast<float>(sd));
      L.weights.resize(static_cast<size_t>(c.k * c.c * c.r * c.s));
      for (float& w : L.weights) w = nd(rng);
      OpDesc od;
      od.kind = OpKind::conv2d;
      od.dtype = Dtype::fp32;
      od.shape = c;
      L.flops = op_flops(od);
      L.macs_dense = static_cast<double>(c.n * c.k * c.p() * c.q() * c.c * c.r * c.s);
    } else if (op == "maxpool" || op == "avgpool" || op == "global_avgpool") {
      L.kind = op == "maxpool" ? LayerKind::maxpool : LayerKind::avgpool;
      Conv2dShape& c = L.conv;
      c.n = batch;
      c.h = s.h;
      c.w = s.w;
      c.c = c.k = s.c;
      if (op == "global_avgpool") {
        c.r = s.h;
        c.s = s.w;
      } else {
        c.r = j.value("r", int64_t{2});
        c.s = j.value("s", c.r);
        c.stride_h = c.stride_w = j.value("stride", c.r);
        c.pad_h = c.pad_w = j.value("pad", int64_t{0});
      }
      if (c.p() < 1 || c.q() < 1)
        throw InputError(fmt::format("{}: pool '{}' window does not fit its input", where, L.name));
      o = {c.p(), c.q(), c.c};
    } else if (op == "linear") {
      L.kind = LayerKind::linear;
      L.rows = batch * s.h * s.w;
      L.k = s.c;
      L.n = j["n"].get<int64_t>();
      L.bias = j.value("bias", true);
      L.wei_t = dtype == Dtype::int8 ? Dtype::int8 : dtype;
      std::normal_distribution<float> nd(0.f, static_cast<float>(std::sqrt(1.0 / L.k)));
      L.weights.resize(static_cast<size_t>(L.k * L.n));
      for (float& w : L.weights) w = nd(rng);
      OpDesc od;
      od.kind = OpKind::gemm;
      od.shape = GemmShape{L.rows, L.n, L.k, 1, false, false};
      L.flops = op_flops(od);
      L.macs_dense = static_cast<double>(L.rows * L.n * L.k);
      o = {s.h, s.w, L.n};
    } else {
      throw InputError(fmt::format("{}: unknown layer op '{}'", where, op));
    }
    if (L.bias) {
      std::uniform_real_distribution<float> ud(-0.1f, 0.1f);
      L.bias_v.resize(static_cast<size_t>(o.c));
      for (float& b : L.bias_v) b = ud(rng);
    }
    // Storage type of the output.
    if (is_output) {
      L.dst_t = Dtype::fp32;  // logits in fp32 for every dtype
    } else if (L.residual) {
      L.dst_t = type[L.out];  // in place: the residual's type
      if (shape[L.out].elements() != o.elements())
        throw InputError(
            fmt::format("{}: layer '{}' residual '{}' has another shape", where, L.name, out_name));
    } else if (L.kind == LayerKind::maxpool || L.kind == LayerKind::avgpool) {
      L.dst_t = L.src_t;  // pooling keeps the type (and, for int8, the scale)
    } else {
      L.dst_t = act_type(dtype, L.relu);
    }
    if (!L.weights.empty()) quantize_weights(L);
    shape[L.out] = o;
    type[L.out] = L.dst_t;
    L.out_bytes = static_cast<uint64_t>(batch * o.elements()) * dtype_size(L.dst_t);
    m.tensors[L.out].bytes = std::max(m.tensors[L.out].bytes, L.out_bytes);
    m.flops += L.flops;
    m.macs_dense += L.macs_dense;
    m.weight_bytes += L.weights.size() * dtype_size(L.wei_t) + L.bias_v.size() * 4;
    m.layers.push_back(std::move(L));
  }
  if (!index.count(output))
    throw InputError(fmt::format("{}: /output: no layer writes tensor '{}'", m.origin, output));
  m.output = index[output];
  if (m.layers.empty() || m.layers.back().out != m.output)
    throw InputError(fmt::format("{}: /output: the last layer must write '{}'", m.origin, output));
  return m;
}

std::vector<float> make_input(const Model& m, uint64_t seed) {
  int64_t per = 1;
  for (int64_t d : m.input_shape) per *= d;
  std::vector<float> x(static_cast<size_t>(per * m.batch));
  std::mt19937_64 rng(seed ^ 0x5eedULL);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (float& v : x) v = ud(rng);
  return x;
}

std::vector<double> reference(Model& m, const std::vector<float>& input,
                              std::vector<std::vector<double>>* trace) {
  std::vector<std::vector<double>> t(m.tensors.size());
  std::vector<float> scale(m.tensors.size(), 1.f);
  // The input, rounded to its storage type (int8: scale from max |x|).
  const Dtype in_t = act_type(m.dtype, false);
  {
    float mx = 0;
    for (float v : input) mx = std::max(mx, std::fabs(v));
    if (in_t == Dtype::int8) scale[m.input] = mx > 0 ? mx / 127.f : 1.f;
    m.input_scale = scale[m.input];
    t[m.input].resize(input.size());
    for (size_t i = 0; i < input.size(); ++i)
      t[m.input][i] = round_to(input[i], in_t, scale[m.input]);
  }
  for (Layer& L : m.layers) {
    const std::vector<double>& x = t[L.in];
    std::vector<double> y;
    L.src_scale = scale[L.in];
    if (L.kind == LayerKind::conv) {
      const Conv2dShape& c = L.conv;
      const int64_t P = c.p(), Q = c.q();
      // Weights as [k][r][s][c] so the innermost loop runs over contiguous channels.
      std::vector<double> w(L.weights.size());
      for (int64_t k = 0; k < c.k; ++k)
        for (int64_t ci = 0; ci < c.c; ++ci)
          for (int64_t r = 0; r < c.r; ++r)
            for (int64_t s = 0; s < c.s; ++s)
              w[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c + ci)] =
                  L.weights[static_cast<size_t>(((k * c.c + ci) * c.r + r) * c.s + s)];
      y.assign(static_cast<size_t>(c.n * P * Q * c.k), 0.0);
#pragma omp parallel for collapse(2) schedule(static)
      for (int64_t n = 0; n < c.n; ++n)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < Q; ++q)
            for (int64_t k = 0; k < c.k; ++k) {
              double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
              for (int64_t r = 0; r < c.r; ++r) {
                const int64_t ih = p * c.stride_h - c.pad_h + r;
                if (ih < 0 || ih >= c.h) continue;
                for (int64_t s = 0; s < c.s; ++s) {
                  const int64_t iw = q * c.stride_w - c.pad_w + s;
                  if (iw < 0 || iw >= c.w) continue;
                  const double* xp = &x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c)];
                  const double* wp = &w[static_cast<size_t>(((k * c.r + r) * c.s + s) * c.c)];
                  int64_t ci = 0;
                  for (; ci + 4 <= c.c; ci += 4) {
                    a0 += xp[ci] * wp[ci];
                    a1 += xp[ci + 1] * wp[ci + 1];
                    a2 += xp[ci + 2] * wp[ci + 2];
                    a3 += xp[ci + 3] * wp[ci + 3];
                  }
                  for (; ci < c.c; ++ci) a0 += xp[ci] * wp[ci];
                }
              }
              y[static_cast<size_t>(((n * P + p) * Q + q) * c.k + k)] = (a0 + a1) + (a2 + a3);
            }
    } else if (L.kind == LayerKind::linear) {
      y.assign(static_cast<size_t>(L.rows * L.n), 0.0);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < L.rows; ++i)
        for (int64_t l = 0; l < L.k; ++l) {
          const double a = x[static_cast<size_t>(i * L.k + l)];
          for (int64_t j = 0; j < L.n; ++j)
            y[static_cast<size_t>(i * L.n + j)] += a * L.weights[static_cast<size_t>(l * L.n + j)];
        }
    } else {  // pooling, padding excluded
      const Conv2dShape& c = L.conv;
      const int64_t P = c.p(), Q = c.q();
      y.assign(static_cast<size_t>(c.n * P * Q * c.c), 0.0);
      for (int64_t n = 0; n < c.n; ++n)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < Q; ++q)
            for (int64_t ch = 0; ch < c.c; ++ch) {
              double acc = L.kind == LayerKind::maxpool ? -HUGE_VAL : 0.0;
              int64_t taps = 0;
              for (int64_t r = 0; r < c.r; ++r) {
                const int64_t ih = p * c.stride_h - c.pad_h + r;
                if (ih < 0 || ih >= c.h) continue;
                for (int64_t s = 0; s < c.s; ++s) {
                  const int64_t iw = q * c.stride_w - c.pad_w + s;
                  if (iw < 0 || iw >= c.w) continue;
                  const double v = x[static_cast<size_t>(((n * c.h + ih) * c.w + iw) * c.c + ch)];
                  acc = L.kind == LayerKind::maxpool ? std::max(acc, v) : acc + v;
                  ++taps;
                }
              }
              if (L.kind == LayerKind::avgpool) acc /= static_cast<double>(taps);
              y[static_cast<size_t>(((n * P + p) * Q + q) * c.c + ch)] = acc;
            }
    }
    // Epilogue: scale/bias, in-place residual, activation.
    const int64_t ch = static_cast<int64_t>(L.bias_v.size());
    const std::vector<double>& res = t[L.out];
    L.res_scale = scale[L.out];
    double mx = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      double v = y[i];
      if (ch) v += L.bias_v[i % static_cast<size_t>(ch)];
      if (L.residual) v += res[i];
      if (L.relu) v = std::max(v, 0.0);
      y[i] = v;
      mx = std::max(mx, std::fabs(v));
    }
    // Calibration: an int8 output's scale from the real values (pooling keeps its input's).
    if (L.dst_t == Dtype::int8 || L.dst_t == Dtype::uint8) {
      if (L.kind == LayerKind::maxpool || L.kind == LayerKind::avgpool)
        L.dst_scale = L.src_scale;
      else
        L.dst_scale = mx > 0 ? static_cast<float>(mx / qmax(L.dst_t)) : 1.f;
    } else {
      L.dst_scale = 1.f;
    }
    for (double& v : y) v = round_to(v, L.dst_t, L.dst_scale);
    scale[L.out] = L.dst_scale;
    if (trace) trace->push_back(y);
    t[L.out] = std::move(y);
  }
  return t[m.output];
}

}  // namespace suanli::model
