// A model through a backend: plans over shared buffers, verification at a reduced batch, timing
// of the whole plan list under Google Benchmark, samples/s and batch-1 latency percentiles.
#include "model/model_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "model/model.h"
#include "model/model_train.h"

namespace suanli::model {
namespace {

using Clock = std::chrono::steady_clock;

suanli_dtype abi(Dtype d) {
  return static_cast<suanli_dtype>(static_cast<int>(d));
}

// The ABI descriptor of one layer (owns the structs the op_desc points at).
struct LayerOp {
  suanli_op_desc desc{};
  suanli_conv2d_layer_desc conv{};
  suanli_pool_desc pool{};
  suanli_matmul_desc mm{};
  suanli_norm_desc norm{};
  suanli_softmax_desc sm{};
  suanli_eltwise_desc ew{};

  explicit LayerOp(const Layer& L) {
    desc.struct_size = SUANLI_OP_DESC_SIZE;
    suanli_epilogue e{};
    e.struct_size = SUANLI_EPILOGUE_SIZE;
    e.alpha = 1.0;
    e.bias = L.bias ? 1 : 0;
    e.residual = L.residual ? 1 : 0;
    e.activation = static_cast<suanli_activation>(L.act);
    e.mask = L.mask_v.empty() ? 0 : 1;
    e.alpha = L.alpha;
    suanli_quant q{SUANLI_QUANT_SIZE, L.src_scale, L.wei_scale,
                   L.dst_scale, L.res_scale};
    const Conv2dShape& c = L.conv;
    switch (L.kind) {
      case LayerKind::conv:
        conv.struct_size = SUANLI_CONV2D_LAYER_DESC_SIZE;
        conv.conv = {SUANLI_CONV2D_DESC_SIZE,
                     c.n,
                     c.c,
                     c.h,
                     c.w,
                     c.k,
                     c.r,
                     c.s,
                     c.stride_h,
                     c.stride_w,
                     c.pad_h,
                     c.pad_w,
                     1,
                     1,
                     1,
                     abi(L.src_t),
                     abi(L.wei_t),
                     abi(L.dst_t)};
        conv.prop = SUANLI_PROP_FORWARD_INFERENCE;
        conv.epilogue = e;
        conv.quant = q;
        desc.kind = SUANLI_OP_CONV2D_LAYER;
        desc.conv2d_layer = &conv;
        break;
      case LayerKind::maxpool:
      case LayerKind::avgpool:
        pool = {SUANLI_POOL_DESC_SIZE,
                L.kind == LayerKind::maxpool ? SUANLI_POOL_MAX : SUANLI_POOL_AVG,
                c.n,
                c.c,
                c.h,
                c.w,
                c.r,
                c.s,
                c.stride_h,
                c.stride_w,
                c.pad_h,
                c.pad_w,
                abi(L.src_t),
                SUANLI_PROP_FORWARD_INFERENCE};
        desc.kind = SUANLI_OP_POOL;
        desc.pool = &pool;
        break;
      case LayerKind::linear:
      case LayerKind::matmul:
        mm.struct_size = SUANLI_MATMUL_DESC_SIZE;
        mm.batch0 = L.batch0;
        mm.batch1 = L.batch1;
        mm.m = L.mm_m;
        mm.n = L.mm_n;
        mm.k = L.mm_k;
        std::copy(L.a_stride, L.a_stride + 4, mm.a_stride);
        std::copy(L.b_stride, L.b_stride + 4, mm.b_stride);
        std::copy(L.c_stride, L.c_stride + 4, mm.c_stride);
        mm.a_type = abi(L.src_t);
        mm.b_type = abi(L.wei_t);
        mm.c_type = abi(L.dst_t);
        mm.epilogue = e;
        mm.quant = q;
        desc.kind = SUANLI_OP_MATMUL;
        desc.matmul = &mm;
        break;
      case LayerKind::norm:
        norm = {SUANLI_NORM_DESC_SIZE,
                L.rms ? SUANLI_NORM_RMS : SUANLI_NORM_LAYER,
                L.norm_rows,
                static_cast<int64_t>(L.gamma.size()),
                L.eps,
                abi(L.src_t),
                SUANLI_PROP_FORWARD_INFERENCE,
                SUANLI_ACT_NONE};
        desc.kind = SUANLI_OP_NORM;
        desc.norm = &norm;
        break;
      case LayerKind::softmax:
        sm = {SUANLI_SOFTMAX_DESC_SIZE, L.norm_rows,
              static_cast<int64_t>(L.out_bytes / dtype_size(L.dst_t)) / L.norm_rows, abi(L.src_t)};
        desc.kind = SUANLI_OP_SOFTMAX;
        desc.softmax = &sm;
        break;
      case LayerKind::act_mul:
        ew = {SUANLI_ELTWISE_DESC_SIZE, SUANLI_ELTWISE_ACT_MUL,
              static_cast<suanli_activation>(L.act), L.elements, abi(L.src_t)};
        desc.kind = SUANLI_OP_ELTWISE;
        desc.eltwise = &ew;
        break;
      case LayerKind::mask_add:
        ew = {SUANLI_ELTWISE_DESC_SIZE, SUANLI_ELTWISE_ADD, SUANLI_ACT_NONE,
              L.elements, abi(L.src_t)};
        desc.kind = SUANLI_OP_ELTWISE;
        desc.eltwise = &ew;
        break;
    }
  }
};

// The model on a device: one buffer per tensor, weights and biases per layer, one plan per layer.
struct Graph {
  std::vector<std::unique_ptr<DeviceBuffer>> tensors, params;
  std::vector<std::vector<DeviceBuffer*>> layer_bufs;
  std::vector<std::unique_ptr<DevicePlan>> plans;
  std::vector<DevicePlan*> raw;
};

// nullopt-like: "" when every layer is supported, else "layer NAME (op): reason".
std::string unsupported(Backend& b, int device, const Model& m) {
  for (const Layer& L : m.layers) {
    LayerOp op(L);
    const char* reason = nullptr;
    const suanli_status s = b.api()->supports(b.context(), device, &op.desc, &reason);
    if (s == SUANLI_UNSUPPORTED)
      return fmt::format("layer {} ({}): {}", L.name, layer_kind_name(L.kind),
                         reason ? reason : "unsupported");
    b.check(s, "supports");
  }
  return "";
}

Graph make_graph(Backend& b, int device, const Model& m, const std::vector<float>& input) {
  Graph g;
  for (const Tensor& t : m.tensors)
    g.tensors.push_back(b.alloc(device, std::max<uint64_t>(t.bytes, 1)));
  const std::vector<char> in = encode(input, m.layers.front().src_t, m.input_scale);
  g.tensors[static_cast<size_t>(m.input)]->upload(in.data());
  for (size_t i = 0; i < m.tensors.size(); ++i)
    if (m.tensors[i].cache) {
      const std::vector<char> c =
          encode(make_cache(m, static_cast<int>(i), m.cache_seed), m.tensors[i].type, 1.f);
      g.tensors[i]->upload(c.data());
    }
  auto param = [&](const std::vector<float>& v) {
    g.params.push_back(b.alloc(device, v.size() * sizeof(float)));
    g.params.back()->upload(v.data());
    return g.params.back().get();
  };
  for (const Layer& L : m.layers) {
    std::vector<DeviceBuffer*> bufs{g.tensors[static_cast<size_t>(L.in)].get()};
    if (L.in2 >= 0) bufs.push_back(g.tensors[static_cast<size_t>(L.in2)].get());
    if (!L.weights.empty()) {
      const std::vector<char> w = encode(L.weights, L.wei_t, L.wei_scale);
      g.params.push_back(b.alloc(device, w.size()));
      g.params.back()->upload(w.data());
      bufs.push_back(g.params.back().get());
    }
    bufs.push_back(g.tensors[static_cast<size_t>(L.out)].get());
    if (L.bias) bufs.push_back(param(L.bias_v));
    if (L.kind == LayerKind::mask_add) {  // src2 in the activation type
      const std::vector<char> mk = encode(L.mask_v, L.src_t, 1.f);
      g.params.push_back(b.alloc(device, mk.size()));
      g.params.back()->upload(mk.data());
      bufs.insert(bufs.begin() + 1, g.params.back().get());
    } else if (!L.mask_v.empty()) {
      bufs.push_back(param(L.mask_v));
    }
    if (!L.gamma.empty()) bufs.push_back(param(L.gamma));
    if (!L.beta.empty()) bufs.push_back(param(L.beta));
    LayerOp op(L);
    std::vector<suanli_buffer> handles;
    for (DeviceBuffer* d : bufs) handles.push_back(d->handle());
    suanli_plan h = nullptr;
    suanli_plan_info info{};
    info.struct_size = SUANLI_PLAN_INFO_SIZE;
    b.check(b.api()->plan(b.context(), device, &op.desc, handles.data(), handles.size(), &h, &info),
            "plan");
    g.plans.push_back(std::make_unique<DevicePlan>(&b, h, info.library ? info.library : "",
                                                   info.implementation ? info.implementation : ""));
    g.raw.push_back(g.plans.back().get());
    g.layer_bufs.push_back(std::move(bufs));
  }
  return g;
}

std::vector<float> download_output(const Model& m, Graph& g) {
  const Layer& last = m.layers.back();
  std::vector<char> bytes(g.tensors[static_cast<size_t>(m.output)]->bytes());
  g.tensors[static_cast<size_t>(m.output)]->download(bytes.data());
  std::vector<float> out(static_cast<size_t>(last.out_bytes / dtype_size(last.dst_t)));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<float>(load_as_double(bytes.data(), last.dst_t, i));
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
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

// ---- the training step ----------------------------------------------------------------------

// The ABI descriptor of one op of the training step (all fp32).
struct TrainOpDesc {
  suanli_op_desc desc{};
  suanli_conv2d_layer_desc conv{};
  suanli_pool_desc pool{};
  suanli_matmul_desc mm{};
  suanli_eltwise_desc ew{};
  suanli_norm_desc norm{};

  TrainOpDesc(const Model& m, const TOp& o) {
    desc.struct_size = SUANLI_OP_DESC_SIZE;
    suanli_epilogue e{};
    e.struct_size = SUANLI_EPILOGUE_SIZE;
    e.alpha = 1.0;
    e.bias = o.bias ? 1 : 0;

    e.activation = o.relu ? SUANLI_ACT_RELU : SUANLI_ACT_NONE;
    const suanli_quant q{SUANLI_QUANT_SIZE, 1, 1, 1, 1};
    const Conv2dShape& c = m.layers[static_cast<size_t>(o.layer)].conv;
    const suanli_dtype f32 = SUANLI_DTYPE_FP32;
    switch (o.kind) {
      case TOpKind::conv_fwd:
      case TOpKind::conv_bwd_data:
      case TOpKind::conv_bwd_weights:
        conv.struct_size = SUANLI_CONV2D_LAYER_DESC_SIZE;
        conv.conv = {SUANLI_CONV2D_DESC_SIZE,
                     c.n,
                     c.c,
                     c.h,
                     c.w,
                     c.k,
                     c.r,
                     c.s,
                     c.stride_h,
                     c.stride_w,
                     c.pad_h,
                     c.pad_w,
                     1,
                     1,
                     1,
                     f32,
                     f32,
                     f32};
        conv.prop = o.kind == TOpKind::conv_fwd        ? SUANLI_PROP_FORWARD_TRAINING
                    : o.kind == TOpKind::conv_bwd_data ? SUANLI_PROP_BACKWARD_DATA
                                                       : SUANLI_PROP_BACKWARD_WEIGHTS;
        conv.epilogue = e;
        conv.quant = q;
        desc.kind = SUANLI_OP_CONV2D_LAYER;
        desc.conv2d_layer = &conv;
        break;
      case TOpKind::pool_fwd:
      case TOpKind::pool_bwd:
        pool = {
            SUANLI_POOL_DESC_SIZE,
            m.layers[static_cast<size_t>(o.layer)].kind == LayerKind::maxpool ? SUANLI_POOL_MAX
                                                                              : SUANLI_POOL_AVG,
            c.n,
            c.c,
            c.h,
            c.w,
            c.r,
            c.s,
            c.stride_h,
            c.stride_w,
            c.pad_h,
            c.pad_w,
            f32,
            o.kind == TOpKind::pool_fwd ? SUANLI_PROP_FORWARD_TRAINING : SUANLI_PROP_BACKWARD_DATA};
        desc.kind = SUANLI_OP_POOL;
        desc.pool = &pool;
        break;
      case TOpKind::matmul:
        mm.struct_size = SUANLI_MATMUL_DESC_SIZE;
        mm.batch0 = mm.batch1 = 1;
        mm.m = o.m;
        mm.n = o.n;
        mm.k = o.k;
        mm.a_stride[2] = o.a_stride[0];
        mm.a_stride[3] = o.a_stride[1];
        mm.b_stride[2] = o.b_stride[0];
        mm.b_stride[3] = o.b_stride[1];
        mm.c_stride[2] = o.c_stride[0];
        mm.c_stride[3] = o.c_stride[1];
        mm.a_type = mm.b_type = mm.c_type = f32;
        mm.epilogue = e;
        mm.quant = q;
        desc.kind = SUANLI_OP_MATMUL;
        desc.matmul = &mm;
        break;
      case TOpKind::add:
      case TOpKind::relu:
      case TOpKind::relu_bwd:
        ew = {SUANLI_ELTWISE_DESC_SIZE,
              o.kind == TOpKind::add    ? SUANLI_ELTWISE_ADD
              : o.kind == TOpKind::relu ? SUANLI_ELTWISE_ACTIVATION
                                        : SUANLI_ELTWISE_RELU_BACKWARD,
              o.kind == TOpKind::relu ? SUANLI_ACT_RELU : SUANLI_ACT_NONE, o.elements, f32};
        desc.kind = SUANLI_OP_ELTWISE;
        desc.eltwise = &ew;
        break;
      case TOpKind::bn_fwd:
      case TOpKind::bn_bwd:
        norm = {
            SUANLI_NORM_DESC_SIZE,
            SUANLI_NORM_BATCH,
            o.m,
            o.n,
            kBatchNormEps,
            f32,
            o.kind == TOpKind::bn_fwd ? SUANLI_PROP_FORWARD_TRAINING : SUANLI_PROP_BACKWARD_DATA,
            SUANLI_ACT_NONE};
        desc.kind = SUANLI_OP_NORM;
        desc.norm = &norm;
        break;
    }
  }
};

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
  for (const TOp& o : t.ops) {
    TrainOpDesc d(m, o);
    std::vector<suanli_buffer> handles;
    for (int x : o.bufs) handles.push_back(g.tensors[static_cast<size_t>(x)]->handle());
    suanli_plan h = nullptr;
    suanli_plan_info info{};
    info.struct_size = SUANLI_PLAN_INFO_SIZE;
    b.check(b.api()->plan(b.context(), device, &d.desc, handles.data(), handles.size(), &h, &info),
            "plan");
    g.plans.push_back(std::make_unique<DevicePlan>(&b, h, info.library ? info.library : "",
                                                   info.implementation ? info.implementation : ""));
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

// Runs the step's ops one at a time (the hook corrupting the output of the op it names) or as
// one list.
void run_step(Backend& b, const TrainStep& t, TrainGraph& g, const ModelHooks& hooks) {
  if (!hooks.corrupt) {
    b.execute(g.raw, 1);
    return;
  }
  for (size_t i = 0; i < g.raw.size(); ++i) {
    b.execute({g.raw[i]}, 1);
    const TOp& o = t.ops[i];
    if (hooks.corrupt && o.name == hooks.corrupt_layer) {
      DeviceBuffer& out = *g.tensors[static_cast<size_t>(o.out)];
      std::vector<char> bytes(out.bytes());
      out.download(bytes.data());
      hooks.corrupt(bytes.data(), t.tensors[static_cast<size_t>(o.out)].elements * 4);
      out.upload(bytes.data());
    }
  }
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

Result run_training(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                    const ModelHooks& hooks, Result& r) {
  const MeasureSettings& s = w.settings;
  try {
    Scale sc;
    sc.layers = w.model_layers;
    const Model fm = build_model(w.model, w.op.dtype, w.model_batch, s.seed, sc);
    const TrainStep ft = build_train_step(fm);
    // Batch norm over one value per channel is constant and passes no gradient (everything
    // before it would be checked on zeros), over a few it is ill-conditioned: the verification
    // batch is raised until every batch norm sees >= 16 rows per channel (ResNet-50: 7x7 = 49
    // at batch 1; resnet_tiny's last stage is 1x1: batch 16), at most to the full batch.
    int64_t min_rows = 0;
    for (const TOp& o : ft.ops)
      if (o.kind == TOpKind::bn_fwd)
        min_rows = min_rows ? std::min(min_rows, o.m / fm.batch) : o.m / fm.batch;
    int64_t verify_batch = w.model_verify_batch;
    if (min_rows > 0)
      verify_batch = std::min(fm.batch, std::max(verify_batch, (16 + min_rows - 1) / min_rows));
    const Model vm = build_model(w.model, w.op.dtype, verify_batch, s.seed, sc);
    const TrainStep vt = build_train_step(vm);
    const double b = static_cast<double>(fm.batch);
    r.flops = ft.flops();
    r.bytes = static_cast<double>(ft.bytes);  // every tensor of the step once: a lower bound
    r.model = {{"model", fm.name},
               {"origin", fm.origin},
               {"mode", "training"},
               {"batch", fm.batch},
               {"layers", fm.layers.size()},
               {"ops", ft.ops.size()},
               {"sample_unit", fm.sample + "s"},
               {"flops_per_sample", ft.flops() / b},
               {"flops_forward_per_sample", ft.flops_forward / b},
               {"flops_backward_data_per_sample", ft.flops_backward_data / b},
               {"flops_backward_weights_per_sample", ft.flops_backward_weights / b},
               {"training_to_forward_flops", ft.flops() / ft.flops_forward},
               {"macs_dense_per_sample", fm.macs_dense / b},
               {"weight_bytes", fm.weight_bytes},
               {"verify_batch", vm.batch},
               {"loss_gradient",
                "seeded dL/dlogits (uniform in [-1, 1]) uploaded before timing; the loss itself "
                "is not evaluated"},
               {"optimizer", "none: the step ends with the weight and bias gradients"},
               {"batch_norm",
                "unfolded: each conv whose bias is the model file's folded batch norm runs "
                "without bias, followed by batch norm with batch statistics (forward training "
                "and backward; eps 1e-5)"}};
    if (w.op.dtype != Dtype::fp32) {
      r.status = Status::unsupported;
      r.reason = fmt::format(
          "{}: suanli's training step is fp32 only (asked for {}: no {} backward passes and no "
          "loss scaling yet)",
          fm.origin, dtype_name(w.op.dtype), dtype_name(w.op.dtype));
      return r;
    }
    for (const TOp& o : ft.ops) {
      TrainOpDesc d(fm, o);
      const char* reason = nullptr;
      const suanli_status st = backend.api()->supports(backend.context(), device, &d.desc, &reason);
      if (st == SUANLI_UNSUPPORTED) {
        r.status = Status::unsupported;
        r.reason = fmt::format("training op {} ({}): {}", o.name, top_kind_name(o.kind),
                               reason ? reason : "unsupported");
        return r;
      }
      backend.check(st, "supports");
    }

    // Verification at the reduced batch, op by op: the step runs once on the device, every
    // tensor is read back (each is written by exactly one op), and every op's outputs are
    // compared with the fp64 host reference of that op evaluated on the device's own inputs.
    // (A free-running fp64 step drifts from fp32 by up to a few % in the gradients of a
    // batch-normalized ResNet: batch norm backward after global average pooling subtracts nearly
    // equal terms, so tiny forward differences are amplified; per op the comparison is tight.)
    {
      const auto vin = train_inputs(vm, vt, s.seed);
      TrainGraph g = make_train_graph(backend, device, vm, vt, vin);
      run_step(backend, vt, g, hooks);
      std::vector<std::vector<float>> dev(vt.tensors.size());
      for (size_t i = 0; i < vt.tensors.size(); ++i)
        dev[i] = download_f32(*g.tensors[i], vt.tensors[i].elements);
      verify::Verification& v = r.verification;
      v.bound = gradient_tolerance(w.op.dtype);
      double worst = 0, worst_grad = 0;
      std::string worst_op, first_off;
      size_t grads = 0;
      uint64_t values = 0;
      std::vector<std::vector<double>> x(vt.tensors.size());
      for (size_t oi = 0; oi < vt.ops.size(); ++oi) {
        const TOp& o = vt.ops[oi];
        for (int b2 : o.bufs)
          x[static_cast<size_t>(b2)].assign(dev[static_cast<size_t>(b2)].begin(),
                                            dev[static_cast<size_t>(b2)].end());
        reference_op(vt, oi, x);
        double e = 0;
        for (int out : {o.out, o.out2, o.out3}) {
          if (out < 0) continue;
          const size_t u = static_cast<size_t>(out);
          const double eo = rel_l2(dev[u], x[u]);
          if (!(eo <= e)) e = eo;
          const TRole role = vt.tensors[u].role;
          if (role == TRole::weight_grad || role == TRole::bias_grad) {
            ++grads;
            values += vt.tensors[u].elements;
            if (!(eo <= worst_grad)) worst_grad = eo;
          }
        }
        if (!(e <= worst)) worst = e, worst_op = o.name;
        if (!(e <= v.bound) && first_off.empty())
          first_off = fmt::format("; first op off the reference: {} ({}), relative error {:.3g}",
                                  o.name, top_kind_name(o.kind), e);
        for (int b2 : o.bufs) std::vector<double>().swap(x[static_cast<size_t>(b2)]);
      }
      v.method = "training step reference, op by op";
      v.error = worst;
      v.passed = worst <= v.bound;
      v.detail = fmt::format(
          "training step ({} ops: forward, backward data, backward weights) at batch {}{}; every "
          "op's outputs against the host reference of the op (fp64 accumulation, outputs rounded "
          "to fp32) on the device's own inputs; largest relative L2 error {:.3g} in {}; over the "
          "{} weight, gamma, beta and bias gradients ({} values) {:.3g}{}",
          vt.ops.size(), vm.batch,
          vm.batch > w.model_verify_batch
              ? fmt::format(" (raised from {} so that every batch norm sees >= 16 rows per "
                            "channel, or the full batch)",
                            w.model_verify_batch)
              : "",
          worst, worst_op, grads, values, worst_grad, first_off);
      r.verified = true;
    }

    // Timing at the full batch.
    TrainGraph g = make_train_graph(backend, device, fm, ft, train_inputs(fm, ft, s.seed));
    std::vector<std::string> libs;
    for (const auto& p : g.plans)
      if (std::find(libs.begin(), libs.end(), p->library) == libs.end()) libs.push_back(p->library);
    r.library = fmt::format("{}", fmt::join(libs, " + "));
    r.implementation = fmt::format("{} plans (training step); first: {}", g.plans.size(),
                                   g.plans.front()->implementation);
    if (!time_plans(backend, device, g.raw, w, opts, r)) return r;
    r.model["samples_per_second"] = b / r.time.median;
    r.model["samples_per_second_best"] = b / r.time.min;
    set_status_from_verification(r);
  } catch (...) {
    record_exception(r);
  }
  return r;
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
  r.backend = backend.name();
  r.device = device;
  r.op = w.op;
  const MeasureSettings& s = w.settings;
  r.noise_target = s.max_noise;
  if (w.model_training) return run_training(backend, device, w, opts, hooks, r);
  try {
    // Reference and int8 calibration at the reduced batch; the same seed gives the same weights.
    Scale sc;
    sc.layers = w.model_layers;
    Model fm = build_model(w.model, w.op.dtype, w.model_batch, s.seed, sc);
    // Verification at the reduced batch and, for long sequences, at the model file's reduced
    // token count (the host reference is fp64 and single-threaded per row).
    if (fm.verify_tokens > 0 && fm.verify_tokens < fm.tokens) sc.tokens = fm.verify_tokens;
    Model vm = build_model(w.model, w.op.dtype, w.model_verify_batch, s.seed, sc);
    r.flops = fm.flops;
    const std::vector<float> vin = make_input(vm, s.seed);
    std::vector<std::vector<double>> trace;
    const std::vector<double> ref = reference(vm, vin, &trace);
    for (size_t i = 0; i < fm.layers.size(); ++i) {
      Layer& L = fm.layers[i];
      const Layer& V = vm.layers[i];
      L.src_scale = V.src_scale;
      L.wei_scale = V.wei_scale;
      L.dst_scale = V.dst_scale;
      L.res_scale = V.res_scale;
    }
    fm.input_scale = vm.input_scale;
    uint64_t act_bytes = 0;
    for (const Tensor& t : fm.tensors) act_bytes += t.bytes;
    r.bytes = static_cast<double>(fm.weight_bytes + act_bytes);  // compulsory traffic, lower bound
    nlohmann::json mj = {{"model", fm.name},
                         {"origin", fm.origin},
                         {"batch", fm.batch},
                         {"layers", fm.layers.size()},
                         {"sample_unit", fm.sample + "s"},
                         {"flops_per_sample", fm.flops / static_cast<double>(fm.batch)},
                         {"macs_dense_per_sample", fm.macs_dense / static_cast<double>(fm.batch)},
                         {"weight_bytes", fm.weight_bytes},
                         {"verify_batch", vm.batch},
                         {"tokens_per_sample", fm.tokens},
                         {"verify_tokens", vm.tokens},
                         {"blocks", fm.blocks},
                         {"kv_cache_bytes", fm.cache_bytes},
                         {"bytes_per_pass", fm.bytes_per_step}};
    r.model = mj;
    if (std::string why = unsupported(backend, device, fm); !why.empty()) {
      r.status = Status::unsupported;
      r.reason = why;
      return r;
    }

    // Verification: the whole graph at the reduced batch, layer by layer when a hook corrupts.
    {
      Graph g = make_graph(backend, device, vm, vin);
      if (hooks.corrupt) {
        for (size_t i = 0; i < g.raw.size(); ++i) {
          backend.execute({g.raw[i]}, 1);
          if (vm.layers[i].name == hooks.corrupt_layer) {
            DeviceBuffer* out = g.tensors[static_cast<size_t>(vm.layers[i].out)].get();
            std::vector<char> bytes(out->bytes());
            out->download(bytes.data());
            hooks.corrupt(bytes.data(), vm.layers[i].out_bytes);
            out->upload(bytes.data());
          }
        }
      } else {
        backend.execute(g.raw, 1);
      }
      std::vector<float> got = download_output(vm, g);
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
          vm.layers.size(), vm.batch, w.op.dtype == Dtype::int8 ? ", int8 scales calibrated" : "",
          got.size(), worst, worst_i);
      r.verified = true;
      if (!v.passed) {
        // Name the first layer whose output departs from the reference (run again layer by
        // layer; the hook, if any, corrupts again).
        Graph g2 = make_graph(backend, device, vm, vin);
        for (size_t i = 0; i < g2.raw.size(); ++i) {
          backend.execute({g2.raw[i]}, 1);
          const Layer& L = vm.layers[i];
          DeviceBuffer* out = g2.tensors[static_cast<size_t>(L.out)].get();
          std::vector<char> bytes(out->bytes());
          out->download(bytes.data());
          if (hooks.corrupt && L.name == hooks.corrupt_layer) {
            hooks.corrupt(bytes.data(), L.out_bytes);
            out->upload(bytes.data());
          }
          double n2 = 0, d2 = 0;
          const std::vector<double>& t = trace[i];
          for (size_t k = 0; k < t.size(); ++k) {
            const double dv =
                load_as_double(bytes.data(), L.dst_t, k) *
                ((L.dst_t == Dtype::int8 || L.dst_t == Dtype::uint8) ? L.dst_scale : 1.0);
            n2 += (dv - t[k]) * (dv - t[k]);
            d2 += t[k] * t[k];
          }
          const double e = d2 > 0 ? std::sqrt(n2 / d2) : std::sqrt(n2);
          if (e > v.bound) {
            v.detail +=
                fmt::format("; first layer off the reference: {} ({}), relative error {:.3g}",
                            L.name, layer_kind_name(L.kind), e);
            break;
          }
        }
      }
    }

    // Timing at the full batch: the whole plan list, one execute per iteration.
    Graph g = make_graph(backend, device, fm, make_input(fm, s.seed));
    std::string lib = g.plans.front()->library;
    r.library = lib;
    r.implementation = g.plans.front()->implementation;
    for (const auto& p : g.plans)
      if (p->library != lib) r.library = "mixed";
    if (r.library == "mixed") {
      std::vector<std::string> libs;
      for (const auto& p : g.plans)
        if (std::find(libs.begin(), libs.end(), p->library) == libs.end())
          libs.push_back(p->library);
      r.library = fmt::format("{}", fmt::join(libs, " + "));
    }
    r.implementation = fmt::format("{} plans; first: {}", g.plans.size(), r.implementation);
    if (!time_plans(backend, device, g.raw, w, opts, r)) return r;
    r.model["samples_per_second"] = static_cast<double>(fm.batch) / r.time.median;
    r.model["samples_per_second_best"] = static_cast<double>(fm.batch) / r.time.min;
    if (fm.sample == "token" || fm.sample == "sequence") {
      // Tokens processed per second (decode: one new token per sample per pass) and the
      // weights + KV caches read per pass over the time of the pass.
      r.model["tokens_per_second"] = static_cast<double>(fm.batch * fm.tokens) / r.time.median;
      r.model["weight_kv_bytes_per_second"] = fm.bytes_per_step / r.time.median;
    }
    if (fm.batch == 1) {
      const double max_time = opts.max_time.value_or(s.max_time);
      // Single-stream latency (MLPerf's scenario): one execute per query, many queries.
      std::vector<double> lat;
      const auto l0 = Clock::now();
      while (lat.size() < 1000 &&
             (lat.size() < 20 ||
              std::chrono::duration<double>(Clock::now() - l0).count() < std::min(2.0, max_time)))
        lat.push_back(backend.execute(g.raw, 1));
      r.model["latency_s"] = {{"queries", lat.size()},
                              {"p50", percentile(lat, 0.50)},
                              {"p90", percentile(lat, 0.90)},
                              {"p99", percentile(lat, 0.99)}};
    }
    set_status_from_verification(r);
  } catch (...) {
    record_exception(r);
  }
  return r;
}

}  // namespace suanli::model
