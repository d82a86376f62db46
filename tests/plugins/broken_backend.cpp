// A deliberately broken backend plugin for `suanli conformance`'s tests. It follows the
// contract except in five ways, each of which one group of checks must catch:
//  - fp32 gemm: the answer is wrong (C[0] off by one)      -> op.gemm.fp32.* fail
//  - peak: UNSUPPORTED without a reason                    -> op.peak.* fail
//  - an op kind it does not know: answered OK              -> unsupported.unknown_kind fails
//  - execute: the same time whatever the iterations        -> timing fails
//  - plan with a too-small buffer: crashes (SIGSEGV)       -> errors.small_buffer fails
// fp64 gemm (naive, on the host) is right, and every other call behaves.
#include <signal.h>

#include <string>

#include "host_plugin.h"

namespace {

using suanli::kit::fail;
using suanli::test_plugin::GemmPlan;
using suanli::test_plugin::host_gemm;

struct Context : suanli::test_plugin::HostContext {
  static std::unique_ptr<Context> open(const suanli::kit::Options&) {
    auto ctx = std::make_unique<Context>();
    ctx->device_name = "broken device";
    return ctx;
  }

  bool supports(int32_t, const suanli_op_desc& op, std::string& reason) override {
    if (op.kind == SUANLI_OP_GEMM) {
      const suanli_gemm_desc& g = *op.gemm;
      if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1)
        fail(SUANLI_INVALID_ARGUMENT, "sizes must be >= 1");
      const bool same = g.b_type == g.a_type && g.c_type == g.a_type;
      if (same && (g.a_type == SUANLI_DTYPE_FP32 || g.a_type == SUANLI_DTYPE_FP64)) return true;
      reason = "broken backend: gemm only in fp32 and fp64";
      return false;
    }
    if (op.kind == SUANLI_OP_PEAK) {
      if (op.peak->elements < 1 || op.peak->depth < 1)
        fail(SUANLI_INVALID_ARGUMENT, "sizes must be >= 1");
      reason = "";  // broken: no reason given
      return false;
    }
    if (op.kind == SUANLI_OP_STREAM && op.stream->n < 1)
      fail(SUANLI_INVALID_ARGUMENT, "n must be >= 1");
    reason = "broken backend: no conv2d or stream";
    return false;
  }

  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) override {
    for (int64_t it = 0; it < iterations; ++it)
      for (suanli_plan_s* plan : plans) {
        const GemmPlan& p = static_cast<const GemmPlan&>(*plan);
        if (p.g.a_type == SUANLI_DTYPE_FP64) {
          host_gemm<double>(p);
        } else {
          host_gemm<float>(p);
          reinterpret_cast<float*>(p.c->data.data())[0] += 1.0f;  // broken: a wrong answer
        }
      }
    return 1e-3;  // broken: the same time whatever the work
  }

  void telemetry(int32_t, suanli_telemetry& t) override {
    t.power_w = t.energy_j = t.temperature_c = t.clock_mhz = __builtin_nan("");
  }
};

suanli_backend_api g_kit;  // the kit's table, which the broken entry points below wrap

bool known_kind(suanli_op_kind k) {
  return k == SUANLI_OP_GEMM || k == SUANLI_OP_CONV2D || k == SUANLI_OP_PEAK ||
         k == SUANLI_OP_STREAM;
}

// Broken: claims ops it has never heard of (the kit would answer UNSUPPORTED).
suanli_status supports(suanli_context c, int32_t dev, const suanli_op_desc* op,
                       const char** reason) noexcept {
  if (op && !known_kind(op->kind)) return SUANLI_OK;
  return g_kit.supports(c, dev, op, reason);
}

// Broken: crashes on a gemm buffer too small for the op instead of refusing it (the kit would).
suanli_status plan(suanli_context c, int32_t dev, const suanli_op_desc* op,
                   const suanli_buffer* bufs, size_t n, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  if (op && op->kind == SUANLI_OP_GEMM && op->gemm && bufs && n == 3) {
    const std::vector<uint64_t> need = suanli::kit::op_buffer_bytes(op);
    for (size_t i = 0; i < need.size(); ++i)
      if (bufs[i] && bufs[i]->bytes < need[i]) raise(SIGSEGV);
  }
  return g_kit.plan(c, dev, op, bufs, n, out, info);
}

}  // namespace

extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  static const suanli_backend_api api = [] {
    g_kit = suanli::kit::make_api<Context>("broken", "0.0.1");
    suanli_backend_api a = g_kit;
    a.supports = supports;
    a.plan = plan;
    return a;
  }();
  return abi_major == SUANLI_ABI_MAJOR ? &api : nullptr;
}
