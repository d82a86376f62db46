// The CPU backend's C ABI: context, device identity, buffers, plans and timing over the parts in
// cpu_op.h.
#include <suanli/backend.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cpu_info.h"
#include "cpu_op.h"
#include "linalg.h"
#include "model_ops.h"

namespace suanli::cpu {
namespace {

constexpr const char* kBackendVersion = "0.1.0";

// Host memory aligned to a page, so vector loads and OpenBLAS/oneDNN packing see aligned data.
struct Buffer {
  void* data = nullptr;
  uint64_t bytes = 0;
  ~Buffer() { std::free(data); }
};

struct Plan {
  std::unique_ptr<CpuOp> op;
};

thread_local std::string g_create_error;  // last_error(NULL): failures of create

std::string read_first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

// Package energy from the powercap interface (intel-rapl, which AMD exposes too), where readable.
double read_energy_j() {
  const std::string s = read_first_line("/sys/class/powercap/intel-rapl:0/energy_uj");
  if (s.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(s.c_str(), nullptr) * 1e-6;
}

}  // namespace
}  // namespace suanli::cpu

// The opaque handles of the ABI, defined here.
struct suanli_context_s {
  suanli::cpu::CpuConfig cfg;
  suanli::cpu::CpuInfo info;
  std::string error;
  std::string reason;
  // Strings and tables that device_info and libraries hand out; they live as long as the context.
  std::deque<std::string> strings;  // deque: c_str() of earlier entries stays valid
  std::vector<suanli_peak_entry> peaks;
  std::vector<suanli_kv> extra;
  std::vector<suanli_kv> libs;
  std::string openblas, onednn, threads_str;
  // Live plans, told when the harness writes a buffer they may hold a packed copy of.
  std::vector<suanli::cpu::CpuOp*> ops;
};

namespace suanli::cpu {
namespace {

suanli_context_s* as_ctx(suanli_context c) {
  return reinterpret_cast<suanli_context_s*>(c);
}

// Runs f, turning exceptions into a status and the context's message.
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
  as_ctx(ctx)->error = std::move(msg);
  return s;
}

suanli_status create(const suanli_create_args* args, suanli_context* out) noexcept {
  try {
    auto ctx = std::make_unique<suanli_context_s>();
    int threads = 0;
    if (args && args->options) {
      for (size_t i = 0; i < args->option_count; ++i) {
        const suanli_kv& kv = args->options[i];
        if (!kv.key || !kv.value) continue;
        const std::string key = kv.key, value = kv.value;
        if (key == "threads") {
          char* end = nullptr;
          const long v = std::strtol(value.c_str(), &end, 10);
          if (!end || *end || v < 0 || v > 4096) {
            g_create_error = "option threads='" + value + "': expected a whole number >= 0";
            return SUANLI_INVALID_ARGUMENT;
          }
          threads = static_cast<int>(v);
        } else if (key == "gemm_library") {
          if (value != "auto" && value != "openblas" && value != "onednn") {
            g_create_error =
                "option gemm_library='" + value + "': expected auto, openblas or onednn";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.gemm_library = value;
        } else if (key == "gemm_b_layout") {
          if (value != "packed" && value != "plain") {
            g_create_error = "option gemm_b_layout='" + value + "': expected packed or plain";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.gemm_b_layout = value;
        }
      }
    }
    // All cores by default: the physical cores this process may run on.
    ctx->info = detect_cpu(threads > 0 ? threads : 0);
    if (threads == 0) threads = ctx->info.cores > 0 ? ctx->info.cores : 1;
    if (ctx->info.threads != threads) ctx->info = detect_cpu(threads);
    ctx->cfg.threads = threads;
    *out = reinterpret_cast<suanli_context>(ctx.release());
    return SUANLI_OK;
  } catch (const std::exception& e) {
    g_create_error = std::string("cpu backend: create failed: ") + e.what();
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
    if (ctx->libs.empty()) {
      ctx->openblas = openblas_version();
      ctx->onednn = onednn_version();
      ctx->libs.push_back({sizeof(suanli_kv), "openblas",
                           ctx->openblas.empty() ? "not loaded" : ctx->openblas.c_str()});
      ctx->libs.push_back({sizeof(suanli_kv), "onednn", ctx->onednn.c_str()});
      ctx->threads_str =
          std::to_string(ctx->cfg.threads) + " (OpenMP " + std::to_string(_OPENMP) + ")";
      ctx->libs.push_back({sizeof(suanli_kv), "threads", ctx->threads_str.c_str()});
    }
    *out = ctx->libs.data();
    *count = ctx->libs.size();
    return SUANLI_OK;
  });
}

suanli_status device_count(suanli_context, int32_t* count) noexcept {
  *count = 1;  // the host's CPUs are one device: the cores this process may use
  return SUANLI_OK;
}

suanli_status device_info(suanli_context c, int32_t device, suanli_device_info* out) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (device != 0) return fail(c, SUANLI_INVALID_ARGUMENT, "cpu backend has one device (0)");
    if (!out || out->struct_size < SUANLI_STRUCT_SIZE(suanli_device_info, extra_count))
      return fail(c, SUANLI_INVALID_ARGUMENT, "device_info: struct_size too small");
    const CpuInfo& ci = ctx->info;
    if (ctx->peaks.empty()) {
      for (const PeakFigure& p : ci.peaks)
        ctx->peaks.push_back(
            {sizeof(suanli_peak_entry), p.dtype, p.ops_per_second, p.derivation.c_str()});
      auto keep = [&](std::string s) -> const char* {
        ctx->strings.push_back(std::move(s));
        return ctx->strings.back().c_str();
      };
      auto kv = [&](const char* k, std::string v) {
        ctx->extra.push_back({sizeof(suanli_kv), k, keep(std::move(v))});
      };
      kv("uarch", ci.uarch);
      kv("family", std::to_string(ci.family));
      kv("model", std::to_string(ci.model_id));
      kv("stepping", std::to_string(ci.stepping));
      kv("logical_cpus", std::to_string(ci.logical));
      kv("l1d_bytes", std::to_string(ci.l1d_bytes));
      kv("l2_bytes", std::to_string(ci.l2_bytes));
      kv("l3_bytes", std::to_string(ci.l3_bytes));
      // How the clock the peaks use was obtained, every estimate seen, and whether they agree.
      kv("clock_method", ci.clock.method);
      std::string estimates;
      for (const ClockEstimate& e : ci.estimates)
        estimates += (estimates.empty() ? "" : "; ") + e.source + ": " +
                     std::to_string(static_cast<long>(e.mhz + 0.5)) + " MHz";
      kv("clock_estimates", estimates);
      kv("clock_check", ci.clock.check);
    }
    out->name = ci.model.c_str();
    out->vendor = ci.vendor.c_str();
    out->kind = "cpu";
    out->uuid = "";
    out->driver = ci.microcode.c_str();
    out->memory_bytes = ci.memory_bytes;
    out->compute_units = ci.cores;
    out->threads = ctx->cfg.threads;
    out->clock_mhz = ci.measured_mhz;
    out->max_clock_mhz = ci.max_mhz;
    out->features = ci.features.c_str();
    out->peaks = ctx->peaks.data();
    out->peak_count = ctx->peaks.size();
    out->extra = ctx->extra.data();
    out->extra_count = ctx->extra.size();
    return SUANLI_OK;
  });
}

