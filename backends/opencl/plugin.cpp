// The OpenCL backend's C ABI: every device of every OpenCL platform, buffers as cl_mem, plans
// over the ops in ocl.h, device time from profiling events.
#include <suanli/backend.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "ocl.h"

namespace suanli::ocl {
namespace {

constexpr const char* kBackendVersion = "0.1.0";

thread_local std::string g_create_error;

struct Plan {
  std::unique_ptr<Op> op;
};

// The strings and tables that device_info hands out for one device.
struct DeviceTables {
  std::vector<suanli_kv> extra;
  std::string features, driver;
};

}  // namespace
}  // namespace suanli::ocl

struct suanli_context_s {
  suanli::ocl::Config cfg;
  std::vector<std::unique_ptr<suanli::ocl::Device>> devices;
  std::vector<std::string> notes;  // platforms/devices that could not be used
  std::vector<suanli::ocl::DeviceTables> tables;
  std::deque<std::string> strings;  // stable c_str()s
  std::vector<suanli_kv> libs;
  std::string error, reason;
};

namespace suanli::ocl {
namespace {

suanli_context_s* as_ctx(suanli_context c) {
  return reinterpret_cast<suanli_context_s*>(c);
}

const char* keep(suanli_context_s* ctx, std::string s) {
  ctx->strings.push_back(std::move(s));
  return ctx->strings.back().c_str();
}

template <typename F>
suanli_status guarded(suanli_context ctx, F&& f) noexcept {
  try {
    return f();
  } catch (const BackendError& e) {
    if (ctx) as_ctx(ctx)->error = e.what();
    return e.status;
  } catch (const std::bad_alloc&) {
    if (ctx) as_ctx(ctx)->error = "out of host memory";
    return SUANLI_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    if (ctx) as_ctx(ctx)->error = std::string("internal error: ") + e.what();
    return SUANLI_INTERNAL;
  } catch (...) {
    if (ctx) as_ctx(ctx)->error = "internal error: unknown exception";
    return SUANLI_INTERNAL;
  }
}

suanli_status fail(suanli_context ctx, suanli_status s, std::string msg) {
  if (ctx) as_ctx(ctx)->error = std::move(msg);
  return s;
}

Device& device_of(suanli_context c, int32_t device) {
  auto* ctx = as_ctx(c);
  if (device < 0 || static_cast<size_t>(device) >= ctx->devices.size())
    throw BackendError(SUANLI_INVALID_ARGUMENT, "opencl: no device " + std::to_string(device) +
                                                    " (" + std::to_string(ctx->devices.size()) +
                                                    " found)");
  return *ctx->devices[static_cast<size_t>(device)];
}

suanli_status create(const suanli_create_args* args, suanli_context* out) noexcept {
  try {
    if (!out) {
      g_create_error = "opencl: create: out is null";
      return SUANLI_INVALID_ARGUMENT;
    }
    auto ctx = std::make_unique<suanli_context_s>();
    ctx->cfg.cache_path = default_cache_path();
    std::string build_options;
    if (args && args->options) {
      for (size_t i = 0; i < args->option_count; ++i) {
        const suanli_kv& kv = args->options[i];
        if (!kv.key || !kv.value) continue;
        const std::string key = kv.key, value = kv.value;
        if (key == "tune") {
          if (value != "on" && value != "off") {
            g_create_error = "opencl: option tune='" + value + "': expected on or off";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.tune = value == "on";
        } else if (key == "tune_cache") {
          ctx->cfg.cache_path = value;  // "" disables the cache
        } else if (key == "gemm_tile") {
          Tile t;
          char tail = 0;
          if (std::sscanf(value.c_str(), "%d,%d,%d%c", &t.mr, &t.vw, &t.nrv, &tail) != 3 ||
              t.mr < 1 || t.mr > 32 || t.nrv < 1 || t.nrv > 4 ||
              (t.vw != 2 && t.vw != 4 && t.vw != 8 && t.vw != 16)) {
            g_create_error = "opencl: option gemm_tile='" + value +
                             "': expected MR,VW,NRV (MR 1-32, VW 2/4/8/16, NRV 1-4)";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.force_tile = true;
          ctx->cfg.tile = t;
        } else if (key == "build_options") {
          build_options = value;
        }
      }
    }
    ctx->devices = enumerate_devices(&ctx->notes);
    for (auto& d : ctx->devices) d->extra_build_options = build_options;
    ctx->tables.resize(ctx->devices.size());
    *out = reinterpret_cast<suanli_context>(ctx.release());
    return SUANLI_OK;
  } catch (const std::exception& e) {
    g_create_error = std::string("opencl: create failed: ") + e.what();
    return SUANLI_INTERNAL;
  }
}

void destroy(suanli_context ctx) noexcept {
  delete as_ctx(ctx);
}

const char* last_error(suanli_context ctx) noexcept {
  return ctx ? as_ctx(ctx)->error.c_str() : g_create_error.c_str();
}

suanli_status libraries(suanli_context c, const suanli_kv** out, size_t* count) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (!out || !count) return fail(c, SUANLI_INVALID_ARGUMENT, "libraries: null output");
    if (ctx->libs.empty()) {
      // One entry per platform in use, plus what could not be used.
      std::vector<std::string> seen;
      for (const auto& d : ctx->devices) {
        bool dup = false;
        for (const auto& s : seen) dup = dup || s == d->platform_name;
        if (dup) continue;
        seen.push_back(d->platform_name);
        ctx->libs.push_back({sizeof(suanli_kv), keep(ctx, "opencl platform " + d->platform_name),
                             keep(ctx, d->platform_version)});
      }
      for (const auto& n : ctx->notes)
        ctx->libs.push_back({sizeof(suanli_kv), "opencl note", keep(ctx, n)});
      if (ctx->libs.empty()) ctx->libs.push_back({sizeof(suanli_kv), "opencl", "no platform"});
    }
    *out = ctx->libs.data();
    *count = ctx->libs.size();
    return SUANLI_OK;
  });
}

suanli_status device_count(suanli_context c, int32_t* count) noexcept {
  if (!count) return fail(c, SUANLI_INVALID_ARGUMENT, "device_count: null output");
  *count = static_cast<int32_t>(as_ctx(c)->devices.size());
  return SUANLI_OK;
}

suanli_status device_info(suanli_context c, int32_t device, suanli_device_info* out) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    Device& d = device_of(c, device);
    if (!out || out->struct_size < SUANLI_STRUCT_SIZE(suanli_device_info, extra_count))
      return fail(c, SUANLI_INVALID_ARGUMENT, "device_info: out missing or struct_size too small");
    DeviceTables& t = ctx->tables[static_cast<size_t>(device)];
    if (t.extra.empty()) {
      t.features = d.device_version + (d.extensions.empty() ? "" : " ") + d.extensions;
      t.driver = d.driver_version + " (" + d.platform_version + ")";
      auto kv = [&](const char* k, std::string v) {
        t.extra.push_back({sizeof(suanli_kv), k, keep(ctx, std::move(v))});
      };
      kv("platform", d.platform_name);
      kv("platform_version", d.platform_version);
      kv("device_version", d.device_version);
      kv("opencl_c_version", d.c_version);
      kv("max_alloc_bytes", std::to_string(d.max_alloc));
      kv("local_mem_bytes", std::to_string(d.local_mem));
      kv("global_cache_bytes", std::to_string(d.global_cache));
      kv("max_work_group_size", std::to_string(d.max_work_group));
      kv("preferred_vector_width_float", std::to_string(d.pref_vec_float));
      kv("preferred_vector_width_double", std::to_string(d.pref_vec_double));
      kv("theoretical_peak",
         "unknown: OpenCL reports compute units and a clock but not the FMA lanes per unit; "
         "the measured peak op is the ceiling");
    }
    out->name = d.name.c_str();
    out->vendor = d.vendor.c_str();
    out->kind = d.kind();
    out->uuid = d.uuid.c_str();
    out->driver = t.driver.c_str();
    out->memory_bytes = d.global_mem;
    out->compute_units = static_cast<int32_t>(d.compute_units);
    out->threads = (d.type & CL_DEVICE_TYPE_CPU) ? static_cast<int32_t>(d.compute_units) : 0;
    out->clock_mhz = d.clock_mhz;
    out->max_clock_mhz = d.clock_mhz;
    out->features = t.features.c_str();
    out->peaks = nullptr;  // unknown rather than invented (see theoretical_peak)
    out->peak_count = 0;
    out->extra = t.extra.data();
    out->extra_count = t.extra.size();
    return SUANLI_OK;
  });
}

