// The CUDA backend's C ABI: context, device identity (CUDA runtime + NVML), buffers from
// cudaMalloc, plans over the parts in cuda_op.h, device time from CUDA events, telemetry.
#include <suanli/backend.h>

#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cuda_op.h"
#include "nvml.h"
#include "peak_table.h"

namespace suanli::cuda {

void check_cuda(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  const std::string msg =
      std::string(call) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  throw BackendError(e == cudaErrorMemoryAllocation ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
                     msg);
}

namespace {

constexpr const char* kBackendVersion = "0.1.0";

struct Buffer {
  void* data = nullptr;
  uint64_t bytes = 0;
  int device = 0;
  ~Buffer() {
    if (data) cudaFree(data);
  }
};

struct Plan {
  std::unique_ptr<CudaOp> op;
  int device = 0;
};

// What device_info hands out for one GPU; strings live as long as the context.
struct DeviceIdentity {
  std::string name, uuid, driver, features;
  uint64_t memory_bytes = 0;
  int sm_count = 0;
  double clock_mhz = 0, max_clock_mhz = 0;
  std::vector<GpuPeak> peaks;
  std::vector<std::pair<std::string, std::string>> extra;
  void* nvml_device = nullptr;
};

thread_local std::string g_create_error;  // last_error(NULL): failures of create

std::string cuda_version_text(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

std::string uuid_text(const cudaUUID_t& u) {
  static const char* hex = "0123456789abcdef";
  std::string s = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    const auto b = static_cast<unsigned char>(u.bytes[i]);
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

}  // namespace
}  // namespace suanli::cuda

// The opaque handles of the ABI, defined here.
struct suanli_context_s {
  suanli::cuda::CudaConfig cfg;
  std::unique_ptr<suanli::cuda::Nvml> nvml;
  std::vector<suanli::cuda::Device> devices;
  std::vector<suanli::cuda::DeviceIdentity> ids;
  std::string error;
  std::string reason;
  int driver_version = 0, runtime_version = 0;
  // Tables device_info and libraries hand out; they live as long as the context.
  std::deque<std::string> strings;  // deque: c_str() of earlier entries stays valid
  std::vector<std::vector<suanli_peak_entry>> peaks;
  std::vector<std::vector<suanli_kv>> extra;
  std::vector<suanli_kv> libs;
  const char* keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
  ~suanli_context_s() {
    for (auto& d : devices) {
      if (d.stream) {
        cudaSetDevice(d.ordinal);
        cudaStreamSynchronize(d.stream);
      }
      suanli::cuda::release_blas(d);
      suanli::cuda::release_dnn(d);
      if (d.flush) cudaFree(d.flush);
      if (d.stream) cudaStreamDestroy(d.stream);
    }
  }
};

namespace suanli::cuda {
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

Device& device_at(suanli_context_s* ctx, int32_t device) {
  if (device < 0 || device >= static_cast<int32_t>(ctx->devices.size()))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "device " + std::to_string(device) +
                                                    " out of range (the cuda backend has " +
                                                    std::to_string(ctx->devices.size()) + ")");
  return ctx->devices[static_cast<size_t>(device)];
}

// Stream, cuBLASLt handle and workspace of a device, made on first use (creating them makes the
// CUDA context, which `suanli info` should not pay for).
Device& ready(suanli_context_s* ctx, int32_t device) {
  Device& d = device_at(ctx, device);
  SUANLI_CUDA_CHECK(cudaSetDevice(d.ordinal));
  if (!d.stream) SUANLI_CUDA_CHECK(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
  ensure_blas(d, ctx->cfg);
  if (ctx->cfg.cold_l2 && !d.flush) {
    // Writing twice the L2 size evicts every line the previous iteration left there.
    d.flush_bytes = d.l2_bytes > 0 ? 2 * d.l2_bytes : (uint64_t{128} << 20);
    SUANLI_CUDA_CHECK(cudaMalloc(&d.flush, d.flush_bytes));
  }
  return d;
}

DeviceIdentity identify(int ordinal, const cudaDeviceProp& p, const Nvml& nvml, int driver,
                        int runtime) {
  DeviceIdentity id;
  id.name = p.name;
  id.uuid = uuid_text(p.uuid);
  id.memory_bytes = p.totalGlobalMem;
  id.sm_count = p.multiProcessorCount;
  char bus[32] = {};
  const bool have_bus = cudaDeviceGetPCIBusId(bus, sizeof bus, ordinal) == cudaSuccess;
  id.nvml_device = have_bus ? nvml.device_by_pci(bus) : nullptr;
  int khz = 0, mem_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, ordinal);
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, ordinal);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, ordinal);
  const double nvml_max = nvml.max_sm_clock_mhz(id.nvml_device);
  id.max_clock_mhz = nvml_max > 0 ? nvml_max : khz / 1000.0;
  const NvmlReading now = nvml.read(id.nvml_device);
  id.clock_mhz = std::isfinite(now.sm_clock_mhz) ? now.sm_clock_mhz : id.max_clock_mhz;
  const std::string nvml_driver = nvml.driver_version();
  id.driver = (nvml_driver.empty() ? std::string("NVIDIA driver (version unknown)")
                                   : "NVIDIA driver " + nvml_driver) +
              ", CUDA driver API " + cuda_version_text(driver) + ", runtime " +
              cuda_version_text(runtime);
  const int cc = p.major * 10 + p.minor;
  id.features = "sm_" + std::to_string(cc);
  if (cc >= 70) id.features += " tensor_cores fp16_tc";
  if (cc >= 75) id.features += " int8_tc";
  if (cc >= 80) id.features += " tf32_tc bf16_tc mma_sync";
  if (cc == 80 || cc == 90) id.features += " fp64_tc";
  if (cc >= 89) id.features += " fp8_tc";
  if (cc >= 90) id.features += " wgmma tma";

