// Host CPU identity: cpuid/xgetbv features, /sys and /proc topology, a measured clock, peak table.
#include "cpu_info.h"

#include <cpuid.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cpu_op.h"

namespace suanli::cpu {
namespace {

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

// cpuid of a leaf (and subleaf); all zero when the leaf lies beyond the CPU's maximum, so callers
// may read any leaf without first checking.
Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  const unsigned max = __get_cpuid_max(leaf & 0x80000000u, nullptr);
  if (max == 0 || leaf > max) return r;
  __cpuid_count(leaf, subleaf, r.a, r.b, r.c, r.d);
  return r;
}

bool bit(unsigned v, int n) {
  return (v >> n) & 1u;
}

// XCR0: the register state the OS saves on context switch. A feature is usable only when its state
// is enabled there; otherwise its instructions fault even though cpuid lists them.
uint64_t xcr0() {
  if (!bit(cpuid(1).c, 27)) return 0;  // OSXSAVE: xgetbv itself is not available
  unsigned lo = 0, hi = 0;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

// "48K", "1024K", "32M" (sysfs cache sizes) in bytes.
uint64_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  uint64_t mult = 1;
  if (end && *end == 'K') mult = 1ull << 10;
  if (end && *end == 'M') mult = 1ull << 20;
  if (end && *end == 'G') mult = 1ull << 30;
  return static_cast<uint64_t>(v * static_cast<double>(mult));
}

std::string trim(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\0') break;
    const bool space = ch == ' ' || ch == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : ch);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string format_mhz(double mhz) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", mhz);
  return buf;
}

std::string format_count(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Logical CPUs this process may run on (its affinity mask, which containers and taskset narrow).
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  for (int n = 1024; n <= (1 << 20); n *= 2) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (!set) break;
    const size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      for (int i = 0; i < n; ++i)
        if (CPU_ISSET_S(i, bytes, set)) cpus.push_back(i);
      CPU_FREE(set);
      break;
    }
    CPU_FREE(set);
    if (errno != EINVAL) break;  // EINVAL: the kernel's mask is larger than ours, try a bigger one
  }
  if (cpus.empty()) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < std::max(1L, n); ++i) cpus.push_back(static_cast<int>(i));
  }
  return cpus;
}

std::string cpu_dir(int cpu) {
  return "/sys/devices/system/cpu/cpu" + std::to_string(cpu);
}

// Physical cores among `cpus`: SMT siblings share one sibling list. Without topology in /sys
// (some containers), every logical CPU counts as a core, which is the honest upper bound.
int count_cores(const std::vector<int>& cpus) {
  std::set<std::string> cores;
  for (int cpu : cpus) {
    std::string key = read_line(cpu_dir(cpu) + "/topology/core_cpus_list");
    if (key.empty()) key = read_line(cpu_dir(cpu) + "/topology/thread_siblings_list");
    if (key.empty()) return static_cast<int>(cpus.size());
    cores.insert(read_line(cpu_dir(cpu) + "/topology/physical_package_id") + ":" + key);
  }
  return static_cast<int>(cores.size());
}

struct Caches {
  uint64_t l1d = 0, l2 = 0, l3 = 0;
};

// From /sys: L1d and L2 of the first allowed CPU, L3 summed over the distinct L3 instances that
// the allowed CPUs reach.
Caches sysfs_caches(const std::vector<int>& cpus) {
  Caches c;
  std::set<std::string> l3_seen;
  for (size_t k = 0; k < cpus.size(); ++k) {
    for (int index = 0; index < 16; ++index) {
      const std::string dir = cpu_dir(cpus[k]) + "/cache/index" + std::to_string(index);
      const std::string level = read_line(dir + "/level");
      if (level.empty()) break;
      const std::string type = read_line(dir + "/type");
      const uint64_t size = parse_size(read_line(dir + "/size"));
      if (type == "Instruction") continue;
      if (k == 0 && level == "1") c.l1d = size;
      if (k == 0 && level == "2") c.l2 = size;
      if (level == "3" && l3_seen.insert(read_line(dir + "/shared_cpu_list")).second) c.l3 += size;
    }
  }
  return c;
}

