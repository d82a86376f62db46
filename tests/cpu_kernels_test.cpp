// Tests of the CPU backend's own parts: CPU detection, the peak chains and the stream kernels.
#include <gtest/gtest.h>

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu_info.h"
#include "cpu_op.h"

namespace suanli::cpu {
namespace {

// Sets SUANLI_CPU_MAX_ISA for one scope and restores what was there.
class MaxIsa {
 public:
  explicit MaxIsa(const char* value) {
    const char* old = std::getenv("SUANLI_CPU_MAX_ISA");
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value)
      setenv("SUANLI_CPU_MAX_ISA", value, 1);
    else
      unsetenv("SUANLI_CPU_MAX_ISA");
  }
  ~MaxIsa() {
    if (had_)
      setenv("SUANLI_CPU_MAX_ISA", old_.c_str(), 1);
    else
      unsetenv("SUANLI_CPU_MAX_ISA");
  }

 private:
  bool had_ = false;
  std::string old_;
};

CpuConfig config(int threads) {
  CpuConfig cfg;
  cfg.threads = threads;
  return cfg;
}

suanli_peak_desc peak_desc(suanli_dtype in, suanli_dtype acc, int64_t elements, int64_t depth,
                           double alpha = 1, double beta = 1) {
  return {SUANLI_PEAK_DESC_SIZE, elements, depth, in, acc, alpha, beta};
}

// Stores an int that C may put in an enum field but C++ may not cast to the enum.
template <typename E>
void set_raw(E* field, int32_t value) {
  static_assert(sizeof(E) == sizeof(int32_t), "C enums are int-sized");
  std::memcpy(field, &value, sizeof value);
}

template <typename F>
void expect_invalid(F&& f) {
  try {
    f();
    ADD_FAILURE() << "expected BackendError(SUANLI_INVALID_ARGUMENT)";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status, SUANLI_INVALID_ARGUMENT) << e.what();
  }
}

// Runs one peak op over small-integer A and checks C[e] == A[e] + depth*alpha*beta exactly (all
// values stay far inside the exact integer range of the accumulator type).
template <typename Acc>
void check_peak(suanli_dtype in, suanli_dtype acc, int threads, int64_t elements, int64_t depth,
                double alpha, double beta, const std::string& expect_isa) {
  std::vector<Acc> a(elements), c(elements, Acc(-12345));
  for (int64_t e = 0; e < elements; ++e) a[e] = static_cast<Acc>(e % 201 - 100);
  std::string reason;
  auto op = make_peak(peak_desc(in, acc, elements, depth, alpha, beta), a.data(), c.data(),
                      config(threads), &reason);
  if (!op) GTEST_SKIP() << "unsupported on this CPU: " << reason;
  EXPECT_EQ(op->library, "suanli");
  EXPECT_EQ(op->implementation.rfind(expect_isa, 0), 0u) << op->implementation;
  op->run();
  const Acc step = static_cast<Acc>(alpha * beta);
  int64_t bad = 0;
  for (int64_t e = 0; e < elements; ++e) {
    const Acc want = static_cast<Acc>(a[e] + step * static_cast<Acc>(depth));
    if (c[e] != want && bad++ < 5)
      ADD_FAILURE() << "C[" << e << "] = " << c[e] << ", want " << want;
  }
  EXPECT_EQ(bad, 0);
  for (int64_t e = 0; e < elements; ++e) ASSERT_EQ(a[e], static_cast<Acc>(e % 201 - 100));
}

// One dtype on the widest path and on the AVX2 path, over thread counts that split the work
// evenly and unevenly (3 threads leave remainders that the smaller blocks run).
template <typename Acc>
void check_peak_paths(suanli_dtype in, suanli_dtype acc, double alpha, double beta,
                      const char* wide_isa, const char* narrow_isa) {
  const IsaFeatures isa = detect_isa();
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    {
      MaxIsa cap(nullptr);
      const char* expect = isa.avx512f ? wide_isa : narrow_isa;
      check_peak<Acc>(in, acc, threads, 4096, 64, 1, 1, expect);
      check_peak<Acc>(in, acc, threads, 8192, 256, alpha, beta, expect);
    }
    if (narrow_isa) {
      MaxIsa cap("avx2");
      check_peak<Acc>(in, acc, threads, 4096, 128, alpha, beta, narrow_isa);
    }
  }
}