// Builds the op on device d; with bufs null it only checks support.
std::unique_ptr<Op> make_op(suanli_context_s* ctx, Device& d, const suanli_op_desc* op,
                            Buffer* const* bufs, size_t nbufs, std::string* reason) {
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor missing or struct_size too small");
  auto need = [&](size_t n) {
    if (bufs && nbufs != n)
      throw BackendError(SUANLI_INVALID_ARGUMENT, "op needs " + std::to_string(n) +
                                                      " buffers, got " + std::to_string(nbufs));
  };
  switch (op->kind) {
    case SUANLI_OP_GEMM:
      if (!op->gemm) break;
      need(3);
      return make_gemm(d, *op->gemm, bufs, ctx->cfg, reason);
    case SUANLI_OP_PEAK:
      if (!op->peak) break;
      need(2);
      return make_peak(d, *op->peak, bufs, reason);
    case SUANLI_OP_STREAM:
      if (!op->stream) break;
      need(3);
      return make_stream(d, *op->stream, bufs, reason);
    case SUANLI_OP_CONV2D:
      *reason = "conv2d: the opencl backend has no convolution kernels";
      return nullptr;
    default:
      *reason = "op kind " + std::to_string(static_cast<int>(op->kind)) +
                " is not known to the opencl backend";
      return nullptr;
  }
  throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
}

