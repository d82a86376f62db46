// The CUDA backend's C ABI: context, device identity (CUDA runtime + NVML), buffers from
// cudaMalloc, plans over the parts in cuda_op.h, device time from CUDA events, telemetry.
#include <suanli/backend.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cuda_op.h"
#include "env_overrides.h"
#include "kernels.h"
#include "nvml.h"
#include "op_buffers.h"
#include "peak_table.h"

extern char** environ;

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

struct Plan;

// A buffer knows the plans that stage a copy from it (restaged after each upload) and the plans
// that use it otherwise (whose writes would make a plan-time copy stale).
struct Buffer {
  void* data = nullptr;
  uint64_t bytes = 0;
  int device = 0;
  std::vector<Plan*> stagers, users;
  ~Buffer() {
    if (data) cudaFree(data);
  }
};

struct Plan {
  std::unique_ptr<CudaOp> op;
  int device = 0;
  std::vector<Buffer*> sources, used;  // the buffers' lists this plan is on
};

void erase_one(std::vector<Plan*>& v, Plan* p) {
  const auto it = std::find(v.begin(), v.end(), p);
  if (it != v.end()) v.erase(it);
}

// Runs one plan once on its device's stream.
void run_plan(Plan* p) {
  if (p->op->stage_every_run) p->op->restage();
  p->op->enqueue();
}

// One CUDA graph of `unroll` iterations of a plan list, kept for later executes of that list.
struct GraphEntry {
  std::vector<Plan*> plans;
  int64_t unroll = 0;
  cudaGraphExec_t exec = nullptr;  // null: capture failed, run the plans directly
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
  std::deque<suanli::cuda::GraphEntry> graphs;  // oldest first, at most kMaxGraphs
  std::string precision_override;               // see env_overrides.h
  const char* keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
  ~suanli_context_s() {
    for (auto& g : graphs)
      if (g.exec) cudaGraphExecDestroy(g.exec);
    for (auto& d : devices) {
      if (d.stream) {
        cudaSetDevice(d.ordinal);
        cudaStreamSynchronize(d.stream);
      }
      if (d.hold) cudaFreeHost(d.hold);
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
  if (!d.hold)  // two ints the hold kernel reads and writes: release flag, timed-out flag
    SUANLI_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&d.hold), 2 * sizeof(int),
                                    cudaHostAllocMapped | cudaHostAllocPortable));
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

  const GpuPeaks table = gpu_peaks({id.name, p.major, p.minor, id.sm_count, id.max_clock_mhz});
  id.peaks = table.peaks;
  // clock_mhz is the clock the peaks are derived at (not the idle clock NVML reads at create).
  id.clock_mhz = table.clock_mhz;
  auto kv = [&](const char* k, std::string v) { id.extra.emplace_back(k, std::move(v)); };
  kv("compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor));
  kv("pci_bus_id", have_bus ? bus : "");
  kv("l2_bytes", std::to_string(p.l2CacheSize));
  kv("memory_clock_mhz", std::to_string(mem_khz / 1000));
  kv("memory_bus_width_bits", std::to_string(bus_bits));
  if (mem_khz > 0 && bus_bits > 0)  // double data rate: two transfers per clock
    kv("memory_bandwidth_peak_gbs",
       std::to_string(static_cast<int64_t>(2.0 * mem_khz * 1e3 * bus_bits / 8 / 1e9)));
  kv("peak_source", table.source);
  if (!table.clocks.empty()) kv("peak_clocks", table.clocks);
  for (const GpuPeak& c : table.core) {
    kv("peak_fp16_cuda_core_flops", std::to_string(static_cast<int64_t>(c.ops_per_second)));
    kv("peak_fp16_cuda_core_derivation", c.derivation);
  }
  if (std::isfinite(now.sm_clock_mhz))
    kv("sm_clock_mhz_at_create", std::to_string(static_cast<int>(now.sm_clock_mhz)));
  kv("tensor_peak_kernel",
     p.major == 9    ? "wgmma (sm_90a) for fp16/bf16 -> fp32, compile-tested only so far; mma.sync "
                       "for tf32, int8 and fp64, an mma.sync ceiling below Hopper's tensor rate"
     : p.major >= 10 ? "mma.sync (Blackwell's full tensor rate needs tcgen05, not implemented: "
                       "the peak op's tensor figures are an mma.sync ceiling)"
                     : "mma.sync (reaches the tensor cores' full rate before Hopper)");
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
    ctx->precision_override = precision_overrides(environ);
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
      d.precision_override = ctx->precision_override;
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
      add("precision_overrides",
          ctx->precision_override.empty()
              ? "none"
              : ctx->precision_override + " (cuBLAS and cuDNN ops refused while set)");
      add("timing",
          "CUDA graphs of the plan list, replayed behind a stream-holding kernel; events on the "
          "device clock");
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
  auto* b = reinterpret_cast<Buffer*>(buf);
  if (!b) return;
  // The contract frees plans first; should a buffer go first, its plans forget it.
  for (Plan* p : b->stagers)
    p->sources.erase(std::remove(p->sources.begin(), p->sources.end(), b), p->sources.end());
  for (Plan* p : b->users)
    p->used.erase(std::remove(p->used.begin(), p->used.end(), b), p->used.end());
  delete b;
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
    Device& dev = device_at(as_ctx(c), b->device);
    SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
    char* to = static_cast<char*>(b->data) + offset;
    if (!dev.stream) {  // nothing planned on this device yet: no stream to order against
      SUANLI_CUDA_CHECK(cudaMemcpy(to, src, bytes, cudaMemcpyHostToDevice));
      SUANLI_CUDA_CHECK(cudaDeviceSynchronize());  // a pageable copy may return before its DMA
      return SUANLI_OK;
    }
    // On the plans' stream: after every kernel enqueued before it, before every one after it;
    // then the plan-time copies made from this buffer are redone, and the host waits for all.
    SUANLI_CUDA_CHECK(cudaMemcpyAsync(to, src, bytes, cudaMemcpyHostToDevice, dev.stream));
    for (Plan* p : b->stagers)
      if (!p->op->stage_every_run) p->op->restage();
    SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
    return SUANLI_OK;
  });
}

