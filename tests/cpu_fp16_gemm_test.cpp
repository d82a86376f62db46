// Tests of the fp16 GEMM driver (packing, blocking, edges, threads, batches, transposes) through
// its portable micro-kernel on any CPU, against an independent scalar model of the same fp16
// arithmetic; and of the AVX512-FP16 micro-kernel against the portable one where the CPU has it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu_info.h"
#include "fp16_gemm.h"

namespace suanli::cpu {
namespace {

uint16_t to_half(double d) {
  return __builtin_bit_cast(uint16_t, static_cast<_Float16>(d));
}

double from_half(uint16_t h) {
  return static_cast<double>(__builtin_bit_cast(_Float16, h));
}

// Multiples of 1/64 in [-2, 2]: every product and partial sum of the test shapes stays exact in
// double, so one fp16 rounding per step is all the model and the kernels do.
std::vector<uint16_t> random_halves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> v(-128, 128);
  std::vector<uint16_t> out(n);
  for (uint16_t& h : out) h = to_half(v(rng) / 64.0);
  return out;
}

// The arithmetic fp16_gemm promises, written from its description rather than its code: per
// output, even-k and odd-k sums, each step rounded once to fp16, then added and rounded once.
double model_output(const Fp16GemmArgs& g, const uint16_t* a, const uint16_t* b, int64_t i,
                    int64_t j) {
  double sum[2] = {0, 0};
  for (int64_t k = 0; k < g.k; ++k) {
    const double x = from_half(g.ta ? a[k * g.m + i] : a[i * g.k + k]);
    const double y = from_half(g.tb ? b[j * g.k + k] : b[k * g.n + j]);
    sum[k % 2] = from_half(to_half(x * y + sum[k % 2]));
  }
  return from_half(to_half(sum[0] + sum[1]));
}

struct Case {
  int64_t m, n, k, batch;
  bool ta, tb, c_fp32;
  int threads;
};

std::string name(const Case& c) {
  return std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k) + " batch " +
         std::to_string(c.batch) + (c.ta ? " A^T" : "") + (c.tb ? " B^T" : "") +
         (c.c_fp32 ? " C fp32" : " C fp16") + ", " + std::to_string(c.threads) + " threads";
}

// Runs one case with `kernel`; returns C as doubles.
std::vector<double> run(const Case& c, Fp16MicroKernel kernel, const std::vector<uint16_t>& a,
                        const std::vector<uint16_t>& b) {
  Fp16GemmArgs g;
  g.m = c.m, g.n = c.n, g.k = c.k, g.batch = c.batch, g.ta = c.ta, g.tb = c.tb;
  g.a = a.data(), g.b = b.data(), g.c_fp32 = c.c_fp32, g.threads = c.threads;
  const size_t outputs = static_cast<size_t>(c.batch * c.m * c.n);
  std::vector<float> c32(outputs, -7.0f);
  std::vector<uint16_t> c16(outputs, to_half(-7.0));
  g.c = c.c_fp32 ? static_cast<void*>(c32.data()) : static_cast<void*>(c16.data());
  fp16_gemm(g, kernel);
  std::vector<double> out(outputs);
  for (size_t i = 0; i < outputs; ++i) out[i] = c.c_fp32 ? c32[i] : from_half(c16[i]);
  return out;
}

void expect_model(const Case& c, Fp16MicroKernel kernel) {
  SCOPED_TRACE(name(c));
  const auto a = random_halves(static_cast<size_t>(c.batch * c.m * c.k), 1);
  const auto b = random_halves(static_cast<size_t>(c.batch * c.k * c.n), 2);
  const std::vector<double> got = run(c, kernel, a, b);
  Fp16GemmArgs g;
  g.m = c.m, g.n = c.n, g.k = c.k, g.ta = c.ta, g.tb = c.tb;
  int bad = 0;
  for (int64_t e = 0; e < c.batch; ++e)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        const double want =
            model_output(g, a.data() + e * c.m * c.k, b.data() + e * c.k * c.n, i, j);
        const double have = got[static_cast<size_t>((e * c.m + i) * c.n + j)];
        if (have != want && bad++ < 5)
          ADD_FAILURE() << "C[" << e << "][" << i << "][" << j << "] = " << have << ", want "
                        << want;
      }
  EXPECT_EQ(bad, 0);
}

// Shapes around the tile (8 x 48) and block (192 x 384, k 256) edges, odd k, transposes, batches.
const Case kCases[] = {
    {1, 1, 1, 1, false, false, false, 1},    {8, 48, 2, 1, false, false, true, 1},
    {9, 49, 3, 1, false, false, false, 2},   {13, 47, 257, 1, true, false, true, 3},
    {200, 50, 65, 1, false, true, false, 2}, {7, 390, 33, 2, true, true, true, 2},
    {193, 385, 5, 1, false, false, true, 3}, {9, 50, 513, 1, false, false, false, 2},
    {16, 96, 40, 3, false, true, true, 1},
};

TEST(Fp16Gemm, PortableKernelMatchesTheModelExactly) {
  for (const Case& c : kCases) expect_model(c, Fp16MicroKernel::kPortable);
}

// Accumulation really is fp16: a sum that fp32 would hold exactly loses its low bits here.
TEST(Fp16Gemm, AccumulatesInFp16) {
  const Case c{1, 1, 4, 1, false, false, true, 1};
  const std::vector<uint16_t> a = {to_half(1), to_half(1), to_half(1), to_half(1)};
  const std::vector<uint16_t> b = {to_half(2048), to_half(2048), to_half(1), to_half(1)};
  // Even k: 2048 + 1 rounds back to 2048 in fp16 (11 significant bits); odd k likewise.
  EXPECT_EQ(run(c, Fp16MicroKernel::kPortable, a, b)[0], 4096.0);
}

TEST(Fp16Gemm, Avx512Fp16KernelMatchesTheModelExactly) {
  if (!detect_isa().avx512_fp16)
    GTEST_SKIP() << "CPU lacks AVX512_FP16: the vfmadd231ph micro-kernel cannot run here (its "
                    "driver is tested through the portable micro-kernel)";
  for (const Case& c : kCases) expect_model(c, Fp16MicroKernel::kAvx512Fp16);
}

}  // namespace
}  // namespace suanli::cpu
