// Tests of the CUDA backend that run without a GPU: the peak table, the buffer sizes plan()
// checks, the labels and environment checks, the matmul layout, the plugin's entry point and ABI
// version, the no-device path through the real `suanli` binary, and the linear-algebra ops
// operand checks and cuBLAS choices (HPL).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <suanli/plugin_kit.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "env_overrides.h"
#include "labels.h"
#include "linalg_types.h"
#include "matmul_layout.h"
#include "peak_table.h"
#include "test_support.h"

namespace suanli::cuda {
namespace {

const GpuPeak* find(const std::vector<GpuPeak>& v, suanli_dtype d) {
  for (const GpuPeak& p : v)
    if (p.dtype == d) return &p;
  return nullptr;
}

double peak_of(const GpuIdentity& g, suanli_dtype d) {
  const GpuPeaks t = gpu_peaks(g);
  const GpuPeak* p = find(t.peaks, d);
  return p ? p->ops_per_second : -1;
}

// Derived figures reproduce the datasheets' (rounded to a few digits).
void expect_near_spec(double derived, double spec_t) {
  EXPECT_NEAR(derived / 1e12, spec_t, spec_t * 0.005) << "derived " << derived / 1e12;
}

const GpuIdentity kH100{"NVIDIA H100 80GB HBM3", 9, 0, 132, 1980};

TEST(CudaPeakTable, H100SxmFromSmsClockAndPerSmRate) {
  const GpuPeaks t = gpu_peaks(kH100);
  EXPECT_EQ(t.model, "H100 SXM5");
  EXPECT_EQ(t.source, "table: H100 SXM5");
  // NVIDIA's tensor figures are at 1830 MHz, not the 1980 MHz boost clock: that is the clock the
  // peaks are derived at, and what device_info's clock_mhz reports.
  EXPECT_DOUBLE_EQ(t.clock_mhz, 1830);
  EXPECT_NE(t.clocks.find("tensor figures at 1830 MHz, CUDA-core figures at 1980 MHz"),
            std::string::npos)
      << t.clocks;
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_FP16)->ops_per_second, 989.4);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_BF16)->ops_per_second, 989.4);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_FP64)->ops_per_second, 66.9);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_FP32)->ops_per_second, 66.9);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_INT8)->ops_per_second, 1978.9);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_TF32)->ops_per_second, 494.7);
  expect_near_spec(find(t.peaks, SUANLI_DTYPE_FP8_E4M3)->ops_per_second, 1978.9);
  EXPECT_DOUBLE_EQ(find(t.peaks, SUANLI_DTYPE_FP16)->ops_per_second, 132 * 1830e6 * 4096);
  const std::string& fp16 = find(t.peaks, SUANLI_DTYPE_FP16)->derivation;
  EXPECT_NE(fp16.find("132 SMs x 1830 MHz x 4096 ops/SM/clk"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("2:4 sparse (2x) not counted"), std::string::npos) << fp16;
  // The CUDA-core fp16 (HFMA2) figure stands beside the tensor one, for the HFMA2 peak kernel.
  ASSERT_EQ(t.core.size(), 1u);
  expect_near_spec(t.core[0].ops_per_second, 133.8);
}

