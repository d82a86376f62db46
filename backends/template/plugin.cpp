// A minimal suanli backend plugin: start here for your accelerator.
//
// It implements the whole ABI (backends/include/suanli/backend.h; the contract op by op is in
// backends/README.md) for one "device" - the host - with a plain fp32 GEMM. Everything else is
// answered UNSUPPORTED with a reason, which is an honest answer that reports carry. Replace the
// host loops by your runtime's calls: buffers become device allocations, plan() prepares your
// kernel, execute() times it with your device's own clock.
//
// It passes `suanli conformance --backend libsuanli_backend_template.so`; keep it that way.
#include <suanli/backend.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct suanli_context_s {
  std::string error;   // last_error(ctx)
  std::string reason;  // supports()' reason, valid until the next call
};

namespace {

thread_local std::string g_create_error;  // last_error(NULL)

struct Buffer {
  std::vector<unsigned char> bytes;
};

struct Plan {
  suanli_gemm_desc g;
  const float *a, *b;
  float* c;
};

suanli_status fail(suanli_context ctx, suanli_status s, std::string msg) {
  ctx->error = std::move(msg);
  return s;
}

// Exceptions must not cross the ABI: every entry point runs its body through this.
template <typename F>
suanli_status guarded(suanli_context ctx, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(ctx, SUANLI_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception& e) {
    return fail(ctx, SUANLI_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(ctx, SUANLI_INTERNAL, "internal error");
  }
}

suanli_status create(const suanli_create_args*, suanli_context* out) noexcept {
  if (!out) {
    g_create_error = "create: out is null";
    return SUANLI_INVALID_ARGUMENT;
  }
  *out = new (std::nothrow) suanli_context_s;
  if (!*out) {
    g_create_error = "out of host memory";
    return SUANLI_OUT_OF_MEMORY;
  }
  return SUANLI_OK;
}

void destroy(suanli_context ctx) noexcept {
  delete ctx;
}

const char* last_error(suanli_context ctx) noexcept {
  return ctx ? ctx->error.c_str() : g_create_error.c_str();
}

suanli_status libraries(suanli_context ctx, const suanli_kv** out, size_t* count) noexcept {
  if (!out || !count) return fail(ctx, SUANLI_INVALID_ARGUMENT, "libraries: null output");
  static const suanli_kv kLibs[] = {{sizeof(suanli_kv), "template", "host loops"}};
  *out = kLibs;
  *count = 1;
  return SUANLI_OK;
}

suanli_status device_count(suanli_context ctx, int32_t* count) noexcept {
  if (!count) return fail(ctx, SUANLI_INVALID_ARGUMENT, "device_count: null output");
  *count = 1;
  return SUANLI_OK;
}

suanli_status device_info(suanli_context ctx, int32_t device, suanli_device_info* out) noexcept {
  if (device != 0) return fail(ctx, SUANLI_INVALID_ARGUMENT, "one device: 0");
  if (!out || out->struct_size < SUANLI_STRUCT_SIZE(suanli_device_info, extra_count))
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "device_info: struct_size too small");
  out->name = "template host device";
  out->vendor = "suanli";
  out->kind = "cpu";
  out->uuid = "";
  out->driver = "";
  out->memory_bytes = 1ull << 30;
  out->compute_units = 1;
  out->threads = 1;
  out->clock_mhz = 0;      // unknown
  out->max_clock_mhz = 0;  // unknown
  out->features = "";
  out->peaks = nullptr;  // no theoretical peak: unknown rather than invented
  out->peak_count = 0;
  out->extra = nullptr;
  out->extra_count = 0;
  return SUANLI_OK;
}

// OK for what this backend runs, UNSUPPORTED (+ reason) for well-formed ops it does not, and
// INVALID_ARGUMENT for malformed descriptors.
suanli_status classify(suanli_context ctx, int32_t device, const suanli_op_desc* op) {
  ctx->reason.clear();
  if (device != 0) return fail(ctx, SUANLI_INVALID_ARGUMENT, "one device: 0");
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream))
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "op descriptor missing or too small");
  if (op->kind != SUANLI_OP_GEMM) {
    // Every other kind, including ones appended to the ABI after this plugin was written.
    ctx->reason = "template backend: only fp32 gemm (op kind " +
                  std::to_string(static_cast<int>(op->kind)) + ")";
    if (op->kind == SUANLI_OP_PEAK && !op->peak)
      return fail(ctx, SUANLI_INVALID_ARGUMENT, "no peak");
    if (op->kind == SUANLI_OP_STREAM && !op->stream)
      return fail(ctx, SUANLI_INVALID_ARGUMENT, "no stream");
    if (op->kind == SUANLI_OP_CONV2D && !op->conv2d)
      return fail(ctx, SUANLI_INVALID_ARGUMENT, "no conv2d");
    return SUANLI_UNSUPPORTED;
  }
  if (!op->gemm || op->gemm->struct_size < SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type))
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "gemm descriptor missing or too small");
  const suanli_gemm_desc& g = *op->gemm;
  if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1 || (g.trans_a | g.trans_b) & ~1)
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "gemm: m, n, k, batch >= 1; trans 0 or 1");
  if (g.a_type != SUANLI_DTYPE_FP32 || g.b_type != SUANLI_DTYPE_FP32 ||
      g.c_type != SUANLI_DTYPE_FP32 || g.compute_type != SUANLI_DTYPE_FP32) {
    ctx->reason = "template backend: gemm in fp32 only";
    return SUANLI_UNSUPPORTED;
  }
  return SUANLI_OK;
}

suanli_status supports(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                       const char** reason) noexcept {
  const suanli_status s = classify(ctx, device, op);
  if (reason) *reason = ctx->reason.c_str();
  return s;
}

