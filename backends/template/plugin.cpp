// A minimal suanli backend plugin: start here for your accelerator.
//
// It implements the whole ABI (backends/include/suanli/backend.h; the contract op by op is in
// backends/README.md) for one "device" - the host - with a plain fp32 GEMM. Everything else is
// answered UNSUPPORTED with a reason, which is an honest answer that reports carry. Replace the
// host loops by your runtime's calls: buffers become device allocations, plan() prepares your
// kernel, execute() times it with your device's own clock.
//
// The plugin kit (suanli/plugin_kit.h, header only) does the plumbing the contract asks of every
// call: exceptions become statuses with a message, NULL pointers, bad devices, out-of-range
// transfers, wrong buffer counts and too-small buffers are refused before this code runs. What
// is left here is the device.
//
// It passes `suanli conformance --backend libsuanli_backend_template.so`; keep it that way.
#include <suanli/plugin_kit.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using suanli::kit::fail;

struct Buffer : suanli_buffer_s {
  std::vector<unsigned char> data;
};

struct Plan : suanli_plan_s {
  suanli_gemm_desc g{};
  const float *a = nullptr, *b = nullptr;
  float* c = nullptr;
};

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

struct Context : suanli_context_s {
  // Options: the kit parses them (Options::integer, choice, flag); this backend takes none.
  static std::unique_ptr<Context> open(const suanli::kit::Options&) {
    return std::make_unique<Context>();
  }

  void libraries(suanli::kit::KeyValues& out) override { out.add("template", "host loops"); }

  int32_t device_count() override { return 1; }

  void device_info(int32_t, suanli_device_info& out) override {
    out.name = "template host device";
    out.vendor = "suanli";
    out.kind = "cpu";
    out.uuid = "";
    out.driver = "";
    out.memory_bytes = 1ull << 30;
    out.compute_units = 1;
    out.threads = 1;
    out.clock_mhz = 0;      // unknown
    out.max_clock_mhz = 0;  // unknown
    out.features = "";
    out.peaks = nullptr;  // no theoretical peak: unknown rather than invented
    out.peak_count = 0;
    out.extra = nullptr;
    out.extra_count = 0;
  }

  // True for what this backend runs; false (+ reason) for well-formed ops it does not; throws
  // INVALID_ARGUMENT for malformed ones. The kit has checked the descriptor's kind and pointer.
  bool supports(int32_t, const suanli_op_desc& op, std::string& reason) override {
    if (op.kind != SUANLI_OP_GEMM) {
      reason = "template backend: only fp32 gemm (op kind " +
               std::to_string(static_cast<int>(op.kind)) + ")";
      return false;
    }
    const suanli_gemm_desc& g = *op.gemm;
    if (g.struct_size < SUANLI_GEMM_DESC_SIZE)
      fail(SUANLI_INVALID_ARGUMENT, "gemm descriptor too small");
    if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1 || (g.trans_a | g.trans_b) & ~1)
      fail(SUANLI_INVALID_ARGUMENT, "gemm: m, n, k, batch >= 1; trans 0 or 1");
    if (g.a_type != SUANLI_DTYPE_FP32 || g.b_type != SUANLI_DTYPE_FP32 ||
        g.c_type != SUANLI_DTYPE_FP32 || g.compute_type != SUANLI_DTYPE_FP32) {
      reason = "template backend: gemm in fp32 only";
      return false;
    }
    return true;
  }

  std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t, uint64_t bytes) override {
    auto b = std::make_unique<Buffer>();
    b->data.resize(bytes);  // std::bad_alloc becomes SUANLI_OUT_OF_MEMORY
    return b;
  }

  // The kit has checked that [offset, offset + bytes) lies inside the buffer.
  void buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                     uint64_t bytes) override {
    std::memcpy(static_cast<Buffer&>(dst).data.data() + offset, src, bytes);
  }

  void buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst, uint64_t bytes) override {
    std::memcpy(dst, static_cast<Buffer&>(src).data.data() + offset, bytes);
  }

  // The kit has checked the buffers: three, on this device, each large enough for the gemm.
  std::unique_ptr<suanli_plan_s> plan(int32_t device, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& bufs,
                                      std::string& reason) override {
    if (!supports(device, op, reason)) return nullptr;
    auto data = [&](size_t i) { return static_cast<Buffer*>(bufs[i])->data.data(); };
    auto p = std::make_unique<Plan>();
    p->g = *op.gemm;
    p->a = reinterpret_cast<const float*>(data(0));
    p->b = reinterpret_cast<const float*>(data(1));
    p->c = reinterpret_cast<float*>(data(2));
    p->library = "template";
    p->implementation = "host loops, fp32 accumulation";
    return p;
  }

  double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) override {
    // Device time: on a host device, a monotonic clock around the work (a GPU uses its events).
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t it = 0; it < iterations; ++it)
      for (suanli_plan_s* p : plans) run_gemm(static_cast<const Plan&>(*p));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  void telemetry(int32_t, suanli_telemetry& out) override {
    const double nan = std::numeric_limits<double>::quiet_NaN();  // not readable here
    out.power_w = out.energy_j = out.temperature_c = out.clock_mhz = nan;
  }
};

}  // namespace

SUANLI_KIT_EXPORT(Context, "template", "0.1.0")