  GpuIdentity g{id.name, p.major, p.minor, id.sm_count, id.max_clock_mhz};
  id.peaks = gpu_peaks(g);
  const std::string model = match_gpu_model(g);
  auto kv = [&](const char* k, std::string v) { id.extra.emplace_back(k, std::move(v)); };
  kv("compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor));
  kv("pci_bus_id", have_bus ? bus : "");
  kv("l2_bytes", std::to_string(p.l2CacheSize));
  kv("memory_clock_mhz", std::to_string(mem_khz / 1000));
  kv("memory_bus_width_bits", std::to_string(bus_bits));
  if (mem_khz > 0 && bus_bits > 0)  // double data rate: two transfers per clock
    kv("memory_bandwidth_peak_gbs",
       std::to_string(static_cast<int64_t>(2.0 * mem_khz * 1e3 * bus_bits / 8 / 1e9)));
  kv("peak_source", model.empty() ? (id.peaks.empty() ? "none (architecture not in suanli's "
                                                        "tables)"
                                                      : "formula (GPU not in suanli's table)")
                                  : "table: " + model);
  kv("nvml", nvml.available() ? (id.nvml_device ? "yes" : "loaded, device not found by PCI id")
                              : nvml.error());
  const double limit = nvml.power_limit_w(id.nvml_device);
  if (limit > 0) kv("power_limit_w", std::to_string(static_cast<int>(limit)));
  if (now.throttle_known)
    kv("clock_event_reasons_at_start", throttle_reason_names(now.throttle_reasons));
  return id;
}

suanli_status create(const suanli_create_args* args, suanli_context* out) noexcept {
  try {
    auto ctx = std::make_unique<suanli_context_s>();
    if (args && args->options) {
      for (size_t i = 0; i < args->option_count; ++i) {
        const suanli_kv& kv = args->options[i];
        if (!kv.key || !kv.value) continue;
        const std::string key = kv.key, value = kv.value;
        if (key == "cold_l2") {
          if (value != "0" && value != "1") {
            g_create_error = "option cold_l2='" + value + "': expected 0 or 1";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.cold_l2 = value == "1";
        } else if (key == "workspace_mib") {
          char* end = nullptr;
          const long v = std::strtol(value.c_str(), &end, 10);
          if (!end || *end || v < 1 || v > 4096) {
            g_create_error = "option workspace_mib='" + value + "': expected 1..4096";
            return SUANLI_INVALID_ARGUMENT;
          }
          ctx->cfg.workspace_bytes = static_cast<uint64_t>(v) << 20;
        }
      }
    }
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      cudaGetLastError();
      g_create_error =
          e != cudaSuccess
              ? std::string("no usable NVIDIA GPU: cudaGetDeviceCount: ") + cudaGetErrorName(e) +
                    " (" + cudaGetErrorString(e) +
                    "); is an NVIDIA GPU present and its driver (libcuda.so.1) installed?"
              : "no usable NVIDIA GPU: the CUDA driver reports 0 devices (check "
                "CUDA_VISIBLE_DEVICES)";
      return SUANLI_NO_DEVICE;
    }
    cudaDriverGetVersion(&ctx->driver_version);
    cudaRuntimeGetVersion(&ctx->runtime_version);
    ctx->nvml = std::make_unique<Nvml>();
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p{};
      const cudaError_t pe = cudaGetDeviceProperties(&p, i);
      if (pe != cudaSuccess) {
        g_create_error = std::string("cudaGetDeviceProperties(") + std::to_string(i) +
                         "): " + cudaGetErrorName(pe) + " (" + cudaGetErrorString(pe) + ")";
        return SUANLI_DEVICE_ERROR;
      }
      Device d;
      d.ordinal = i;
      d.cc_major = p.major;
      d.cc_minor = p.minor;
      d.sm_count = p.multiProcessorCount;
      d.l2_bytes = static_cast<uint64_t>(p.l2CacheSize);
      ctx->devices.push_back(d);
      ctx->ids.push_back(identify(i, p, *ctx->nvml, ctx->driver_version, ctx->runtime_version));
    }
    ctx->peaks.resize(ctx->ids.size());
    ctx->extra.resize(ctx->ids.size());
    *out = reinterpret_cast<suanli_context>(ctx.release());
    return SUANLI_OK;
  } catch (const std::exception& ex) {
    g_create_error = std::string("cuda backend: create failed: ") + ex.what();
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
      auto add = [&](const char* k, std::string v) {
        ctx->libs.push_back({sizeof(suanli_kv), k, ctx->keep(std::move(v))});
      };
      add("cudart", cuda_version_text(ctx->runtime_version) + " (static)");
      add("driver",
          "CUDA " + cuda_version_text(ctx->driver_version) +
              (ctx->nvml->driver_version().empty() ? std::string()
                                                   : ", NVIDIA " + ctx->nvml->driver_version()));
      add("cublasLt", cublaslt_version());
      const std::string dnn = cudnn_version();
      add("cudnn", dnn.empty() ? "not built in" : dnn);
      add("nvml", ctx->nvml->available() ? "loaded" : ctx->nvml->error());
      add("options", std::string("cold_l2=") + (ctx->cfg.cold_l2 ? "1" : "0"));
    }
    *out = ctx->libs.data();
    *count = ctx->libs.size();
    return SUANLI_OK;
  });
}

