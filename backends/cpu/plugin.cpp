// The CPU backend's C ABI: context, device identity, buffers, plans and timing over the parts in
// cpu_op.h.
#include <suanli/plugin_kit.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
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
struct Buffer : suanli_buffer_s {
  void* data = nullptr;
  ~Buffer() override { std::free(data); }
};

struct Plan : suanli_plan_s {
  std::unique_ptr<CpuOp> op;
};

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

// Builds the op; with null buffers it only checks support. The kit has validated the descriptor
// and, when planning, the buffers' count and sizes.
std::unique_ptr<CpuOp> make_op(const CpuConfig& cfg, const suanli_op_desc& op, void* const* bufs,
                               size_t nbufs, std::string* reason, const uint64_t* sizes) {
  auto buf = [&](size_t i) -> void* { return bufs ? bufs[i] : nullptr; };
  switch (op.kind) {
    case SUANLI_OP_GEMM:
      return make_gemm(*op.gemm, buf(0), buf(1), buf(2), cfg, reason);
    case SUANLI_OP_CONV2D:
      return make_conv2d(*op.conv2d, buf(0), buf(1), buf(2), cfg, reason);
    case SUANLI_OP_PEAK:
      return make_peak(*op.peak, buf(0), buf(1), cfg, reason);
    case SUANLI_OP_STREAM:
      return make_stream(*op.stream, buf(0), buf(1), buf(2), cfg, reason);
    case SUANLI_OP_GEMM_EX:  // dense linear algebra of ABI 1.2 (HPL): linalg.cpp
    case SUANLI_OP_GETRF:
    case SUANLI_OP_LASWP:
    case SUANLI_OP_TRSM:
      return make_linalg_op(op, bufs, sizes, nbufs, cfg, reason);
    default:  // the model ops of ABI 1.1: model_ops.cpp
      return make_model_op(op, bufs, nbufs, cfg, reason);
  }
}

// The host's CPUs as one device: the cores this process may use.
struct Context : suanli_context_s {
  CpuConfig cfg;
  CpuInfo info;
  kit::Strings strings;
  std::vector<suanli_peak_entry> peaks;
  kit::KeyValues extra;
  // Live plans, told when the harness writes a buffer they may hold a packed copy of.
  std::vector<CpuOp*> ops;

  static std::unique_ptr<Context> open(const kit::Options& options) {
    auto ctx = std::make_unique<Context>();
    int threads = static_cast<int>(options.integer("threads", 0, 0, 4096, "a whole number >= 0"));
    ctx->cfg.gemm_library =
        options.choice("gemm_library", ctx->cfg.gemm_library, {"auto", "openblas", "onednn"});
    ctx->cfg.gemm_b_layout =
        options.choice("gemm_b_layout", ctx->cfg.gemm_b_layout, {"packed", "plain"});
    // All cores by default: the physical cores this process may run on.
    ctx->info = detect_cpu(threads > 0 ? threads : 0);
    if (threads == 0) threads = ctx->info.cores > 0 ? ctx->info.cores : 1;
    if (ctx->info.threads != threads) ctx->info = detect_cpu(threads);
    ctx->cfg.threads = threads;
    return ctx;
  }

  void libraries(kit::KeyValues& out) override {
    const std::string openblas = openblas_version();
    out.add("openblas", openblas.empty() ? "not loaded" : openblas);
    out.add("onednn", onednn_version());
    out.add("threads", std::to_string(cfg.threads) + " (OpenMP " + std::to_string(_OPENMP) + ")");
  }

  int32_t device_count() override { return 1; }