// From cpuid, where /sys has no cache directory (as in some VMs): the deterministic cache leaf
// (Intel 4, AMD 0x8000001D), else AMD's legacy leaves. L3 is then one instance.
Caches cpuid_caches(bool amd) {
  Caches c;
  const unsigned leaf = amd ? 0x8000001Du : 4u;
  for (unsigned i = 0; i < 16; ++i) {
    const Regs r = cpuid(leaf, i);
    const unsigned type = r.a & 31u;
    if (type == 0) break;
    if (type == 2) continue;  // instruction cache
    const uint64_t size = static_cast<uint64_t>((r.b >> 22) + 1) * (((r.b >> 12) & 0x3ffu) + 1) *
                          ((r.b & 0xfffu) + 1) * (static_cast<uint64_t>(r.c) + 1);
    const unsigned level = (r.a >> 5) & 7u;
    if (level == 1) c.l1d = size;
    if (level == 2) c.l2 = size;
    if (level == 3) c.l3 = size;
  }
  if (amd && c.l1d == 0 && c.l2 == 0) {
    c.l1d = static_cast<uint64_t>(cpuid(0x80000005u).c >> 24) << 10;
    const Regs r = cpuid(0x80000006u);
    c.l2 = static_cast<uint64_t>(r.c >> 16) << 10;
    c.l3 = static_cast<uint64_t>(r.d >> 18) * (512ull << 10);
  }
  return c;
}

std::string read_microcode() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 9, "microcode") != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return trim(line.substr(colon + 1));
  }
  return trim(read_line("/sys/devices/system/cpu/cpu0/microcode/version"));
}

// Sources cited in the derivations. Vendor manuals give the execution resources; measured
// instruction tables (uops.info, Agner Fog) give what each instruction sustains per cycle.
constexpr const char* kIntelManual = "Intel 64 and IA-32 Optimization Reference Manual";
constexpr const char* kIntelSkx =
    "Intel Optimization Reference Manual (Skylake-SP: 2 FMA units on Platinum, Gold 6xxx and "
    "Gold 5122/5222, 1 on Bronze, Silver, other Gold 5xxx); uops.info";
constexpr const char* kAmd17 = "AMD Software Optimization Guide for Family 17h; Agner Fog";
constexpr const char* kAmd19 =
    "AMD Software Optimization Guide for Family 19h (Zen 4 splits 512-bit ops over its 256-bit "
    "pipes); uops.info (Zen 4)";
constexpr const char* kAmd1A =
    "AMD Software Optimization Guide for Family 1Ah (Zen 5: 512-bit datapath, 2 FMA pipes; "
    "mobile parts 256-bit)";
constexpr const char* kEmrBf16 =
    "measured: suanli's vdpbf16ps peak chain retires 0.46 per cycle per core on an Emerald Rapids "
    "Xeon (reciprocal throughput 2 cycles), as does oneDNN's bf16 GEMM there";

// What one core sustains, per instruction the peak chains execute (peak.cpp): the FMA of the
// widest vector the chain uses (zmm with AVX-512, else ymm), vdpbf16ps zmm, vpdpbusd (zmm, or
// the VEX ymm form with AVX-VNNI only) and vfmadd231ph zmm. ipc 0 = not known for this core.
struct CoreModel {
  std::string uarch = "unknown x86-64";
  double fma_ipc = 0, bf16_ipc = 0, int8_ipc = 0, fp16_ipc = 0;  // instructions per cycle
  std::string units;                                             // "2x 512-bit FMA pipes"
  std::string source;                                            // where fma_ipc comes from
  std::string bf16_source, int8_source, fp16_source;             // default: `source`
};

CoreModel core(const char* uarch, double fma_ipc, const char* units, const char* source) {
  CoreModel c;
  c.uarch = uarch;
  c.fma_ipc = fma_ipc;
  c.units = units;
  c.source = source;
  return c;
}

CoreModel amd_core(int family, int model, const IsaFeatures& isa) {
  CoreModel c;
  if (family == 0x17 || family == 0x18) {  // 0x18: Hygon Dhyana, a Zen derivative
    const bool zen2 = family == 0x17 && model >= 0x30;
    // Zen/Zen+ run a 256-bit FMA as two 128-bit halves: one ymm FMA per cycle.
    c = zen2 ? core("Zen 2", 2, "2x 256-bit FMA pipes", kAmd17)
             : core("Zen/Zen+", 1, "2x 128-bit FMA pipes", kAmd17);
  } else if (family == 0x19) {
    c = isa.avx512f ? core("Zen 4", 1, "AVX-512 on 2x 256-bit FMA pipes", kAmd19)
                    : core("Zen 3", 2, "2x 256-bit FMA pipes", kAmd17);
    if (isa.avx512f) c.bf16_ipc = c.int8_ipc = 1;  // zmm forms also split over both pipes
  } else if (family == 0x1A) {
    const bool mobile = (model >= 0x20 && model <= 0x2F) || (model >= 0x60 && model <= 0x6F);
    c = mobile ? core("Zen 5 (mobile)", 1, "AVX-512 on 2x 256-bit FMA pipes", kAmd1A)
               : core("Zen 5", 2, "2x 512-bit FMA pipes", kAmd1A);
    c.bf16_ipc = c.int8_ipc = c.fma_ipc;  // vdpbf16ps, vpdpbusd zmm on the same two pipes
  }
  return c;
}