suanli_status buffer_download(suanli_context c, suanli_buffer src, uint64_t offset, void* dst,
                              uint64_t bytes) noexcept {
  return guarded(c, [&] {
    Buffer* b = checked_range(src, offset, bytes);
    if (bytes == 0) return SUANLI_OK;
    SUANLI_CUDA_CHECK(cudaSetDevice(b->device));
    // Plans run on a non-blocking stream: wait for every stream of the device, then copy (a copy
    // to pageable host memory returns once it is complete).
    SUANLI_CUDA_CHECK(cudaDeviceSynchronize());
    SUANLI_CUDA_CHECK(
        cudaMemcpy(dst, static_cast<char*>(b->data) + offset, bytes, cudaMemcpyDeviceToHost));
    return SUANLI_OK;
  });
}

void forget_graphs(suanli_context_s* ctx, Plan* p) {
  for (auto it = ctx->graphs.begin(); it != ctx->graphs.end();) {
    if (std::find(it->plans.begin(), it->plans.end(), p) == it->plans.end()) {
      ++it;
      continue;
    }
    if (it->exec) cudaGraphExecDestroy(it->exec);
    it = ctx->graphs.erase(it);
  }
}

// Puts a new plan on its buffers' lists. A plan-time copy of a buffer that another plan uses
// (e.g. writes: an activation feeding B) could go stale without an upload, so such plans copy
// before every run instead.
void link_buffers(suanli_context_s* ctx, Plan* p, const std::vector<Buffer*>& bufs) {
  const std::vector<const void*>& from = p->op->staged_from;
  for (Buffer* b : bufs) {
    if (std::find(from.begin(), from.end(), b->data) != from.end()) {
      b->stagers.push_back(p);
      p->sources.push_back(b);
    } else {
      b->users.push_back(p);
      p->used.push_back(b);
      for (Plan* q : b->stagers) {
        if (!q->op->stage_every_run) forget_graphs(ctx, q);  // its graphs lack the copy
        q->op->stage_every_run = true;
      }
    }
  }
  for (Buffer* b : p->sources)
    if (!b->users.empty()) p->op->stage_every_run = true;
}