// Builds the op; with null buffers it only checks support.
std::unique_ptr<CpuOp> make_op(suanli_context_s* ctx, const suanli_op_desc* op, void* const* bufs,
                               size_t nbufs, std::string* reason, const uint64_t* sizes = nullptr) {
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor missing or struct_size too small");
  auto need = [&](size_t n) {
    if (bufs && nbufs < n)
      throw BackendError(SUANLI_INVALID_ARGUMENT, "op needs " + std::to_string(n) +
                                                      " buffers, got " + std::to_string(nbufs));
  };
  auto buf = [&](size_t i) -> void* { return bufs ? bufs[i] : nullptr; };
  switch (op->kind) {
    case SUANLI_OP_GEMM:
      if (!op->gemm) break;
      need(3);
      return make_gemm(*op->gemm, buf(0), buf(1), buf(2), ctx->cfg, reason);
    case SUANLI_OP_CONV2D:
      if (!op->conv2d) break;
      need(3);
      return make_conv2d(*op->conv2d, buf(0), buf(1), buf(2), ctx->cfg, reason);
    case SUANLI_OP_PEAK:
      if (!op->peak) break;
      need(2);
      return make_peak(*op->peak, buf(0), buf(1), ctx->cfg, reason);
    case SUANLI_OP_STREAM:
      if (!op->stream) break;
      need(3);
      return make_stream(*op->stream, buf(0), buf(1), buf(2), ctx->cfg, reason);
    case SUANLI_OP_MATMUL:  // the model ops of ABI 1.1: model_ops.cpp
    case SUANLI_OP_CONV2D_LAYER:
    case SUANLI_OP_POOL:
    case SUANLI_OP_NORM:
    case SUANLI_OP_SOFTMAX:
    case SUANLI_OP_ELTWISE:
      return make_model_op(*op, bufs, nbufs, ctx->cfg, reason);
    case SUANLI_OP_GEMM_EX:  // dense linear algebra of ABI 1.2 (HPL): linalg.cpp
    case SUANLI_OP_GETRF:
    case SUANLI_OP_LASWP:
    case SUANLI_OP_TRSM:
      return make_linalg_op(*op, bufs, sizes, nbufs, ctx->cfg, reason);
    default:
      *reason = "op kind " + std::to_string(static_cast<int>(op->kind)) +
                " is not known to the cpu backend";
      return nullptr;
  }
  throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
}