// Skylake-SP, Cascade Lake and Cooper Lake share model 0x55; the SKU decides the FMA units.
CoreModel intel_skx_core(int stepping, const std::string& brand, const IsaFeatures& isa) {
  const char* uarch = stepping >= 10  ? "Cooper Lake"
                      : stepping >= 5 ? "Cascade Lake"
                                      : "Skylake-SP";
  auto has = [&](const char* s) { return brand.find(s) != std::string::npos; };
  const bool one_unit =
      has("Bronze") || has("Silver") || (has("Gold 5") && !has("Gold 5122") && !has("Gold 5222"));
  CoreModel c = one_unit ? core(uarch, 1, "1x 512-bit FMA unit (SKU from brand string)", kIntelSkx)
                         : core(uarch, 2, "2x 512-bit FMA units", kIntelSkx);
  if (isa.avx512_vnni) c.int8_ipc = c.fma_ipc;  // vpdpbusd on the FMA ports (p0, p5)
  if (isa.avx512_bf16) {
    c.bf16_ipc = c.fma_ipc / 4;  // assumed as on Sapphire Rapids: 2 cycles with both units
    c.bf16_source = std::string("assumed as Sapphire Rapids; ") + kEmrBf16;
  }
  return c;
}

CoreModel intel_core(int family, int model, int stepping, const std::string& brand,
                     const IsaFeatures& isa) {
  CoreModel c;
  if (family != 6) return c;
  auto is = [&](std::initializer_list<int> models) {
    return std::find(models.begin(), models.end(), model) != models.end();
  };
  const char* k2x256 = "2x 256-bit FMA pipes";
  const char* k2x512 = "2x 512-bit FMA units";
  if (is({0x3C, 0x3F, 0x45, 0x46})) {
    c = core("Haswell", 2, k2x256, kIntelManual);
  } else if (is({0x3D, 0x47, 0x4F, 0x56})) {
    c = core("Broadwell", 2, k2x256, kIntelManual);
  } else if (is({0x4E, 0x5E, 0x8E, 0x9E, 0xA5, 0xA6})) {
    c = core("Skylake (client)", 2, k2x256, kIntelManual);
  } else if (is({0x97, 0x9A, 0xBF, 0xB7, 0xBA, 0xAA, 0xAC, 0xC5, 0xC6, 0xBD})) {
    c = core("Alder Lake or later hybrid (P-cores)", 2, k2x256, kIntelManual);
    c.int8_ipc = 2;  // AVX-VNNI vpdpbusd ymm on ports 0 and 1 (uops.info, Alder Lake-P)
    c.int8_source = "uops.info (Alder Lake-P: VPDPBUSD ymm, 2/cycle)";
  } else if (is({0x66, 0x7D, 0x7E, 0x8C, 0x8D, 0xA7})) {
    c = core("Ice Lake / Tiger Lake / Rocket Lake (client)", 1, "1x 512-bit FMA (ports 0+1 fused)",
             kIntelManual);
    c.int8_ipc = 1;
    c.int8_source = "uops.info (Ice Lake: VPDPBUSD zmm on port 0, 1/cycle)";
  } else if (model == 0x55) {
    c = intel_skx_core(stepping, brand, isa);
  } else if (is({0x6A, 0x6C})) {
    c = core("Ice Lake-SP", 2, k2x512, kIntelManual);
    c.int8_ipc = 2;
  } else if (is({0x8F, 0xCF, 0xAD, 0xAE})) {
    c = core(model == 0x8F   ? "Sapphire Rapids"
             : model == 0xCF ? "Emerald Rapids"
                             : "Granite Rapids",
             2, k2x512, kIntelManual);
    c.int8_ipc = 2;    // vpdpbusd zmm on ports 0 and 5, like the FMA
    c.fp16_ipc = 2;    // vfmadd231ph zmm: 32 fp16 lanes on the same FMA units
    c.bf16_ipc = 0.5;  // vdpbf16ps zmm: one per 2 cycles, half the fp32 FLOP rate
    c.bf16_source = kEmrBf16;
    c.fp16_source = std::string(kIntelManual) + " (AVX512-FP16: twice the fp32 FLOP rate)";
    if (model != 0xCF && model != 0x8F)
      c.bf16_source = std::string("assumed as Emerald Rapids; ") + kEmrBf16;
  } else if (is({0x57, 0x85})) {
    c = core("Knights Landing/Mill", 2, k2x512, kIntelManual);
  } else if (is({0xAF, 0xB6})) {
    c = core("Sierra Forest / Grand Ridge (E-cores)", 1, "2x 128-bit FMA pipes", kIntelManual);
  }
  return c;
}

