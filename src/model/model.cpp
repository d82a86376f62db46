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

#include <suanli/backend.h>

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
    case LayerKind::matmul:
      return "matmul";
    case LayerKind::norm:
      return "norm";
    case LayerKind::softmax:
      return "softmax";
    case LayerKind::act_mul:
      return "act_mul";
    case LayerKind::mask_add:
      return "mask_add";
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
  std::string text = read_text_file(name_or_path, "model file");
  *origin = name_or_path;
  return text;
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

namespace {

// Replaces every "{L}" in s by the block index.
std::string subst(std::string s, size_t block) {
  for (size_t at = s.find("{L}"); at != std::string::npos; at = s.find("{L}"))
    s.replace(at, 3, std::to_string(block));
  return s;
}

// The layer list with repeated blocks unrolled ({L} in names -> the block index); each entry
// keeps the JSON path it came from. Returns the number of blocks.
int64_t flatten_layers(const json& layers, const std::string& path, int64_t layers_override,
                       std::vector<std::pair<json, std::string>>* out) {
  int64_t blocks = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& j = layers[i];
    const std::string where = fmt::format("{}/{}", path, i);
    if (!j.contains("repeat")) {
      out->push_back({j, where});
      continue;
    }
    const int64_t n = layers_override > 0 ? layers_override : j["repeat"].get<int64_t>();
    blocks += n;
    for (int64_t b = 0; b < n; ++b)
      for (size_t k = 0; k < j["layers"].size(); ++k) {
        json l = j["layers"][k];
        for (const char* f : {"name", "in", "out", "in2", "kv"})
          if (l.contains(f)) l[f] = subst(l[f].get<std::string>(), static_cast<size_t>(b));
        out->push_back({l, fmt::format("{}/layers/{}", where, k)});
      }
  }
  return blocks;
}

int act_from_name(const std::string& a) {
  if (a == "relu") return SUANLI_ACT_RELU;
  if (a == "gelu") return SUANLI_ACT_GELU_TANH;
  if (a == "gelu_erf") return SUANLI_ACT_GELU_ERF;
  if (a == "silu") return SUANLI_ACT_SILU;
  return SUANLI_ACT_NONE;
}

double apply_act(int act, double v) {
  switch (act) {
    case SUANLI_ACT_RELU:
      return std::max(v, 0.0);
    case SUANLI_ACT_GELU_TANH:
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case SUANLI_ACT_GELU_ERF:
      return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case SUANLI_ACT_SILU:
      return v / (1 + std::exp(-v));
    default:
      return v;
  }
}

}  // namespace