void unlink_buffers(Plan* p) {
  for (Buffer* b : p->sources) erase_one(b->stagers, p);
  for (Buffer* b : p->used) erase_one(b->users, p);
}

suanli_status plan(suanli_context c, int32_t device, const suanli_op_desc* op,
                   const suanli_buffer* buffers, size_t buffer_count, suanli_plan* out,
                   suanli_plan_info* info) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    device_at(ctx, device);
    if (buffer_count == 0 || !buffers)
      return fail(c, SUANLI_INVALID_ARGUMENT, "plan: every op needs buffers");
    std::vector<Buffer*> bufs(buffer_count);
    std::vector<void*> ptrs(buffer_count);
    std::vector<uint64_t> sizes(buffer_count);
    for (size_t i = 0; i < buffer_count; ++i) {
      auto* b = reinterpret_cast<Buffer*>(buffers[i]);
      if (!b) return fail(c, SUANLI_INVALID_ARGUMENT, "buffer " + std::to_string(i) + " is null");
      if (b->device != device)
        return fail(c, SUANLI_INVALID_ARGUMENT,
                    "buffer " + std::to_string(i) + " lives on another device");
      bufs[i] = b;
      ptrs[i] = b->data;
      sizes[i] = b->bytes;
    }
    // Before any CUDA call: nothing may run over a buffer too small for the op.
    const std::string small = check_buffer_sizes(op, sizes.data(), sizes.size());
    if (!small.empty()) return fail(c, SUANLI_INVALID_ARGUMENT, "plan: " + small);
    Device& dev = ready(ctx, device);
    ctx->reason.clear();
    auto p = std::make_unique<Plan>();
    p->device = device;
    p->op = make_op(dev, op, ptrs.data(), ptrs.size(), &ctx->reason);
    if (!p->op) return fail(c, SUANLI_UNSUPPORTED, ctx->reason);
    link_buffers(ctx, p.get(), bufs);
    // Warm-up: loads the kernels' modules (lazy loading) before the first timed run. An op that
    // reads its output (in-place residual), or gets one buffer twice (maybe in place), is not run:
    // one run more would change what the first timed run starts from.
    std::vector<Buffer*> distinct = bufs;
    std::sort(distinct.begin(), distinct.end());
    const bool aliased = std::unique(distinct.begin(), distinct.end()) != distinct.end();
    if (!p->op->reads_output && !aliased) {
      try {
        run_plan(p.get());
        SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
      } catch (...) {
        unlink_buffers(p.get());
        throw;
      }
    }
    if (info && info->struct_size >= SUANLI_STRUCT_SIZE(suanli_plan_info, implementation)) {
      info->library = p->op->library.c_str();
      info->implementation = p->op->implementation.c_str();
    }
    *out = reinterpret_cast<suanli_plan>(p.release());
    return SUANLI_OK;
  });
}

void plan_destroy(suanli_context c, suanli_plan handle) noexcept {
  auto* p = reinterpret_cast<Plan*>(handle);
  if (!p) return;
  if (c) forget_graphs(as_ctx(c), p);
  unlink_buffers(p);
  delete p;
}

constexpr size_t kMaxGraphs = 16;            // graphs kept per context
constexpr int64_t kGraphOpsPerLaunch = 256;  // ops one graph holds (iterations x plans)
constexpr double kHoldTimeoutS = 2.0;        // the hold kernel gives up after this

// Iterations one graph holds: enough that a replay outlasts its launch, few enough to capture fast.
int64_t graph_unroll(size_t plans, int64_t iterations) {
  const int64_t per = std::max<int64_t>(1, kGraphOpsPerLaunch / static_cast<int64_t>(plans));
  return std::min(iterations, per);
}