// An independent clock estimate, taken here: a dependent imul chain (3 cycles a link, see
// cpu_info.cpp) on this thread alone, timed with CLOCK_MONOTONIC (not the thread CPU time the
// backend uses); the best of many short windows, so that a window without preemption is found on
// a loaded machine.
double own_imul_mhz() {
  auto now = [] {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  double best = 0;
  for (int r = 0; r < 40; ++r) {
    uint64_t x = 5;
    constexpr int64_t kLoops = 20000;
    const double t0 = now();
    for (int64_t i = 0; i < kLoops; ++i)
      asm volatile(
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\t"
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0"
          : "+r"(x));
    const double s = now() - t0;
    if (s > 0) best = std::max(best, kLoops * 8 * 3.0 / s / 1e6);
  }
  return best;
}

// Within 10 % of the independent estimate, trying a few times: either side may lose a window to
// another process on a loaded machine.
void expect_clock_near_independent(double (*measure)()) {
  double mine = 0, theirs = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    theirs = own_imul_mhz();
    mine = measure();
    if (std::abs(mine - theirs) <= kClockTolerance * theirs) return;
  }
  ADD_FAILURE() << "backend clock " << mine << " MHz, independent imul chain " << theirs << " MHz";
}

TEST(CpuInfo, DetectsSaneValues) {
  const CpuInfo ci = detect_cpu(0);
  EXPECT_FALSE(ci.vendor.empty());
  EXPECT_GE(ci.cores, 1);
  EXPECT_GE(ci.logical, ci.cores);
  EXPECT_EQ(ci.threads, ci.cores);  // 0 = all cores
  EXPECT_GT(ci.memory_bytes, 0u);
  EXPECT_GT(ci.measured_mhz, 0);
  EXPECT_FALSE(ci.uarch.empty());
  // How the clock was obtained, and every estimate, the imul chain first.
  ASSERT_FALSE(ci.estimates.empty());
  EXPECT_EQ(ci.estimates[0].source.rfind("imul chain", 0), 0u) << ci.estimates[0].source;
  EXPECT_FALSE(ci.clock.method.empty());
  EXPECT_FALSE(ci.clock.check.empty());
  bool fp64 = false, fp32 = false;
  for (const PeakFigure& p : ci.peaks) {
    EXPECT_GT(p.ops_per_second, 0);
    EXPECT_GT(p.per_cycle_per_core, 0);
    EXPECT_NE(p.derivation.find(" MHz ("), std::string::npos) << p.derivation;
    EXPECT_NE(p.derivation.find("/cycle x "), std::string::npos) << p.derivation;
    // Cores used x clock x per-cycle figure, as the derivation states.
    EXPECT_NEAR(p.ops_per_second, ci.cores * ci.measured_mhz * 1e6 * p.per_cycle_per_core,
                1e-6 * p.ops_per_second);
    fp64 |= p.dtype == SUANLI_DTYPE_FP64;
    fp32 |= p.dtype == SUANLI_DTYPE_FP32;
  }
  EXPECT_TRUE(fp64);
  EXPECT_TRUE(fp32);
}

TEST(CpuInfo, ClockAgreesWithAnIndependentEstimate) {
  expect_clock_near_independent([] { return measure_clock_mhz(1); });
  // The clock detect_cpu settles on is the measurement, unless the check says otherwise.
  expect_clock_near_independent([] {
    const CpuInfo ci = detect_cpu(1);
    return ci.clock.disagree ? ci.estimates[0].mhz : ci.measured_mhz;
  });
}

