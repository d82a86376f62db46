// A small backend plugin for the loader's and runner's tests; SUANLI_TEST_MODE picks how it
// misbehaves.
//
// Modes: good (naive host gemm fp32/fp64, correct), wrong_abi (claims another
// ABI major), no_entry (exports no entry point), create_fails, zero_devices,
// errors (execute fails), wrong (gemm output off by one element), slow_peak
// (unused). It computes real results on the host; it is never installed.
//
// Environment: SUANLI_TEST_TIME_DIVISOR=D (a number > 0) makes every mode lie about its device
// time: execute reports the measured time divided by D (D = 10: ten times faster than it ran),
// for the tests of the harness's own wall-clock check (issue 13 item 3).
// SUANLI_TEST_PEAK=overclaim: the plugin also runs the fp32 peak chain (on the host, one thread)
// and claims 10x the rate it measured for it at create (10x: a calibration slowed by a busy
// machine still leaves the claim far above what the chain reaches): a theoretical peak the
// harness's peak self-check must find suspect (issue 10 item 3).
// Faults on demand, for the harness's isolation tests (every mode): SUANLI_TEST_FAULT=segv,
// abort, exit0, hang or bus makes execute misbehave so, on gemms whose m equals
// SUANLI_TEST_FAULT_M (every gemm when unset); SUANLI_TEST_FAULT=create_segv crashes in create.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "host_plugin.h"

#define MODE_GOOD 0
#define MODE_WRONG_ABI 1
#define MODE_NO_ENTRY 2
#define MODE_CREATE_FAILS 3
#define MODE_ZERO_DEVICES 4
#define MODE_ERRORS 5
#define MODE_WRONG 6

#ifndef SUANLI_TEST_MODE
#define SUANLI_TEST_MODE MODE_GOOD
#endif
#ifndef SUANLI_TEST_NAME
#define SUANLI_TEST_NAME "test"
#endif

namespace {

using suanli::test_plugin::GemmPlan;
using suanli::test_plugin::host_gemm;

const char* fault() {
  const char* f = std::getenv("SUANLI_TEST_FAULT");
  return f ? f : "";
}

// The injected misbehaviour, if this gemm is the one named.
void maybe_fault(int64_t m) {
  const std::string f = fault();
  if (f.empty() || f == "create_segv") return;
  const char* only = std::getenv("SUANLI_TEST_FAULT_M");
  if (only && std::atoll(only) != m) return;
  if (f == "segv") std::raise(SIGSEGV);
  if (f == "bus") std::raise(SIGBUS);
  if (f == "abort") std::abort();
  if (f == "exit0") std::exit(0);
  if (f == "hang")
    while (true) pause();
}

// fp32, fp64, and int8 only as s8 x s8 -> s32 (a GPU's form: the harness must fall back to it
// from u8 x s8).
bool gemm_ok(const suanli_op_desc& op) {
  if (op.kind != SUANLI_OP_GEMM) return false;
  const suanli_gemm_desc& g = *op.gemm;
  const bool types = g.a_type == SUANLI_DTYPE_FP32 || g.a_type == SUANLI_DTYPE_FP64 ||
                     (g.a_type == SUANLI_DTYPE_INT8 && g.b_type == SUANLI_DTYPE_INT8 &&
                      g.c_type == SUANLI_DTYPE_INT32);
  return types && !g.trans_a && !g.trans_b && g.batch == 1;
}

bool overclaims_peak() {
  const char* p = std::getenv("SUANLI_TEST_PEAK");
  return p && std::string(p) == "overclaim";
}

bool peak_ok(const suanli_op_desc& op) {
  return overclaims_peak() && op.kind == SUANLI_OP_PEAK && op.peak->in_type == SUANLI_DTYPE_FP32 &&
         op.peak->acc_type == SUANLI_DTYPE_FP32;
}

struct PeakPlan : suanli_plan_s {
  suanli_peak_desc d{};
  suanli::test_plugin::HostBuffer *a = nullptr, *c = nullptr;
};

// The ABI's chain x = x + alpha * beta: the product is exact for the harness's alpha and beta
// (1 x 1), so an add rounds as the FMA would; vectorised over the elements.
void peak_chain(const float* a, float* c, int64_t elements, int64_t depth, float product) {
  for (int64_t e = 0; e < elements; ++e) c[e] = a[e];
  for (int64_t t = 0; t < depth; ++t)
    for (int64_t e = 0; e < elements; ++e) c[e] += product;
}

// The chain's rate on this host (best of 6 calls of ~3 ms: the fastest is the least disturbed
// by other processes and a clock still ramping up), in FLOP/s.
double measured_chain_rate() {
  const int64_t elements = 16384, depth = 4096;
  std::vector<float> a(elements, 1.0f), c(elements);
  double best = 1e30;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    peak_chain(a.data(), c.data(), elements, depth, 1.0f);
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * elements * depth / best;
}

struct Context : suanli::test_plugin::HostContext {
  static std::unique_ptr<Context> open(const suanli::kit::Options&) {
    if (std::string(fault()) == "create_segv") std::raise(SIGSEGV);
    if (SUANLI_TEST_MODE == MODE_CREATE_FAILS)
      suanli::kit::fail(SUANLI_DEVICE_ERROR, "test backend: the device is on fire");
    auto ctx = std::make_unique<Context>();
    ctx->devices = SUANLI_TEST_MODE == MODE_ZERO_DEVICES ? 0 : 1;
    ctx->peaks = {{SUANLI_PEAK_ENTRY_SIZE, SUANLI_DTYPE_FP32, 1e12, "test: 1 TFLOP/s by decree"}};
    if (overclaims_peak())
      ctx->peaks[0] = {SUANLI_PEAK_ENTRY_SIZE, SUANLI_DTYPE_FP32, 10 * measured_chain_rate(),
                       "test: 10x the chain rate measured at create (SUANLI_TEST_PEAK=overclaim)"};
    return ctx;
  }