suanli_status device_count(suanli_context c, int32_t* count) noexcept {
  *count = static_cast<int32_t>(as_ctx(c)->devices.size());
  return SUANLI_OK;
}

suanli_status device_info(suanli_context c, int32_t device, suanli_device_info* out) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    device_at(ctx, device);
    if (!out || out->struct_size < SUANLI_STRUCT_SIZE(suanli_device_info, extra_count))
      return fail(c, SUANLI_INVALID_ARGUMENT, "device_info: struct_size too small");
    const auto i = static_cast<size_t>(device);
    const DeviceIdentity& id = ctx->ids[i];
    if (ctx->peaks[i].empty() && ctx->extra[i].empty()) {
      for (const GpuPeak& p : id.peaks)
        ctx->peaks[i].push_back(
            {sizeof(suanli_peak_entry), p.dtype, p.ops_per_second, ctx->keep(p.derivation)});
      for (const auto& [k, v] : id.extra)
        ctx->extra[i].push_back({sizeof(suanli_kv), ctx->keep(k), ctx->keep(v)});
    }
    out->name = id.name.c_str();
    out->vendor = "NVIDIA";
    out->kind = "gpu";
    out->uuid = id.uuid.c_str();
    out->driver = id.driver.c_str();
    out->memory_bytes = id.memory_bytes;
    out->compute_units = id.sm_count;
    out->threads = 0;
    out->clock_mhz = id.clock_mhz;
    out->max_clock_mhz = id.max_clock_mhz;
    out->features = id.features.c_str();
    out->peaks = ctx->peaks[i].data();
    out->peak_count = ctx->peaks[i].size();
    out->extra = ctx->extra[i].data();
    out->extra_count = ctx->extra[i].size();
    return SUANLI_OK;
  });
}