// What an unknown CPU most likely has, from its ISA alone; the derivation says "assumed".
CoreModel generic_core(const IsaFeatures& isa) {
  CoreModel c;
  if (isa.avx512f)
    c = core("unknown x86-64", isa.amx_tile ? 2 : 1,
             isa.amx_tile ? "assumed 2x 512-bit FMA units (AMX parts are server cores)"
                          : "assumed 1x 512-bit FMA throughput",
             "assumed");
  else if (isa.avx2 && isa.fma)
    c = core("unknown x86-64", 2, "assumed 2x 256-bit FMA pipes", "assumed");
  else
    c = core("unknown x86-64", 1, "assumed one 256-bit FMA or less", "assumed");
  c.bf16_ipc = c.int8_ipc = c.fp16_ipc = c.fma_ipc;
  c.bf16_source = c.int8_source = c.fp16_source = "assumed: as many as FMA instructions";
  return c;
}

// The clock is counted in multiplications. A chain of 64-bit `imul r64, r64`, each needing the
// previous product, advances one link per imul latency. That latency is 3 cycles on every
// mainstream x86-64 core of the last decade: Intel Sandy Bridge through Golden Cove/Redwood Cove
// (Sapphire, Emerald, Granite Rapids) and AMD Zen 1 through Zen 5 (Agner Fog, "Instruction
// tables", IMUL r64,r64: latency 3; uops.info, IMUL (R64, R64): latency 3 on every Intel core from
// Nehalem on and on Zen+ to Zen 4). Unlike a chain of `add $1` it cannot be shortened by the
// renamer: Golden Cove-class cores fold immediate adds there (about 6 per cycle), which read an
// Emerald Rapids at 18 GHz. AMD's Bulldozer and Jaguar families (0x15, 0x16) take 6 cycles for a
// 64-bit imul (Agner Fog), and are counted so.
#define SUANLI_IMUL1 "imul %0, %0\n\t"
#define SUANLI_IMUL10                                                                        \
  SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1 \
      SUANLI_IMUL1 SUANLI_IMUL1 SUANLI_IMUL1
#define SUANLI_IMUL100                                                                \
  SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10 \
      SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10 SUANLI_IMUL10

constexpr int kImulsPerIteration = 1000;

// x stays odd (3 squared again and again), so the product never becomes a constant the core could
// predict; multiplier latency does not depend on the operands on these cores anyway.
void imul_chain(int64_t iterations) {
  uint64_t x = 3;
  for (int64_t i = 0; i < iterations; ++i) {
    asm volatile(SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100
                     SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100 SUANLI_IMUL100
                 : "+r"(x));
  }
}

#undef SUANLI_IMUL100
#undef SUANLI_IMUL10
#undef SUANLI_IMUL1

// Cycles of one 64-bit imul on this core (see above).
int imul_latency_cycles() {
  const Regs l0 = cpuid(0);
  const bool amd = l0.b == 0x68747541u;  // "Auth"enticAMD
  const unsigned sig = cpuid(1).a;
  const unsigned family =
      ((sig >> 8) & 0xF) + (((sig >> 8) & 0xF) == 0xF ? ((sig >> 20) & 0xFF) : 0);
  return amd && (family == 0x15 || family == 0x16) ? 6 : 3;
}

// Seconds this thread has run. On a shared machine a thread loses whole time slices to other
// processes; wall time would count them as slow cycles, the thread's own CPU time does not.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One thread's clock: a warm-up that lets the core reach its boost state (and calibrates the
// repeat length; 25 ms: an idle core can take tens of ms to ramp up), then the best of a few
// repeats, so an interrupt in one of them costs nothing.
double best_mhz_of_thread(std::atomic<int>* arrived, int total) {
  arrived->fetch_add(1);
  while (arrived->load() < total) {
    asm volatile("pause");
  }
  constexpr double kWarmupS = 0.025, kRepeatS = 0.008;
  constexpr int kRepeats = 4, kChunk = 4;
  const double cycles_per_imul = imul_latency_cycles();
  int64_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_seconds();
  do {
    imul_chain(kChunk);
    done += kChunk;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < kWarmupS);
  const double ran = std::max(1e-6, thread_seconds() - c0);
  const int64_t iterations =
      std::max<int64_t>(1, static_cast<int64_t>(kRepeatS * static_cast<double>(done) / ran));
  double best = 0;
  for (int r = 0; r < kRepeats; ++r) {
    const double c = thread_seconds();
    imul_chain(iterations);
    const double s = thread_seconds() - c;
    const double cycles = static_cast<double>(iterations) * kImulsPerIteration * cycles_per_imul;
    if (s > 0) best = std::max(best, cycles / s / 1e6);
  }
  return best;
}