TEST(CudaPeakTable, EverySkuReproducesItsDatasheet) {
  struct Case {
    GpuIdentity g;
    suanli_dtype d;
    double spec_t;
  };
  const Case cases[] = {
      {{"NVIDIA H100 PCIe", 9, 0, 114, 1755}, SUANLI_DTYPE_FP16, 756},
      {{"NVIDIA H100 PCIe", 9, 0, 114, 1755}, SUANLI_DTYPE_FP64, 51.2},
      {{"NVIDIA H100 NVL", 9, 0, 132, 1785}, SUANLI_DTYPE_FP16, 835.5},
      {{"NVIDIA H200", 9, 0, 132, 1980}, SUANLI_DTYPE_FP16, 989.4},
      {{"NVIDIA H200 NVL", 9, 0, 132, 1785}, SUANLI_DTYPE_FP8_E4M3, 1670.5},
      {{"NVIDIA GH200 480GB", 9, 0, 132, 1980}, SUANLI_DTYPE_FP16, 989.4},
      {{"NVIDIA GH200 480GB", 9, 0, 132, 1980}, SUANLI_DTYPE_FP64, 66.9},
      {{"NVIDIA H800", 9, 0, 132, 1980}, SUANLI_DTYPE_BF16, 989.4},
      {{"NVIDIA A100-SXM4-80GB", 8, 0, 108, 1410}, SUANLI_DTYPE_BF16, 312},
      {{"NVIDIA A100-SXM4-40GB", 8, 0, 108, 1410}, SUANLI_DTYPE_FP64, 19.5},
      {{"NVIDIA A100 80GB PCIe", 8, 0, 108, 1410}, SUANLI_DTYPE_INT8, 624},
      {{"NVIDIA L40S", 8, 9, 142, 2520}, SUANLI_DTYPE_FP32, 91.6},
      {{"NVIDIA L40S", 8, 9, 142, 2520}, SUANLI_DTYPE_FP8_E4M3, 733},
      {{"NVIDIA L40", 8, 9, 142, 2490}, SUANLI_DTYPE_FP16, 181},
      {{"NVIDIA L4", 8, 9, 58, 2040}, SUANLI_DTYPE_INT8, 242.5},
      {{"NVIDIA A10", 8, 6, 72, 1695}, SUANLI_DTYPE_FP16, 125},
      {{"NVIDIA GeForce RTX 4090", 8, 9, 128, 2520}, SUANLI_DTYPE_FP16, 165.2},
      {{"NVIDIA GeForce RTX 3090", 8, 6, 82, 1695}, SUANLI_DTYPE_INT8, 284},
      {{"Tesla V100-SXM2-16GB", 7, 0, 80, 1530}, SUANLI_DTYPE_FP16, 125},
      {{"NVIDIA B200", 10, 0, 148, 1965}, SUANLI_DTYPE_FP16, 2250},
      {{"NVIDIA B200", 10, 0, 148, 1965}, SUANLI_DTYPE_FP8_E4M3, 4500},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.g.name);
    const double got = peak_of(c.g, c.d);
    ASSERT_GT(got, 0);
    expect_near_spec(got, c.spec_t);
  }
  // No figure rather than a made-up one: V100 has no bf16, A100 no fp8, H800 a cut fp64, B200's
  // fp64 is not derived.
  EXPECT_EQ(peak_of({"Tesla V100-SXM2-16GB", 7, 0, 80, 1530}, SUANLI_DTYPE_BF16), -1);
  EXPECT_EQ(peak_of({"NVIDIA A100-SXM4-80GB", 8, 0, 108, 1410}, SUANLI_DTYPE_FP8_E4M3), -1);
  EXPECT_EQ(peak_of({"NVIDIA H800", 9, 0, 132, 1980}, SUANLI_DTYPE_FP64), -1);
  EXPECT_EQ(peak_of({"NVIDIA B200", 10, 0, 148, 1965}, SUANLI_DTYPE_FP64), -1);
}

TEST(CudaPeakTable, MatchesSpecificRowsFirst) {
  EXPECT_EQ(match_gpu_model({"NVIDIA H100 PCIe", 9, 0, 114, 1755}), "H100 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA H100 NVL", 9, 0, 132, 1785}), "H100 NVL");
  EXPECT_EQ(match_gpu_model({"NVIDIA H200", 9, 0, 132, 1980}), "H200 SXM");
  EXPECT_EQ(match_gpu_model({"NVIDIA H200 NVL", 9, 0, 132, 1785}), "H200 NVL");
  EXPECT_EQ(match_gpu_model({"NVIDIA H800 PCIe", 9, 0, 114, 1755}), "H800 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-SXM4-80GB", 8, 0, 108, 1410}), "A100 SXM4");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-PCIE-40GB", 8, 0, 108, 1410}), "A100 PCIe");
  EXPECT_EQ(match_gpu_model({"Tesla V100-PCIE-16GB", 7, 0, 80, 1380}), "V100 PCIe");
  EXPECT_EQ(match_gpu_model({"NVIDIA L40S", 8, 9, 142, 2520}), "L40S");
  EXPECT_EQ(match_gpu_model({"NVIDIA L40", 8, 9, 142, 2490}), "L40");
  EXPECT_EQ(match_gpu_model({"NVIDIA L4", 8, 9, 58, 2040}), "L4");
  // Not in the table: a Ti, an A10G, an A100 name with the wrong compute capability.
  EXPECT_EQ(match_gpu_model({"NVIDIA GeForce RTX 3090 Ti", 8, 6, 84, 1860}), "");
  EXPECT_EQ(match_gpu_model({"NVIDIA A10G", 8, 6, 80, 1710}), "");
  EXPECT_EQ(match_gpu_model({"NVIDIA A100-SXM4-80GB", 9, 0, 108, 1410}), "");
}

