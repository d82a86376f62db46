// The CUDA backend's C ABI: context, device identity (CUDA runtime + NVML), buffers from
// cudaMalloc, plans over the parts in cuda_op.h, device time from CUDA events, telemetry.
#include <suanli/plugin_kit.h>

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
struct Buffer : suanli_buffer_s {
  void* data = nullptr;
  std::vector<Plan*> stagers, users;
  ~Buffer() override {
    if (data) cudaFree(data);
  }
};

struct Plan : suanli_plan_s {
  std::unique_ptr<CudaOp> op;
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

// The context: the GPUs, their identity, and the CUDA graphs of recent executes.
struct Context : suanli_context_s {
  CudaConfig cfg;
  std::unique_ptr<Nvml> nvml;
  std::vector<Device> devices;
  std::vector<DeviceIdentity> ids;
  int driver_version = 0, runtime_version = 0;
  // Tables device_info hands out; they live as long as the context.
  kit::Strings strings;
  std::vector<std::vector<suanli_peak_entry>> peaks;
  std::vector<kit::KeyValues> extra;
  std::deque<GraphEntry> graphs;   // oldest first, at most kMaxGraphs
  std::string precision_override;  // see env_overrides.h

  static std::unique_ptr<Context> open(const kit::Options& options);
  ~Context() override {
    for (auto& g : graphs)
      if (g.exec) cudaGraphExecDestroy(g.exec);
    for (auto& d : devices) {
      if (d.stream) {
        cudaSetDevice(d.ordinal);
        cudaStreamSynchronize(d.stream);
      }
      if (d.hold) cudaFreeHost(d.hold);
      release_blas(d);
      release_dnn(d);
      release_linalg(d);
      if (d.flush) cudaFree(d.flush);
      if (d.stream) cudaStreamDestroy(d.stream);
    }
  }

  void libraries(kit::KeyValues& out) override;
  int32_t device_count() override { return static_cast<int32_t>(devices.size()); }
  void device_info(int32_t device, suanli_device_info& out) override;
  bool supports(int32_t device, const suanli_op_desc& op, std::string& why) override;
  std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t device, uint64_t bytes) override;
  void buffer_free(suanli_buffer_s& buffer) override;
  void buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                     uint64_t bytes) override;
  void buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst, uint64_t bytes) override;
  std::unique_ptr<suanli_plan_s> plan(int32_t device, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& buffers,
                                      std::string& why) override;
  void plan_destroy(suanli_plan_s& plan) override;
  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) override;
  void telemetry(int32_t device, suanli_telemetry& out) override;
};

Device& device_at(Context* ctx, int32_t device) {
  return ctx->devices[static_cast<size_t>(device)];  // the kit has checked the index
}

// Stream, cuBLASLt handle and workspace of a device, made on first use (creating them makes the
// CUDA context, which `suanli info` should not pay for).
Device& ready(Context* ctx, int32_t device) {
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
std::unique_ptr<Context> Context::open(const kit::Options& options) {
  auto ctx = std::make_unique<Context>();
  ctx->cfg.cold_l2 = options.flag("cold_l2", false);
  ctx->cfg.workspace_bytes =
      static_cast<uint64_t>(options.integer("workspace_mib", 0, 1, 4096, "1..4096")) << 20;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    kit::fail(SUANLI_NO_DEVICE,
              e != cudaSuccess
                  ? std::string("no usable NVIDIA GPU: cudaGetDeviceCount: ") +
                        cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                        "); is an NVIDIA GPU present and its driver (libcuda.so.1) installed?"
                  : "no usable NVIDIA GPU: the CUDA driver reports 0 devices (check "
                    "CUDA_VISIBLE_DEVICES)");
  }
  ctx->precision_override = precision_overrides(environ);
  cudaDriverGetVersion(&ctx->driver_version);
  cudaRuntimeGetVersion(&ctx->runtime_version);
  ctx->nvml = std::make_unique<Nvml>();
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    const cudaError_t pe = cudaGetDeviceProperties(&p, i);
    if (pe != cudaSuccess)
      kit::fail(SUANLI_DEVICE_ERROR, std::string("cudaGetDeviceProperties(") + std::to_string(i) +
                                         "): " + cudaGetErrorName(pe) + " (" +
                                         cudaGetErrorString(pe) + ")");
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
  return ctx;
}

