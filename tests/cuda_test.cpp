// Tests of the CUDA backend that run without a GPU: the peak table and formula, the plugin's
// entry point and ABI version, and the no-device path through the real `suanli` binary.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <suanli/backend.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "matmul_layout.h"
#include "peak_table.h"

namespace suanli::cuda {
namespace {

const GpuPeak* find(const std::vector<GpuPeak>& v, suanli_dtype d) {
  for (const GpuPeak& p : v)
    if (p.dtype == d) return &p;
  return nullptr;
}

double peak_of(const GpuIdentity& g, suanli_dtype d) {
  const std::vector<GpuPeak> v = gpu_peaks(g);
  const GpuPeak* p = find(v, d);
  return p ? p->ops_per_second : -1;
}

TEST(CudaPeakTable, H100SxmDenseFiguresWithSource) {
  const GpuIdentity g{"NVIDIA H100 80GB HBM3", 9, 0, 132, 1980};
  EXPECT_EQ(match_gpu_model(g), "H100 SXM5");
  const std::vector<GpuPeak> v = gpu_peaks(g);
  ASSERT_NE(find(v, SUANLI_DTYPE_FP16), nullptr);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP16)->ops_per_second, 989.4e12);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_BF16)->ops_per_second, 989.4e12);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP64)->ops_per_second, 66.9e12);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_INT8)->ops_per_second, 1978.9e12);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_TF32)->ops_per_second, 494.7e12);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP8_E4M3)->ops_per_second, 1978.9e12);
  // Sparse figures are named in the text, never reported as the peak.
  const std::string& fp16 = find(v, SUANLI_DTYPE_FP16)->derivation;
  EXPECT_NE(fp16.find("2:4 sparse 1978.9"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("not counted"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("glennklockwood.com"), std::string::npos) << fp16;
  for (const GpuPeak& p : v) EXPECT_FALSE(p.derivation.empty());
}

TEST(CudaPeakTable, MatchesSpecificRowsFirst) {
  EXPECT_EQ(match_gpu_model({"NVIDIA H100 PCIe", 9, 0, 114, 1755}), "H100 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA H100 NVL", 9, 0, 132, 1785}), "H100 NVL");
  EXPECT_EQ(match_gpu_model({"NVIDIA H200", 9, 0, 132, 1980}), "H200 SXM");
  EXPECT_EQ(match_gpu_model({"NVIDIA H200 NVL", 9, 0, 132, 1785}), "H200 NVL");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-SXM4-80GB", 8, 0, 108, 1410}), "A100 SXM4");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-PCIE-40GB", 8, 0, 108, 1410}), "A100 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100 80GB PCIe", 8, 0, 108, 1410}), "A100 PCIe");
  EXPECT_EQ(match_gpu_model({"Tesla V100-SXM2-32GB", 7, 0, 80, 1530}), "V100 SXM2");
  EXPECT_EQ(match_gpu_model({"Tesla V100-PCIE-16GB", 7, 0, 80, 1380}), "V100 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA L40S", 8, 9, 142, 2520}), "L40S");
  EXPECT_EQ(match_gpu_model({"NVIDIA L40", 8, 9, 142, 2490}), "L40");
  EXPECT_EQ(match_gpu_model({"NVIDIA L4", 8, 9, 58, 2040}), "L4");
  EXPECT_EQ(match_gpu_model({"NVIDIA A10", 8, 6, 72, 1695}), "A10");
  EXPECT_EQ(match_gpu_model({"NVIDIA GeForce RTX 4090", 8, 9, 128, 2520}), "GeForce RTX 4090");
  EXPECT_EQ(match_gpu_model({"NVIDIA GeForce RTX 3090", 8, 6, 82, 1695}), "GeForce RTX 3090");
  // Not in the table: a Ti, an A10G, an A100 name with the wrong compute capability.
  EXPECT_EQ(match_gpu_model({"NVIDIA GeForce RTX 3090 Ti", 8, 6, 84, 1860}), "");
  EXPECT_EQ(match_gpu_model({"NVIDIA A10G", 8, 6, 80, 1710}), "");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-SXM4-80GB", 9, 0, 108, 1410}), "");
}

