// Identity of the host CPU: model, cores, ISA features, measured clock, caches, theoretical peaks.
#pragma once

#include <suanli/backend.h>

#include <cstdint>
#include <string>
#include <vector>

namespace suanli::cpu {

struct IsaFeatures {
  bool fma = false, avx2 = false, avx512f = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false, avx_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false, amx_fp16 = false;
};

struct PeakFigure {
  suanli_dtype dtype;     // fp64, fp32, bf16, int8 (fp16 only where native)
  double ops_per_second;  // FLOP/s or OPS (int8)
  double per_cycle_per_core;
  std::string derivation;  // "2 cores x 4120 MHz (measured) x 32 FLOP/cycle (Zen 5, 2x512-bit FMA)"
};

// One estimate of the core clock and where it came from ("CPUID 0x16 max", "cpufreq cur", ...).
struct ClockEstimate {
  std::string source;
  double mhz = 0;
};

// The clock the peaks are derived at, how it was obtained, and how it compares with the others.
struct ClockChoice {
  double mhz = 0;
  std::string method;  // "imul chain (measured, ...)" or "stated maximum (...)"
  std::string check;   // "consistent: ..." or "DISAGREE: ..."
  bool disagree = false;
};

// Relative tolerance within which two clock estimates count as agreeing.
constexpr double kClockTolerance = 0.10;

// The rule (README, "How the clock is obtained"): the imul chain measures this core's cycles under
// load and is used, unless it exceeds the highest stated maximum ("max" estimates: CPUID 0x16,
// cpufreq cpuinfo_max_freq) by more than the tolerance; a core cannot run faster than that, so the
// chain was fooled and the stated maximum is used instead. A measured clock below a nominal base
// ("base"/"TSC" estimates) or far from every current reading is kept, and the check says so.
ClockChoice choose_clock(double imul_mhz, const std::string& imul_how,
                         const std::vector<ClockEstimate>& others);

struct CpuInfo {
  std::string vendor;  // "AuthenticAMD" / "GenuineIntel"
  std::string model;   // brand string, trimmed
  std::string uarch;   // "Zen 5", "Sapphire Rapids", "unknown x86-64"
  int family = 0, model_id = 0, stepping = 0;
  int cores = 0;              // physical cores available to this process
  int logical = 0;            // logical CPUs available to this process
  int threads = 0;            // threads the backend uses
  double measured_mhz = 0;    // the clock the peaks use (ClockChoice::mhz)
  double max_mhz = 0;         // nominal max from sysfs/cpuinfo, 0 if unknown
  uint64_t memory_bytes = 0;  // physical memory
  uint64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;  // per core / per core / total
  IsaFeatures isa;
  std::string features;  // space-separated list of the flags above that are present
  std::string microcode;
  std::vector<PeakFigure> peaks;
  ClockChoice clock;                     // how measured_mhz was obtained
  std::vector<ClockEstimate> estimates;  // every estimate seen, the imul chain first
};

// Detects everything above; `threads` is what the backend will use (peaks
// count min(threads, cores) cores). Measures the clock (about 50 ms).
CpuInfo detect_cpu(int threads);

// Current core clock in MHz, measured with a chain of dependent 64-bit imul (3 cycles each, see
// cpu_info.cpp) timed by each thread's CPU time, on `threads` threads at once (so turbo under
// all-core load is what is measured); returns the mean.
double measure_clock_mhz(int threads);

// ISA features of this CPU that the OS enables (cpuid + xgetbv only: cheap, no clock measurement).
IsaFeatures detect_isa();

// The features our own kernels (peak, stream) may use: detect_isa(), capped by the environment
// variable SUANLI_CPU_MAX_ISA ("avx2" hides AVX-512 and AMX; "avx512" or unset: no cap), so the
// fallback paths can be tested and compared on a bigger CPU. Throws BackendError on other values.
IsaFeatures kernel_isa();

}  // namespace suanli::cpu