// The rule, on given estimates (the measured ones vary from machine to machine).
TEST(CpuInfo, ClockRuleUsesTheChainUnlessAboveTheStatedMaximum) {
  const std::vector<ClockEstimate> intel = {{"CPUID 0x16 base", 2100},
                                            {"CPUID 0x16 max", 3800},
                                            {"TSC base (rdtsc vs CLOCK_MONOTONIC)", 2100}};
  ClockChoice c = choose_clock(3000, "test", intel);
  EXPECT_EQ(c.mhz, 3000);
  EXPECT_FALSE(c.disagree) << c.check;
  // The folded add chain of issue 10: 18 GHz on a 3.8 GHz part.
  c = choose_clock(18000, "test", intel);
  EXPECT_EQ(c.mhz, 3800);
  EXPECT_TRUE(c.disagree);
  EXPECT_NE(c.check.find("DISAGREE"), std::string::npos) << c.check;
  EXPECT_NE(c.method.find("stated maximum"), std::string::npos) << c.method;
  // Slower than nominal: kept (it is what the cores delivered), and said.
  c = choose_clock(1500, "test", intel);
  EXPECT_EQ(c.mhz, 1500);
  EXPECT_TRUE(c.disagree);
  // Agreement with a current reading is named.
  c = choose_clock(3000, "test", {{"cpufreq scaling_cur_freq", 2950}});
  EXPECT_NE(c.check.find("consistent"), std::string::npos) << c.check;
  EXPECT_NE(c.check.find("scaling_cur_freq"), std::string::npos) << c.check;
  c = choose_clock(3000, "test", {});
  EXPECT_EQ(c.mhz, 3000);
  EXPECT_NE(c.check.find("no independent estimate"), std::string::npos) << c.check;
}

TEST(CpuInfo, PeaksCountTheThreadsUsed) {
  const CpuInfo ci = detect_cpu(1);
  EXPECT_EQ(ci.threads, 1);
  ASSERT_FALSE(ci.peaks.empty());
  const PeakFigure& p = ci.peaks[0];
  EXPECT_NEAR(p.ops_per_second, ci.measured_mhz * 1e6 * p.per_cycle_per_core,
              1e-6 * p.ops_per_second);
  EXPECT_EQ(p.derivation.rfind("1 core x ", 0), 0u) << p.derivation;
}

TEST(CpuInfo, FeaturesMatchIsa) {
  const CpuInfo ci = detect_cpu(1);
  const IsaFeatures isa = detect_isa();
  auto listed = [&](const std::string& name) {
    return (" " + ci.features + " ").find(" " + name + " ") != std::string::npos;
  };
  EXPECT_EQ(listed("avx2"), isa.avx2);
  EXPECT_EQ(listed("fma"), isa.fma);
  EXPECT_EQ(listed("avx512f"), isa.avx512f);
  EXPECT_EQ(listed("avx512_vnni"), isa.avx512_vnni);
  EXPECT_EQ(listed("avx_vnni"), isa.avx_vnni);
  EXPECT_EQ(listed("avx512_bf16"), isa.avx512_bf16);
  EXPECT_EQ(listed("avx512_fp16"), isa.avx512_fp16);
  EXPECT_EQ(listed("amx_tile"), isa.amx_tile);
  // AVX-512 features imply the foundation; a bf16 peak is listed exactly when it is native.
  if (isa.avx512_bf16 || isa.avx512_vnni) {
    EXPECT_TRUE(isa.avx512f);
  }
  bool bf16 = false;
  for (const PeakFigure& p : ci.peaks) bf16 |= p.dtype == SUANLI_DTYPE_BF16;
  EXPECT_EQ(bf16, isa.avx512_bf16 || isa.amx_bf16);
}

TEST(CpuInfo, MeasuresClockOnSeveralThreads) {
  const double one = measure_clock_mhz(1);
  const double two = measure_clock_mhz(2);
  EXPECT_GT(one, 0);
  EXPECT_GT(two, 0);
  // All-core turbo may be lower than one-core turbo, never higher by much; on a loaded machine
  // a thread may lose more, hence the wide lower margin.
  EXPECT_LT(two, one * 1.25 + 1);
}

