// Model descriptions -> resolved layers, FLOP counts and seeded weights: one parse function per
// layer op of the model files (the host reference is in reference.cpp).
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <suanli/backend.h>

#include "core/error.h"
#include "model/reference.h"
#include "report/json_schema.h"

namespace suanli {
// Generated from suites/models/*.json by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_models();
}  // namespace suanli

namespace suanli::model {

using nlohmann::json;

std::string_view layer_kind_name(LayerKind kind) {
  static constexpr std::string_view kNames[] = {"conv", "maxpool", "avgpool", "linear",  "matmul",
                                                "norm", "softmax", "act_mul", "mask_add"};
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "invalid";
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
  const std::string_view name = name_or_path;
  const bool builtin = name.find('/') == std::string_view::npos &&
                       !(name.size() > 5 && name.substr(name.size() - 5) == ".json");
  if (builtin) {
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

// Rounds weights to their storage type (int8: per-tensor scale from max |w|).
void quantize_weights(Layer& layer) {
  if (layer.weight_type == Dtype::int8) {
    float mx = 0;
    for (float w : layer.weights) mx = std::max(mx, std::fabs(w));
    layer.weight_scale = mx > 0 ? mx / 127.f : 1.f;
  }
  for (float& w : layer.weights)
    w = static_cast<float>(round_to(w, layer.weight_type, layer.weight_scale));
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

}  // namespace

namespace {

// The state of build_model while it reads the layer list: tensors by name, each tensor's
// per-sample shape and storage type as the last layer left them, the weights' random stream.
struct ModelBuilder {
  Model& m;
  Dtype dtype;
  int64_t batch;
  Scale scale;
  std::mt19937_64 rng;
  std::map<std::string, int> index;
  std::map<int, Shape> shape;
  std::map<int, Dtype> type;
  std::string output;

  int tensor(const std::string& name) {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    const int i = static_cast<int>(m.tensors.size());
    m.tensors.push_back({name, 0, false, false, activation_type(dtype, false)});
    index[name] = i;
    return i;
  }
};

// One entry of the layer list as a parse function sees it.
struct LayerSource {
  const json& j;
  const std::string& where;  // "<file>: /layers/3" for messages
  const std::string& op;
  Shape in;  // the input's per-sample shape
  bool cache_out = false;
};

// A second input named by `field` ("in2", "kv"), which an earlier layer must write.
int second_input(ModelBuilder& b, const LayerSource& src, const Layer& layer, const char* field) {
  const std::string name = src.j.at(field).get<std::string>();
  if (!b.index.count(name))
    throw InputError(
        fmt::format("{}: layer '{}' reads tensor '{}' ({}), which no earlier layer writes",
                    src.where, layer.name, name, field));
  return b.index[name];
}

double gemm_flops(int64_t m, int64_t n, int64_t k, int64_t batch) {
  OpDesc od;
  od.kind = OpKind::gemm;
  od.shape = GemmShape{m, n, k, batch, false, false};
  return op_flops(od);
}

// Seeded normal weights with standard deviation sd (none for shapes-only models).
void draw_weights(ModelBuilder& b, Layer& layer, uint64_t count, double sd) {
  std::normal_distribution<float> nd(0.f, static_cast<float>(sd));
  if (!b.scale.shapes_only) layer.weights.resize(count);
  for (float& w : layer.weights) w = nd(b.rng);
}

// ---- one parse function per layer op; each returns the output's per-sample shape ------------

Shape parse_conv(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const json& j = src.j;
  layer.kind = LayerKind::conv;
  Conv2dShape& c = layer.conv;
  c.n = b.batch;
  c.h = src.in.h;
  c.w = src.in.w;
  c.c = src.in.c;
  c.k = j["k"].get<int64_t>();
  c.r = j["r"].get<int64_t>();
  c.s = j.value("s", c.r);
  c.stride_h = c.stride_w = j.value("stride", int64_t{1});
  c.pad_h = c.pad_w = j.value("pad", int64_t{0});
  if (c.p() < 1 || c.q() < 1)
    throw InputError(fmt::format("{}: conv '{}' filter does not fit its {}x{} input", src.where,
                                 layer.name, c.h, c.w));
  layer.bias = j.value("bias", true);
  layer.weight_type = b.dtype == Dtype::int8 ? Dtype::int8 : b.dtype;
  // He-style init; the residual branch's last conv is damped so the residual stream stays in
  // range over 16 blocks without batch norm.
  const double fan_in = static_cast<double>(c.c * c.r * c.s);
  draw_weights(b, layer, static_cast<uint64_t>(c.k * c.c * c.r * c.s),
               std::sqrt(2.0 / fan_in) * (layer.residual ? 0.3 : 1.0));
  OpDesc od;
  od.kind = OpKind::conv2d;
  od.dtype = Dtype::fp32;
  od.shape = c;
  layer.flops = op_flops(od);
  layer.macs_dense = static_cast<double>(c.n * c.k * c.p() * c.q() * c.c * c.r * c.s);
  return {c.p(), c.q(), c.k};
}

// maxpool, avgpool, global_avgpool (the window is the whole input).
Shape parse_pool(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const json& j = src.j;
  layer.kind = src.op == "maxpool" ? LayerKind::maxpool : LayerKind::avgpool;
  Conv2dShape& c = layer.conv;
  c.n = b.batch;
  c.h = src.in.h;
  c.w = src.in.w;
  c.c = c.k = src.in.c;
  if (src.op == "global_avgpool") {
    c.r = src.in.h;
    c.s = src.in.w;
  } else {
    c.r = j.value("r", int64_t{2});
    c.s = j.value("s", c.r);
    c.stride_h = c.stride_w = j.value("stride", c.r);
    c.pad_h = c.pad_w = j.value("pad", int64_t{0});
  }
  if (c.p() < 1 || c.q() < 1)
    throw InputError(
        fmt::format("{}: pool '{}' window does not fit its input", src.where, layer.name));
  return {c.p(), c.q(), c.c};
}

// Dense, or (with "cache") the new token's K or V into position 0 of each sample's KV cache
// [ctx, n]; positions 1..ctx-1 hold the earlier tokens (seeded). Attention does not depend on
// the order.
Shape parse_linear(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const json& j = src.j;
  const Shape s = src.in;
  layer.kind = LayerKind::linear;
  MatmulGeometry& g = layer.matmul;
  g.m = b.batch * s.h * s.w;
  g.k = s.c;
  g.n = j["n"].get<int64_t>();
  g.a_stride[2] = g.k;
  g.b_stride[2] = g.n;
  g.c_stride[2] = g.n;
  layer.bias = j.value("bias", true);
  layer.weight_type = b.dtype == Dtype::int8 ? Dtype::int8 : b.dtype;
  draw_weights(b, layer, static_cast<uint64_t>(g.k * g.n), std::sqrt(1.0 / g.k));
  layer.flops = gemm_flops(g.m, g.n, g.k, 1);
  layer.macs_dense = static_cast<double>(g.m * g.n * g.k);
  if (!src.cache_out) return {s.h, s.w, g.n};
  const int64_t ctx = j["cache"].get<int64_t>();
  if (s.h * s.w != 1 || layer.residual)
    throw InputError(fmt::format(
        "{}: layer '{}' writes a KV cache: it takes one token per sample and no residual",
        src.where, layer.name));
  g.c_stride[2] = ctx * g.n;
  b.m.tensors[static_cast<size_t>(layer.out)].cache = true;
  return {ctx, 1, g.n};
}

void set_strides(MatmulGeometry& g, const int64_t (&a)[4], const int64_t (&bs)[4],
                 const int64_t (&c)[4]) {
  std::copy(a, a + 4, g.a_stride);
  std::copy(bs, bs + 4, g.b_stride);
  std::copy(c, c + 4, g.c_stride);
}

// Attention per (sample, head) read in place: Q [Sq, D], K/V [Sk, D] per sample (a KV cache or
// this pass's projection), scores/probabilities [heads, Sq, Sk] per sample.
// attention_scores: Q K^T / sqrt(d_head) (+ causal mask); attention_values: P V.
Shape parse_attention(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const Shape s = src.in;
  layer.kind = LayerKind::matmul;
  layer.in2 = second_input(b, src, layer, "kv");
  const int64_t H = src.j["heads"].get<int64_t>();
  const Shape kv = b.shape[layer.in2];
  const int64_t D = kv.c, Sk = kv.h * kv.w;
  if (D % H != 0)
    throw InputError(fmt::format("{}: layer '{}': {} features do not split into {} heads",
                                 src.where, layer.name, D, H));
  const int64_t dh = D / H;
  MatmulGeometry& g = layer.matmul;
  g.batch0 = b.batch;
  g.batch1 = H;
  if (b.type[layer.in2] != layer.src_type)
    throw InputError(
        fmt::format("{}: layer '{}': operands of different types", src.where, layer.name));
  Shape out;
  if (src.op == "attention_scores") {
    const int64_t Sq = s.h * s.w;
    if (s.c != D)
      throw InputError(
          fmt::format("{}: layer '{}': Q has {} features, K {}", src.where, layer.name, s.c, D));
    g.m = Sq;
    g.n = Sk;
    g.k = dh;
    set_strides(g, {Sq * D, dh, D, 1}, {Sk * D, dh, 1, D}, {H * Sq * Sk, Sq * Sk, Sk, 1});
    layer.alpha = 1.0 / std::sqrt(static_cast<double>(dh));
    if (src.j.value("causal", false)) {
      // Query i (the last Sq of Sk positions) sees keys j <= i + Sk - Sq.
      layer.mask_values.assign(static_cast<size_t>(Sq * Sk), 0.f);
      for (int64_t i = 0; i < Sq; ++i)
        for (int64_t k2 = i + Sk - Sq + 1; k2 < Sk; ++k2)
          layer.mask_values[static_cast<size_t>(i * Sk + k2)] = -1e30f;
    }
    out = {H * Sq, 1, Sk};
  } else {
    if (s.c != Sk || s.h % H != 0)
      throw InputError(fmt::format(
          "{}: layer '{}': probabilities [{}, {}] do not match {} heads over {} positions",
          src.where, layer.name, s.h, s.c, H, Sk));
    const int64_t Sq = s.h / H;
    g.m = Sq;
    g.n = dh;
    g.k = Sk;
    set_strides(g, {H * Sq * Sk, Sq * Sk, Sk, 1}, {Sk * D, dh, D, 1}, {Sq * D, dh, D, 1});
    out = {Sq, 1, D};
  }
  layer.weight_type = layer.src_type;
  layer.flops = gemm_flops(g.m, g.n, g.k, g.batch0 * g.batch1);
  layer.macs_dense = static_cast<double>(g.batch0 * g.batch1 * g.m * g.n * g.k);
  return out;
}

// rmsnorm, layernorm.
Shape parse_norm(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const Shape s = src.in;
  layer.kind = LayerKind::norm;
  layer.rms = src.op == "rmsnorm";
  layer.eps = src.j.value("eps", 1e-5);
  layer.rows = b.batch * s.h * s.w;
  std::uniform_real_distribution<float> ud(-0.1f, 0.1f);
  layer.gamma.resize(static_cast<size_t>(s.c));
  for (float& g : layer.gamma) g = 1.f + ud(b.rng);
  if (!layer.rms) {
    layer.beta.resize(static_cast<size_t>(s.c));
    for (float& v : layer.beta) v = ud(b.rng);
  }
  return s;
}

Shape parse_causal_mask(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  const Shape s = src.in;
  layer.kind = LayerKind::mask_add;
  const int64_t H = src.j["heads"].get<int64_t>();
  const int64_t Sk = s.c, rows = s.h * s.w;
  if (rows % H != 0 || rows / H > Sk)
    throw InputError(fmt::format("{}: layer '{}': scores [{}, {}] do not match {} heads", src.where,
                                 layer.name, rows, Sk, H));
  const int64_t Sq = rows / H;
  layer.elements = b.batch * s.elements();
  if (b.scale.shapes_only) return s;
  layer.mask_values.assign(static_cast<size_t>(layer.elements), 0.f);
  for (int64_t r = 0; r < b.batch * rows; ++r)
    for (int64_t k2 = r % Sq + Sk - Sq + 1; k2 < Sk; ++k2)
      layer.mask_values[static_cast<size_t>(r * Sk + k2)] = -1e30f;
  return s;
}

Shape parse_softmax(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  layer.kind = LayerKind::softmax;
  layer.rows = b.batch * src.in.h * src.in.w;
  return src.in;
}

Shape parse_act_mul(ModelBuilder& b, const LayerSource& src, Layer& layer) {
  layer.kind = LayerKind::act_mul;
  layer.in2 = second_input(b, src, layer, "in2");
  if (b.shape[layer.in2].elements() != src.in.elements() || b.type[layer.in2] != layer.src_type)
    throw InputError(fmt::format("{}: layer '{}': '{}' and '{}' differ in shape or type", src.where,
                                 layer.name, b.m.tensors[static_cast<size_t>(layer.in)].name,
                                 b.m.tensors[static_cast<size_t>(layer.in2)].name));
  if (layer.act == SUANLI_ACT_NONE) layer.act = SUANLI_ACT_SILU;
  layer.elements = b.batch * src.in.elements();
  return src.in;
}

struct LayerOp {
  Shape (*parse)(ModelBuilder&, const LayerSource&, Layer&);
  bool int8;  // has an int8 form
};

// The layer ops of the model files (reports/schema/model.schema.json), one parse function each.
const std::map<std::string, LayerOp, std::less<>>& layer_ops() {
  struct Group {
    std::vector<const char*> names;
    LayerOp op;
  };
  static const std::map<std::string, LayerOp, std::less<>> kOps = [] {
    const Group groups[] = {{{"conv"}, {parse_conv, true}},
                            {{"maxpool", "avgpool", "global_avgpool"}, {parse_pool, true}},
                            {{"linear"}, {parse_linear, true}},
                            {{"attention_scores", "attention_values"}, {parse_attention, false}},
                            {{"rmsnorm", "layernorm"}, {parse_norm, false}},
                            {{"causal_mask"}, {parse_causal_mask, false}},
                            {{"softmax"}, {parse_softmax, false}},
                            {{"act_mul"}, {parse_act_mul, false}}};
    std::map<std::string, LayerOp, std::less<>> ops;
    for (const Group& g : groups)
      for (const char* name : g.names) ops[name] = g.op;
    return ops;
  }();
  return kOps;
}

// ---- the steps of build_model ----------------------------------------------------------------

json load_document(const std::string& name_or_path, int64_t batch, Model& m) {
  const std::string text = read_model_text(name_or_path, &m.origin);
  json doc = parse_json_text(text, m.origin);
  const auto errors = validate_against_schema(doc, "model.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format("{}: not a valid model file: at {}: {}", m.origin,
                                 errors.front().path, errors.front().message));
  if (batch < 1) throw InputError(fmt::format("{}: batch must be >= 1", m.origin));
  return doc;
}

// Name, description, the input tensor and its shape ([h, w, c] or [tokens, features]).
void read_header(ModelBuilder& b, const json& doc, uint64_t seed) {
  Model& m = b.m;
  m.name = doc["name"].get<std::string>();
  m.description = doc.value("description", "");
  m.sample = doc.value("sample", "sample");
  m.dtype = b.dtype;
  m.batch = b.batch;
  const json& in = doc["input"];
  m.input = b.tensor(in["name"].get<std::string>());
  m.tensors[static_cast<size_t>(m.input)].input = true;
  for (const json& d : in["shape"]) m.input_shape.push_back(d.get<int64_t>());
  if (m.input_shape.size() == 2 && b.scale.tokens > 0) m.input_shape[0] = b.scale.tokens;
  m.verify_tokens = doc.value("verify_tokens", int64_t{0});
  m.cache_seed = seed;
  Shape s;
  s.h = m.input_shape.size() >= 2 ? m.input_shape[0] : 1;
  s.w = m.input_shape.size() == 3 ? m.input_shape[1] : 1;
  s.c = m.input_shape.back();
  m.tokens = s.h * s.w;
  b.shape[m.input] = s;
  b.type[m.input] = activation_type(b.dtype, false);
  m.tensors[static_cast<size_t>(m.input)].bytes =
      static_cast<uint64_t>(b.batch * s.elements()) * dtype_size(b.type[m.input]);
  b.output = doc["output"].get<std::string>();
}

// The checks and fields every layer shares, before its op's parse function: its input, its
// output (in place for a residual, new for a KV cache), its activation and int8 form.
Layer common_fields(ModelBuilder& b, const json& j, const std::string& where, const std::string& op,
                    const LayerOp* entry) {
  Layer layer;
  layer.name = j["name"].get<std::string>();
  const std::string in_name = j["in"].get<std::string>();
  if (!b.index.count(in_name))
    throw InputError(fmt::format("{}: layer '{}' reads tensor '{}', which no earlier layer writes",
                                 where, layer.name, in_name));
  layer.in = b.index[in_name];
  const std::string out_name = j["out"].get<std::string>();
  if (out_name == in_name || out_name == b.m.tensors[static_cast<size_t>(b.m.input)].name)
    throw InputError(fmt::format("{}: layer '{}' may not write its input or the model input", where,
                                 layer.name));
  layer.residual = j.value("residual", false);
  if (layer.residual && !b.index.count(out_name))
    throw InputError(fmt::format(
        "{}: layer '{}' adds a residual in place into '{}', which no earlier layer writes", where,
        layer.name, out_name));
  if (j.contains("cache") && b.index.count(out_name))
    throw InputError(fmt::format("{}: layer '{}' writes KV cache '{}', which is already a tensor",
                                 where, layer.name, out_name));
  layer.out = b.tensor(out_name);
  layer.act = act_from_name(j.value("act", "none"));
  layer.relu = layer.act == SUANLI_ACT_RELU;
  if (b.dtype == Dtype::int8 && !(entry && entry->int8))
    throw DtypeUnsupported(fmt::format("{}: layer '{}' ({}) has no int8 form in suanli's models",
                                       where, layer.name, op));
  if (b.dtype == Dtype::int8 && layer.act > SUANLI_ACT_RELU)
    throw DtypeUnsupported(
        fmt::format("{}: layer '{}': int8 layers take relu or no activation", where, layer.name));
  layer.src_type = b.type[layer.in];
  return layer;
}

// Storage type of a layer's output.
Dtype output_type(const ModelBuilder& b, const Layer& layer, bool is_output) {
  const bool weighted = layer.kind == LayerKind::conv || layer.kind == LayerKind::linear;
  if (is_output && weighted && !layer.residual) return Dtype::fp32;  // logits in fp32
  if (layer.residual) return b.type.at(layer.out);  // in place: the residual's type
  if (layer.kind == LayerKind::maxpool || layer.kind == LayerKind::avgpool)
    return layer.src_type;  // pooling keeps the type (and, for int8, the scale)
  return activation_type(b.dtype, layer.relu);
}

// Bias values, output type and size, weights rounded to their type; the model's totals.
void finish_layer(ModelBuilder& b, Layer& layer, const Shape& out, const std::string& where,
                  bool is_output, bool cache_out) {
  Model& m = b.m;
  if (layer.bias) {
    std::uniform_real_distribution<float> ud(-0.1f, 0.1f);
    layer.bias_values.resize(static_cast<size_t>(out.c));
    for (float& v : layer.bias_values) v = ud(b.rng);
  }
  layer.dst_type = output_type(b, layer, is_output);
  if (layer.residual && b.shape[layer.out].elements() != out.elements())
    throw InputError(fmt::format("{}: layer '{}' residual '{}' has another shape", where,
                                 layer.name, m.tensors[static_cast<size_t>(layer.out)].name));
  if (!layer.weights.empty()) quantize_weights(layer);
  b.shape[layer.out] = out;
  b.type[layer.out] = layer.dst_type;
  layer.out_bytes = static_cast<uint64_t>(b.batch * out.elements()) * dtype_size(layer.dst_type);
  Tensor& t = m.tensors[static_cast<size_t>(layer.out)];
  t.bytes = std::max(t.bytes, layer.out_bytes);
  t.type = layer.dst_type;
  if (cache_out) m.cache_bytes += layer.out_bytes;
  m.flops += layer.flops;
  m.macs_dense += layer.macs_dense;
  const uint64_t weight_count =
      layer.kind == LayerKind::conv
          ? static_cast<uint64_t>(layer.conv.k * layer.conv.c * layer.conv.r * layer.conv.s)
      : layer.kind == LayerKind::linear ? static_cast<uint64_t>(layer.matmul.k * layer.matmul.n)
                                        : 0;
  m.weight_bytes += weight_count * dtype_size(layer.weight_type) + layer.bias_values.size() * 4 +
                    (layer.gamma.size() + layer.beta.size()) * 4;
}

void add_layer(ModelBuilder& b, const json& j, const std::string& where) {
  const std::string op = j["op"].get<std::string>();
  const auto found = layer_ops().find(op);
  const LayerOp* entry = found == layer_ops().end() ? nullptr : &found->second;
  Layer layer = common_fields(b, j, where, op, entry);
  if (!entry) throw InputError(fmt::format("{}: unknown layer op '{}'", where, op));
  const LayerSource src{j, where, op, b.shape[layer.in], j.contains("cache")};
  const Shape out = entry->parse(b, src, layer);
  const bool is_output = j["out"].get<std::string>() == b.output;
  finish_layer(b, layer, out, where, is_output, src.cache_out);
  b.m.layers.push_back(std::move(layer));
}

void check_output(ModelBuilder& b) {
  Model& m = b.m;
  if (!b.index.count(b.output))
    throw InputError(fmt::format("{}: /output: no layer writes tensor '{}'", m.origin, b.output));
  m.output = b.index[b.output];
  if (m.layers.empty() || m.layers.back().out != m.output)
    throw InputError(
        fmt::format("{}: /output: the last layer must write '{}'", m.origin, b.output));
  // Read per forward pass at least once: every weight and every KV cache (attention reads the
  // whole cache), plus the masks. Activations are left out (small in decode; a lower bound).
  m.bytes_per_step = static_cast<double>(m.weight_bytes + m.cache_bytes);
  for (const Layer& layer : m.layers)
    m.bytes_per_step += static_cast<double>(layer.mask_values.size()) * 4;
}

}  // namespace

Model build_model(const std::string& name_or_path, Dtype dtype, int64_t batch, uint64_t seed,
                  Scale scale) {
  Model m;
  const json doc = load_document(name_or_path, batch, m);
  ModelBuilder b{m, dtype, batch, scale, std::mt19937_64(seed), {}, {}, {}, {}};
  read_header(b, doc, seed);
  std::vector<std::pair<json, std::string>> layers;
  if (scale.layers < 0) throw InputError(fmt::format("{}: layers must be >= 1", m.origin));
  m.blocks = flatten_layers(doc["layers"], "/layers", scale.layers, &layers);
  if (scale.layers > 0 && m.blocks == 0)
    throw InputError(
        fmt::format("{}: /layers: the model has no repeated block to scale to {} layers", m.origin,
                    scale.layers));
  for (const auto& [j, path] : layers) add_layer(b, j, fmt::format("{}: {}", m.origin, path));
  check_output(b);
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

}  // namespace suanli::model
