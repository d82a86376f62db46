// A deliberately broken backend plugin for `suanli conformance`'s tests. It follows the
// contract except in five ways, each of which one group of checks must catch:
//  - fp32 gemm: the answer is wrong (C[0] off by one)      -> op.gemm.fp32.* fail
//  - peak: UNSUPPORTED without a reason                    -> op.peak.* fail
//  - an op kind it does not know: answered OK              -> unsupported.unknown_kind fails
//  - execute: the same time whatever the iterations        -> timing fails
//  - plan with a too-small buffer: crashes (SIGSEGV)       -> errors.small_buffer fails
// fp64 gemm (naive, on the host) is right, and every other call behaves.
#include <suanli/backend.h>

#include <signal.h>

#include <cstring>
#include <string>
#include <vector>

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

suanli_status err(suanli_context c, suanli_status s, const char* msg) {
  c->error = msg;
  return s;
}

suanli_status create(const suanli_create_args*, suanli_context* out) noexcept {
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
  *n = 1;
  return SUANLI_OK;
}
suanli_status device_info(suanli_context c, int32_t dev, suanli_device_info* d) noexcept {
  if (dev != 0) return err(c, SUANLI_INVALID_ARGUMENT, "one device");
  d->name = "broken device";
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
  d->peaks = nullptr;
  d->peak_count = 0;
  d->extra = nullptr;
  d->extra_count = 0;
  return SUANLI_OK;
}

bool known_kind(suanli_op_kind k) {
  return k == SUANLI_OP_GEMM || k == SUANLI_OP_CONV2D || k == SUANLI_OP_PEAK ||
         k == SUANLI_OP_STREAM;
}

// OK, UNSUPPORTED (reason set) or INVALID_ARGUMENT for a malformed descriptor.
suanli_status classify(suanli_context c, int32_t dev, const suanli_op_desc* op) {
  c->reason.clear();
  if (dev != 0) return err(c, SUANLI_INVALID_ARGUMENT, "one device");
  if (!op) return err(c, SUANLI_INVALID_ARGUMENT, "null op");
  if (!known_kind(op->kind)) return SUANLI_OK;  // broken: claims ops it has never heard of
  if (op->kind == SUANLI_OP_GEMM) {
    if (!op->gemm) return err(c, SUANLI_INVALID_ARGUMENT, "gemm descriptor missing");
    const suanli_gemm_desc& g = *op->gemm;
    if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1)
      return err(c, SUANLI_INVALID_ARGUMENT, "sizes must be >= 1");
    const bool f32 = g.a_type == SUANLI_DTYPE_FP32 && g.b_type == g.a_type && g.c_type == g.a_type;
    const bool f64 = g.a_type == SUANLI_DTYPE_FP64 && g.b_type == g.a_type && g.c_type == g.a_type;
    if (f32 || f64) return SUANLI_OK;
    c->reason = "broken backend: gemm only in fp32 and fp64";
    return SUANLI_UNSUPPORTED;
  }
  if (op->kind == SUANLI_OP_PEAK) {
    if (!op->peak) return err(c, SUANLI_INVALID_ARGUMENT, "peak descriptor missing");
    if (op->peak->elements < 1 || op->peak->depth < 1)
      return err(c, SUANLI_INVALID_ARGUMENT, "sizes must be >= 1");
    c->reason = "";  // broken: no reason given
    return SUANLI_UNSUPPORTED;
  }
  if (op->kind == SUANLI_OP_STREAM && !op->stream)
    return err(c, SUANLI_INVALID_ARGUMENT, "stream descriptor missing");
  if (op->kind == SUANLI_OP_STREAM && op->stream->n < 1)
    return err(c, SUANLI_INVALID_ARGUMENT, "n must be >= 1");
  if (op->kind == SUANLI_OP_CONV2D && !op->conv2d)
    return err(c, SUANLI_INVALID_ARGUMENT, "conv2d descriptor missing");
  c->reason = "broken backend: no conv2d or stream";
  return SUANLI_UNSUPPORTED;
}