Model build_model(const std::string& name_or_path, Dtype dtype, int64_t batch, uint64_t seed,
                  Scale scale) {
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
    m.tensors.push_back({name, 0, false, false, act_type(dtype, false)});
    index[name] = i;
    return i;
  };
  const json& in = doc["input"];
  m.input = tensor(in["name"].get<std::string>());
  m.tensors[m.input].input = true;
  for (const json& d : in["shape"]) m.input_shape.push_back(d.get<int64_t>());
  if (m.input_shape.size() == 2 && scale.tokens > 0) m.input_shape[0] = scale.tokens;
  m.verify_tokens = doc.value("verify_tokens", int64_t{0});
  m.cache_seed = seed;
  {
    Shape s;
    s.h = m.input_shape.size() >= 2 ? m.input_shape[0] : 1;  // [h, w, c] or [tokens, features]
    s.w = m.input_shape.size() == 3 ? m.input_shape[1] : 1;
    s.c = m.input_shape.back();
    m.tokens = s.h * s.w;
    shape[m.input] = s;
    type[m.input] = act_type(dtype, false);
    m.tensors[m.input].bytes =
        static_cast<uint64_t>(batch * s.elements()) * dtype_size(type[m.input]);
  }
  const std::string output = doc["output"].get<std::string>();
  std::mt19937_64 rng(seed);
  std::vector<std::pair<json, std::string>> layers;
  if (scale.layers < 0) throw InputError(fmt::format("{}: layers must be >= 1", m.origin));
  m.blocks = flatten_layers(doc["layers"], "/layers", scale.layers, &layers);
  if (scale.layers > 0 && m.blocks == 0)
    throw InputError(
        fmt::format("{}: /layers: the model has no repeated block to scale to {} "
                    "layers",
                    m.origin, scale.layers));
  for (size_t li = 0; li < layers.size(); ++li) {
    const json& j = layers[li].first;
    const std::string where = fmt::format("{}: {}", m.origin, layers[li].second);
    Layer L;
    uint64_t wcount = 0;
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
    const bool cache_out = j.contains("cache");
    if (cache_out && index.count(out_name))
      throw InputError(fmt::format("{}: layer '{}' writes KV cache '{}', which is already a tensor",
                                   where, L.name, out_name));
    L.out = tensor(out_name);
    L.act = act_from_name(j.value("act", "none"));
    L.relu = L.act == SUANLI_ACT_RELU;
    if (dtype == Dtype::int8 && op != "conv" && op != "linear" && op != "maxpool" &&
        op != "avgpool" && op != "global_avgpool")
      throw DtypeUnsupported(fmt::format("{}: layer '{}' ({}) has no int8 form in suanli's models",
                                         where, L.name, op));
    if (dtype == Dtype::int8 && L.act > SUANLI_ACT_RELU)
      throw DtypeUnsupported(
          fmt::format("{}: layer '{}': int8 layers take relu or no activation", where, L.name));
    auto second = [&](const char* field) {
      const std::string n2 = j.at(field).get<std::string>();
      if (!index.count(n2))
        throw InputError(
            fmt::format("{}: layer '{}' reads tensor '{}' ({}), which no earlier "
                        "layer writes",
                        where, L.name, n2, field));
      return index[n2];
    };
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
      wcount = static_cast<uint64_t>(c.k * c.c * c.r * c.s);
      if (!scale.shapes_only) L.weights.resize(wcount);
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
      L.mm_m = L.rows;
      L.mm_n = L.n;
      L.mm_k = L.k;
      L.a_stride[2] = L.k;
      L.b_stride[2] = L.n;
      L.c_stride[2] = L.n;
      L.bias = j.value("bias", true);
      L.wei_t = dtype == Dtype::int8 ? Dtype::int8 : dtype;
      std::normal_distribution<float> nd(0.f, static_cast<float>(std::sqrt(1.0 / L.k)));
      wcount = static_cast<uint64_t>(L.k * L.n);
      if (!scale.shapes_only) L.weights.resize(wcount);
      for (float& w : L.weights) w = nd(rng);
      OpDesc od;
      od.kind = OpKind::gemm;
      od.shape = GemmShape{L.rows, L.n, L.k, 1, false, false};
      L.flops = op_flops(od);
      L.macs_dense = static_cast<double>(L.rows * L.n * L.k);
      o = {s.h, s.w, L.n};
      if (cache_out) {
        // The new token's K or V goes to position 0 of each sample's cache [ctx, n]; positions
        // 1..ctx-1 hold the earlier tokens (seeded). Attention does not depend on the order.
        const int64_t ctx = j["cache"].get<int64_t>();
        if (s.h * s.w != 1 || L.residual)
          throw InputError(
              fmt::format("{}: layer '{}' writes a KV cache: it takes one token per "
                          "sample and no residual",
                          where, L.name));
        L.c_stride[2] = ctx * L.n;
        o = {ctx, 1, L.n};
        m.tensors[L.out].cache = true;
      }
    } else if (op == "attention_scores" || op == "attention_values") {
      // Attention per (sample, head) read in place: Q [Sq, D], K/V [Sk, D] per sample (a KV
      // cache or this pass's projection), scores/probabilities [heads, Sq, Sk] per sample.
      L.kind = LayerKind::matmul;
      L.in2 = second("kv");
      const int64_t H = j["heads"].get<int64_t>();
      const Shape kv = shape[L.in2];
      const int64_t D = kv.c, Sk = kv.h * kv.w;
      if (D % H != 0)
        throw InputError(fmt::format("{}: layer '{}': {} features do not split into {} heads",
                                     where, L.name, D, H));
      const int64_t dh = D / H;
      L.batch0 = batch;
      L.batch1 = H;
      if (type[L.in2] != L.src_t)
        throw InputError(fmt::format("{}: layer '{}': operands of different types", where, L.name));
      if (op == "attention_scores") {
        const int64_t Sq = s.h * s.w;
        if (s.c != D)
          throw InputError(
              fmt::format("{}: layer '{}': Q has {} features, K {}", where, L.name, s.c, D));
        L.mm_m = Sq;
        L.mm_n = Sk;
        L.mm_k = dh;
        const int64_t as[4] = {Sq * D, dh, D, 1}, bs[4] = {Sk * D, dh, 1, D},
                      cs[4] = {H * Sq * Sk, Sq * Sk, Sk, 1};
        std::copy(as, as + 4, L.a_stride);
        std::copy(bs, bs + 4, L.b_stride);
        std::copy(cs, cs + 4, L.c_stride);
        L.alpha = 1.0 / std::sqrt(static_cast<double>(dh));
        if (j.value("causal", false)) {
          // Query i (the last Sq of Sk positions) sees keys j <= i + Sk - Sq.
          L.mask_v.assign(static_cast<size_t>(Sq * Sk), 0.f);
          for (int64_t i = 0; i < Sq; ++i)
            for (int64_t k2 = i + Sk - Sq + 1; k2 < Sk; ++k2)
              L.mask_v[static_cast<size_t>(i * Sk + k2)] = -1e30f;
        }
        o = {H * Sq, 1, Sk};
      } else {
        if (s.c != Sk || s.h % H != 0)
          throw InputError(
              fmt::format("{}: layer '{}': probabilities [{}, {}] do not match {} "
                          "heads over {} positions",
                          where, L.name, s.h, s.c, H, Sk));
        const int64_t Sq = s.h / H;
        L.mm_m = Sq;
        L.mm_n = dh;
        L.mm_k = Sk;
        const int64_t as[4] = {H * Sq * Sk, Sq * Sk, Sk, 1}, bs[4] = {Sk * D, dh, D, 1},
                      cs[4] = {Sq * D, dh, D, 1};
        std::copy(as, as + 4, L.a_stride);
        std::copy(bs, bs + 4, L.b_stride);
        std::copy(cs, cs + 4, L.c_stride);
        o = {Sq, 1, D};
      }
      L.wei_t = L.src_t;
      OpDesc od;
      od.kind = OpKind::gemm;
      od.shape = GemmShape{L.mm_m, L.mm_n, L.mm_k, L.batch0 * L.batch1, false, false};
      L.flops = op_flops(od);
      L.macs_dense = static_cast<double>(L.batch0 * L.batch1 * L.mm_m * L.mm_n * L.mm_k);
    } else if (op == "rmsnorm" || op == "layernorm") {
      L.kind = LayerKind::norm;
      L.rms = op == "rmsnorm";
      L.eps = j.value("eps", 1e-5);
      L.norm_rows = batch * s.h * s.w;
      std::uniform_real_distribution<float> ud(-0.1f, 0.1f);
      L.gamma.resize(static_cast<size_t>(s.c));
      for (float& g : L.gamma) g = 1.f + ud(rng);
      if (!L.rms) {
        L.beta.resize(static_cast<size_t>(s.c));
        for (float& b : L.beta) b = ud(rng);
      }
      o = s;
    } else if (op == "causal_mask") {
      L.kind = LayerKind::mask_add;
      const int64_t H = j["heads"].get<int64_t>();
      const int64_t Sk = s.c, rows = s.h * s.w;
      if (rows % H != 0 || rows / H > Sk)
        throw InputError(fmt::format("{}: layer '{}': scores [{}, {}] do not match {} heads", where,
                                     L.name, rows, Sk, H));
      const int64_t Sq = rows / H;
      L.elements = batch * s.elements();
      if (!scale.shapes_only) L.mask_v.assign(static_cast<size_t>(L.elements), 0.f);
      for (int64_t r = 0; r < batch * rows && !scale.shapes_only; ++r)
        for (int64_t k2 = r % Sq + Sk - Sq + 1; k2 < Sk; ++k2)
          L.mask_v[static_cast<size_t>(r * Sk + k2)] = -1e30f;
      o = s;
    } else if (op == "softmax") {
      L.kind = LayerKind::softmax;
      L.norm_rows = batch * s.h * s.w;
      o = s;
    } else if (op == "act_mul") {
      L.kind = LayerKind::act_mul;
      L.in2 = second("in2");
      if (shape[L.in2].elements() != s.elements() || type[L.in2] != L.src_t)
        throw InputError(fmt::format("{}: layer '{}': '{}' and '{}' differ in shape or type", where,
                                     L.name, in_name, m.tensors[L.in2].name));
      if (L.act == SUANLI_ACT_NONE) L.act = SUANLI_ACT_SILU;
      L.elements = batch * s.elements();
      o = s;
    } else {
      throw InputError(fmt::format("{}: unknown layer op '{}'", where, op));
    }
    if (L.bias) {
      std::uniform_real_distribution<float> ud(-0.1f, 0.1f);
      L.bias_v.resize(static_cast<size_t>(o.c));
      for (float& b : L.bias_v) b = ud(rng);
    }
    // Storage type of the output.
    if (is_output && (L.kind == LayerKind::conv || L.kind == LayerKind::linear) && !L.residual) {
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
    m.tensors[L.out].type = L.dst_t;
    if (cache_out) m.cache_bytes += L.out_bytes;
    m.flops += L.flops;
    m.macs_dense += L.macs_dense;
    m.weight_bytes +=
        wcount * dtype_size(L.wei_t) + L.bias_v.size() * 4 + (L.gamma.size() + L.beta.size()) * 4;
    m.layers.push_back(std::move(L));
  }
  if (!index.count(output))
    throw InputError(fmt::format("{}: /output: no layer writes tensor '{}'", m.origin, output));
  m.output = index[output];
  if (m.layers.empty() || m.layers.back().out != m.output)
    throw InputError(fmt::format("{}: /output: the last layer must write '{}'", m.origin, output));
  // Read per forward pass at least once: every weight and every KV cache (attention reads the
  // whole cache), plus the masks. Activations are left out (small in decode; a lower bound).
  m.bytes_per_step = static_cast<double>(m.weight_bytes + m.cache_bytes);
  for (const Layer& L : m.layers) m.bytes_per_step += static_cast<double>(L.mask_v.size()) * 4;
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

