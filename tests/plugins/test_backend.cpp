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
// Faults on demand, for the harness's isolation tests (every mode): SUANLI_TEST_FAULT=segv,
// abort, exit0, hang or bus makes execute misbehave so, on gemms whose m equals
// SUANLI_TEST_FAULT_M (every gemm when unset); SUANLI_TEST_FAULT=create_segv crashes in create.
#include <suanli/backend.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

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

struct Buf {
  std::vector<char> data;
};
struct Plan {
  suanli_gemm_desc g;
  Buf *a, *b, *c;
};

}  // namespace

struct suanli_context_s {
  std::string error, reason;
};

namespace {

std::string g_create_error;

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

suanli_status create(const suanli_create_args*, suanli_context* out) noexcept {
  if (std::string(fault()) == "create_segv") std::raise(SIGSEGV);
  if (SUANLI_TEST_MODE == MODE_CREATE_FAILS) {
    g_create_error = "test backend: the device is on fire";
    return SUANLI_DEVICE_ERROR;
  }
  *out = new suanli_context_s;
  return SUANLI_OK;
}
void destroy(suanli_context c) noexcept {
  delete c;
}
const char* last_error(suanli_context c) noexcept {
  return c ? c->error.c_str() : g_create_error.c_str();
}
suanli_status libraries(suanli_context, const suanli_kv** out, size_t* n) noexcept {
  static const suanli_kv kLibs[] = {{sizeof(suanli_kv), "naive", "1.0"}};
  *out = kLibs;
  *n = 1;
  return SUANLI_OK;
}
suanli_status device_count(suanli_context, int32_t* n) noexcept {
  *n = SUANLI_TEST_MODE == MODE_ZERO_DEVICES ? 0 : 1;
  return SUANLI_OK;
}
suanli_status device_info(suanli_context, int32_t, suanli_device_info* d) noexcept {
  static const suanli_peak_entry kPeaks[] = {
      {sizeof(suanli_peak_entry), SUANLI_DTYPE_FP32, 1e12, "test: 1 TFLOP/s by decree"}};
  d->name = "test device";
  d->vendor = "suanli tests";
  d->kind = "cpu";
  d->uuid = "";
  d->driver = "";
  d->memory_bytes = 1ull << 30;
  d->compute_units = 1;
  d->threads = 1;
  d->clock_mhz = 1000;
  d->max_clock_mhz = 0;
  d->features = "";
  d->peaks = kPeaks;
  d->peak_count = 1;
  d->extra = nullptr;
  d->extra_count = 0;
  return SUANLI_OK;
}
// fp32, fp64, and int8 only as s8 x s8 -> s32 (a GPU's form: the harness must fall back to it
// from u8 x s8).
bool gemm_ok(const suanli_op_desc* op) {
  if (op->kind != SUANLI_OP_GEMM || !op->gemm) return false;
  const suanli_gemm_desc& g = *op->gemm;
  const bool types = g.a_type == SUANLI_DTYPE_FP32 || g.a_type == SUANLI_DTYPE_FP64 ||
                     (g.a_type == SUANLI_DTYPE_INT8 && g.b_type == SUANLI_DTYPE_INT8 &&
                      g.c_type == SUANLI_DTYPE_INT32);
  return types && !g.trans_a && !g.trans_b && g.batch == 1;
}
suanli_status supports(suanli_context c, int32_t, const suanli_op_desc* op,
                       const char** reason) noexcept {
  if (gemm_ok(op)) return SUANLI_OK;
  c->reason = "test backend: only plain fp32/fp64 and s8 x s8 int8 gemm";
  *reason = c->reason.c_str();
  return SUANLI_UNSUPPORTED;
}
suanli_status buffer_alloc(suanli_context, int32_t, uint64_t bytes, suanli_buffer* out) noexcept {
  auto* b = new Buf;
  b->data.resize(bytes);
  *out = reinterpret_cast<suanli_buffer>(b);
  return SUANLI_OK;
}
void buffer_free(suanli_context, suanli_buffer b) noexcept {
  delete reinterpret_cast<Buf*>(b);
}
suanli_status upload(suanli_context, suanli_buffer b, uint64_t off, const void* src,
                     uint64_t n) noexcept {
  std::memcpy(reinterpret_cast<Buf*>(b)->data.data() + off, src, n);
  return SUANLI_OK;
}
suanli_status download(suanli_context, suanli_buffer b, uint64_t off, void* dst,
                       uint64_t n) noexcept {
  std::memcpy(dst, reinterpret_cast<Buf*>(b)->data.data() + off, n);
  return SUANLI_OK;
}
suanli_status plan(suanli_context c, int32_t, const suanli_op_desc* op, const suanli_buffer* bufs,
                   size_t n, suanli_plan* out, suanli_plan_info* info) noexcept {
  if (!gemm_ok(op) || n != 3) {
    c->error = "test backend: only plain fp32/fp64 gemm";
    return SUANLI_UNSUPPORTED;
  }
  auto* p = new Plan{*op->gemm, reinterpret_cast<Buf*>(bufs[0]), reinterpret_cast<Buf*>(bufs[1]),
                     reinterpret_cast<Buf*>(bufs[2])};
  if (info) {
    info->library = "naive";
    info->implementation = "triple loop";
  }
  *out = reinterpret_cast<suanli_plan>(p);
  return SUANLI_OK;
}
void plan_destroy(suanli_context, suanli_plan p) noexcept {
  delete reinterpret_cast<Plan*>(p);
}

template <typename T, typename In = T>
void gemm(const Plan& p) {
  const auto* a = reinterpret_cast<const In*>(p.a->data.data());
  const auto* b = reinterpret_cast<const In*>(p.b->data.data());
  auto* c = reinterpret_cast<T*>(p.c->data.data());
  const int64_t m = p.g.m, n = p.g.n, k = p.g.k;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) c[i * n + j] = 0;
    for (int64_t l = 0; l < k; ++l)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += a[i * k + l] * b[l * n + j];
  }
  if (SUANLI_TEST_MODE == MODE_WRONG) c[(m / 2) * n + n / 3] += T(0.5) + std::fabs(c[0]);
}

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iters,
                      double* seconds) noexcept {
  if (SUANLI_TEST_MODE == MODE_ERRORS) {
    c->error = "test backend: the kernel launch failed (injected)";
    return SUANLI_DEVICE_ERROR;
  }
  for (size_t i = 0; i < count; ++i) maybe_fault(reinterpret_cast<const Plan*>(plans[i])->g.m);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it)
    for (size_t i = 0; i < count; ++i) {
      const Plan& p = *reinterpret_cast<const Plan*>(plans[i]);
      if (p.g.a_type == SUANLI_DTYPE_FP64)
        gemm<double>(p);
      else if (p.g.a_type == SUANLI_DTYPE_INT8)
        gemm<int32_t, int8_t>(p);
      else
        gemm<float>(p);
    }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const char* env = std::getenv("SUANLI_TEST_TIME_DIVISOR");  // read per call: tests set it
  const double divisor = env ? std::atof(env) : 1.0;
  if (divisor > 0) *seconds /= divisor;
  return SUANLI_OK;
}

suanli_status telemetry(suanli_context, int32_t, suanli_telemetry* t) noexcept {
  t->power_w = 10.0;
  t->energy_j = NAN;
  t->temperature_c = 40.0;
  t->clock_mhz = 1000.0;
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_BACKEND_API_SIZE,
    SUANLI_TEST_MODE == MODE_WRONG_ABI ? SUANLI_ABI_MAJOR + 98 : SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    SUANLI_TEST_NAME,
    "0.0.1",
    create,
    destroy,
    last_error,
    libraries,
    device_count,
    device_info,
    supports,
    buffer_alloc,
    buffer_free,
    upload,
    download,
    plan,
    plan_destroy,
    execute,
    telemetry,
};

}  // namespace

#if SUANLI_TEST_MODE != MODE_NO_ENTRY
extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t) {
  return &kApi;
}
#else
extern "C" SUANLI_EXPORT int suanli_backend_get_typo(void) {
  return 0;
}
#endif
