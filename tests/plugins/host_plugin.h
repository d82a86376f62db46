// What the test plugins share: one host "device", buffers in host memory and a naive host gemm,
// on the plugin kit. Each test plugin derives from HostContext and changes what it tests.
#pragma once

#include <suanli/plugin_kit.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace suanli::test_plugin {

struct HostBuffer : suanli_buffer_s {
  std::vector<char> data;
};

struct GemmPlan : suanli_plan_s {
  suanli_gemm_desc g{};
  HostBuffer *a = nullptr, *b = nullptr, *c = nullptr;
};

// C = op(A) op(B) per batch, accumulated in Acc, stored as Out (In for the inputs).
template <typename Out, typename In = Out, typename Acc = double>
void host_gemm(const GemmPlan& p) {
  const suanli_gemm_desc& g = p.g;
  const In* a = reinterpret_cast<const In*>(p.a->data.data());
  const In* b = reinterpret_cast<const In*>(p.b->data.data());
  Out* c = reinterpret_cast<Out*>(p.c->data.data());
  for (int64_t bt = 0; bt < g.batch; ++bt)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        Acc s = 0;
        for (int64_t k = 0; k < g.k; ++k) {
          const Acc x =
              g.trans_a ? a[bt * g.m * g.k + k * g.m + i] : a[bt * g.m * g.k + i * g.k + k];
          const Acc y =
              g.trans_b ? b[bt * g.k * g.n + j * g.k + k] : b[bt * g.k * g.n + k * g.n + j];
          s += x * y;
        }
        c[bt * g.m * g.n + i * g.n + j] = static_cast<Out>(s);
      }
}

// One host device named `device_name`; buffers are host memory; plans are host gemms.
struct HostContext : suanli_context_s {
  const char* device_name = "test device";
  int32_t devices = 1;
  std::vector<suanli_peak_entry> peaks;

  void libraries(kit::KeyValues& out) override { out.add("naive", "1.0"); }
  int32_t device_count() override { return devices; }
  void device_info(int32_t, suanli_device_info& d) override {
    d.name = device_name;
    d.vendor = "suanli tests";
    d.kind = "cpu";
    d.uuid = d.driver = d.features = "";
    d.memory_bytes = 1ull << 30;
    d.compute_units = d.threads = 1;
    d.clock_mhz = 1000;
    d.max_clock_mhz = 0;
    d.peaks = peaks.data();
    d.peak_count = peaks.size();
    d.extra = nullptr;
    d.extra_count = 0;
  }
  std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t, uint64_t bytes) override {
    auto b = std::make_unique<HostBuffer>();
    b->data.resize(bytes);
    return b;
  }
  void buffer_upload(suanli_buffer_s& dst, uint64_t off, const void* src, uint64_t n) override {
    std::memcpy(static_cast<HostBuffer&>(dst).data.data() + off, src, n);
  }
  void buffer_download(suanli_buffer_s& src, uint64_t off, void* dst, uint64_t n) override {
    std::memcpy(dst, static_cast<HostBuffer&>(src).data.data() + off, n);
  }
  // A gemm plan over the buffers, when supports() says yes.
  std::unique_ptr<suanli_plan_s> plan(int32_t device, const suanli_op_desc& op,
                                      const std::vector<suanli_buffer_s*>& bufs,
                                      std::string& reason) override {
    if (op.kind != SUANLI_OP_GEMM || !supports(device, op, reason)) return nullptr;
    auto p = std::make_unique<GemmPlan>();
    p->g = *op.gemm;
    p->a = static_cast<HostBuffer*>(bufs[0]);
    p->b = static_cast<HostBuffer*>(bufs[1]);
    p->c = static_cast<HostBuffer*>(bufs[2]);
    p->library = "naive";
    p->implementation = "host loops";
    return p;
  }
};

}  // namespace suanli::test_plugin
