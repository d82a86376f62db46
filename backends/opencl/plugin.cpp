// The OpenCL backend's C ABI: every device of every OpenCL platform, buffers as cl_mem, plans
// over the ops in ocl.h, device time from profiling events.
#include <suanli/plugin_kit.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ocl.h"

namespace suanli::ocl {
namespace {

constexpr const char* kBackendVersion = "0.1.0";

struct Plan : suanli_plan_s {
  std::unique_ptr<Op> op;
};

// The strings and tables that device_info hands out for one device.
struct DeviceTables {
  kit::KeyValues extra;
  std::string features, driver;
};

// "MR,VW,NRV" (MR 1-32, VW 2/4/8/16, NRV 1-4).
Tile parse_tile(const std::string& value) {
  Tile t;
  char tail = 0;
  if (std::sscanf(value.c_str(), "%d,%d,%d%c", &t.mr, &t.vw, &t.nrv, &tail) != 3 || t.mr < 1 ||
      t.mr > 32 || t.nrv < 1 || t.nrv > 4 || (t.vw != 2 && t.vw != 4 && t.vw != 8 && t.vw != 16))
    kit::Options::refuse("gemm_tile", value, "MR,VW,NRV (MR 1-32, VW 2/4/8/16, NRV 1-4)");
  return t;
}

// Builds the op on device d; with bufs null it only checks support.
std::unique_ptr<Op> make_op(const Config& cfg, Device& d, const suanli_op_desc& op,
                            Buffer* const* bufs, std::string* reason) {
  switch (op.kind) {
    case SUANLI_OP_GEMM:
      return make_gemm(d, *op.gemm, bufs, cfg, reason);
    case SUANLI_OP_PEAK:
      return make_peak(d, *op.peak, bufs, reason);
    case SUANLI_OP_STREAM:
      return make_stream(d, *op.stream, bufs, reason);
    case SUANLI_OP_CONV2D:
      *reason = "conv2d: the opencl backend has no convolution kernels";
      return nullptr;
    case SUANLI_OP_GEMM_EX:
      return make_gemm_ex(d, *op.gemm_ex, bufs, cfg, reason);
    case SUANLI_OP_LASWP:
      return make_laswp(d, *op.laswp, bufs, reason);
    case SUANLI_OP_TRSM:
      return make_trsm(d, *op.trsm, bufs, reason);
    case SUANLI_OP_GETRF:
      kit::check_linalg_shape(*op.getrf);
      *reason =
          "getrf: the opencl backend has no LU panel kernel (the harness factors the panel "
          "on the host, with transfers)";
      return nullptr;
    default:
      *reason = kit::unknown_kind_reason(op, "opencl");
      return nullptr;
  }
}

struct Context : suanli_context_s {
  Config cfg;
  std::vector<std::unique_ptr<Device>> devices;
  std::vector<std::string> notes;  // platforms/devices that could not be used
  std::vector<DeviceTables> tables;

  static std::unique_ptr<Context> open(const kit::Options& options) {
    auto ctx = std::make_unique<Context>();
    ctx->cfg.tune = options.choice("tune", "on", {"on", "off"}) == "on";
    ctx->cfg.cache_path = options.text("tune_cache", default_cache_path());  // "": no cache
    if (const std::string* tile = options.find("gemm_tile")) {
      ctx->cfg.force_tile = true;
      ctx->cfg.tile = parse_tile(*tile);
    }
    ctx->devices = enumerate_devices(&ctx->notes);
    for (auto& d : ctx->devices) d->extra_build_options = options.text("build_options", "");
    ctx->tables.resize(ctx->devices.size());
    return ctx;
  }

  Device& device(int32_t i) { return *devices[static_cast<size_t>(i)]; }

  void libraries(kit::KeyValues& out) override {
    // One entry per platform in use, plus what could not be used.
    std::vector<std::string> seen;
    for (const auto& d : devices) {
      if (std::find(seen.begin(), seen.end(), d->platform_name) != seen.end()) continue;
      seen.push_back(d->platform_name);
      out.add("opencl platform " + d->platform_name, d->platform_version);
    }
    for (const auto& n : notes) out.add("opencl note", n);
    if (out.empty()) out.add("opencl", "no platform");
  }

  int32_t device_count() override { return static_cast<int32_t>(devices.size()); }