void Context::libraries(kit::KeyValues& out) {
  out.add("cudart", cuda_version_text(runtime_version) + " (static)");
  out.add("driver", "CUDA " + cuda_version_text(driver_version) +
                        (nvml->driver_version().empty() ? std::string()
                                                        : ", NVIDIA " + nvml->driver_version()));
  out.add("cublasLt", cublaslt_version());
  const std::string dnn = cudnn_version();
  out.add("cudnn", dnn.empty() ? "not built in" : dnn);
  out.add("nvml", nvml->available() ? "loaded" : nvml->error());
  out.add("options", std::string("cold_l2=") + (cfg.cold_l2 ? "1" : "0"));
  out.add("precision_overrides",
          precision_override.empty()
              ? "none"
              : precision_override + " (cuBLAS and cuDNN ops refused while set)");
  out.add("timing",
          "CUDA graphs of the plan list, replayed behind a stream-holding kernel; events on the "
          "device clock");
}

void Context::device_info(int32_t device, suanli_device_info& out) {
  const auto i = static_cast<size_t>(device);
  const DeviceIdentity& id = ids[i];
  if (peaks[i].empty() && extra[i].empty()) {
    for (const GpuPeak& p : id.peaks)
      peaks[i].push_back(
          {SUANLI_PEAK_ENTRY_SIZE, p.dtype, p.ops_per_second, strings.keep(p.derivation)});
    for (const auto& [k, v] : id.extra) extra[i].add(k, v);
  }
  out.name = id.name.c_str();
  out.vendor = "NVIDIA";
  out.kind = "gpu";
  out.uuid = id.uuid.c_str();
  out.driver = id.driver.c_str();
  out.memory_bytes = id.memory_bytes;
  out.compute_units = id.sm_count;
  out.threads = 0;
  out.clock_mhz = id.clock_mhz;
  out.max_clock_mhz = id.max_clock_mhz;
  out.features = id.features.c_str();
  out.peaks = peaks[i].data();
  out.peak_count = peaks[i].size();
  out.extra = extra[i].data();
  out.extra_count = extra[i].size();
}

// Builds an op with the factory of its kind (kit::visit_op); with null buffers it only checks
// support. The kit has validated the descriptor and, when planning, the buffers' count and sizes.
struct OpFactory {
  const suanli_op_desc& op;
  Device& dev;
  void* const* bufs;
  size_t nbufs;
  std::string* reason;