TEST(CudaPeakTable, UnknownRatherThanAGuess) {
  // An sm_90 part the table does not name: no GH100 figures assumed.
  GpuPeaks t = gpu_peaks({"NVIDIA Hypothetical", 9, 0, 132, 1980});
  EXPECT_TRUE(t.peaks.empty());
  EXPECT_EQ(t.clock_mhz, 0);
  EXPECT_EQ(t.source.rfind("unknown:", 0), 0u) << t.source;
  // The H20 (an export GH100) is named but its rates are not published: unknown, not H100's.
  t = gpu_peaks({"NVIDIA H20", 9, 0, 78, 1980});
  EXPECT_TRUE(t.peaks.empty());
  EXPECT_NE(t.source.find("H20"), std::string::npos) << t.source;
  // A known name with another SM count is another variant: unknown.
  t = gpu_peaks({"NVIDIA H100 80GB HBM3", 9, 0, 114, 1980});
  EXPECT_TRUE(t.peaks.empty());
  EXPECT_NE(t.source.find("has 132 SMs, this device reports 114"), std::string::npos) << t.source;
  // Unknown architectures.
  EXPECT_TRUE(gpu_peaks({"NVIDIA Future", 12, 0, 100, 2000}).peaks.empty());
}

TEST(CudaPeakTable, MigSliceGetsItsShareOfTheSms) {
  const GpuIdentity slice{"NVIDIA H100 80GB HBM3 MIG 3g.40gb", 9, 0, 60, 1980};
  const GpuPeaks t = gpu_peaks(slice);
  ASSERT_FALSE(t.peaks.empty()) << t.source;
  EXPECT_DOUBLE_EQ(find(t.peaks, SUANLI_DTYPE_FP16)->ops_per_second,
                   peak_of(kH100, SUANLI_DTYPE_FP16) * 60 / 132);
  EXPECT_NE(t.source.find("MIG slice (60 of 132 SMs)"), std::string::npos) << t.source;
  // The MIG flag works without the name, and a "slice" larger than the part is refused.
  GpuIdentity flagged = kH100;
  flagged.sm_count = 16;
  flagged.mig = true;
  EXPECT_DOUBLE_EQ(peak_of(flagged, SUANLI_DTYPE_INT8),
                   peak_of(kH100, SUANLI_DTYPE_INT8) * 16 / 132);
  flagged.sm_count = 140;
  EXPECT_TRUE(gpu_peaks(flagged).peaks.empty());
}

// ---- buffer sizes plan() checks before any CUDA call (the plugin kit's table) ---------------

using kit::check_buffer_sizes;
using kit::op_buffer_bytes;

suanli_op_desc op_of(suanli_op_kind kind) {
  suanli_op_desc op{};
  op.struct_size = sizeof(suanli_op_desc);
  op.kind = kind;
  return op;
}