  static void describe(const Device& d, DeviceTables& t) {
    t.features = d.device_version + (d.extensions.empty() ? "" : " ") + d.extensions;
    t.driver = d.driver_version + " (" + d.platform_version + ")";
    t.extra.add("platform", d.platform_name);
    t.extra.add("platform_version", d.platform_version);
    t.extra.add("device_version", d.device_version);
    t.extra.add("opencl_c_version", d.c_version);
    t.extra.add("max_alloc_bytes", std::to_string(d.max_alloc));
    t.extra.add("local_mem_bytes", std::to_string(d.local_mem));
    t.extra.add("global_cache_bytes", std::to_string(d.global_cache));
    t.extra.add("max_work_group_size", std::to_string(d.max_work_group));
    t.extra.add("preferred_vector_width_float", std::to_string(d.pref_vec_float));
    t.extra.add("preferred_vector_width_double", std::to_string(d.pref_vec_double));
    t.extra.add("theoretical_peak",
                "unknown: OpenCL reports compute units and a clock but not the FMA lanes per "
                "unit; the measured peak op is the ceiling");
  }

  void device_info(int32_t device_index, suanli_device_info& out) override {
    Device& d = device(device_index);
    DeviceTables& t = tables[static_cast<size_t>(device_index)];
    if (t.extra.empty()) describe(d, t);
    out.name = d.name.c_str();
    out.vendor = d.vendor.c_str();
    out.kind = d.kind();
    out.uuid = d.uuid.c_str();
    out.driver = t.driver.c_str();
    out.memory_bytes = d.global_mem;
    out.compute_units = static_cast<int32_t>(d.compute_units);
    out.threads = (d.type & CL_DEVICE_TYPE_CPU) ? static_cast<int32_t>(d.compute_units) : 0;
    out.clock_mhz = d.clock_mhz;
    out.max_clock_mhz = d.clock_mhz;
    out.features = t.features.c_str();
    out.peaks = nullptr;  // unknown rather than invented (see theoretical_peak)
    out.peak_count = 0;
    out.extra = t.extra.data();
    out.extra_count = t.extra.size();
  }

  bool supports(int32_t device_index, const suanli_op_desc& op, std::string& why) override {
    return make_op(cfg, device(device_index), op, nullptr, &why) != nullptr;
  }

  std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t device_index, uint64_t bytes) override {
    Device& d = device(device_index);
    if (bytes > d.max_alloc && d.max_alloc > 0)
      kit::fail(SUANLI_OUT_OF_MEMORY, "opencl: " + std::to_string(bytes) +
                                          " bytes exceed the device's largest allocation (" +
                                          std::to_string(d.max_alloc) + " bytes)");
    auto b = std::make_unique<Buffer>();
    cl_int err = CL_SUCCESS;
    b->mem = clCreateBuffer(d.context, CL_MEM_READ_WRITE, bytes ? bytes : 1, nullptr, &err);
    check_cl(err, "clCreateBuffer");
    return b;
  }

  void buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                     uint64_t bytes) override {
    check_cl(clEnqueueWriteBuffer(device(dst.device).queue, static_cast<Buffer&>(dst).mem, CL_TRUE,
                                  offset, bytes, src, 0, nullptr, nullptr),
             "clEnqueueWriteBuffer");
  }

  void buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst, uint64_t bytes) override {
    check_cl(clEnqueueReadBuffer(device(src.device).queue, static_cast<Buffer&>(src).mem, CL_TRUE,
                                 offset, bytes, dst, 0, nullptr, nullptr),
             "clEnqueueReadBuffer");
  }

  std::unique_ptr<suanli_plan_s> plan(int32_t device_index, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& buffers,
                                      std::string& why) override {
    std::vector<Buffer*> bufs;
    for (suanli_buffer_s* b : buffers) bufs.push_back(static_cast<Buffer*>(b));
    auto p = std::make_unique<Plan>();
    p->op = make_op(cfg, device(device_index), op, bufs.data(), &why);
    if (!p->op) return nullptr;
    p->op->device = device_index;
    p->library = p->op->library.c_str();
    p->implementation = p->op->implementation.c_str();
    return p;
  }

  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) override {
    std::vector<Op*> ops;
    for (suanli_plan_s* p : plans) ops.push_back(static_cast<Plan*>(p)->op.get());
    return run_timed(device(plans.front()->device), ops, iterations);
  }

  void telemetry(int32_t, suanli_telemetry& out) override {
    // Core OpenCL has no power, energy, temperature or clock queries.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    out.power_w = nan;
    out.energy_j = nan;
    out.temperature_c = nan;
    out.clock_mhz = nan;
  }
};

}  // namespace
}  // namespace suanli::ocl

SUANLI_KIT_EXPORT(suanli::ocl::Context, "opencl", suanli::ocl::kBackendVersion)