// Builds the op; with null buffers it only checks support.
std::unique_ptr<CudaOp> make_op(Device& dev, const suanli_op_desc* op, void* const* bufs,
                                size_t nbufs, std::string* reason) {
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
      return make_gemm(*op->gemm, buf(0), buf(1), buf(2), dev, reason);
    case SUANLI_OP_CONV2D:
      if (!op->conv2d) break;
      need(3);
      return make_conv2d(*op->conv2d, buf(0), buf(1), buf(2), dev, reason);
    case SUANLI_OP_PEAK:
      if (!op->peak) break;
      need(2);
      return make_peak(*op->peak, buf(0), buf(1), dev, reason);
    case SUANLI_OP_STREAM:
      if (!op->stream) break;
      need(3);
      return make_stream(*op->stream, buf(0), buf(1), buf(2), dev, reason);
    case SUANLI_OP_MATMUL:
    case SUANLI_OP_CONV2D_LAYER:
    case SUANLI_OP_POOL:
    case SUANLI_OP_NORM:
    case SUANLI_OP_SOFTMAX:
    case SUANLI_OP_ELTWISE:
      return make_model_op(*op, bufs, nbufs, dev, reason);
    default:
      *reason = "op kind " + std::to_string(static_cast<int>(op->kind)) +
                " is not implemented by the cuda backend";
      return nullptr;
  }
  throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
}

suanli_status supports(suanli_context c, int32_t device, const suanli_op_desc* op,
                       const char** reason) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    Device& dev = ready(ctx, device);
    ctx->reason.clear();
    std::unique_ptr<CudaOp> probe = make_op(dev, op, nullptr, 0, &ctx->reason);
    if (reason) *reason = ctx->reason.c_str();
    return probe ? SUANLI_OK : SUANLI_UNSUPPORTED;
  });
}

suanli_status buffer_alloc(suanli_context c, int32_t device, uint64_t bytes,
                           suanli_buffer* out) noexcept {
  return guarded(c, [&] {
    Device& dev = device_at(as_ctx(c), device);
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    auto b = std::make_unique<Buffer>();
    b->device = device;
    b->bytes = bytes;
    SUANLI_CUDA_CHECK(cudaMalloc(&b->data, bytes ? bytes : 1));
    *out = reinterpret_cast<suanli_buffer>(b.release());
    return SUANLI_OK;
  });
}

void buffer_free(suanli_context, suanli_buffer buf) noexcept {
  delete reinterpret_cast<Buffer*>(buf);
}

Buffer* checked_range(suanli_buffer buf, uint64_t offset, uint64_t bytes) {
  auto* b = reinterpret_cast<Buffer*>(buf);
  if (!b) throw BackendError(SUANLI_INVALID_ARGUMENT, "null buffer");
  if (offset > b->bytes || bytes > b->bytes - offset)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "range [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                           ") outside a buffer of " + std::to_string(b->bytes) + " bytes");
  return b;
}

suanli_status buffer_upload(suanli_context c, suanli_buffer dst, uint64_t offset, const void* src,
                            uint64_t bytes) noexcept {
  return guarded(c, [&] {
    Buffer* b = checked_range(dst, offset, bytes);
    if (bytes == 0) return SUANLI_OK;
    SUANLI_CUDA_CHECK(cudaSetDevice(b->device));
    SUANLI_CUDA_CHECK(
        cudaMemcpy(static_cast<char*>(b->data) + offset, src, bytes, cudaMemcpyHostToDevice));
    return SUANLI_OK;
  });
}

suanli_status buffer_download(suanli_context c, suanli_buffer src, uint64_t offset, void* dst,
                              uint64_t bytes) noexcept {
  return guarded(c, [&] {
    Buffer* b = checked_range(src, offset, bytes);
    if (bytes == 0) return SUANLI_OK;
    SUANLI_CUDA_CHECK(cudaSetDevice(b->device));
    // Plans run on non-blocking streams: wait for them before reading results.
    SUANLI_CUDA_CHECK(cudaDeviceSynchronize());
    SUANLI_CUDA_CHECK(
        cudaMemcpy(dst, static_cast<char*>(b->data) + offset, bytes, cudaMemcpyDeviceToHost));
    return SUANLI_OK;
  });
}