TEST(CpuInfo, MaxIsaCapsKernelFeatures) {
  {
    MaxIsa cap("avx2");
    const IsaFeatures k = kernel_isa();
    EXPECT_FALSE(k.avx512f);
    EXPECT_FALSE(k.avx512_bf16);
    EXPECT_FALSE(k.amx_tile);
    EXPECT_EQ(k.avx2, detect_isa().avx2);
  }
  {
    MaxIsa cap("sse9");
    expect_invalid([] { kernel_isa(); });
  }
}

TEST(Peak, Fp64ChainsAreExact) {
  check_peak_paths<double>(SUANLI_DTYPE_FP64, SUANLI_DTYPE_FP64, 2, 3, "avx512 vfmadd231pd",
                           detect_isa().avx2 ? "avx2 vfmadd231pd" : nullptr);
}

TEST(Peak, Fp32ChainsAreExact) {
  check_peak_paths<float>(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 2, 3, "avx512 vfmadd231ps",
                          detect_isa().avx2 ? "avx2 vfmadd231ps" : nullptr);
}

TEST(Peak, Bf16ChainsAreExact) {
  // No 256-bit bf16 dot product without AVX-512: the AVX2 path must say unsupported.
  check_peak_paths<float>(SUANLI_DTYPE_BF16, SUANLI_DTYPE_FP32, 2, 3, "avx512_bf16 vdpbf16ps",
                          nullptr);
  MaxIsa cap("avx2");
  std::string reason;
  EXPECT_EQ(make_peak(peak_desc(SUANLI_DTYPE_BF16, SUANLI_DTYPE_FP32, 4096, 64), nullptr, nullptr,
                      config(1), &reason),
            nullptr);
  EXPECT_NE(reason.find("AVX512_BF16"), std::string::npos) << reason;
}

TEST(Peak, Int8ChainsAreExactWithSignedBeta) {
  // alpha is the unsigned operand and beta the signed one: a negative beta catches a swap.
  check_peak_paths<int32_t>(SUANLI_DTYPE_INT8, SUANLI_DTYPE_INT32, 2, -3, "avx512_vnni vpdpbusd",
                            detect_isa().avx_vnni ? "avx_vnni vpdpbusd" : nullptr);
  check_peak<int32_t>(SUANLI_DTYPE_UINT8, SUANLI_DTYPE_INT32, 2, 4096, 64, 255, 127,
                      detect_isa().avx512_vnni ? "avx512_vnni" : "avx_vnni");
}

TEST(Peak, Int8RejectsInexactMultiplicands) {
  expect_invalid([] {
    std::string reason;
    make_peak(peak_desc(SUANLI_DTYPE_INT8, SUANLI_DTYPE_INT32, 4096, 64, 1.5, 1), nullptr, nullptr,
              config(1), &reason);
  });
  expect_invalid([] {
    std::string reason;
    make_peak(peak_desc(SUANLI_DTYPE_INT8, SUANLI_DTYPE_INT32, 4096, 64, 1, 200), nullptr, nullptr,
              config(1), &reason);
  });
}

TEST(Peak, InvalidShapesThrow) {
  std::string reason;
  for (int64_t depth : {0, 32, 100, -64})
    expect_invalid([&] {
      make_peak(peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 4096, depth), nullptr, nullptr,
                config(1), &reason);
    });
  for (int64_t elements : {0, 1000, 4097})
    expect_invalid([&] {
      make_peak(peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, elements, 64), nullptr, nullptr,
                config(1), &reason);
    });
  expect_invalid([&] {
    suanli_peak_desc d = peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 4096, 64);
    d.struct_size = sizeof(size_t);
    make_peak(d, nullptr, nullptr, config(1), &reason);
  });
  std::vector<float> a(4096);
  expect_invalid([&] {
    make_peak(peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 4096, 64), a.data(), nullptr,
              config(1), &reason);
  });
}