TEST(CudaPeakTable, PerDeviceFigures) {
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA H100 PCIe", 9, 0, 114, 1755}, SUANLI_DTYPE_FP16), 756e12);
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA A100-SXM4-40GB", 8, 0, 108, 1410}, SUANLI_DTYPE_BF16), 312e12);
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA A100-SXM4-40GB", 8, 0, 108, 1410}, SUANLI_DTYPE_FP64), 19.5e12);
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA L40S", 8, 9, 142, 2520}, SUANLI_DTYPE_FP32), 91.6e12);
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA L4", 8, 9, 58, 2040}, SUANLI_DTYPE_INT8), 242.5e12);
  // GeForce: fp16 with fp32 accumulation (the suite's default) at half the fp16-accumulate rate.
  EXPECT_DOUBLE_EQ(peak_of({"NVIDIA GeForce RTX 4090", 8, 9, 128, 2520}, SUANLI_DTYPE_FP16),
                   165.2e12);
  // V100 has no bf16/tf32 units: no figure rather than a made-up one.
  EXPECT_EQ(peak_of({"Tesla V100-SXM2-16GB", 7, 0, 80, 1530}, SUANLI_DTYPE_BF16), -1);
  EXPECT_DOUBLE_EQ(peak_of({"Tesla V100-SXM2-16GB", 7, 0, 80, 1530}, SUANLI_DTYPE_FP16), 125e12);
  // A100 has no fp8.
  EXPECT_EQ(peak_of({"NVIDIA A100-SXM4-80GB", 8, 0, 108, 1410}, SUANLI_DTYPE_FP8_E4M3), -1);
}

TEST(CudaPeakFormula, HopperFromSmsAndClock) {
  const GpuIdentity g{"NVIDIA Hypothetical", 9, 0, 132, 1980};
  EXPECT_EQ(match_gpu_model(g), "");
  const std::vector<GpuPeak> v = gpu_peaks(g);
  ASSERT_NE(find(v, SUANLI_DTYPE_FP32), nullptr);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP32)->ops_per_second, 132 * 1980e6 * 256);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP16)->ops_per_second, 132 * 1980e6 * 4096);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_INT8)->ops_per_second, 132 * 1980e6 * 8192);
  EXPECT_DOUBLE_EQ(find(v, SUANLI_DTYPE_FP64)->ops_per_second, 132 * 1980e6 * 256);
  const std::string& d = find(v, SUANLI_DTYPE_FP16)->derivation;
  EXPECT_NE(d.find("132 SMs x 1980 MHz"), std::string::npos) << d;
  EXPECT_NE(d.find("4096 ops/SM/cycle"), std::string::npos) << d;
  EXPECT_NE(d.find("formula"), std::string::npos) << d;
}

TEST(CudaPeakFormula, GeForceHalvesFp32AccumulateTensorRate) {
  const GpuIdentity pro{"NVIDIA RTX A6000", 8, 6, 84, 1800};
  const GpuIdentity gf{"NVIDIA GeForce RTX 3080", 8, 6, 68, 1710};
  const std::vector<GpuPeak> a = gpu_peaks_from_formula(pro), b = gpu_peaks_from_formula(gf);
  EXPECT_DOUBLE_EQ(find(a, SUANLI_DTYPE_FP16)->ops_per_second, 84 * 1800e6 * 1024);
  EXPECT_DOUBLE_EQ(find(b, SUANLI_DTYPE_FP16)->ops_per_second, 68 * 1710e6 * 512);
  EXPECT_DOUBLE_EQ(find(b, SUANLI_DTYPE_FP32)->ops_per_second, 68 * 1710e6 * 256);
  // No fp8 on Ampere.
  EXPECT_EQ(find(b, SUANLI_DTYPE_FP8_E4M3), nullptr);
}

TEST(CudaPeakFormula, UnknownArchitectureOrClockGivesNothing) {
  EXPECT_TRUE(gpu_peaks({"NVIDIA Future", 12, 0, 100, 2000}).empty());
  EXPECT_TRUE(gpu_peaks({"NVIDIA Hypothetical", 9, 0, 132, 0}).empty());
  EXPECT_TRUE(gpu_peaks({"NVIDIA Hypothetical", 9, 0, 0, 1980}).empty());
}

// ---- the model matmul's mapping onto cuBLASLt (matmul_layout.h) ---------------------------

TEST(CudaMatmulLayout, RowMajorTransposedAndAttentionOperands) {
  MatLayout l;
  // A linear layer: A tokens x in (row-major), B in x out (row-major), B^T stored out x in.
  ASSERT_TRUE(layout_of(4, 8, 8, 1, &l));
  EXPECT_TRUE(l.row_major);
  EXPECT_EQ(l.ld, 8);
  ASSERT_TRUE(layout_of(8, 16, 1, 8, &l));  // k x n read from n x k storage
  EXPECT_FALSE(l.row_major);
  EXPECT_EQ(l.ld, 8);
  // Attention: Q read in place from [tokens, heads=2, d=4]: row stride heads*d, unit column.
  ASSERT_TRUE(layout_of(5, 4, 8, 1, &l));
  EXPECT_TRUE(l.row_major);
  EXPECT_EQ(l.ld, 8);
  // K^T: element (l, j) = K[j, h, l]: unit row stride, column stride heads*d.
  ASSERT_TRUE(layout_of(4, 5, 1, 8, &l));
  EXPECT_FALSE(l.row_major);
  EXPECT_EQ(l.ld, 8);
  // A single row takes any row stride; its leading dimension is its length.
  ASSERT_TRUE(layout_of(1, 6, 0, 1, &l));
  EXPECT_TRUE(l.row_major);
  EXPECT_EQ(l.ld, 6);
}