// Captures `unroll` iterations of the plans on the device's stream; null when capture fails
// (an op that cannot be captured then runs directly, behind the hold kernel all the same).
cudaGraphExec_t capture(Device& dev, const std::vector<Plan*>& ps, int64_t unroll) {
  if (cudaStreamBeginCapture(dev.stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  bool ok = true;
  try {
    for (int64_t u = 0; u < unroll; ++u)
      for (Plan* p : ps) run_plan(p);
  } catch (const std::exception&) {
    ok = false;
  }
  cudaGraph_t graph = nullptr;
  ok = cudaStreamEndCapture(dev.stream, &graph) == cudaSuccess && ok && graph;
  cudaGraphExec_t exec = nullptr;
  if (ok && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) exec = nullptr;
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // a failed capture leaves only non-sticky errors
  return exec;
}

cudaGraphExec_t graph_for(suanli_context_s* ctx, Device& dev, const std::vector<Plan*>& ps,
                          int64_t unroll) {
  for (const GraphEntry& g : ctx->graphs)
    if (g.unroll == unroll && g.plans == ps) return g.exec;
  if (ctx->graphs.size() >= kMaxGraphs) {
    if (ctx->graphs.front().exec) cudaGraphExecDestroy(ctx->graphs.front().exec);
    ctx->graphs.pop_front();
  }
  ctx->graphs.push_back({ps, unroll, capture(dev, ps, unroll)});
  return ctx->graphs.back().exec;
}

// Holds the device's stream with a spinning kernel until release() or destruction, so the host
// enqueues the timed work while the device waits and no launch gap lands between the events.
class StreamHold {
 public:
  explicit StreamHold(Device& dev) : dev_(dev) {
    __atomic_store_n(&dev.hold[0], 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&dev.hold[1], 0, __ATOMIC_SEQ_CST);
    check_cuda(launch_hold_stream(dev.hold, kHoldTimeoutS, dev.hold + 1, dev.stream),
               "hold kernel launch");
  }
  StreamHold(const StreamHold&) = delete;
  StreamHold& operator=(const StreamHold&) = delete;
  ~StreamHold() { release(); }
  void release() { __atomic_store_n(&dev_.hold[0], 1, __ATOMIC_SEQ_CST); }

 private:
  Device& dev_;
};

// Device seconds of `iterations` runs of the plans: graph replays (and direct runs for the
// remainder) between two events, all enqueued behind the hold kernel. With a flush, the L2 is
// overwritten before the start event.
double timed_runs(suanli_context_s* ctx, Device& dev, const std::vector<Plan*>& ps,
                  int64_t iterations, bool flush, uint64_t flush_seed) {
  const int64_t unroll = graph_unroll(ps.size(), iterations);
  cudaGraphExec_t graph = graph_for(ctx, dev, ps, unroll);
  EventPair ev;
  StreamHold hold(dev);
  if (flush)
    SUANLI_CUDA_CHECK(cudaMemsetAsync(dev.flush, static_cast<int>(flush_seed & 0xff),
                                      dev.flush_bytes, dev.stream));
  SUANLI_CUDA_CHECK(cudaEventRecord(ev.start, dev.stream));
  int64_t done = 0;
  if (graph)
    for (; done + unroll <= iterations; done += unroll)
      SUANLI_CUDA_CHECK(cudaGraphLaunch(graph, dev.stream));
  for (; done < iterations; ++done)
    for (Plan* p : ps) run_plan(p);
  SUANLI_CUDA_CHECK(cudaEventRecord(ev.stop, dev.stream));
  hold.release();
  return ev.seconds();
}

suanli_status execute(suanli_context c, const suanli_plan* plans, size_t count, int64_t iterations,
                      double* seconds) noexcept {
  return guarded(c, [&] {
    auto* ctx = as_ctx(c);
    if (iterations < 1) return fail(c, SUANLI_INVALID_ARGUMENT, "iterations must be >= 1");
    if (count == 0 || !plans) return fail(c, SUANLI_INVALID_ARGUMENT, "no plans to execute");
    if (!seconds) return fail(c, SUANLI_INVALID_ARGUMENT, "execute: seconds is null");
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
      total = timed_runs(ctx, dev, ps, iterations, false, 0);
    } else {
      // Cold L2: overwrite a buffer twice the L2 size before each iteration, outside the
      // events, so every iteration starts from DRAM.
      for (int64_t it = 0; it < iterations; ++it)
        total += timed_runs(ctx, dev, ps, 1, true, static_cast<uint64_t>(it));
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
    SUANLI_BACKEND_API_SIZE,
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