// Mean of a per-CPU sysfs frequency (kHz) over the allowed CPUs, in MHz; 0 when absent.
double cpufreq_mhz(const std::vector<int>& cpus, const char* file) {
  double sum = 0;
  int n = 0;
  for (int cpu : cpus) {
    const std::string khz = read_line(cpu_dir(cpu) + "/cpufreq/" + file);
    if (khz.empty()) continue;
    sum += std::strtod(khz.c_str(), nullptr) / 1000.0;
    ++n;
  }
  return n ? sum / n : 0;
}

// Mean "cpu MHz" of /proc/cpuinfo over the allowed CPUs; in VMs often the nominal clock.
double proc_cpuinfo_mhz(const std::vector<int>& cpus) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  int processor = -1;
  double sum = 0;
  int n = 0;
  const std::set<int> allowed(cpus.begin(), cpus.end());
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = line.substr(colon + 1);
    if (key == "processor") processor = std::atoi(value.c_str());
    if (key == "cpu MHz" && allowed.count(processor)) {
      sum += std::strtod(value.c_str(), nullptr);
      ++n;
    }
  }
  return n ? sum / n : 0;
}

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The estimates besides the imul chain. `tsc_mhz` is the TSC rate timed against CLOCK_MONOTONIC
// around the measurement (0 when not measured). Sources named "... max" bound the clock from above,
// "... base" and "TSC ..." are nominal, the rest are current readings.
std::vector<ClockEstimate> other_clock_estimates(const std::vector<int>& cpus, double tsc_mhz) {
  std::vector<ClockEstimate> e;
  auto add = [&](const char* source, double mhz) {
    if (mhz > 0) e.push_back({source, mhz});
  };
  const Regs l16 = cpuid(0x16);  // Intel: base, max (MHz); zero on AMD and in many VMs
  add("CPUID 0x16 base", l16.a & 0xFFFF);
  add("CPUID 0x16 max", l16.b & 0xFFFF);
  add("cpufreq cpuinfo_max_freq max", cpufreq_mhz(cpus, "cpuinfo_max_freq"));
  add("cpufreq scaling_cur_freq", cpufreq_mhz(cpus, "scaling_cur_freq"));
  add("/proc/cpuinfo cpu MHz", proc_cpuinfo_mhz(cpus));
  const Regs l15 = cpuid(0x15);  // TSC = crystal Hz x ebx / eax, where the crystal is given
  if (l15.a && l15.b && l15.c) add("CPUID 0x15 TSC base", 1e-6 * l15.c * l15.b / l15.a);
  const bool invariant = bit(cpuid(0x80000007u).d, 8);
  add(invariant ? "TSC base (rdtsc vs CLOCK_MONOTONIC)" : "TSC (not invariant) base", tsc_mhz);
  return e;
}

std::string mhz_list(const std::vector<ClockEstimate>& e) {
  std::string out;
  for (const ClockEstimate& x : e)
    out += (out.empty() ? "" : ", ") + x.source + " " + format_mhz(x.mhz);
  return out;
}

bool has_word(const std::string& s, const char* word) {
  return s.find(word) != std::string::npos;
}

}  // namespace