TEST(CudaMatmulLayout, RefusesWhatCublasLtCannotAddress) {
  MatLayout l;
  EXPECT_FALSE(layout_of(4, 8, 16, 2, &l));  // no unit stride
  EXPECT_FALSE(layout_of(4, 8, 4, 1, &l));   // rows overlap: leading dimension < columns
  EXPECT_FALSE(layout_of(4, 8, 1, 2, &l));   // columns overlap
  EXPECT_FALSE(layout_of(4, 8, 0, 1, &l));   // broadcast rows
}

suanli_matmul_desc attention(int64_t batch0, int64_t heads, int64_t tokens, int64_t d) {
  suanli_matmul_desc m{};
  m.struct_size = SUANLI_STRUCT_SIZE(suanli_matmul_desc, quant);
  m.batch0 = batch0;
  m.batch1 = heads;
  m.m = m.n = tokens;
  m.k = d;
  const int64_t a[4] = {tokens * heads * d, d, heads * d, 1};  // Q [b][tokens][heads][d]
  const int64_t b[4] = {tokens * heads * d, d, 1, heads * d};  // K^T
  const int64_t c[4] = {heads * tokens * tokens, tokens * tokens, tokens, 1};
  for (int i = 0; i < 4; ++i) m.a_stride[i] = a[i], m.b_stride[i] = b[i], m.c_stride[i] = c[i];
  return m;
}

TEST(CudaMatmulLayout, BatchesFoldIntoOneStridedBatchOrLoopOverBatch0) {
  // One sequence: heads are the strided batch.
  BatchPlan p = plan_batches(attention(1, 16, 384, 64), 0, 384 * 384);
  EXPECT_EQ(p.loops, 1);
  EXPECT_EQ(p.count, 16);
  EXPECT_EQ(p.a, 64);
  EXPECT_EQ(p.b, 64);
  EXPECT_EQ(p.c, 384 * 384);
  // Several sequences: Q's sequence stride is not heads x its head stride, so batch0 loops.
  const suanli_matmul_desc m = attention(3, 16, 384, 64);
  p = plan_batches(m, m.c_stride[0], m.c_stride[1]);
  EXPECT_EQ(p.loops, 3);
  EXPECT_EQ(p.count, 16);
  EXPECT_EQ(p.loop_a, 384 * 16 * 64);
  EXPECT_EQ(p.loop_c, 16 * 384 * 384);
  // Packed batches fold into one call of batch0 x batch1.
  suanli_matmul_desc packed = m;
  packed.a_stride[0] = 16 * packed.a_stride[1];
  packed.b_stride[0] = 16 * packed.b_stride[1];
  p = plan_batches(packed, 16 * 384 * 384, 384 * 384);
  EXPECT_EQ(p.loops, 1);
  EXPECT_EQ(p.count, 48);
}

TEST(CudaMatmulLayout, AlignmentCoversPointerAndBatchOffsets) {
  EXPECT_EQ(alignment(nullptr, 2, 0, 0), 256u);
  EXPECT_EQ(alignment(reinterpret_cast<const void*>(uintptr_t{0x10000}), 2, 64, 0), 128u);
  EXPECT_EQ(alignment(reinterpret_cast<const void*>(uintptr_t{0x10000}), 2, 3, 0), 2u);
  EXPECT_EQ(alignment(reinterpret_cast<const void*>(uintptr_t{0x10010}), 4, 1024, 64), 16u);
}

// ---- the plugin, loaded like the harness loads it -------------------------------------------

const std::string kPlugin = std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_cuda.so";

const suanli_backend_api* load_api() {
  void* dl = dlopen(kPlugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    ADD_FAILURE() << "dlopen " << kPlugin << ": " << dlerror();
    return nullptr;
  }
  auto get = reinterpret_cast<suanli_backend_get_fn>(dlsym(dl, SUANLI_BACKEND_ENTRY));
  if (!get) {
    ADD_FAILURE() << "no " << SUANLI_BACKEND_ENTRY;
    return nullptr;
  }
  EXPECT_EQ(get(SUANLI_ABI_MAJOR + 1), nullptr);
  return get(SUANLI_ABI_MAJOR);
}

TEST(CudaPlugin, LoadsWithoutDriverAndReportsAbiVersion) {
  const suanli_backend_api* api = load_api();
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(std::string(api->name), "cuda");
  EXPECT_EQ(api->abi_major, static_cast<uint32_t>(SUANLI_ABI_MAJOR));
  EXPECT_EQ(api->abi_minor, static_cast<uint32_t>(SUANLI_ABI_MINOR));
  EXPECT_GE(api->struct_size, SUANLI_STRUCT_SIZE(suanli_backend_api, telemetry));
  EXPECT_NE(api->telemetry, nullptr);
}