suanli_status supports(suanli_context c, int32_t device, const suanli_op_desc* op,
                       const char** reason) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (device != 0) return fail(c, SUANLI_INVALID_ARGUMENT, "cpu backend has one device (0)");
    ctx->reason.clear();
    std::unique_ptr<CpuOp> probe = make_op(ctx, op, nullptr, 0, &ctx->reason);
    if (reason) *reason = ctx->reason.c_str();
    return probe ? SUANLI_OK : SUANLI_UNSUPPORTED;
  });
}

suanli_status buffer_alloc(suanli_context c, int32_t device, uint64_t bytes,
                           suanli_buffer* out) noexcept {
  return guarded(c, [&] {
    if (device != 0) return fail(c, SUANLI_INVALID_ARGUMENT, "cpu backend has one device (0)");
    auto b = std::make_unique<Buffer>();
    const uint64_t rounded = ((bytes ? bytes : 1) + 4095) / 4096 * 4096;
    if (posix_memalign(&b->data, 4096, rounded) != 0)
      return fail(c, SUANLI_OUT_OF_MEMORY,
                  "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    b->bytes = bytes;
    *out = reinterpret_cast<suanli_buffer>(b.release());
    return SUANLI_OK;
  });
}

void buffer_free(suanli_context, suanli_buffer buf) noexcept {
  delete reinterpret_cast<Buffer*>(buf);
}

suanli_status copy_checked(suanli_context c, suanli_buffer buf, uint64_t offset, uint64_t bytes,
                           void** where) {
  auto* b = reinterpret_cast<Buffer*>(buf);
  if (!b) return fail(c, SUANLI_INVALID_ARGUMENT, "null buffer");
  if (offset > b->bytes || bytes > b->bytes - offset)
    return fail(c, SUANLI_INVALID_ARGUMENT,
                "range [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                    ") outside a buffer of " + std::to_string(b->bytes) + " bytes");
  *where = static_cast<char*>(b->data) + offset;
  return SUANLI_OK;
}

suanli_status buffer_upload(suanli_context c, suanli_buffer dst, uint64_t offset, const void* src,
                            uint64_t bytes) noexcept {
  void* where = nullptr;
  const suanli_status s = copy_checked(c, dst, offset, bytes, &where);
  if (s == SUANLI_OK && bytes) std::memcpy(where, src, bytes);
  if (s != SUANLI_OK || !bytes) return s;
  return guarded(c, [&] {
    const void* base = reinterpret_cast<Buffer*>(dst)->data;
    for (CpuOp* op : as_ctx(c)->ops) op->input_written(base);
    return SUANLI_OK;
  });
}

suanli_status buffer_download(suanli_context c, suanli_buffer src, uint64_t offset, void* dst,
                              uint64_t bytes) noexcept {
  void* where = nullptr;
  const suanli_status s = copy_checked(c, src, offset, bytes, &where);
  if (s == SUANLI_OK && bytes) std::memcpy(dst, where, bytes);
  return s;
}

// Bytes each buffer of a gemm/conv2d/peak/stream op needs (empty for other kinds or malformed
// descriptors, which make_op refuses), so a too-small buffer is refused before anything runs.
std::vector<uint64_t> base_op_bytes(const suanli_op_desc* op) {
  auto size = [](suanli_dtype t) -> uint64_t {
    switch (t) {
      case SUANLI_DTYPE_FP64:
        return 8;
      case SUANLI_DTYPE_FP32:
      case SUANLI_DTYPE_TF32:
      case SUANLI_DTYPE_INT32:
        return 4;
      case SUANLI_DTYPE_FP16:
      case SUANLI_DTYPE_BF16:
        return 2;
      default:
        return 1;
    }
  };
  auto u = [](int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; };
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream)) return {};
  if (op->kind == SUANLI_OP_GEMM && op->gemm) {
    const suanli_gemm_desc& g = *op->gemm;
    const uint64_t b = u(g.batch);
    return {b * u(g.m) * u(g.k) * size(g.a_type), b * u(g.k) * u(g.n) * size(g.b_type),
            b * u(g.m) * u(g.n) * size(g.c_type)};
  }
  if (op->kind == SUANLI_OP_PEAK && op->peak)
    return {u(op->peak->elements) * size(op->peak->acc_type),
            u(op->peak->elements) * size(op->peak->acc_type)};
  if (op->kind == SUANLI_OP_STREAM && op->stream) {
    const uint64_t n = u(op->stream->n) * size(op->stream->type);
    const bool reads_b =
        op->stream->kind == SUANLI_STREAM_ADD || op->stream->kind == SUANLI_STREAM_TRIAD;
    return {n, reads_b ? n : 0, n};
  }
  if (op->kind == SUANLI_OP_CONV2D && op->conv2d) {
    const suanli_conv2d_desc& d = *op->conv2d;
    if (d.stride_h < 1 || d.stride_w < 1 || d.groups < 1) return {};
    const int64_t p = (d.h + 2 * d.pad_h - d.dil_h * (d.r - 1) - 1) / d.stride_h + 1;
    const int64_t q = (d.w + 2 * d.pad_w - d.dil_w * (d.s - 1) - 1) / d.stride_w + 1;
    return {u(d.n) * u(d.h) * u(d.w) * u(d.c) * size(d.src_type),
            u(d.k) * u(d.c / d.groups) * u(d.r) * u(d.s) * size(d.weight_type),
            u(d.n) * u(p) * u(q) * u(d.k) * size(d.dst_type)};
  }
  return {};
}