namespace {
// Linux lets a process use the AMX tile data (XTILEDATA, state component 18) only after it asks
// (ARCH_REQ_XCOMP_PERM, kernel 5.16+); XCR0 alone says the OS manages the state. Asked once per
// process; oneDNN asks the same. Without the permission neither suanli's AMX chain nor oneDNN's
// AMX kernels can run, so the AMX peaks are not claimed.
bool amx_permitted() {
  static const bool permitted = [] {
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return permitted;
}
}  // namespace

IsaFeatures detect_isa() {
  IsaFeatures f;
  const uint64_t xcr = xcr0();
  const bool avx_state = (xcr & 0x6) == 0x6;          // SSE + AVX (YMM upper halves)
  const bool avx512_state = (xcr & 0xE6) == 0xE6;     // + opmask, ZMM upper halves, ZMM16-31
  const bool amx_state = (xcr & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  const Regs l1 = cpuid(1), l7 = cpuid(7, 0), l7s1 = cpuid(7, 1);
  const bool avx = bit(l1.c, 28) && avx_state;
  f.fma = avx && bit(l1.c, 12);
  f.avx2 = avx && bit(l7.b, 5);
  f.avx512f = avx512_state && bit(l7.b, 16);
  f.avx512bw = f.avx512f && bit(l7.b, 30);
  f.avx512vl = f.avx512f && bit(l7.b, 31);
  f.avx512_vnni = f.avx512f && bit(l7.c, 11);
  f.avx512_fp16 = f.avx512f && bit(l7.d, 23);
  f.avx512_bf16 = f.avx512f && bit(l7s1.a, 5);
  f.avx_vnni = avx && bit(l7s1.a, 4);
  f.amx_tile = amx_state && bit(l7.d, 24) && amx_permitted();
  f.amx_bf16 = f.amx_tile && bit(l7.d, 22);
  f.amx_int8 = f.amx_tile && bit(l7.d, 25);
  f.amx_fp16 = f.amx_tile && bit(l7s1.a, 21);
  return f;
}

IsaFeatures kernel_isa() {
  IsaFeatures f = detect_isa();
  const char* cap = std::getenv("SUANLI_CPU_MAX_ISA");
  if (!cap || !*cap || std::strcmp(cap, "avx512") == 0) return f;
  if (std::strcmp(cap, "avx2") != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       std::string("SUANLI_CPU_MAX_ISA='") + cap + "': expected avx2 or avx512");
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = f.avx512_fp16 = false;
  f.amx_tile = f.amx_bf16 = f.amx_int8 = f.amx_fp16 = false;
  return f;
}

double measure_clock_mhz(int threads) {
  threads = std::max(1, threads);
  std::atomic<int> arrived{0};
  std::vector<double> mhz(static_cast<size_t>(threads), 0.0);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back(
        [&, t] { mhz[static_cast<size_t>(t)] = best_mhz_of_thread(&arrived, threads); });
  mhz[0] = best_mhz_of_thread(&arrived, threads);
  for (std::thread& th : pool) th.join();
  double sum = 0;
  for (double m : mhz) sum += m;
  return sum / threads;
}

ClockChoice choose_clock(double imul_mhz, const std::string& imul_how,
                         const std::vector<ClockEstimate>& others) {
  ClockChoice c;
  c.mhz = imul_mhz;
  c.method = "imul chain (" + imul_how + ")";
  double ceiling = 0, base = 0;
  std::vector<ClockEstimate> near, far;
  for (const ClockEstimate& e : others) {
    if (has_word(e.source, " max")) ceiling = std::max(ceiling, e.mhz);
    if (has_word(e.source, " base")) base = std::max(base, e.mhz);
    const bool agrees = std::abs(e.mhz - imul_mhz) <= kClockTolerance * imul_mhz;
    (agrees ? near : far).push_back(e);
  }
  const std::string measured = "imul chain " + format_mhz(imul_mhz) + " MHz";
  if (ceiling > 0 && imul_mhz > ceiling * (1 + kClockTolerance)) {
    c.mhz = ceiling;
    c.method = "stated maximum " + format_mhz(ceiling) + " MHz (the " + measured + " exceeds it)";
    c.disagree = true;
    c.check = "DISAGREE: " + measured + " is above the highest stated maximum (" +
              format_mhz(ceiling) + " MHz) by more than " + format_count(100 * kClockTolerance) +
              " %: a core cannot outrun it, so the chain was not 3 cycles per link here; the " +
              "stated maximum is used";
    return c;
  }
  if (base > 0 && imul_mhz < base * (1 - kClockTolerance)) {
    c.disagree = true;
    c.check = "DISAGREE: " + measured + " is below the nominal base (" + format_mhz(base) +
              " MHz) by more than " + format_count(100 * kClockTolerance) +
              " %: the cores ran slower than nominal (throttled, power-capped, or cycles taken by "
              "a hypervisor or other processes); the measurement is used, as it is what the "
              "cores delivered";
    return c;
  }
  if (others.empty()) {
    c.check = "no independent estimate available (no CPUID 0x16, cpufreq or TSC rate)";
  } else if (!near.empty()) {
    c.check = "consistent: " + measured + " within " + format_count(100 * kClockTolerance) +
              " % of " + mhz_list(near) + (ceiling > 0 ? "; not above the stated maximum" : "");
  } else {
    c.check = "consistent with the bounds (" +
              (ceiling > 0 ? "at most the stated maximum" : std::string("no stated maximum")) +
              (base > 0 ? ", at least the nominal base" : "") + "); no current reading within " +
              format_count(100 * kClockTolerance) + " %";
  }
  return c;
}

namespace {

// Measures the clock on the threads the backend uses, gathers the other estimates, applies the
// rule of choose_clock; returns the clock part of the derivations ("2 cores x 3700 MHz (...) x ").
std::string measure_clock(CpuInfo* info, const std::vector<int>& cpus) {
  const int busy = std::min(info->threads, info->logical);
  const double t0 = monotonic_seconds();
  const uint64_t tsc0 = __rdtsc();
  double imul_mhz = measure_clock_mhz(busy);
  // The same chain on one core, as an independent single-thread check measures it. An
  // all-cores reading well below it is taken again (a vCPU that the hypervisor ran less, a core
  // still ramping up: neither lasts); the best all-cores reading counts.
  const double one_mhz = busy > 1 ? measure_clock_mhz(1) : imul_mhz;
  for (int retry = 0; retry < 2 && imul_mhz < (1 - kClockTolerance) * one_mhz; ++retry)
    imul_mhz = std::max(imul_mhz, measure_clock_mhz(busy));
  const double tsc_mhz = static_cast<double>(__rdtsc() - tsc0) / (monotonic_seconds() - t0) / 1e6;
  const std::string load = busy == info->logical
                               ? std::string("all cores")
                               : std::to_string(busy) + (busy == 1 ? " thread" : " threads");
  const std::vector<ClockEstimate> others = other_clock_estimates(cpus, tsc_mhz);
  info->clock = choose_clock(imul_mhz, "measured, " + load + " busy", others);
  if (!info->clock.disagree && imul_mhz < (1 - kClockTolerance) * one_mhz) {
    info->clock.disagree = true;
    info->clock.check =
        "DISAGREE: imul chain " + format_mhz(imul_mhz) + " MHz with " + load +
        " busy, three times in a row more than " + format_count(100 * kClockTolerance) +
        " % below " + format_mhz(one_mhz) +
        " MHz with one core busy: the cores run slower together (all-core turbo bins, a power "
        "cap, a hypervisor giving the vCPUs less than whole cores); the all-cores figure is used, "
        "as the peak kernels run on all cores, and the peak self-check tests it";
  }
  if (!info->clock.disagree && busy > 1)
    info->clock.check += "; one core busy: " + format_mhz(one_mhz) + " MHz, within " +
                         format_count(100 * kClockTolerance) + " %";
  info->measured_mhz = info->clock.mhz;
  info->estimates.push_back({"imul chain (measured, " + load + " busy)", imul_mhz});
  if (busy > 1) info->estimates.push_back({"imul chain (measured, one core busy)", one_mhz});
  info->estimates.insert(info->estimates.end(), others.begin(), others.end());
  const int cores = std::min(info->threads, info->cores);
  const bool fallback = info->clock.mhz != imul_mhz;
  return std::to_string(cores) + (cores == 1 ? " core x " : " cores x ") +
         format_mhz(info->measured_mhz) + " MHz (" +
         (fallback ? "stated maximum; the imul chain read more, see clock_check"
                   : "measured by an imul chain, " + load + " busy") +
         ") x ";
}

// One figure: instructions per cycle x work per instruction, with the instruction and the source.
PeakFigure peak(suanli_dtype dtype, int cores, double mhz, const std::string& clock,
                const std::string& uarch, const std::string& instruction, double ipc, double work,
                const char* unit, const std::string& source) {
  PeakFigure p;
  p.dtype = dtype;
  p.per_cycle_per_core = ipc * work;
  p.ops_per_second = cores * mhz * 1e6 * p.per_cycle_per_core;
  p.derivation = clock + format_count(p.per_cycle_per_core) + " " + unit + "/cycle (" + uarch +
                 ": " + instruction + " " + format_count(ipc) + "/cycle x " + format_count(work) +
                 " " + unit + "; " + source + ")";
  return p;
}

// The peak of each dtype the CPU computes natively, for the instruction suanli's own peak chain
// executes (peak.cpp), so that measured/theoretical compares like with like. AMX, where the OS
// exposes it and grants the process its tile state, is the CPU's ceiling for bf16 and int8 (the
// GEMMs run on it through oneDNN): listed instead, and the chain then runs tdpbf16ps/tdpbusd.
std::vector<PeakFigure> peak_table(const CoreModel& m, const IsaFeatures& isa, int cores,
                                   double mhz, const std::string& clock) {
  std::vector<PeakFigure> out;
  auto add = [&](suanli_dtype t, const std::string& instruction, double ipc, double work,
                 const char* unit, const std::string& source) {
    std::string src = source.empty() ? m.source : source;
    if (ipc == 0) {  // the ISA has it, the table has no rate for this core
      ipc = m.fma_ipc;
      src = "assumed: as many per cycle as FMA instructions";
    }
    out.push_back(
        peak(t, cores, mhz, clock, m.uarch, instruction, ipc, work, unit, m.units + "; " + src));
  };
  const bool zmm = isa.avx512f;
  const double fp64_lanes = zmm ? 8 : isa.avx2 ? 4 : 2;
  const char* reg = zmm ? " zmm" : isa.avx2 ? " ymm" : " xmm";
  add(SUANLI_DTYPE_FP64, std::string("vfmadd231pd") + reg, m.fma_ipc, 2 * fp64_lanes, "FLOP", "");
  add(SUANLI_DTYPE_FP32, std::string("vfmadd231ps") + reg, m.fma_ipc, 4 * fp64_lanes, "FLOP", "");
  const char* amx_note = " (suanli's peak chain: tdp* on 4 accumulator tiles)";
  // fp16 runs on suanli's own vfmadd231ph kernels (GEMM and chain), never on AMX-FP16 (Granite
  // Rapids), so the vector figure is the ceiling of what suanli measures in fp16.
  if (isa.avx512_fp16)
    add(SUANLI_DTYPE_FP16, "vfmadd231ph zmm", m.fp16_ipc, 64, "FLOP", m.fp16_source);
  if (isa.amx_bf16)
    add(SUANLI_DTYPE_BF16, std::string("AMX tdpbf16ps 16x16x32 per 16 cycles") + amx_note, 1.0 / 16,
        16384, "FLOP", kIntelManual);
  else if (isa.avx512_bf16)
    add(SUANLI_DTYPE_BF16, "vdpbf16ps zmm", m.bf16_ipc, 64, "FLOP", m.bf16_source);
  if (isa.amx_int8)
    add(SUANLI_DTYPE_INT8, std::string("AMX tdpbusd 16x16x64 per 16 cycles") + amx_note, 1.0 / 16,
        32768, "OPS", kIntelManual);
  else if (isa.avx512_vnni)
    add(SUANLI_DTYPE_INT8, "vpdpbusd zmm", m.int8_ipc, 128, "OPS", m.int8_source);
  else if (isa.avx_vnni)
    add(SUANLI_DTYPE_INT8, "vpdpbusd ymm (VEX)", m.int8_ipc, 64, "OPS", m.int8_source);
  return out;
}

}  // namespace

CpuInfo detect_cpu(int threads) {
  CpuInfo info;
  const Regs l0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &l0.b, 4);
  std::memcpy(vendor + 4, &l0.d, 4);
  std::memcpy(vendor + 8, &l0.c, 4);
  info.vendor = vendor;

  char brand[49] = {};
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
  }
  info.model = trim(brand);