TEST(Peak, Fp16ChainIsExactOrUnsupportedWithAReason) {
  std::string reason;
  const int64_t elements = 4096, depth = 128;
  std::vector<uint16_t> a(elements), c(elements, 0);
  // Small integers, exact in fp16: a0 in [-100, 100], + depth x 1 x 2.
  for (int64_t e = 0; e < elements; ++e)
    a[e] = __builtin_bit_cast(uint16_t, static_cast<_Float16>(e % 201 - 100));
  auto op = make_peak(peak_desc(SUANLI_DTYPE_FP16, SUANLI_DTYPE_FP16, elements, depth, 1, 2),
                      a.data(), c.data(), config(2), &reason);
  if (!detect_isa().avx512_fp16) {
    EXPECT_EQ(op, nullptr);
    EXPECT_NE(reason.find("lacks AVX512_FP16"), std::string::npos) << reason;
    GTEST_SKIP() << "CPU lacks AVX512_FP16: the vfmadd231ph chain cannot run here (" << reason
                 << ")";
  }
  ASSERT_NE(op, nullptr) << reason;
  EXPECT_NE(op->implementation.find("vfmadd231ph"), std::string::npos) << op->implementation;
  op->run();
  for (int64_t e = 0; e < elements; ++e)
    ASSERT_EQ(static_cast<double>(__builtin_bit_cast(_Float16, c[e])),
              static_cast<double>(e % 201 - 100 + 2 * depth))
        << e;
}

TEST(Peak, OtherTypesAreUnsupportedOrInvalid) {
  std::string reason;
  EXPECT_EQ(make_peak(peak_desc(SUANLI_DTYPE_TF32, SUANLI_DTYPE_FP32, 4096, 64), nullptr, nullptr,
                      config(1), &reason),
            nullptr);
  EXPECT_NE(reason.find("TF32"), std::string::npos) << reason;
  reason.clear();
  EXPECT_EQ(make_peak(peak_desc(SUANLI_DTYPE_FP8_E4M3, SUANLI_DTYPE_FP32, 4096, 64), nullptr,
                      nullptr, config(1), &reason),
            nullptr);
  EXPECT_FALSE(reason.empty());
  expect_invalid([&] {
    suanli_peak_desc d = peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 4096, 64);
    set_raw(&d.in_type, 99);
    make_peak(d, nullptr, nullptr, config(1), &reason);
  });
}

TEST(Peak, NullBuffersOnlyCheckSupport) {
  std::string reason;
  auto op = make_peak(peak_desc(SUANLI_DTYPE_FP32, SUANLI_DTYPE_FP32, 4096, 64), nullptr, nullptr,
                      config(2), &reason);
  if (!detect_isa().fma) GTEST_SKIP() << "no FMA: " << reason;
  ASSERT_NE(op, nullptr);
  EXPECT_FALSE(op->implementation.empty());
}

suanli_stream_desc stream_desc(suanli_stream_kind kind, int64_t n, suanli_dtype type,
                               double scalar) {
  return {SUANLI_STREAM_DESC_SIZE, kind, n, type, scalar};
}