  void* buf(size_t i) const { return bufs ? bufs[i] : nullptr; }
  std::unique_ptr<CudaOp> operator()(const suanli_gemm_desc& d) const {
    return make_gemm(d, buf(0), buf(1), buf(2), dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_conv2d_desc& d) const {
    return make_conv2d(d, buf(0), buf(1), buf(2), dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_peak_desc& d) const {
    return make_peak(d, buf(0), buf(1), dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_stream_desc& d) const {
    return make_stream(d, buf(0), buf(1), buf(2), dev, reason);
  }
  // The linear-algebra ops of ABI 1.2 (linalg.cpp).
  std::unique_ptr<CudaOp> operator()(const suanli_gemm_ex_desc& d) const {
    return make_linalg(d, bufs, dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_getrf_desc& d) const {
    return make_linalg(d, bufs, dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_laswp_desc& d) const {
    return make_linalg(d, bufs, dev, reason);
  }
  std::unique_ptr<CudaOp> operator()(const suanli_trsm_desc& d) const {
    return make_linalg(d, bufs, dev, reason);
  }
  // The model ops (model_ops.cpp).
  template <class Desc>
  std::unique_ptr<CudaOp> operator()(const Desc&) const {
    if constexpr (kit::is_model_desc<Desc>) return make_model_op(op, bufs, nbufs, dev, reason);
    *reason = kit::unknown_kind_reason(op, "cuda");
    return nullptr;
  }
};

std::unique_ptr<CudaOp> make_op(Device& dev, const suanli_op_desc& op, void* const* bufs,
                                size_t nbufs, std::string* reason) {
  return kit::visit_op(op, OpFactory{op, dev, bufs, nbufs, reason});
}

bool Context::supports(int32_t device, const suanli_op_desc& op, std::string& why) {
  return make_op(ready(this, device), op, nullptr, 0, &why) != nullptr;
}

std::unique_ptr<suanli_buffer_s> Context::buffer_alloc(int32_t device, uint64_t bytes) {
  SUANLI_CUDA_CHECK(cudaSetDevice(device_at(this, device).ordinal));
  auto b = std::make_unique<Buffer>();
  SUANLI_CUDA_CHECK(cudaMalloc(&b->data, bytes ? bytes : 1));
  return b;
}

// The contract frees plans first; should a buffer go first, its plans forget it.
void Context::buffer_free(suanli_buffer_s& buffer) {
  auto* b = static_cast<Buffer*>(&buffer);
  for (Plan* p : b->stagers)
    p->sources.erase(std::remove(p->sources.begin(), p->sources.end(), b), p->sources.end());
  for (Plan* p : b->users)
    p->used.erase(std::remove(p->used.begin(), p->used.end(), b), p->used.end());
}

void Context::buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                            uint64_t bytes) {
  auto* b = static_cast<Buffer*>(&dst);
  Device& dev = device_at(this, b->device);
  SUANLI_CUDA_CHECK(cudaSetDevice(dev.ordinal));
  char* to = static_cast<char*>(b->data) + offset;
  if (!dev.stream) {  // nothing planned on this device yet: no stream to order against
    SUANLI_CUDA_CHECK(cudaMemcpy(to, src, bytes, cudaMemcpyHostToDevice));
    SUANLI_CUDA_CHECK(cudaDeviceSynchronize());  // a pageable copy may return before its DMA
    return;
  }
  // On the plans' stream: after every kernel enqueued before it, before every one after it;
  // then the plan-time copies made from this buffer are redone, and the host waits for all.
  SUANLI_CUDA_CHECK(cudaMemcpyAsync(to, src, bytes, cudaMemcpyHostToDevice, dev.stream));
  for (Plan* p : b->stagers)
    if (!p->op->stage_every_run) p->op->restage();
  SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
}

void Context::buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst, uint64_t bytes) {
  auto* b = static_cast<Buffer*>(&src);
  SUANLI_CUDA_CHECK(cudaSetDevice(device_at(this, b->device).ordinal));
  // Plans run on a non-blocking stream: wait for every stream of the device, then copy (a copy
  // to pageable host memory returns once it is complete).
  SUANLI_CUDA_CHECK(cudaDeviceSynchronize());
  SUANLI_CUDA_CHECK(
      cudaMemcpy(dst, static_cast<char*>(b->data) + offset, bytes, cudaMemcpyDeviceToHost));
}

void forget_graphs(Context* ctx, Plan* p) {
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
void link_buffers(Context* ctx, Plan* p, const std::vector<Buffer*>& bufs) {
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

std::unique_ptr<suanli_plan_s> Context::plan(int32_t device, const suanli_op_desc& op,
                                             const std::vector<suanli_buffer_s*>& buffers,
                                             std::string& why) {
  // The kit has refused buffers too small for the op before any CUDA call.
  std::vector<Buffer*> bufs;
  std::vector<void*> ptrs;
  for (suanli_buffer_s* b : buffers) {
    bufs.push_back(static_cast<Buffer*>(b));
    ptrs.push_back(bufs.back()->data);
  }
  Device& dev = ready(this, device);
  auto p = std::make_unique<Plan>();
  p->op = make_op(dev, op, ptrs.data(), ptrs.size(), &why);
  if (!p->op) return nullptr;
  p->device = device;
  link_buffers(this, p.get(), bufs);
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
  p->library = p->op->library.c_str();
  p->implementation = p->op->implementation.c_str();
  return p;
}

void Context::plan_destroy(suanli_plan_s& plan) {
  auto* p = static_cast<Plan*>(&plan);
  forget_graphs(this, p);
  unlink_buffers(p);
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

cudaGraphExec_t graph_for(Context* ctx, Device& dev, const std::vector<Plan*>& ps, int64_t unroll) {
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
double timed_runs(Context* ctx, Device& dev, const std::vector<Plan*>& ps, int64_t iterations,
                  bool flush, uint64_t flush_seed) {
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

double Context::execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) {
  std::vector<Plan*> ps;
  for (suanli_plan_s* p : plans) ps.push_back(static_cast<Plan*>(p));
  Device& dev = ready(this, ps[0]->device);
  double total = 0;
  if (!cfg.cold_l2) {
    // Warm: one pair of events around all iterations; the device clock measures the work.
    total = timed_runs(this, dev, ps, iterations, false, 0);
  } else {
    // Cold L2: overwrite a buffer twice the L2 size before each iteration, outside the
    // events, so every iteration starts from DRAM.
    for (int64_t it = 0; it < iterations; ++it)
      total += timed_runs(this, dev, ps, 1, true, static_cast<uint64_t>(it));
  }
  // Asynchronous failures of the kernels surface here.
  SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
  SUANLI_CUDA_CHECK(cudaGetLastError());
  return total;
}

// Called from the sampling thread: touches only NVML.
void Context::telemetry(int32_t device, suanli_telemetry& out) {
  const NvmlReading r = nvml->read(ids[static_cast<size_t>(device)].nvml_device);
  out.power_w = r.power_w;
  out.energy_j = r.energy_j;
  out.temperature_c = r.temperature_c;
  out.clock_mhz = r.sm_clock_mhz;
}

}  // namespace
}  // namespace suanli::cuda

SUANLI_KIT_EXPORT(suanli::cuda::Context, "cuda", suanli::cuda::kBackendVersion)