TEST(CudaOpBuffers, GemmConvPeakStreamSizes) {
  suanli_gemm_desc g{SUANLI_GEMM_DESC_SIZE,
                     64,
                     32,
                     16,
                     2,
                     0,
                     0,
                     SUANLI_DTYPE_BF16,
                     SUANLI_DTYPE_BF16,
                     SUANLI_DTYPE_FP32,
                     SUANLI_DTYPE_FP32};
  suanli_op_desc op = op_of(SUANLI_OP_GEMM);
  op.gemm = &g;
  EXPECT_EQ(op_buffer_bytes(&op),
            (std::vector<uint64_t>{2 * 64 * 16 * 2, 2 * 16 * 32 * 2, 2 * 64 * 32 * 4}));
  uint64_t sizes[3] = {4096, 2048, 16384};
  EXPECT_EQ(check_buffer_sizes(&op, sizes, 3), "");
  sizes[2] = 16383;  // C one byte short: refused, naming the buffer
  EXPECT_EQ(check_buffer_sizes(&op, sizes, 3), "buffer 2 holds 16383 bytes; the op needs 16384");
  // Sizes that overflow 64 bits are never satisfied.
  g.m = g.n = g.k = int64_t{1} << 40;
  sizes[0] = sizes[1] = sizes[2] = UINT64_MAX - 1;
  EXPECT_NE(check_buffer_sizes(&op, sizes, 3).find("more than 2^64"), std::string::npos);

  suanli_conv2d_desc c{SUANLI_CONV2D_DESC_SIZE,
                       2,
                       8,
                       10,
                       10,
                       16,
                       3,
                       3,
                       2,
                       2,
                       1,
                       1,
                       1,
                       1,
                       2,
                       SUANLI_DTYPE_FP32,
                       SUANLI_DTYPE_FP32,
                       SUANLI_DTYPE_FP32};
  op = op_of(SUANLI_OP_CONV2D);
  op.conv2d = &c;  // p = q = (10 + 2 - 2 - 1) / 2 + 1 = 5
  EXPECT_EQ(op_buffer_bytes(&op),
            (std::vector<uint64_t>{2 * 10 * 10 * 8 * 4, 16 * 4 * 9 * 4, 2 * 5 * 5 * 16 * 4}));
  suanli_peak_desc pk{SUANLI_PEAK_DESC_SIZE, 8192, 64, SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP32, 1, 1};
  op = op_of(SUANLI_OP_PEAK);
  op.peak = &pk;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{8192 * 4, 8192 * 4}));
  suanli_stream_desc st{SUANLI_STREAM_DESC_SIZE, SUANLI_STREAM_COPY, 100, SUANLI_DTYPE_FP64, 3};
  op = op_of(SUANLI_OP_STREAM);
  op.stream = &st;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{800, 0, 800}));  // copy never reads B
  // Malformed descriptors are left to the factories.
  op.stream = nullptr;
  EXPECT_TRUE(op_buffer_bytes(&op).empty());
  EXPECT_TRUE(op_buffer_bytes(nullptr).empty());
}