suanli_status plan(suanli_context c, int32_t device, const suanli_op_desc* op,
                   const suanli_buffer* buffers, size_t buffer_count, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (device != 0) return fail(c, SUANLI_INVALID_ARGUMENT, "cpu backend has one device (0)");
    if (buffer_count == 0 || !buffers)
      return fail(c, SUANLI_INVALID_ARGUMENT, "plan: no buffers given");
    std::vector<void*> ptrs(buffer_count);
    std::vector<uint64_t> sizes(buffer_count);
    const std::vector<uint64_t> need = base_op_bytes(op);
    for (size_t i = 0; i < buffer_count; ++i) {
      auto* b = reinterpret_cast<Buffer*>(buffers[i]);
      if (!b) return fail(c, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " is null");
      if (i < need.size() && b->bytes < need[i])
        return fail(c, SUANLI_INVALID_ARGUMENT,
                    "buffer " + std::to_string(i) + " holds " + std::to_string(b->bytes) +
                        " bytes; the op needs " + std::to_string(need[i]));
      ptrs[i] = b->data;
      sizes[i] = b->bytes;
    }
    ctx->reason.clear();
    auto p = std::make_unique<Plan>();
    p->op = make_op(ctx, op, ptrs.data(), ptrs.size(), &ctx->reason, sizes.data());
    if (!p->op) return fail(c, SUANLI_UNSUPPORTED, ctx->reason);
    if (info && info->struct_size >= SUANLI_STRUCT_SIZE(suanli_plan_info, implementation)) {
      info->library = p->op->library.c_str();
      info->implementation = p->op->implementation.c_str();
    }
    ctx->ops.push_back(p->op.get());
    *out = reinterpret_cast<suanli_plan>(p.release());
    return SUANLI_OK;
  });
}

void plan_destroy(suanli_context c, suanli_plan p) noexcept {
  auto* plan = reinterpret_cast<Plan*>(p);
  if (c && plan) {
    std::vector<CpuOp*>& ops = as_ctx(c)->ops;
    ops.erase(std::remove(ops.begin(), ops.end(), plan->op.get()), ops.end());
  }
  delete plan;
}

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iterations,
                      double* seconds) noexcept {
  return guarded(c, [&] {
    if (iterations < 1) return fail(c, SUANLI_INVALID_ARGUMENT, "iterations must be >= 1");
    for (size_t i = 0; i < count; ++i)
      if (!plans[i])
        return fail(c, SUANLI_INVALID_ARGUMENT, "plan " + std::to_string(i) + " is null");
    // On a CPU the device clock is the host's monotonic clock around the work itself.
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t it = 0; it < iterations; ++it)
      for (size_t i = 0; i < count; ++i) reinterpret_cast<Plan*>(plans[i])->op->run();
    const auto t1 = std::chrono::steady_clock::now();
    *seconds = std::chrono::duration<double>(t1 - t0).count();
    return SUANLI_OK;
  });
}

suanli_status telemetry(suanli_context c, int32_t device, suanli_telemetry* out) noexcept {
  if (device != 0) return fail(c, SUANLI_INVALID_ARGUMENT, "cpu backend has one device (0)");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out->power_w = nan;  // the harness derives power from successive energy readings
  out->energy_j = read_energy_j();
  out->temperature_c = nan;
  const std::string khz = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq");
  out->clock_mhz = khz.empty() ? nan : std::strtod(khz.c_str(), nullptr) / 1000.0;
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_BACKEND_API_SIZE,
    SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    "cpu",
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
}  // namespace suanli::cpu

extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  return abi_major == SUANLI_ABI_MAJOR ? &suanli::cpu::kApi : nullptr;
}