  bool supports(int32_t, const suanli_op_desc& op, std::string& reason) override {
    if (op.kind == SUANLI_OP_GEMM && (op.gemm->m < 1 || op.gemm->n < 1 || op.gemm->k < 1))
      suanli::kit::fail(SUANLI_INVALID_ARGUMENT, "test backend: gemm sizes must be >= 1");
    if (gemm_ok(op) || peak_ok(op)) return true;
    reason = "test backend: only plain fp32/fp64 and s8 x s8 int8 gemm";
    return false;
  }

  std::unique_ptr<suanli_plan_s> plan(int32_t device, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& bufs,
                                      std::string& reason) override {
    if (!peak_ok(op)) return HostContext::plan(device, op, bufs, reason);
    auto p = std::make_unique<PeakPlan>();
    p->d = *op.peak;
    p->a = static_cast<suanli::test_plugin::HostBuffer*>(bufs[0]);
    p->c = static_cast<suanli::test_plugin::HostBuffer*>(bufs[1]);
    p->library = "naive";
    p->implementation = "host add chain";
    return p;
  }

  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iters) override {
    if (SUANLI_TEST_MODE == MODE_ERRORS)
      suanli::kit::fail(SUANLI_DEVICE_ERROR, "test backend: the kernel launch failed (injected)");
    for (suanli_plan_s* p : plans)
      if (!dynamic_cast<PeakPlan*>(p)) maybe_fault(static_cast<GemmPlan*>(p)->g.m);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t it = 0; it < iters; ++it)
      for (suanli_plan_s* plan : plans) {
        if (const auto* pk = dynamic_cast<const PeakPlan*>(plan))
          peak_chain(reinterpret_cast<const float*>(pk->a->data.data()),
                     reinterpret_cast<float*>(pk->c->data.data()), pk->d.elements, pk->d.depth,
                     static_cast<float>(pk->d.alpha) * static_cast<float>(pk->d.beta));
        else
          run(static_cast<const GemmPlan&>(*plan));
      }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const char* env = std::getenv("SUANLI_TEST_TIME_DIVISOR");  // read per call: tests set it
    const double divisor = env ? std::atof(env) : 1.0;
    if (divisor > 0) seconds /= divisor;
    return seconds;
  }

  static void run(const GemmPlan& p) {
    if (p.g.a_type == SUANLI_DTYPE_FP64) {
      host_gemm<double>(p);
    } else if (p.g.a_type == SUANLI_DTYPE_INT8) {
      host_gemm<int32_t, int8_t, int32_t>(p);
    } else {
      host_gemm<float, float, float>(p);
      if (SUANLI_TEST_MODE == MODE_WRONG) {
        auto* c = reinterpret_cast<float*>(p.c->data.data());
        c[(p.g.m / 2) * p.g.n + p.g.n / 3] += 0.5f + std::fabs(c[0]);
      }
    }
  }

  void telemetry(int32_t, suanli_telemetry& t) override {
    t.power_w = 10.0;
    t.energy_j = NAN;
    t.temperature_c = 40.0;
    t.clock_mhz = 1000.0;
  }
};

}  // namespace

#if SUANLI_TEST_MODE != MODE_NO_ENTRY
extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  static const suanli_backend_api api = [] {
    suanli_backend_api a = suanli::kit::make_api<Context>(SUANLI_TEST_NAME, "0.0.1");
    if (SUANLI_TEST_MODE == MODE_WRONG_ABI) a.abi_major = SUANLI_ABI_MAJOR + 98;
    return a;
  }();
  // Every major gets the table (wrong_abi's claims another one): robust_test relies on
  // conformance's abi.version failing here and the other checks going on.
  (void)abi_major;
  return &api;
}
#else
extern "C" SUANLI_EXPORT int suanli_backend_get_typo(void) {
  return 0;
}
#endif