// ABI 1.1 appended the model ops (matmul, conv2d layer, pool, norm, softmax, eltwise): the plugin
// must say it knows them, or the harness would not hand it those descriptors.
TEST(CudaPlugin, ReportsAbiMinorOneWithModelOps) {
  const suanli_backend_api* api = load_api();
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->abi_major, 1u);
  EXPECT_GE(api->abi_minor, 1u);  // 1.2 appended the linear-algebra ops (HPL)
  EXPECT_NE(api->supports, nullptr);
  EXPECT_NE(api->plan, nullptr);
}

TEST(CudaPlugin, CreateSaysWhyWhenThereIsNoGpu) {
  const suanli_backend_api* api = load_api();
  ASSERT_NE(api, nullptr);
  const suanli_create_args args{SUANLI_STRUCT_SIZE(suanli_create_args, option_count), nullptr, 0};
  suanli_context ctx = nullptr;
  const suanli_status s = api->create(&args, &ctx);
  if (s == SUANLI_OK) {
    // A machine with a GPU: devices with identity and peaks.
    int32_t n = 0;
    EXPECT_EQ(api->device_count(ctx, &n), SUANLI_OK);
    EXPECT_GT(n, 0);
    suanli_device_info di{};
    di.struct_size = SUANLI_STRUCT_SIZE(suanli_device_info, extra_count);
    EXPECT_EQ(api->device_info(ctx, 0, &di), SUANLI_OK) << api->last_error(ctx);
    EXPECT_STRNE(di.name, "");
    EXPECT_EQ(std::string(di.kind), "gpu");
    api->destroy(ctx);
  } else {
    EXPECT_EQ(s, SUANLI_NO_DEVICE);
    const std::string msg = api->last_error(nullptr);
    EXPECT_NE(msg.find("no usable NVIDIA GPU"), std::string::npos) << msg;
  }
}

TEST(CudaPlugin, RejectsBadOptionsBeforeLookingForDevices) {
  const suanli_backend_api* api = load_api();
  ASSERT_NE(api, nullptr);
  const suanli_kv kv{sizeof(suanli_kv), "cold_l2", "yes"};
  const suanli_create_args args{SUANLI_STRUCT_SIZE(suanli_create_args, option_count), &kv, 1};
  suanli_context ctx = nullptr;
  EXPECT_EQ(api->create(&args, &ctx), SUANLI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(api->last_error(nullptr)).find("cold_l2"), std::string::npos);
}

// ---- the harness goes on without a GPU --------------------------------------------------------

struct CliRun {
  int status;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(SUANLI_BINARY) + " " + args + " 2>&1";
  CliRun r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, got);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool has_gpu() {
  const suanli_backend_api* api = load_api();
  suanli_context ctx = nullptr;
  const suanli_create_args args{SUANLI_STRUCT_SIZE(suanli_create_args, option_count), nullptr, 0};
  if (!api || api->create(&args, &ctx) != SUANLI_OK) return false;
  api->destroy(ctx);
  return true;
}

TEST(CudaCli, InfoShowsTheCudaBackendOrWhyItHasNoDevice) {
  const CliRun r = run("info");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("backend cpu"), std::string::npos) << r.out;
  if (has_gpu())
    EXPECT_NE(r.out.find("backend cuda"), std::string::npos) << r.out;
  else
    EXPECT_NE(r.out.find("libsuanli_backend_cuda.so: backend 'cuda' create failed (no device): "
                         "no usable NVIDIA GPU"),
              std::string::npos)
        << r.out;
}

TEST(CudaCli, RunGoesOnWithTheOtherBackends) {
  const std::string out = std::string(::testing::TempDir()) + "/cuda_test_run.json";
  const CliRun r =
      run("run --suite quick --dtype fp64 --backend-option cold_l2=1 --max-time 0.05 "
          "--repetitions 1 --min-time 0.001 -q -o " +
          out);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("report: " + out), std::string::npos) << r.out;
  if (!has_gpu()) {
    EXPECT_NE(r.out.find("backend 'cuda' create failed (no device)"), std::string::npos) << r.out;
    // Asking for the cuda backend alone is a usage error that names the reason.
    const CliRun only = run("run --suite quick --backend cuda -q -o " + out + ".cuda");
    EXPECT_EQ(only.status, 2) << only.out;
    EXPECT_NE(only.out.find("no usable NVIDIA GPU"), std::string::npos) << only.out;
  }
  std::remove(out.c_str());
}

}  // namespace
}  // namespace suanli::cuda