  void describe() {
    const CpuInfo& ci = info;
    for (const PeakFigure& p : ci.peaks)
      peaks.push_back(
          {SUANLI_PEAK_ENTRY_SIZE, p.dtype, p.ops_per_second, strings.keep(p.derivation)});
    extra.add("uarch", ci.uarch);
    extra.add("family", std::to_string(ci.family));
    extra.add("model", std::to_string(ci.model_id));
    extra.add("stepping", std::to_string(ci.stepping));
    extra.add("logical_cpus", std::to_string(ci.logical));
    extra.add("l1d_bytes", std::to_string(ci.l1d_bytes));
    extra.add("l2_bytes", std::to_string(ci.l2_bytes));
    extra.add("l3_bytes", std::to_string(ci.l3_bytes));
    // How the clock the peaks use was obtained, every estimate seen, and whether they agree.
    extra.add("clock_method", ci.clock.method);
    std::string estimates;
    for (const ClockEstimate& e : ci.estimates)
      estimates += (estimates.empty() ? "" : "; ") + e.source + ": " +
                   std::to_string(static_cast<long>(e.mhz + 0.5)) + " MHz";
    extra.add("clock_estimates", estimates);
    extra.add("clock_check", ci.clock.check);
  }

  void device_info(int32_t, suanli_device_info& out) override {
    if (extra.empty()) describe();
    const CpuInfo& ci = info;
    out.name = ci.model.c_str();
    out.vendor = ci.vendor.c_str();
    out.kind = "cpu";
    out.uuid = "";
    out.driver = ci.microcode.c_str();
    out.memory_bytes = ci.memory_bytes;
    out.compute_units = ci.cores;
    out.threads = cfg.threads;
    out.clock_mhz = ci.measured_mhz;
    out.max_clock_mhz = ci.max_mhz;
    out.features = ci.features.c_str();
    out.peaks = peaks.data();
    out.peak_count = peaks.size();
    out.extra = extra.data();
    out.extra_count = extra.size();
  }

  bool supports(int32_t, const suanli_op_desc& op, std::string& why) override {
    return make_op(cfg, op, nullptr, 0, &why, nullptr) != nullptr;
  }

  std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t, uint64_t bytes) override {
    auto b = std::make_unique<Buffer>();
    const uint64_t rounded = ((bytes ? bytes : 1) + 4095) / 4096 * 4096;
    if (posix_memalign(&b->data, 4096, rounded) != 0)
      kit::fail(SUANLI_OUT_OF_MEMORY,
                "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    return b;
  }

  void buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                     uint64_t bytes) override {
    void* base = static_cast<Buffer&>(dst).data;
    std::memcpy(static_cast<char*>(base) + offset, src, bytes);
    for (CpuOp* op : ops) op->input_written(base);
  }

  void buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst, uint64_t bytes) override {
    std::memcpy(dst, static_cast<const char*>(static_cast<Buffer&>(src).data) + offset, bytes);
  }

  std::unique_ptr<suanli_plan_s> plan(int32_t, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& bufs,
                                      std::string& why) override {
    std::vector<void*> ptrs;
    std::vector<uint64_t> sizes;
    for (suanli_buffer_s* b : bufs) {
      ptrs.push_back(static_cast<Buffer*>(b)->data);
      sizes.push_back(b->bytes);
    }
    auto p = std::make_unique<Plan>();
    p->op = make_op(cfg, op, ptrs.data(), ptrs.size(), &why, sizes.data());
    if (!p->op) return nullptr;
    p->library = p->op->library.c_str();
    p->implementation = p->op->implementation.c_str();
    ops.push_back(p->op.get());
    return p;
  }

  void plan_destroy(suanli_plan_s& plan) override {
    ops.erase(std::remove(ops.begin(), ops.end(), static_cast<Plan&>(plan).op.get()), ops.end());
  }

  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) override {
    // On a CPU the device clock is the host's monotonic clock around the work itself.
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t it = 0; it < iterations; ++it)
      for (suanli_plan_s* p : plans) static_cast<Plan*>(p)->op->run();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  void telemetry(int32_t, suanli_telemetry& out) override {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    out.power_w = nan;  // the harness derives power from successive energy readings
    out.energy_j = read_energy_j();
    out.temperature_c = nan;
    const std::string khz =
        read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq");
    out.clock_mhz = khz.empty() ? nan : std::strtod(khz.c_str(), nullptr) / 1000.0;
  }
};

}  // namespace
}  // namespace suanli::cpu

SUANLI_KIT_EXPORT(suanli::cpu::Context, "cpu", suanli::cpu::kBackendVersion)