suanli_status supports(suanli_context c, int32_t dev, const suanli_op_desc* op,
                       const char** reason) noexcept {
  const suanli_status s = classify(c, dev, op);
  if (reason) *reason = c->reason.c_str();
  return s;
}
suanli_status buffer_alloc(suanli_context c, int32_t dev, uint64_t bytes,
                           suanli_buffer* out) noexcept {
  if (dev != 0) return err(c, SUANLI_INVALID_ARGUMENT, "one device");
  auto* b = new Buf;
  b->data.resize(bytes);
  *out = reinterpret_cast<suanli_buffer>(b);
  return SUANLI_OK;
}
void buffer_free(suanli_context, suanli_buffer b) noexcept {
  delete reinterpret_cast<Buf*>(b);
}
suanli_status transfer(suanli_context c, suanli_buffer buf, uint64_t off, uint64_t n, char** at) {
  auto* b = reinterpret_cast<Buf*>(buf);
  if (!b) return err(c, SUANLI_INVALID_ARGUMENT, "null buffer");
  if (off > b->data.size() || n > b->data.size() - off)
    return err(c, SUANLI_INVALID_ARGUMENT, "range outside the buffer");
  *at = b->data.data() + off;
  return SUANLI_OK;
}
suanli_status buffer_upload(suanli_context c, suanli_buffer dst, uint64_t off, const void* src,
                            uint64_t n) noexcept {
  char* at = nullptr;
  const suanli_status s = transfer(c, dst, off, n, &at);
  if (s == SUANLI_OK && n) std::memcpy(at, src, n);
  return s;
}
suanli_status buffer_download(suanli_context c, suanli_buffer src, uint64_t off, void* dst,
                              uint64_t n) noexcept {
  char* at = nullptr;
  const suanli_status s = transfer(c, src, off, n, &at);
  if (s == SUANLI_OK && n) std::memcpy(dst, at, n);
  return s;
}
suanli_status plan(suanli_context c, int32_t dev, const suanli_op_desc* op,
                   const suanli_buffer* bufs, size_t nbufs, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  const suanli_status s = classify(c, dev, op);
  if (s == SUANLI_UNSUPPORTED) c->error = c->reason;
  if (s != SUANLI_OK) return s;
  if (op->kind != SUANLI_OP_GEMM) return err(c, SUANLI_INVALID_ARGUMENT, "cannot plan this op");
  if (!bufs || nbufs != 3) return err(c, SUANLI_INVALID_ARGUMENT, "gemm takes 3 buffers");
  for (size_t i = 0; i < 3; ++i)
    if (!bufs[i]) return err(c, SUANLI_INVALID_ARGUMENT, "null buffer");
  auto* p = new Plan{*op->gemm, reinterpret_cast<Buf*>(bufs[0]), reinterpret_cast<Buf*>(bufs[1]),
                     reinterpret_cast<Buf*>(bufs[2])};
  const suanli_gemm_desc& g = p->g;
  const uint64_t es = g.a_type == SUANLI_DTYPE_FP64 ? 8 : 4;
  const uint64_t need[3] = {static_cast<uint64_t>(g.batch * g.m * g.k) * es,
                            static_cast<uint64_t>(g.batch * g.k * g.n) * es,
                            static_cast<uint64_t>(g.batch * g.m * g.n) * es};
  Buf* b3[3] = {p->a, p->b, p->c};
  for (int i = 0; i < 3; ++i)
    if (b3[i]->data.size() < need[i]) raise(SIGSEGV);  // broken: crashes instead of refusing
  if (info) {
    info->library = "naive";
    info->implementation = "host loops";
  }
  *out = reinterpret_cast<suanli_plan>(p);
  return SUANLI_OK;
}
void plan_destroy(suanli_context, suanli_plan p) noexcept {
  delete reinterpret_cast<Plan*>(p);
}

template <typename T>
void gemm(const Plan& p) {
  const suanli_gemm_desc& g = p.g;
  const T* a = reinterpret_cast<const T*>(p.a->data.data());
  const T* b = reinterpret_cast<const T*>(p.b->data.data());
  T* c = reinterpret_cast<T*>(p.c->data.data());
  for (int64_t bt = 0; bt < g.batch; ++bt)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < g.k; ++k) {
          const double x =
              g.trans_a ? a[bt * g.m * g.k + k * g.m + i] : a[bt * g.m * g.k + i * g.k + k];
          const double y =
              g.trans_b ? b[bt * g.k * g.n + j * g.k + k] : b[bt * g.k * g.n + k * g.n + j];
          s += x * y;
        }
        c[bt * g.m * g.n + i * g.n + j] = static_cast<T>(s);
      }
}

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iterations,
                      double* seconds) noexcept {
  if (iterations < 1) return err(c, SUANLI_INVALID_ARGUMENT, "iterations must be >= 1");
  for (size_t i = 0; i < count; ++i)
    if (!plans[i]) return err(c, SUANLI_INVALID_ARGUMENT, "null plan");
  for (int64_t it = 0; it < iterations; ++it)
    for (size_t i = 0; i < count; ++i) {
      const Plan& p = *reinterpret_cast<const Plan*>(plans[i]);
      if (p.g.a_type == SUANLI_DTYPE_FP64) {
        gemm<double>(p);
      } else {
        gemm<float>(p);
        reinterpret_cast<float*>(p.c->data.data())[0] += 1.0f;  // broken: a wrong answer
      }
    }
  *seconds = 1e-3;  // broken: the same time whatever the work
  return SUANLI_OK;
}
suanli_status telemetry(suanli_context c, int32_t dev, suanli_telemetry* t) noexcept {
  if (dev != 0) return err(c, SUANLI_INVALID_ARGUMENT, "one device");
  t->power_w = t->energy_j = t->temperature_c = t->clock_mhz = __builtin_nan("");
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_BACKEND_API_SIZE,
    SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    "broken",
    "0",
    create,
    destroy,
    last_error,
    libraries,
    device_count,
    device_info,
    supports,
    buffer_alloc,
    buffer_free,
    buffer_upload,
    buffer_download,
    plan,
    plan_destroy,
    execute,
    telemetry,
};

}  // namespace

extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  return abi_major == SUANLI_ABI_MAJOR ? &kApi : nullptr;
}