// GEMM_EX / GETRF / LASWP / TRSM address sub-matrices by offset and ld: the kit's table gives
// where each operand ends, and check_linalg_shape refuses bad shapes, before any CUDA call.
TEST(CudaOpBuffers, LinearAlgebraOperandsEndWhereTheirLastColumnEnds) {
  suanli_gemm_ex_desc g{SUANLI_GEMM_EX_DESC_SIZE,
                        37,
                        29,
                        23,
                        1,
                        0,
                        -1.0,
                        1.0,
                        3,
                        64,
                        5,
                        64,
                        7,
                        40,
                        SUANLI_DTYPE_FP64,
                        SUANLI_DTYPE_FP64,
                        SUANLI_DTYPE_FP64,
                        SUANLI_DTYPE_FP64};
  suanli_op_desc op = op_of(SUANLI_OP_GEMM_EX);
  op.gemm_ex = &g;
  // A is k x m (trans_a): 3 + 36 * 64 + 23 elements; B k x n: 5 + 28 * 64 + 23; C m x n.
  EXPECT_EQ(op_buffer_bytes(&op),
            (std::vector<uint64_t>{(3 + 36 * 64 + 23) * 8, (5 + 28 * 64 + 23) * 8,
                                   (7 + 28 * 40 + 37) * 8}));
  EXPECT_NO_THROW(kit::check_linalg_shape(g));
  g.ldc = 36;  // ld below C's 37 rows
  EXPECT_TRUE(op_buffer_bytes(&op).empty());
  EXPECT_THROW(kit::check_linalg_shape(g), kit::Error);
  EXPECT_NE(kit::linalg_shape_error(g).find("gemm_ex C"), std::string::npos);
  g.ldc = 40;
  g.a_offset = -1;
  EXPECT_NE(kit::linalg_shape_error(g).find("gemm_ex A"), std::string::npos);
  g.a_offset = 0;
  g.trans_b = 2;
  EXPECT_NE(kit::linalg_shape_error(g).find("trans_a and trans_b"), std::string::npos);

  suanli_getrf_desc f{SUANLI_GETRF_DESC_SIZE, 40, 16, 100, 48, 1, 2, SUANLI_DTYPE_FP32};
  op = op_of(SUANLI_OP_GETRF);
  op.getrf = &f;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{(100 + 15 * 48 + 40) * 4, (2 + 16) * 4}));
  f.pivoting = 0;  // no ipiv buffer
  EXPECT_EQ(op_buffer_bytes(&op).size(), 1u);
  f.m = 10;  // m < n
  EXPECT_NE(kit::linalg_shape_error(f).find("m >= n"), std::string::npos);

  suanli_laswp_desc l{SUANLI_LASWP_DESC_SIZE, 5, 21, 20, 0, 3, 4, SUANLI_DTYPE_FP64};
  op = op_of(SUANLI_OP_LASWP);
  op.laswp = &l;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{(21 + 4 * 20 + 3) * 8, (4 + 3) * 4}));
  l.k1 = 4;  // k1 > k2
  EXPECT_THROW(kit::check_linalg_shape(l), kit::Error);

  suanli_trsm_desc t{SUANLI_TRSM_DESC_SIZE, 1, 1, 0, 1, 6, 3, 1.0, 0, 20, 80, 20,
                     SUANLI_DTYPE_FP64};  // right side: A is n x n
  op = op_of(SUANLI_OP_TRSM);
  op.trsm = &t;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{(2 * 20 + 3) * 8, (80 + 2 * 20 + 6) * 8}));
  uint64_t sizes[2] = {(2 * 20 + 3) * 8, (80 + 2 * 20 + 6) * 8 - 1};
  EXPECT_EQ(check_buffer_sizes(&op, sizes, 2), "buffer 1 holds 1007 bytes; the op needs 1008");
  t.struct_size = 8;
  EXPECT_NE(kit::linalg_shape_error(t).find("struct_size"), std::string::npos);
}

// Which cuBLAS routine runs each GEMM_EX type combination, by compute capability.
TEST(CudaLinalg, GemmExChoosesCublasByTypeAndRefusesTheRest) {
  suanli_gemm_ex_desc g{};
  auto choose = [&](suanli_dtype ab, suanli_dtype c, suanli_dtype compute, int cc) {
    g.a_type = g.b_type = ab;
    g.c_type = c;
    g.compute_type = compute;
    return gemm_ex_choice(g, cc);
  };
  const suanli_dtype f64 = SUANLI_DTYPE_FP64, f32 = SUANLI_DTYPE_FP32, bf = SUANLI_DTYPE_BF16,
                     f16 = SUANLI_DTYPE_FP16;
  EXPECT_EQ(choose(f64, f64, f64, 90).name, "cublasDgemm");
  EXPECT_EQ(choose(f32, f32, f32, 90).name, "cublasSgemm");
  EXPECT_EQ(choose(bf, f32, f32, 80).call, GemmExCall::gemm_ex_bf16);
  EXPECT_EQ(choose(f16, f32, f32, 70).call, GemmExCall::gemm_ex_fp16);
  // bf16 before Ampere, fp16 before Volta, fp16 output, fp32 compute with fp64 storage: refused.
  EXPECT_NE(choose(bf, f32, f32, 75).name.find("8.0"), std::string::npos);
  EXPECT_EQ(choose(f16, f32, f32, 61).call, GemmExCall::none);
  EXPECT_EQ(choose(f16, f16, f32, 90).call, GemmExCall::none);
  EXPECT_EQ(choose(f64, f64, f32, 90).call, GemmExCall::none);
  EXPECT_EQ(linalg_type_refusal(f32, "getrf"), "");
  EXPECT_EQ(linalg_type_refusal(bf, "trsm"), "trsm: types are fp64 and fp32");
}