std::vector<float> make_cache(const Model& m, int tensor, uint64_t seed) {
  const Tensor& t = m.tensors[static_cast<size_t>(tensor)];
  std::vector<float> x(t.bytes / dtype_size(t.type));
  std::mt19937_64 rng(seed ^ (0xcace0000ULL + static_cast<uint64_t>(tensor)));
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (float& v : x) v = ud(rng);
  return x;
}

namespace {

// A strided batched matmul with its epilogue (backend.h), every product accumulated in fp64,
// each written element rounded to dst's type; y holds dst on entry (residual, KV cache).
template <typename BT>
void reference_matmul(const Layer& L, const std::vector<double>& a, const BT* b,
                      std::vector<double>& y) {
  const int64_t rows = L.batch0 * L.batch1 * L.mm_m;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r % L.mm_m, b1 = (r / L.mm_m) % L.batch1, b0 = r / (L.mm_m * L.batch1);
    std::vector<double> acc(static_cast<size_t>(L.mm_n), 0.0);
    const int64_t abase = b0 * L.a_stride[0] + b1 * L.a_stride[1] + i * L.a_stride[2];
    const int64_t bbase = b0 * L.b_stride[0] + b1 * L.b_stride[1];
    for (int64_t l = 0; l < L.mm_k; ++l) {
      const double av = a[static_cast<size_t>(abase + l * L.a_stride[3])];
      const BT* bp = b + bbase + l * L.b_stride[2];
      if (L.b_stride[3] == 1)
        for (int64_t j = 0; j < L.mm_n; ++j) acc[static_cast<size_t>(j)] += av * bp[j];
      else
        for (int64_t j = 0; j < L.mm_n; ++j)
          acc[static_cast<size_t>(j)] += av * static_cast<double>(bp[j * L.b_stride[3]]);
    }
    const int64_t cbase = b0 * L.c_stride[0] + b1 * L.c_stride[1] + i * L.c_stride[2];
    for (int64_t j = 0; j < L.mm_n; ++j) {
      const size_t at = static_cast<size_t>(cbase + j * L.c_stride[3]);
      double v = acc[static_cast<size_t>(j)] * L.alpha;
      if (!L.bias_v.empty()) v += L.bias_v[static_cast<size_t>(j)];
      if (!L.mask_v.empty()) v += L.mask_v[static_cast<size_t>(i * L.mm_n + j)];
      if (L.residual) v += y[at];
      y[at] = round_to(apply_act(L.act, v), L.dst_t, 1.f);
    }
  }
}

}  // namespace

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
  for (size_t i = 0; i < m.tensors.size(); ++i)
    if (m.tensors[i].cache) {
      const std::vector<float> c = make_cache(m, static_cast<int>(i), m.cache_seed);
      t[i].resize(c.size());
      for (size_t k = 0; k < c.size(); ++k) t[i][k] = round_to(c[k], m.tensors[i].type, 1.f);
    }
  for (Layer& L : m.layers) {
    const std::vector<double>& x = t[L.in];
    std::vector<double> y;
    L.src_scale = scale[L.in];
    if (L.kind == LayerKind::matmul || (L.kind == LayerKind::linear && m.dtype != Dtype::int8)) {
      y = t[L.out];  // the residual or the KV cache (empty otherwise)
      y.resize(L.out_bytes / dtype_size(L.dst_t), 0.0);
      if (L.kind == LayerKind::matmul)
        reference_matmul(L, x, t[L.in2].data(), y);
      else
        reference_matmul(L, x, L.weights.data(), y);
    } else if (L.kind == LayerKind::norm || L.kind == LayerKind::softmax) {
      const int64_t cols = static_cast<int64_t>(x.size()) / L.norm_rows;
      y.resize(x.size());
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < L.norm_rows; ++r) {
        const double* xr = &x[static_cast<size_t>(r * cols)];
        double* yr = &y[static_cast<size_t>(r * cols)];
        if (L.kind == LayerKind::softmax) {
          double mx = -HUGE_VAL, sum = 0;
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xr[c]);
          for (int64_t c = 0; c < cols; ++c) sum += std::exp(xr[c] - mx);
          for (int64_t c = 0; c < cols; ++c) yr[c] = std::exp(xr[c] - mx) / sum;
        } else {
          double mean = 0, sq = 0;
          for (int64_t c = 0; c < cols; ++c) mean += xr[c];
          mean /= static_cast<double>(cols);
          for (int64_t c = 0; c < cols; ++c) {
            const double d = L.rms ? xr[c] : xr[c] - mean;
            sq += d * d;
          }
          const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + L.eps);
          for (int64_t c = 0; c < cols; ++c) {
            const size_t cc = static_cast<size_t>(c);
            yr[c] =
                L.rms ? L.gamma[cc] * xr[c] * inv : L.gamma[cc] * (xr[c] - mean) * inv + L.beta[cc];
          }
        }
      }
      for (double& v : y) v = round_to(v, L.dst_t, 1.f);
    } else if (L.kind == LayerKind::mask_add) {
      y.resize(x.size());
      for (size_t k = 0; k < y.size(); ++k)
        y[k] = round_to(x[k] + round_to(L.mask_v[k], L.dst_t, 1.f), L.dst_t, 1.f);
    } else if (L.kind == LayerKind::act_mul) {
      const std::vector<double>& x2 = t[L.in2];
      y.resize(x.size());
      for (size_t k = 0; k < y.size(); ++k)
        y[k] = round_to(apply_act(L.act, x[k]) * x2[k], L.dst_t, 1.f);
    }
    if (L.kind == LayerKind::matmul || L.kind == LayerKind::norm || L.kind == LayerKind::softmax ||
        L.kind == LayerKind::act_mul || L.kind == LayerKind::mask_add ||
        (L.kind == LayerKind::linear && m.dtype != Dtype::int8)) {
      L.dst_scale = 1.f;
      L.res_scale = 1.f;
      scale[L.out] = 1.f;
      if (trace) trace->push_back(y);
      t[L.out] = std::move(y);
      continue;
    }
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