suanli_status buffer_alloc(suanli_context ctx, int32_t device, uint64_t bytes,
                           suanli_buffer* out) noexcept {
  return guarded(ctx, [&] {
    if (device != 0) return fail(ctx, SUANLI_INVALID_ARGUMENT, "one device: 0");
    if (!out) return fail(ctx, SUANLI_INVALID_ARGUMENT, "buffer_alloc: out is null");
    auto b = std::make_unique<Buffer>();
    b->bytes.resize(bytes);
    *out = reinterpret_cast<suanli_buffer>(b.release());
    return SUANLI_OK;
  });
}

void buffer_free(suanli_context, suanli_buffer buf) noexcept {
  delete reinterpret_cast<Buffer*>(buf);
}

// The range [offset, offset + bytes) of buf, or an error (overflow-safe).
suanli_status range(suanli_context ctx, suanli_buffer buf, uint64_t offset, uint64_t bytes,
                    unsigned char** at) {
  auto* b = reinterpret_cast<Buffer*>(buf);
  if (!b) return fail(ctx, SUANLI_INVALID_ARGUMENT, "null buffer");
  if (offset > b->bytes.size() || bytes > b->bytes.size() - offset)
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "range outside the buffer");
  *at = b->bytes.data() + offset;
  return SUANLI_OK;
}

suanli_status buffer_upload(suanli_context ctx, suanli_buffer dst, uint64_t offset, const void* src,
                            uint64_t bytes) noexcept {
  unsigned char* at = nullptr;
  const suanli_status s = range(ctx, dst, offset, bytes, &at);
  if (s == SUANLI_OK && bytes) std::memcpy(at, src, bytes);
  return s;
}

suanli_status buffer_download(suanli_context ctx, suanli_buffer src, uint64_t offset, void* dst,
                              uint64_t bytes) noexcept {
  unsigned char* at = nullptr;
  const suanli_status s = range(ctx, src, offset, bytes, &at);
  if (s == SUANLI_OK && bytes) std::memcpy(dst, at, bytes);
  return s;
}

suanli_status plan(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                   const suanli_buffer* buffers, size_t count, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  return guarded(ctx, [&] {
    const suanli_status s = classify(ctx, device, op);
    if (s == SUANLI_UNSUPPORTED) return fail(ctx, s, ctx->reason);
    if (s != SUANLI_OK) return s;
    if (!out) return fail(ctx, SUANLI_INVALID_ARGUMENT, "plan: out is null");
    if (!buffers || count != 3) return fail(ctx, SUANLI_INVALID_ARGUMENT, "gemm takes 3 buffers");
    const suanli_gemm_desc& g = *op->gemm;
    const uint64_t need[3] = {static_cast<uint64_t>(g.batch * g.m * g.k) * 4,
                              static_cast<uint64_t>(g.batch * g.k * g.n) * 4,
                              static_cast<uint64_t>(g.batch * g.m * g.n) * 4};
    for (size_t i = 0; i < 3; ++i) {
      auto* b = reinterpret_cast<Buffer*>(buffers[i]);
      if (!b) return fail(ctx, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " is null");
      if (b->bytes.size() < need[i])
        return fail(ctx, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " too small");
    }
    auto buf = [&](size_t i) { return reinterpret_cast<Buffer*>(buffers[i])->bytes.data(); };
    auto p = std::make_unique<Plan>(Plan{g, reinterpret_cast<const float*>(buf(0)),
                                         reinterpret_cast<const float*>(buf(1)),
                                         reinterpret_cast<float*>(buf(2))});
    if (info && info->struct_size >= SUANLI_STRUCT_SIZE(suanli_plan_info, implementation)) {
      info->library = "template";
      info->implementation = "host loops, fp32 accumulation";
    }
    *out = reinterpret_cast<suanli_plan>(p.release());
    return SUANLI_OK;
  });
}

void plan_destroy(suanli_context, suanli_plan p) noexcept {
  delete reinterpret_cast<Plan*>(p);
}

void run_gemm(const Plan& p) {
  const suanli_gemm_desc& g = p.g;
  for (int64_t b = 0; b < g.batch; ++b) {
    const float* a = p.a + b * g.m * g.k;
    const float* bm = p.b + b * g.k * g.n;
    float* c = p.c + b * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        float s = 0;
        for (int64_t k = 0; k < g.k; ++k)
          s += (g.trans_a ? a[k * g.m + i] : a[i * g.k + k]) *
               (g.trans_b ? bm[j * g.k + k] : bm[k * g.n + j]);
        c[i * g.n + j] = s;
      }
  }
}

suanli_status execute(suanli_context ctx, const suanli_plan* plans, size_t count,
                      int64_t iterations, double* seconds) noexcept {
  if (!plans || !seconds || iterations < 1)
    return fail(ctx, SUANLI_INVALID_ARGUMENT, "execute: plans, seconds and iterations >= 1");
  for (size_t i = 0; i < count; ++i)
    if (!plans[i]) return fail(ctx, SUANLI_INVALID_ARGUMENT, "execute: null plan");
  // Device time: on a host device, a monotonic clock around the work (a GPU uses its events).
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (size_t i = 0; i < count; ++i) run_gemm(*reinterpret_cast<const Plan*>(plans[i]));
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return SUANLI_OK;
}

suanli_status telemetry(suanli_context ctx, int32_t device, suanli_telemetry* out) noexcept {
  if (device != 0 || !out) return fail(ctx, SUANLI_INVALID_ARGUMENT, "telemetry: device 0, out");
  const double nan = std::numeric_limits<double>::quiet_NaN();  // not readable here
  out->power_w = out->energy_j = out->temperature_c = out->clock_mhz = nan;
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_BACKEND_API_SIZE,
    SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    "template",
    "0.1.0",
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