  const unsigned sig = cpuid(1).a;
  info.stepping = static_cast<int>(sig & 0xF);
  info.family = static_cast<int>((sig >> 8) & 0xF);
  info.model_id = static_cast<int>((sig >> 4) & 0xF);
  if (info.family == 0xF) info.family += static_cast<int>((sig >> 20) & 0xFF);
  if (info.family == 0x6 || info.family >= 0xF)
    info.model_id += static_cast<int>(((sig >> 16) & 0xF) << 4);

  const std::vector<int> cpus = allowed_cpus();
  info.logical = static_cast<int>(cpus.size());
  info.cores = std::max(1, std::min(info.logical, count_cores(cpus)));
  info.threads = threads > 0 ? threads : info.cores;

  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) info.memory_bytes = static_cast<uint64_t>(pages) * page;

  const bool amd = info.vendor == "AuthenticAMD" || info.vendor == "HygonGenuine";
  Caches caches = sysfs_caches(cpus);
  if (caches.l1d == 0 && caches.l2 == 0 && caches.l3 == 0) caches = cpuid_caches(amd);
  info.l1d_bytes = caches.l1d;
  info.l2_bytes = caches.l2;
  info.l3_bytes = caches.l3;

  const std::string khz = read_line("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  if (!khz.empty()) info.max_mhz = std::strtod(khz.c_str(), nullptr) / 1000.0;
  if (info.max_mhz == 0) info.max_mhz = cpuid(0x16).b & 0xFFFF;
  info.microcode = read_microcode();

  info.isa = detect_isa();
  const IsaFeatures& isa = info.isa;
  const std::pair<bool, const char*> flags[] = {{isa.avx2, "avx2"},
                                                {isa.fma, "fma"},
                                                {isa.avx512f, "avx512f"},
                                                {isa.avx512bw, "avx512bw"},
                                                {isa.avx512vl, "avx512vl"},
                                                {isa.avx512_vnni, "avx512_vnni"},
                                                {isa.avx_vnni, "avx_vnni"},
                                                {isa.avx512_bf16, "avx512_bf16"},
                                                {isa.avx512_fp16, "avx512_fp16"},
                                                {isa.amx_tile, "amx_tile"},
                                                {isa.amx_bf16, "amx_bf16"},
                                                {isa.amx_int8, "amx_int8"},
                                                {isa.amx_fp16, "amx_fp16"}};
  for (const auto& [present, name] : flags) {
    if (!present) continue;
    if (!info.features.empty()) info.features += ' ';
    info.features += name;
  }

  CoreModel model;
  if (amd) model = amd_core(info.family, info.model_id, isa);
  if (info.vendor == "GenuineIntel")
    model = intel_core(info.family, info.model_id, info.stepping, info.model, isa);
  if (model.fma_ipc == 0) {
    const std::string uarch = model.uarch;
    model = generic_core(isa);
    model.uarch = uarch;
  }
  info.uarch = model.uarch;

  const std::string clock = measure_clock(&info, cpus);
  info.peaks = peak_table(model, isa, std::min(info.threads, info.cores), info.measured_mhz, clock);
  return info;
}

}  // namespace suanli::cpu