suanli_status supports(suanli_context c, int32_t device, const suanli_op_desc* op,
                       const char** reason) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    Device& d = device_of(c, device);
    ctx->reason.clear();
    std::unique_ptr<Op> probe = make_op(ctx, d, op, nullptr, 0, &ctx->reason);
    if (reason) *reason = ctx->reason.c_str();
    return probe ? SUANLI_OK : SUANLI_UNSUPPORTED;
  });
}

suanli_status buffer_alloc(suanli_context c, int32_t device, uint64_t bytes,
                           suanli_buffer* out) noexcept {
  return guarded(c, [&] {
    Device& d = device_of(c, device);
    if (!out) return fail(c, SUANLI_INVALID_ARGUMENT, "buffer_alloc: out is null");
    if (bytes > d.max_alloc && d.max_alloc > 0)
      return fail(c, SUANLI_OUT_OF_MEMORY,
                  "opencl: " + std::to_string(bytes) +
                      " bytes exceed the device's largest "
                      "allocation (" +
                      std::to_string(d.max_alloc) + " bytes)");
    auto b = std::make_unique<Buffer>();
    b->device = device;
    b->bytes = bytes;
    cl_int err = CL_SUCCESS;
    b->mem = clCreateBuffer(d.context, CL_MEM_READ_WRITE, bytes ? bytes : 1, nullptr, &err);
    check_cl(err, "clCreateBuffer");
    *out = reinterpret_cast<suanli_buffer>(b.release());
    return SUANLI_OK;
  });
}

void buffer_free(suanli_context, suanli_buffer buf) noexcept {
  delete reinterpret_cast<Buffer*>(buf);
}

suanli_status transfer(suanli_context c, suanli_buffer buf, uint64_t offset, void* host,
                       uint64_t bytes, bool upload) noexcept {
  return guarded(c, [&] {
    auto* b = reinterpret_cast<Buffer*>(buf);
    if (!b) return fail(c, SUANLI_INVALID_ARGUMENT, "null buffer");
    if (!host && bytes) return fail(c, SUANLI_INVALID_ARGUMENT, "null host pointer");
    if (offset > b->bytes || bytes > b->bytes - offset)
      return fail(c, SUANLI_INVALID_ARGUMENT,
                  "range [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                      ") outside a buffer of " + std::to_string(b->bytes) + " bytes");
    if (bytes == 0) return SUANLI_OK;
    Device& d = device_of(c, b->device);
    if (upload)
      check_cl(
          clEnqueueWriteBuffer(d.queue, b->mem, CL_TRUE, offset, bytes, host, 0, nullptr, nullptr),
          "clEnqueueWriteBuffer");
    else
      check_cl(
          clEnqueueReadBuffer(d.queue, b->mem, CL_TRUE, offset, bytes, host, 0, nullptr, nullptr),
          "clEnqueueReadBuffer");
    return SUANLI_OK;
  });
}

