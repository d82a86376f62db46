// A model through a backend: plans over shared buffers, verification at a reduced batch, timing
// of the whole plan list under Google Benchmark, samples/s and batch-1 latency percentiles.
// Each workload runs as named steps: build the models, record their metrics, check support,
// verify, time.
#include "model/model_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "model/layer_ops.h"
#include "model/model.h"
#include "model/model_train.h"

namespace suanli::model {
namespace {

using Clock = std::chrono::steady_clock;

// ---- shared by inference and training -------------------------------------------------------

// "" when the backend supports the op, else its reason; throws for any other answer.
std::string unsupported_reason(Backend& b, int device, const OpDescriptor& op) {
  const char* reason = nullptr;
  const suanli_status s = b.api()->supports(b.context(), device, &op.desc, &reason);
  if (s == SUANLI_UNSUPPORTED) return reason ? reason : "unsupported";
  b.check(s, "supports");
  return "";
}

std::unique_ptr<DevicePlan> plan_op(Backend& b, int device, const OpDescriptor& op,
                                    const std::vector<suanli_buffer>& handles) {
  suanli_plan h = nullptr;
  suanli_plan_info info{};
  info.struct_size = SUANLI_PLAN_INFO_SIZE;
  b.check(b.api()->plan(b.context(), device, &op.desc, handles.data(), handles.size(), &h, &info),
          "plan");
  return std::make_unique<DevicePlan>(&b, h, info.library ? info.library : "",
                                      info.implementation ? info.implementation : "");
}

// The plans' libraries, each once, in order ("a + b").
std::string plan_libraries(const std::vector<std::unique_ptr<DevicePlan>>& plans) {
  std::vector<std::string> libs;
  for (const auto& p : plans)
    if (std::find(libs.begin(), libs.end(), p->library) == libs.end()) libs.push_back(p->library);
  return fmt::format("{}", fmt::join(libs, " + "));
}

// Relative L2 error ||got - ref|| / ||ref|| (absolute when ref is 0; infinite when a value is
// not finite or the sizes differ).
double rel_l2(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  if (got.size() != ref.size()) return HUGE_VAL;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return HUGE_VAL;
    const double d = static_cast<double>(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// What the test hook may corrupt after a plan ran: the name it matches (a layer's, a training
// op's), the plan's output buffer and the bytes of it the plan wrote.
struct HookTarget {
  const std::string& name;
  DeviceBuffer& out;
  uint64_t bytes;
};

// Runs one plan; when the test hook names its target, downloads the output, lets the hook change
// it and uploads it back before the next plan runs.
void run_plan_hooked(Backend& b, DevicePlan* plan, const ModelHooks& hooks,
                     const HookTarget& target) {
  b.execute({plan}, 1);
  if (!hooks.corrupt || target.name != hooks.corrupt_layer) return;
  std::vector<char> data(target.out.bytes());
  target.out.download(data.data());
  hooks.corrupt(data.data(), target.bytes);
  target.out.upload(data.data());
}

// Runs the plans once: as one list, or one at a time when the test hook is set
// (target_of(i): plan i's HookTarget).
template <typename TargetOf>
void run_plans_hooked(Backend& b, const std::vector<DevicePlan*>& raw, const ModelHooks& hooks,
                      TargetOf target_of) {
  if (!hooks.corrupt) {
    b.execute(raw, 1);
    return;
  }
  for (size_t i = 0; i < raw.size(); ++i) run_plan_hooked(b, raw[i], hooks, target_of(i));
}

// Times the plan list at the full batch (one execute per iteration, the first run discarded)
// through the runner's sampling engine. False (status error, reason set) when a round failed.
bool time_plans(Backend& backend, int device, const std::vector<DevicePlan*>& raw,
                const Workload& w, const RunOptions& opts, Result& r) {
  backend.execute(raw, 1);  // first run discarded
  SamplingPlan sp;
  sp.plans = raw;
  sp.inner = 1;
  return sample_workload(backend, device, w, opts, sp, r);
}

// The exception in flight as the result's status: unsupported for a model with no form in the
// dtype or a backend's UNSUPPORTED answer, error for anything else.
void record_exception(Result& r) {
  try {
    throw;
  } catch (const DtypeUnsupported& e) {
    r.status = Status::unsupported;
    r.reason = e.what();
  } catch (const BackendCallError& e) {
    r.status = e.status == SUANLI_UNSUPPORTED ? Status::unsupported : Status::error;
    r.reason = e.what();
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.reason = e.what();
  }
}

// ---- inference --------------------------------------------------------------------------------

// The model on a device: one buffer per tensor, weights and biases per layer, one plan per layer.
struct Graph {
  std::vector<std::unique_ptr<DeviceBuffer>> tensors, params;
  std::vector<std::unique_ptr<DevicePlan>> plans;
  std::vector<DevicePlan*> raw;
};

// "" when every layer is supported, else "layer NAME (op): reason".
std::string unsupported_layer(Backend& b, int device, const Model& m) {
  for (const Layer& layer : m.layers) {
    const std::string reason = unsupported_reason(b, device, OpDescriptor(layer));
    if (!reason.empty())
      return fmt::format("layer {} ({}): {}", layer.name, layer_kind_name(layer.kind), reason);
  }
  return "";
}

// A parameter buffer holding `bytes` (weights, biases, masks, gamma, beta).
DeviceBuffer* upload_param(Backend& b, int device, Graph& g, const void* data, uint64_t bytes) {
  g.params.push_back(b.alloc(device, bytes));
  g.params.back()->upload(data);
  return g.params.back().get();
}

DeviceBuffer* upload_param(Backend& b, int device, Graph& g, const std::vector<float>& v) {
  return upload_param(b, device, g, v.data(), v.size() * sizeof(float));
}

// Uploads the input and the seeded KV caches.
void upload_inputs(const Model& m, const std::vector<float>& input, Graph& g) {
  const std::vector<char> in = encode(input, m.layers.front().src_type, m.input_scale);
  g.tensors[static_cast<size_t>(m.input)]->upload(in.data());
  for (size_t i = 0; i < m.tensors.size(); ++i)
    if (m.tensors[i].cache) {
      const std::vector<char> c =
          encode(make_cache(m, static_cast<int>(i), m.cache_seed), m.tensors[i].type, 1.f);
      g.tensors[i]->upload(c.data());
    }
}

// A layer's buffers in the ABI's order: src, [src2], [weights], dst, [bias], [mask], [gamma],
// [beta] (mask_add: its mask is src2, in the activation type).
std::vector<DeviceBuffer*> layer_buffers(Backend& b, int device, const Layer& layer, Graph& g) {
  std::vector<DeviceBuffer*> bufs{g.tensors[static_cast<size_t>(layer.in)].get()};
  if (layer.in2 >= 0) bufs.push_back(g.tensors[static_cast<size_t>(layer.in2)].get());
  if (!layer.weights.empty()) {
    const std::vector<char> w = encode(layer.weights, layer.weight_type, layer.weight_scale);
    bufs.push_back(upload_param(b, device, g, w.data(), w.size()));
  }
  bufs.push_back(g.tensors[static_cast<size_t>(layer.out)].get());
  if (layer.bias) bufs.push_back(upload_param(b, device, g, layer.bias_values));
  if (layer.kind == LayerKind::mask_add) {
    const std::vector<char> mask = encode(layer.mask_values, layer.src_type, 1.f);
    bufs.insert(bufs.begin() + 1, upload_param(b, device, g, mask.data(), mask.size()));
  } else if (!layer.mask_values.empty()) {
    bufs.push_back(upload_param(b, device, g, layer.mask_values));
  }
  if (!layer.gamma.empty()) bufs.push_back(upload_param(b, device, g, layer.gamma));
  if (!layer.beta.empty()) bufs.push_back(upload_param(b, device, g, layer.beta));
  return bufs;
}

Graph make_graph(Backend& b, int device, const Model& m, const std::vector<float>& input) {
  Graph g;
  for (const Tensor& t : m.tensors)
    g.tensors.push_back(b.alloc(device, std::max<uint64_t>(t.bytes, 1)));
  upload_inputs(m, input, g);
  for (const Layer& layer : m.layers) {
    std::vector<suanli_buffer> handles;
    for (DeviceBuffer* d : layer_buffers(b, device, layer, g)) handles.push_back(d->handle());
    g.plans.push_back(plan_op(b, device, OpDescriptor(layer), handles));
    g.raw.push_back(g.plans.back().get());
  }
  return g;
}

std::vector<float> download_output(const Model& m, Graph& g) {
  const Layer& last = m.layers.back();
  std::vector<char> bytes(g.tensors[static_cast<size_t>(m.output)]->bytes());
  g.tensors[static_cast<size_t>(m.output)]->download(bytes.data());
  std::vector<float> out(static_cast<size_t>(last.out_bytes / dtype_size(last.dst_type)));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<float>(load_as_double(bytes.data(), last.dst_type, i));
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// The model at the full batch (timed) and at the verification batch (reference run, int8
// calibration; the same seed gives the same weights), with the calibrated scales copied over.
struct InferenceModels {
  Model full, verify;
  std::vector<float> verify_input;
  std::vector<double> reference;
  std::vector<std::vector<double>> trace;  // every layer's reference output
};

InferenceModels build_inference_models(const Workload& w) {
  InferenceModels models;
  Scale sc;
  sc.layers = w.model_layers;
  models.full = build_model(w.model, w.op.dtype, w.model_batch, w.settings.seed, sc);
  // Verification at the reduced batch and, for long sequences, at the model file's reduced
  // token count (the host reference is fp64 and single-threaded per row).
  if (models.full.verify_tokens > 0 && models.full.verify_tokens < models.full.tokens)
    sc.tokens = models.full.verify_tokens;
  models.verify = build_model(w.model, w.op.dtype, w.model_verify_batch, w.settings.seed, sc);
  models.verify_input = make_input(models.verify, w.settings.seed);
  models.reference = reference(models.verify, models.verify_input, &models.trace);
  for (size_t i = 0; i < models.full.layers.size(); ++i) {
    Layer& full = models.full.layers[i];
    const Layer& calibrated = models.verify.layers[i];
    full.src_scale = calibrated.src_scale;
    full.weight_scale = calibrated.weight_scale;
    full.dst_scale = calibrated.dst_scale;
    full.residual_scale = calibrated.residual_scale;
  }
  models.full.input_scale = models.verify.input_scale;
  return models;
}

nlohmann::json inference_metrics(const Model& full, const Model& verify) {
  const double batch = static_cast<double>(full.batch);
  return {{"model", full.name},
          {"origin", full.origin},
          {"batch", full.batch},
          {"layers", full.layers.size()},
          {"sample_unit", full.sample + "s"},
          {"flops_per_sample", full.flops / batch},
          {"macs_dense_per_sample", full.macs_dense / batch},
          {"weight_bytes", full.weight_bytes},
          {"verify_batch", verify.batch},
          {"tokens_per_sample", full.tokens},
          {"verify_tokens", verify.tokens},
          {"blocks", full.blocks},
          {"kv_cache_bytes", full.cache_bytes},
          {"bytes_per_pass", full.bytes_per_step}};
}

HookTarget layer_target(const Model& m, Graph& g, size_t i) {
  const Layer& layer = m.layers[i];
  return {layer.name, *g.tensors[static_cast<size_t>(layer.out)], layer.out_bytes};
}

// After a failed verification: runs the graph again layer by layer (the hook, if any, corrupts
// again) and names the first layer whose output departs from the reference ("" if none).
std::string first_layer_off(Backend& backend, int device, const InferenceModels& models,
                            double bound, const ModelHooks& hooks) {
  const Model& verify_model = models.verify;
  Graph g = make_graph(backend, device, verify_model, models.verify_input);
  for (size_t i = 0; i < g.raw.size(); ++i) {
    run_plan_hooked(backend, g.raw[i], hooks, layer_target(verify_model, g, i));
    const Layer& layer = verify_model.layers[i];
    DeviceBuffer& out = *g.tensors[static_cast<size_t>(layer.out)];
    std::vector<char> bytes(out.bytes());
    out.download(bytes.data());
    const double scale =
        layer.dst_type == Dtype::int8 || layer.dst_type == Dtype::uint8 ? layer.dst_scale : 1.0;
    const std::vector<double>& t = models.trace[i];
    double num = 0, den = 0;
    for (size_t k = 0; k < t.size(); ++k) {
      const double got = load_as_double(bytes.data(), layer.dst_type, k) * scale;
      num += (got - t[k]) * (got - t[k]);
      den += t[k] * t[k];
    }
    const double e = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    if (e > bound)
      return fmt::format("; first layer off the reference: {} ({}), relative error {:.3g}",
                         layer.name, layer_kind_name(layer.kind), e);
  }
  return "";
}

// The whole graph at the verification batch against the host reference.
void verify_inference(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                      const InferenceModels& models, const ModelHooks& hooks, Result& r) {
  const Model& verify_model = models.verify;
  const std::vector<double>& ref = models.reference;
  Graph g = make_graph(backend, device, verify_model, models.verify_input);
  run_plans_hooked(backend, g.raw, hooks,
                   [&](size_t i) { return layer_target(verify_model, g, i); });
  std::vector<float> got = download_output(verify_model, g);
  if (opts.corrupt_output) opts.corrupt_output(r, got.data(), got.size() * sizeof(float));
  double num = 0, den = 0, worst = 0;
  size_t worst_i = 0;
  bool finite = got.size() == ref.size();
  for (size_t i = 0; finite && i < got.size(); ++i) {
    if (!std::isfinite(got[i])) finite = false;
    const double d = static_cast<double>(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    if (std::fabs(d) > worst) worst = std::fabs(d), worst_i = i;
  }
  verify::Verification& v = r.verification;
  v.method = "model reference";
  v.error = finite ? (den > 0 ? std::sqrt(num / den) : std::sqrt(num)) : HUGE_VAL;
  v.bound = output_tolerance(w.op.dtype);
  v.passed = finite && v.error <= v.bound;
  v.detail = fmt::format(
      "whole graph ({} layers) at batch {} against the host reference (fp64 accumulation, "
      "tensors rounded to their storage types{}); relative L2 error of the {} outputs; "
      "largest difference {:.3g} at output {}",
      verify_model.layers.size(), verify_model.batch,
      w.op.dtype == Dtype::int8 ? ", int8 scales calibrated" : "", got.size(), worst, worst_i);
  r.verified = true;
  if (!v.passed) v.detail += first_layer_off(backend, device, models, v.bound, hooks);
}

// Single-stream latency (MLPerf's scenario): one execute per query, many queries.
nlohmann::json single_stream_latency(Backend& backend, const std::vector<DevicePlan*>& raw,
                                     double max_time) {
  std::vector<double> lat;
  const auto l0 = Clock::now();
  while (lat.size() < 1000 &&
         (lat.size() < 20 ||
          std::chrono::duration<double>(Clock::now() - l0).count() < std::min(2.0, max_time)))
    lat.push_back(backend.execute(raw, 1));
  return {{"queries", lat.size()},
          {"p50", percentile(lat, 0.50)},
          {"p90", percentile(lat, 0.90)},
          {"p99", percentile(lat, 0.99)}};
}

// Timing at the full batch: the whole plan list, one execute per iteration; the throughput
// metrics, and the latency percentiles at batch 1.
void time_inference(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                    const Model& model, Result& r) {
  Graph g = make_graph(backend, device, model, make_input(model, w.settings.seed));
  r.library = plan_libraries(g.plans);
  r.implementation =
      fmt::format("{} plans; first: {}", g.plans.size(), g.plans.front()->implementation);
  if (!time_plans(backend, device, g.raw, w, opts, r)) return;
  const double batch = static_cast<double>(model.batch);
  r.model["samples_per_second"] = batch / r.time.median;
  r.model["samples_per_second_best"] = batch / r.time.min;
  if (model.sample == "token" || model.sample == "sequence") {
    // Tokens processed per second (decode: one new token per sample per pass) and the
    // weights + KV caches read per pass over the time of the pass.
    r.model["tokens_per_second"] = static_cast<double>(model.batch * model.tokens) / r.time.median;
    r.model["weight_kv_bytes_per_second"] = model.bytes_per_step / r.time.median;
  }
  if (model.batch == 1)
    r.model["latency_s"] =
        single_stream_latency(backend, g.raw, opts.max_time.value_or(w.settings.max_time));
  set_status_from_verification(r);
}

void run_inference(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                   const ModelHooks& hooks, Result& r) {
  const InferenceModels models = build_inference_models(w);
  const Model& model = models.full;
  r.flops = model.flops;
  uint64_t act_bytes = 0;
  for (const Tensor& t : model.tensors) act_bytes += t.bytes;
  r.bytes = static_cast<double>(model.weight_bytes + act_bytes);  // compulsory traffic, lower bound
  r.model = inference_metrics(model, models.verify);
  if (std::string why = unsupported_layer(backend, device, model); !why.empty()) {
    r.status = Status::unsupported;
    r.reason = why;
    return;
  }
  verify_inference(backend, device, w, opts, models, hooks, r);
  time_inference(backend, device, w, opts, model, r);
}

// ---- the training step ----------------------------------------------------------------------

struct TrainGraph {
  std::vector<std::unique_ptr<DeviceBuffer>> tensors;
  std::vector<std::unique_ptr<DevicePlan>> plans;
  std::vector<DevicePlan*> raw;
};

TrainGraph make_train_graph(Backend& b, int device, const Model& m, const TrainStep& t,
                            const std::vector<std::vector<float>>& inputs) {
  TrainGraph g;
  for (size_t i = 0; i < t.tensors.size(); ++i) {
    g.tensors.push_back(b.alloc(device, std::max<uint64_t>(t.tensors[i].elements * 4, 1)));
    if (!inputs[i].empty()) g.tensors.back()->upload(inputs[i].data());
  }
  for (const TrainOp& o : t.ops) {
    std::vector<suanli_buffer> handles;
    for (int x : o.bufs) handles.push_back(g.tensors[static_cast<size_t>(x)]->handle());
    g.plans.push_back(plan_op(b, device, OpDescriptor(m, o), handles));
    g.raw.push_back(g.plans.back().get());
  }
  return g;
}

std::vector<float> download_f32(DeviceBuffer& b, uint64_t elements) {
  std::vector<float> v(std::max<uint64_t>(b.bytes() / 4, elements));
  b.download(v.data());
  v.resize(elements);
  return v;
}

// The model and its step at the full batch (timed) and at the verification batch.
struct TrainingModels {
  Model full, verify;
  TrainStep full_step, verify_step;
};

// Batch norm over one value per channel is constant and passes no gradient (everything before
// it would be checked on zeros), over a few it is ill-conditioned: the verification batch is
// raised until every batch norm sees >= 16 rows per channel (ResNet-50: 7x7 = 49 at batch 1;
// resnet_tiny's last stage is 1x1: batch 16), at most to the full batch.
int64_t training_verify_batch(const Model& full, const TrainStep& step, int64_t requested) {
  int64_t min_rows = 0;
  for (const TrainOp& o : step.ops)
    if (o.kind == TrainOpKind::bn_fwd)
      min_rows = min_rows ? std::min(min_rows, o.rows / full.batch) : o.rows / full.batch;
  if (min_rows > 0)
    return std::min(full.batch, std::max(requested, (16 + min_rows - 1) / min_rows));
  return requested;
}

TrainingModels build_training_models(const Workload& w) {
  Scale sc;
  sc.layers = w.model_layers;
  TrainingModels models;
  models.full = build_model(w.model, w.op.dtype, w.model_batch, w.settings.seed, sc);
  models.full_step = build_train_step(models.full);
  const int64_t verify_batch =
      training_verify_batch(models.full, models.full_step, w.model_verify_batch);
  models.verify = build_model(w.model, w.op.dtype, verify_batch, w.settings.seed, sc);
  models.verify_step = build_train_step(models.verify);
  return models;
}

nlohmann::json training_metrics(const TrainingModels& models) {
  const Model& model = models.full;
  const TrainStep& step = models.full_step;
  const double b = static_cast<double>(model.batch);
  return {{"model", model.name},
          {"origin", model.origin},
          {"mode", "training"},
          {"batch", model.batch},
          {"layers", model.layers.size()},
          {"ops", step.ops.size()},
          {"sample_unit", model.sample + "s"},
          {"flops_per_sample", step.flops() / b},
          {"flops_forward_per_sample", step.flops_forward / b},
          {"flops_backward_data_per_sample", step.flops_backward_data / b},
          {"flops_backward_weights_per_sample", step.flops_backward_weights / b},
          {"training_to_forward_flops", step.flops() / step.flops_forward},
          {"macs_dense_per_sample", model.macs_dense / b},
          {"weight_bytes", model.weight_bytes},
          {"verify_batch", models.verify.batch},
          {"loss_gradient",
           "seeded dL/dlogits (uniform in [-1, 1]) uploaded before timing; the loss itself "
           "is not evaluated"},
          {"optimizer", "none: the step ends with the weight and bias gradients"},
          {"batch_norm",
           "unfolded: each conv whose bias is the model file's folded batch norm runs "
           "without bias, followed by batch norm with batch statistics (forward training "
           "and backward; eps 1e-5)"}};
}

// "" when the backend supports every op of the step, else "training op NAME (kind): reason".
std::string unsupported_train_op(Backend& backend, int device, const Model& m, const TrainStep& t) {
  for (const TrainOp& o : t.ops) {
    const std::string reason = unsupported_reason(backend, device, OpDescriptor(m, o));
    if (!reason.empty())
      return fmt::format("training op {} ({}): {}", o.name, train_op_kind_name(o.kind), reason);
  }
  return "";
}

// The errors of every op's outputs against the host reference of that op.
struct StepErrors {
  double worst = 0, worst_grad = 0;
  std::string worst_op, first_off;
  size_t grads = 0;
  uint64_t values = 0;
};

// Compares every op's outputs (dev: every tensor as the device left it) with the fp64 host
// reference of that op evaluated on the device's own inputs.
StepErrors compare_ops(const TrainStep& verify_step, const std::vector<std::vector<float>>& dev,
                       double bound) {
  StepErrors s;
  std::vector<std::vector<double>> x(verify_step.tensors.size());
  for (size_t oi = 0; oi < verify_step.ops.size(); ++oi) {
    const TrainOp& o = verify_step.ops[oi];
    for (int b : o.bufs)
      x[static_cast<size_t>(b)].assign(dev[static_cast<size_t>(b)].begin(),
                                       dev[static_cast<size_t>(b)].end());
    reference_op(verify_step, oi, x);
    double e = 0;
    for (int out : {o.out, o.out2, o.out3}) {
      if (out < 0) continue;
      const size_t u = static_cast<size_t>(out);
      const double eo = rel_l2(dev[u], x[u]);
      if (!(eo <= e)) e = eo;
      const TensorRole role = verify_step.tensors[u].role;
      if (role == TensorRole::weight_grad || role == TensorRole::bias_grad) {
        ++s.grads;
        s.values += verify_step.tensors[u].elements;
        if (!(eo <= s.worst_grad)) s.worst_grad = eo;
      }
    }
    if (!(e <= s.worst)) s.worst = e, s.worst_op = o.name;
    if (!(e <= bound) && s.first_off.empty())
      s.first_off = fmt::format("; first op off the reference: {} ({}), relative error {:.3g}",
                                o.name, train_op_kind_name(o.kind), e);
    for (int b : o.bufs) std::vector<double>().swap(x[static_cast<size_t>(b)]);
  }
  return s;
}

// Verification at the reduced batch, op by op: the step runs once on the device, every tensor
// is read back (each is written by exactly one op), and every op's outputs are compared with the
// fp64 host reference of that op evaluated on the device's own inputs. (A free-running fp64
// step drifts from fp32 by up to a few % in the gradients of a batch-normalized ResNet: batch
// norm backward after global average pooling subtracts nearly equal terms, so tiny forward
// differences are amplified; per op the comparison is tight.)
void verify_training(Backend& backend, int device, const Workload& w, const TrainingModels& models,
                     const ModelHooks& hooks, Result& r) {
  const Model& verify_model = models.verify;
  const TrainStep& verify_step = models.verify_step;
  TrainGraph g = make_train_graph(backend, device, verify_model, verify_step,
                                  train_inputs(verify_model, verify_step, w.settings.seed));
  run_plans_hooked(backend, g.raw, hooks, [&](size_t i) {
    const size_t out = static_cast<size_t>(verify_step.ops[i].out);
    return HookTarget{verify_step.ops[i].name, *g.tensors[out],
                      verify_step.tensors[out].elements * 4};
  });
  std::vector<std::vector<float>> dev(verify_step.tensors.size());
  for (size_t i = 0; i < verify_step.tensors.size(); ++i)
    dev[i] = download_f32(*g.tensors[i], verify_step.tensors[i].elements);
  verify::Verification& v = r.verification;
  v.bound = gradient_tolerance(w.op.dtype);
  const StepErrors s = compare_ops(verify_step, dev, v.bound);
  v.method = "training step reference, op by op";
  v.error = s.worst;
  v.passed = s.worst <= v.bound;
  v.detail = fmt::format(
      "training step ({} ops: forward, backward data, backward weights) at batch {}{}; every "
      "op's outputs against the host reference of the op (fp64 accumulation, outputs rounded "
      "to fp32) on the device's own inputs; largest relative L2 error {:.3g} in {}; over the "
      "{} weight, gamma, beta and bias gradients ({} values) {:.3g}{}",
      verify_step.ops.size(), verify_model.batch,
      verify_model.batch > w.model_verify_batch
          ? fmt::format(" (raised from {} so that every batch norm sees >= 16 rows per "
                        "channel, or the full batch)",
                        w.model_verify_batch)
          : "",
      s.worst, s.worst_op, s.grads, s.values, s.worst_grad, s.first_off);
  r.verified = true;
}

// Timing at the full batch.
void time_training(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                   const TrainingModels& models, Result& r) {
  const Model& model = models.full;
  TrainGraph g = make_train_graph(backend, device, model, models.full_step,
                                  train_inputs(model, models.full_step, w.settings.seed));
  r.library = plan_libraries(g.plans);
  r.implementation = fmt::format("{} plans (training step); first: {}", g.plans.size(),
                                 g.plans.front()->implementation);
  if (!time_plans(backend, device, g.raw, w, opts, r)) return;
  const double b = static_cast<double>(model.batch);
  r.model["samples_per_second"] = b / r.time.median;
  r.model["samples_per_second_best"] = b / r.time.min;
  set_status_from_verification(r);
}

void run_training(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                  const ModelHooks& hooks, Result& r) {
  const TrainingModels models = build_training_models(w);
  r.flops = models.full_step.flops();
  // Every tensor of the step once: a lower bound.
  r.bytes = static_cast<double>(models.full_step.bytes);
  r.model = training_metrics(models);
  if (w.op.dtype != Dtype::fp32) {
    r.status = Status::unsupported;
    r.reason = fmt::format(
        "{}: suanli's training step is fp32 only (asked for {}: no {} backward passes and no "
        "loss scaling yet)",
        models.full.origin, dtype_name(w.op.dtype), dtype_name(w.op.dtype));
    return;
  }
  if (std::string why = unsupported_train_op(backend, device, models.full, models.full_step);
      !why.empty()) {
    r.status = Status::unsupported;
    r.reason = why;
    return;
  }
  verify_training(backend, device, w, models, hooks, r);
  time_training(backend, device, w, opts, models, r);
}

}  // namespace

uint64_t model_device_bytes(const Workload& w) {
  Scale sc;
  sc.layers = w.model_layers;
  sc.shapes_only = true;
  try {
    const Model m = build_model(w.model, w.op.dtype, w.model_batch, w.settings.seed, sc);
    if (w.model_training) return build_train_step(m).bytes;
    uint64_t bytes = m.weight_bytes;
    for (const Tensor& t : m.tensors) bytes += t.bytes;
    return bytes;
  } catch (const DtypeUnsupported&) {
    return 0;
  }
}

Result run_model_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                          const ModelHooks& hooks) {
  Result r;
  r.workload = w.id;
  r.name = w.name;
  r.noise_target = w.settings.max_noise;
  r.backend = backend.name();
  r.device = device;
  r.op = w.op;
  try {
    if (w.model_training)
      run_training(backend, device, w, opts, hooks, r);
    else
      run_inference(backend, device, w, opts, hooks, r);
  } catch (...) {
    record_exception(r);
  }
  return r;
}

}  // namespace suanli::model