TEST(CudaOpBuffers, StridedMatmulNeedsItsLastElementAndOptionalBuffers) {
  // Attention scores: Q [tokens=5][heads=2][d=4] read in place, K^T likewise, C packed.
  suanli_matmul_desc m{};
  m.struct_size = SUANLI_MATMUL_DESC_SIZE;
  m.batch0 = 1, m.batch1 = 2, m.m = 5, m.n = 5, m.k = 4;
  const int64_t a[4] = {0, 4, 8, 1}, b[4] = {0, 4, 1, 8}, c[4] = {0, 25, 5, 1};
  for (int i = 0; i < 4; ++i) m.a_stride[i] = a[i], m.b_stride[i] = b[i], m.c_stride[i] = c[i];
  m.a_type = m.b_type = SUANLI_DTYPE_BF16;
  m.c_type = SUANLI_DTYPE_FP32;
  m.epilogue.mask = 1;
  suanli_op_desc op = op_of(SUANLI_OP_MATMUL);
  op.matmul = &m;
  // A: last element (1, 4, 3) at 4 + 32 + 3 = 39 -> 40 bf16; B: (1, 3, 4) at 4 + 3 + 32 = 39.
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{80, 80, 50 * 4, 25 * 4}));
  m.epilogue.bias = 1;  // bias comes before the mask
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{80, 80, 200, 5 * 4, 25 * 4}));
  const uint64_t sizes[5] = {80, 80, 200, 20, 99};
  EXPECT_EQ(check_buffer_sizes(&op, sizes, 5), "buffer 4 holds 99 bytes; the op needs 100");
}

TEST(CudaOpBuffers, ModelOpsByPropagation) {
  suanli_conv2d_layer_desc L{};
  L.struct_size = SUANLI_CONV2D_LAYER_DESC_SIZE;
  L.conv = {SUANLI_CONV2D_DESC_SIZE,
            1,
            4,
            6,
            6,
            8,
            3,
            3,
            1,
            1,
            1,
            1,
            1,
            1,
            1,
            SUANLI_DTYPE_FP32,
            SUANLI_DTYPE_FP32,
            SUANLI_DTYPE_FP32};
  L.epilogue.bias = 1;
  suanli_op_desc op = op_of(SUANLI_OP_CONV2D_LAYER);
  op.conv2d_layer = &L;
  const uint64_t src = 6 * 6 * 4 * 4, wei = 8 * 4 * 9 * 4, dst = 6 * 6 * 8 * 4;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{src, wei, dst, 8 * 4}));
  L.prop = SUANLI_PROP_BACKWARD_DATA;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{dst, wei, src}));
  L.prop = SUANLI_PROP_BACKWARD_WEIGHTS;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{src, dst, wei, 8 * 4}));

  suanli_pool_desc pl{SUANLI_POOL_DESC_SIZE, SUANLI_POOL_MAX,          1, 3, 4, 4, 2, 2, 2, 2, 0, 0,
                      SUANLI_DTYPE_BF16,     SUANLI_PROP_BACKWARD_DATA};
  op = op_of(SUANLI_OP_POOL);
  op.pool = &pl;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{2 * 2 * 3 * 2, 48 * 2, 48 * 2}));

  suanli_norm_desc n{
      SUANLI_NORM_DESC_SIZE,        SUANLI_NORM_LAYER, 10, 6, 1e-5, SUANLI_DTYPE_FP32,
      SUANLI_PROP_FORWARD_TRAINING, SUANLI_ACT_NONE};
  op = op_of(SUANLI_OP_NORM);
  op.norm = &n;  // layer norm statistics are per row
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{240, 240, 24, 24, 40, 40}));
  n.kind = SUANLI_NORM_BATCH;
  n.prop = SUANLI_PROP_FORWARD_INFERENCE;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{240, 240, 24, 24, 24, 24}));
  n.kind = SUANLI_NORM_RMS;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{240, 240, 24}));

  suanli_eltwise_desc e{SUANLI_ELTWISE_DESC_SIZE, SUANLI_ELTWISE_ADD, SUANLI_ACT_NONE, 7,
                        SUANLI_DTYPE_BF16};
  op = op_of(SUANLI_OP_ELTWISE);
  op.eltwise = &e;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{14, 14, 14}));
  suanli_softmax_desc sm{SUANLI_SOFTMAX_DESC_SIZE, 3, 5, SUANLI_DTYPE_FP32};
  op = op_of(SUANLI_OP_SOFTMAX);
  op.softmax = &sm;
  EXPECT_EQ(op_buffer_bytes(&op), (std::vector<uint64_t>{60, 60}));
  // An ABI 1.0 descriptor (struct_size without the model pointers) is not read past its end.
  op.struct_size = SUANLI_STRUCT_SIZE(suanli_op_desc, stream);
  EXPECT_TRUE(op_buffer_bytes(&op).empty());
}