suanli_status buffer_upload(suanli_context c, suanli_buffer dst, uint64_t offset, const void* src,
                            uint64_t bytes) noexcept {
  return transfer(c, dst, offset, const_cast<void*>(src), bytes, true);
}

suanli_status buffer_download(suanli_context c, suanli_buffer src, uint64_t offset, void* dst,
                              uint64_t bytes) noexcept {
  return transfer(c, src, offset, dst, bytes, false);
}

suanli_status plan(suanli_context c, int32_t device, const suanli_op_desc* op,
                   const suanli_buffer* buffers, size_t buffer_count, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    Device& d = device_of(c, device);
    if (!out) return fail(c, SUANLI_INVALID_ARGUMENT, "plan: out is null");
    if (buffer_count && !buffers) return fail(c, SUANLI_INVALID_ARGUMENT, "plan: buffers is null");
    std::vector<Buffer*> bufs(buffer_count);
    for (size_t i = 0; i < buffer_count; ++i) {
      bufs[i] = reinterpret_cast<Buffer*>(buffers[i]);
      if (!bufs[i])
        return fail(c, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " is null");
      if (bufs[i]->device != device)
        return fail(c, SUANLI_INVALID_ARGUMENT,
                    "buffer " + std::to_string(i) + " lives on device " +
                        std::to_string(bufs[i]->device) + ", not " + std::to_string(device));
    }
    ctx->reason.clear();
    static Buffer* const kNone[1] = {nullptr};
    auto p = std::make_unique<Plan>();
    p->op = make_op(ctx, d, op, buffer_count ? bufs.data() : kNone, buffer_count, &ctx->reason);
    if (!p->op) return fail(c, SUANLI_UNSUPPORTED, ctx->reason);
    p->op->device = device;
    if (info && info->struct_size >= SUANLI_STRUCT_SIZE(suanli_plan_info, implementation)) {
      info->library = p->op->library.c_str();
      info->implementation = p->op->implementation.c_str();
    }
    *out = reinterpret_cast<suanli_plan>(p.release());
    return SUANLI_OK;
  });
}

void plan_destroy(suanli_context, suanli_plan p) noexcept {
  delete reinterpret_cast<Plan*>(p);
}

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iterations,
                      double* seconds) noexcept {
  return guarded(c, [&] {
    if (!seconds) return fail(c, SUANLI_INVALID_ARGUMENT, "execute: seconds is null");
    if (iterations < 1) return fail(c, SUANLI_INVALID_ARGUMENT, "iterations must be >= 1");
    if (count == 0 || !plans) return fail(c, SUANLI_INVALID_ARGUMENT, "execute: no plans");
    std::vector<Op*> ops;
    for (size_t i = 0; i < count; ++i) {
      if (!plans[i])
        return fail(c, SUANLI_INVALID_ARGUMENT, "plan " + std::to_string(i) + " is null");
      ops.push_back(reinterpret_cast<Plan*>(plans[i])->op.get());
      if (ops.back()->device != ops.front()->device)
        return fail(c, SUANLI_INVALID_ARGUMENT, "execute: plans of one call must share a device");
    }
    *seconds = run_timed(device_of(c, ops.front()->device), ops, iterations);
    return SUANLI_OK;
  });
}

suanli_status telemetry(suanli_context c, int32_t device, suanli_telemetry* out) noexcept {
  if (!out) return fail(c, SUANLI_INVALID_ARGUMENT, "telemetry: out is null");
  if (device < 0 || static_cast<size_t>(device) >= as_ctx(c)->devices.size())
    return fail(c, SUANLI_INVALID_ARGUMENT, "telemetry: no device " + std::to_string(device));
  // Core OpenCL has no power, energy, temperature or clock queries.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out->power_w = nan;
  out->energy_j = nan;
  out->temperature_c = nan;
  out->clock_mhz = nan;
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_BACKEND_API_SIZE,
    SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    "opencl",
    kBackendVersion,
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
}  // namespace suanli::ocl

extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  return abi_major == SUANLI_ABI_MAJOR ? &suanli::ocl::kApi : nullptr;
}