suanli_status plan(suanli_context c, int32_t device, const suanli_op_desc* op,
                   const suanli_buffer* buffers, size_t buffer_count, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    Device& dev = ready(ctx, device);
    if (buffer_count == 0 || !buffers)
      return fail(c, SUANLI_INVALID_ARGUMENT, "plan: every op needs buffers");
    std::vector<void*> ptrs(buffer_count);
    for (size_t i = 0; i < buffer_count; ++i) {
      auto* b = reinterpret_cast<Buffer*>(buffers[i]);
      if (!b) return fail(c, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " is null");
      if (b->device != device)
        return fail(c, SUANLI_INVALID_ARGUMENT,
                    "buffer " + std::to_string(i) + " lives on another device");
      ptrs[i] = b->data;
    }
    ctx->reason.clear();
    auto p = std::make_unique<Plan>();
    p->device = device;
    p->op = make_op(dev, op, ptrs.data(), ptrs.size(), &ctx->reason);
    if (!p->op) return fail(c, SUANLI_UNSUPPORTED, ctx->reason);
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

// A pair of CUDA events, destroyed with the scope.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SUANLI_CUDA_CHECK(cudaEventCreate(&start));
    SUANLI_CUDA_CHECK(cudaEventCreate(&stop));
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  ~EventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
  double seconds() const {
    SUANLI_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    SUANLI_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }
};

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iterations,
                      double* seconds) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (iterations < 1) return fail(c, SUANLI_INVALID_ARGUMENT, "iterations must be >= 1");
    if (count == 0) return fail(c, SUANLI_INVALID_ARGUMENT, "no plans to execute");
    std::vector<Plan*> ps(count);
    for (size_t i = 0; i < count; ++i) {
      ps[i] = reinterpret_cast<Plan*>(plans[i]);
      if (!ps[i]) return fail(c, SUANLI_INVALID_ARGUMENT, "plan " + std::to_string(i) + " is null");
      if (ps[i]->device != ps[0]->device)
        return fail(c, SUANLI_INVALID_ARGUMENT, "plans of one execute must share a device");
    }
    Device& dev = ready(ctx, ps[0]->device);
    double total = 0;
    if (!ctx->cfg.cold_l2) {
      // Warm: one pair of events around all iterations; the device clock measures the work.
      EventPair ev;
      SUANLI_CUDA_CHECK(cudaEventRecord(ev.start, dev.stream));
      for (int64_t it = 0; it < iterations; ++it)
        for (Plan* p : ps) p->op->enqueue();
      SUANLI_CUDA_CHECK(cudaEventRecord(ev.stop, dev.stream));
      total = ev.seconds();
    } else {
      // Cold L2: overwrite a buffer twice the L2 size before each iteration, outside the
      // events, so every iteration starts from DRAM.
      EventPair ev;
      for (int64_t it = 0; it < iterations; ++it) {
        SUANLI_CUDA_CHECK(
            cudaMemsetAsync(dev.flush, static_cast<int>(it & 0xff), dev.flush_bytes, dev.stream));
        SUANLI_CUDA_CHECK(cudaEventRecord(ev.start, dev.stream));
        for (Plan* p : ps) p->op->enqueue();
        SUANLI_CUDA_CHECK(cudaEventRecord(ev.stop, dev.stream));
        total += ev.seconds();
      }
    }
    // Asynchronous failures of the kernels surface here.
    SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
    SUANLI_CUDA_CHECK(cudaGetLastError());
    *seconds = total;
    return SUANLI_OK;
  });
}

suanli_status telemetry(suanli_context c, int32_t device, suanli_telemetry* out) noexcept {
  // Called from the sampling thread: touches only NVML and never the context's error string.
  auto* ctx = as_ctx(c);
  if (!out || device < 0 || device >= static_cast<int32_t>(ctx->ids.size()))
    return SUANLI_INVALID_ARGUMENT;
  const NvmlReading r = ctx->nvml->read(ctx->ids[static_cast<size_t>(device)].nvml_device);
  out->power_w = r.power_w;
  out->energy_j = r.energy_j;
  out->temperature_c = r.temperature_c;
  out->clock_mhz = r.sm_clock_mhz;
  return SUANLI_OK;
}

const suanli_backend_api kApi = {
    SUANLI_STRUCT_SIZE(suanli_backend_api, telemetry),
    SUANLI_ABI_MAJOR,
    SUANLI_ABI_MINOR,
    "cuda",
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
}  // namespace suanli::cuda

extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) {
  return abi_major == SUANLI_ABI_MAJOR ? &suanli::cuda::kApi : nullptr;
}