// Every kind, exact against the plain expression (small integers: no rounding anywhere), with C
// offset from alignment so the scalar heads and tails run too.
template <typename T>
void check_stream(suanli_dtype type, const char* max_isa) {
  MaxIsa cap(max_isa);
  constexpr T kS = 3;
  for (int threads : {1, 2, 3}) {
    for (int64_t n : {int64_t{1}, int64_t{37}, int64_t{100003}}) {
      for (int offset : {0, 1}) {
        std::vector<T> a(n + 1), b(n + 1), c(n + 1);
        for (int64_t i = 0; i <= n; ++i) {
          a[i] = static_cast<T>(i % 1000);
          b[i] = static_cast<T>(i % 7) - 3;
        }
        const T* pa = a.data() + offset;
        const T* pb = b.data() + offset;
        T* pc = c.data() + offset;
        for (int k = SUANLI_STREAM_COPY; k <= SUANLI_STREAM_TRIAD; ++k) {
          const auto kind = static_cast<suanli_stream_kind>(k);
          SCOPED_TRACE("kind " + std::to_string(k) + " n " + std::to_string(n) + " threads " +
                       std::to_string(threads) + " offset " + std::to_string(offset));
          std::fill(c.begin(), c.end(), T(-7));
          std::string reason;
          auto op =
              make_stream(stream_desc(kind, n, type, kS), pa, pb, pc, config(threads), &reason);
          ASSERT_NE(op, nullptr) << reason;
          EXPECT_EQ(op->library, "suanli");
          op->run();
          int64_t bad = 0;
          for (int64_t i = 0; i < n; ++i) {
            T want = pa[i];
            if (kind == SUANLI_STREAM_SCALE) want = kS * pa[i];
            if (kind == SUANLI_STREAM_ADD) want = pa[i] + pb[i];
            if (kind == SUANLI_STREAM_TRIAD) want = pa[i] + kS * pb[i];
            if (pc[i] != want && bad++ < 5)
              ADD_FAILURE() << "C[" << i << "] = " << pc[i] << ", want " << want;
          }
          EXPECT_EQ(bad, 0);
          EXPECT_EQ(c[offset ? 0 : n], T(-7)) << "wrote outside C";
        }
      }
    }
  }
}

TEST(Stream, Fp64IsExact) {
  check_stream<double>(SUANLI_DTYPE_FP64, nullptr);
}
TEST(Stream, Fp32IsExact) {
  check_stream<float>(SUANLI_DTYPE_FP32, nullptr);
}
TEST(Stream, Fp64IsExactOnAvx2) {
  check_stream<double>(SUANLI_DTYPE_FP64, "avx2");
}
TEST(Stream, Fp32IsExactOnAvx2) {
  check_stream<float>(SUANLI_DTYPE_FP32, "avx2");
}

TEST(Stream, CopyNeedsNoB) {
  std::vector<double> a(4096, 2.5), c(4096, 0);
  std::string reason;
  auto op = make_stream(stream_desc(SUANLI_STREAM_COPY, 4096, SUANLI_DTYPE_FP64, 3), a.data(),
                        nullptr, c.data(), config(2), &reason);
  ASSERT_NE(op, nullptr) << reason;
  op->run();
  EXPECT_EQ(c, a);
}

TEST(Stream, UnsupportedAndInvalid) {
  std::string reason;
  EXPECT_EQ(make_stream(stream_desc(SUANLI_STREAM_TRIAD, 1024, SUANLI_DTYPE_INT32, 3), nullptr,
                        nullptr, nullptr, config(1), &reason),
            nullptr);
  EXPECT_FALSE(reason.empty());
  expect_invalid([&] {
    make_stream(stream_desc(SUANLI_STREAM_TRIAD, 0, SUANLI_DTYPE_FP64, 3), nullptr, nullptr,
                nullptr, config(1), &reason);
  });
  expect_invalid([&] {
    suanli_stream_desc d = stream_desc(SUANLI_STREAM_TRIAD, 16, SUANLI_DTYPE_FP64, 3);
    set_raw(&d.kind, 7);
    make_stream(d, nullptr, nullptr, nullptr, config(1), &reason);
  });
  expect_invalid([&] {
    suanli_stream_desc d = stream_desc(SUANLI_STREAM_TRIAD, 16, SUANLI_DTYPE_FP64, 3);
    set_raw(&d.type, 99);
    make_stream(d, nullptr, nullptr, nullptr, config(1), &reason);
  });
  std::vector<double> a(16), c(16);
  expect_invalid([&] {
    make_stream(stream_desc(SUANLI_STREAM_TRIAD, 16, SUANLI_DTYPE_FP64, 3), a.data(), nullptr,
                c.data(), config(1), &reason);
  });
}

}  // namespace
}  // namespace suanli::cpu