// ---- labels and environment -------------------------------------------------------------------

TEST(CudaLabels, StreamSaysWhenTheArraysFitInL2) {
  const uint64_t h200_l2 = 50ull << 20;
  // The quick suite's triad: 3 x 2 Mi fp64 = 48 MiB: cache bandwidth on an H200.
  const std::string quick = stream_residency(stream_bytes_touched(3, 2097152, 8), h200_l2);
  EXPECT_EQ(quick.rfind("L2-resident", 0), 0u) << quick;
  const std::string mid = stream_residency(stream_bytes_touched(0, 8 << 20, 8), h200_l2);
  EXPECT_EQ(mid.rfind("partly L2-resident", 0), 0u) << mid;
  const std::string hbm = stream_residency(stream_bytes_touched(3, 1 << 28, 8), h200_l2);
  EXPECT_NE(hbm.find("memory bandwidth"), std::string::npos) << hbm;
}

TEST(CudaLabels, PeakOccupancyAndSizing) {
  // The quick suite's 16384-element mma peak on 132 SMs (512 elements per warp): latency-bound.
  EXPECT_NE(peak_occupancy(16384 / 512, 132, 4).find("latency-bound"), std::string::npos);
  const int64_t e = peak_elements_for(132, 4, 512);
  EXPECT_EQ(e % 4096, 0);
  EXPECT_GE(e, 132 * 4 * 4 * 512);
  EXPECT_EQ(peak_occupancy(e / 512, 132, 4).find("latency-bound"), std::string::npos);
}

TEST(CudaEnvironment, PrecisionOverridesAreFound) {
  const char* env[] = {"PATH=/bin", "NVIDIA_TF32_OVERRIDE=0", "CUBLAS_WORKSPACE_CONFIG=:4096:8",
                       "CUBLAS_EMULATE_SINGLE_PRECISION=1", nullptr};
  EXPECT_EQ(precision_overrides(env), "NVIDIA_TF32_OVERRIDE=0 CUBLAS_EMULATE_SINGLE_PRECISION=1");
  const char* clean[] = {"HOME=/root", nullptr};
  EXPECT_EQ(precision_overrides(clean), "");
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
  m.struct_size = SUANLI_MATMUL_DESC_SIZE;
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
  EXPECT_GE(api->struct_size, SUANLI_BACKEND_API_SIZE);
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
  const suanli_create_args args{SUANLI_CREATE_ARGS_SIZE, nullptr, 0};
  suanli_context ctx = nullptr;
  const suanli_status s = api->create(&args, &ctx);
  if (s == SUANLI_OK) {
    // A machine with a GPU: devices with identity and peaks.
    int32_t n = 0;
    EXPECT_EQ(api->device_count(ctx, &n), SUANLI_OK);
    EXPECT_GT(n, 0);
    suanli_device_info di{};
    di.struct_size = SUANLI_DEVICE_INFO_SIZE;
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
  const suanli_create_args args{SUANLI_CREATE_ARGS_SIZE, &kv, 1};
  suanli_context ctx = nullptr;
  EXPECT_EQ(api->create(&args, &ctx), SUANLI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(api->last_error(nullptr)).find("cold_l2"), std::string::npos);
}

// ---- the harness goes on without a GPU --------------------------------------------------------

using CliRun = suanli::test::CommandResult;

CliRun run(const std::string& args) {
  return suanli::test::run_suanli(args);
}

bool has_gpu() {
  const suanli_backend_api* api = load_api();
  suanli_context ctx = nullptr;
  const suanli_create_args args{SUANLI_CREATE_ARGS_SIZE, nullptr, 0};
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
