// Host CPU identity: cpuid/xgetbv features, /sys and /proc topology, a measured clock, peak table.
#include "cpu_info.h"

#include <cpuid.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
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

// FMA resources of one core, as the vendor documents them for the microarchitecture.
struct VectorUnits {
  std::string uarch = "unknown x86-64";
  double fp64_per_cycle = 0;  // with the widest FMA the core has; fp32 is twice this
  std::string why;            // "2x 512-bit FMA pipes"
};

VectorUnits amd_units(int family, int model, const IsaFeatures& isa) {
  VectorUnits u;
  if (family == 0x17 || family == 0x18) {  // 0x18: Hygon Dhyana, a Zen derivative
    const bool zen2 = family == 0x17 && model >= 0x30;
    u.uarch = zen2 ? "Zen 2" : "Zen/Zen+";
    u.fp64_per_cycle = zen2 ? 16 : 8;
    u.why = zen2 ? "2x 256-bit FMA pipes" : "2x 128-bit FMA pipes";
  } else if (family == 0x19) {
    u.uarch = isa.avx512f ? "Zen 4" : "Zen 3";
    u.fp64_per_cycle = 16;
    u.why = isa.avx512f ? "AVX-512 on 2x 256-bit FMA pipes" : "2x 256-bit FMA pipes";
  } else if (family == 0x1A) {
    // Mobile Zen 5 (Strix/Krackan Point) executes AVX-512 on 256-bit pipes; server and desktop
    // parts have the full 512-bit datapath.
    const bool mobile = (model >= 0x20 && model <= 0x2F) || (model >= 0x60 && model <= 0x6F);
    u.uarch = mobile ? "Zen 5 (mobile)" : "Zen 5";
    u.fp64_per_cycle = mobile ? 16 : 32;
    u.why = mobile ? "AVX-512 on 2x 256-bit FMA pipes" : "2x 512-bit FMA pipes";
  }
  return u;
}

VectorUnits intel_units(int family, int model, int stepping, const std::string& brand) {
  VectorUnits u;
  if (family != 6) return u;
  auto is = [&](std::initializer_list<int> models) {
    return std::find(models.begin(), models.end(), model) != models.end();
  };
  const char* k2x256 = "2x 256-bit FMA pipes";
  const char* k2x512 = "2x 512-bit FMA pipes";
  const char* k1x512 = "1x 512-bit FMA (ports 0+1 fused) + 256-bit FMA";
  if (is({0x3C, 0x3F, 0x45, 0x46})) {
    u = {"Haswell", 16, k2x256};
  } else if (is({0x3D, 0x47, 0x4F, 0x56})) {
    u = {"Broadwell", 16, k2x256};
  } else if (is({0x4E, 0x5E, 0x8E, 0x9E, 0xA5, 0xA6})) {
    u = {"Skylake (client)", 16, k2x256};
  } else if (is({0x97, 0x9A, 0xBF, 0xB7, 0xBA, 0xAA, 0xAC, 0xC5, 0xC6, 0xBD})) {
    u = {"Alder Lake or later hybrid (P-cores)", 16, k2x256};
  } else if (is({0x66, 0x7D, 0x7E, 0x8C, 0x8D, 0xA7})) {
    u = {"Ice Lake / Tiger Lake / Rocket Lake (client)", 16, k1x512};
  } else if (model == 0x55) {
    u.uarch = stepping >= 10 ? "Cooper Lake" : stepping >= 5 ? "Cascade Lake" : "Skylake-SP";
    // Bronze, Silver and most Gold 5xxx parts enable only the port-0/1 FMA unit.
    const bool one_unit = brand.find("Bronze") != std::string::npos ||
                          brand.find("Silver") != std::string::npos ||
                          (brand.find("Gold 5") != std::string::npos &&
                           brand.find("Gold 5122") == std::string::npos &&
                           brand.find("Gold 5222") == std::string::npos);
    u.fp64_per_cycle = one_unit ? 16 : 32;
    u.why = one_unit ? "1x 512-bit FMA unit (SKU from brand string)" : k2x512;
  } else if (is({0x6A, 0x6C})) {
    u = {"Ice Lake-SP", 32, k2x512};
  } else if (model == 0x8F) {
    u = {"Sapphire Rapids", 32, k2x512};
  } else if (model == 0xCF) {
    u = {"Emerald Rapids", 32, k2x512};
  } else if (is({0xAD, 0xAE})) {
    u = {"Granite Rapids", 32, k2x512};
  } else if (is({0x57, 0x85})) {
    u = {"Knights Landing/Mill", 32, k2x512};
  } else if (is({0xAF, 0xB6})) {
    u = {"Sierra Forest / Grand Ridge (E-cores)", 8, "2x 128-bit FMA pipes"};
  }
  return u;
}

// What an unknown CPU most likely has, from its ISA alone; the derivation says "assumed".
VectorUnits generic_units(const IsaFeatures& isa) {
  VectorUnits u;
  if (isa.amx_tile) {
    u.fp64_per_cycle = 32;  // every AMX part so far is a server core with two 512-bit FMA units
    u.why = "assumed 2x 512-bit FMA pipes";
  } else if (isa.avx512f) {
    u.fp64_per_cycle = 16;
    u.why = "assumed 1x 512-bit FMA throughput";
  } else if (isa.avx2 && isa.fma) {
    u.fp64_per_cycle = 16;
    u.why = "assumed 2x 256-bit FMA pipes";
  } else if (isa.fma) {
    u.fp64_per_cycle = 8;
    u.why = "assumed 2x 128-bit FMA pipes";
  } else {
    u.fp64_per_cycle = 4;
    u.why = "assumed 128-bit add + 128-bit multiply, no FMA";
  }
  return u;
}

// 1000 dependent adds: each needs the previous result, so they retire one per cycle on every
// x86-64 core of the last two decades, whatever the width of the machine.
#define SUANLI_ADD1 "add $1, %0\n\t"
#define SUANLI_ADD10                                                                              \
  SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 SUANLI_ADD1 \
      SUANLI_ADD1 SUANLI_ADD1
#define SUANLI_ADD100                                                                        \
  SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10 \
      SUANLI_ADD10 SUANLI_ADD10 SUANLI_ADD10

constexpr int kAddsPerIteration = 1000;

void add_chain(int64_t iterations) {
  uint64_t x = 0;
  for (int64_t i = 0; i < iterations; ++i) {
    asm volatile(SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100
                     SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100 SUANLI_ADD100
                 : "+r"(x));
  }
}

#undef SUANLI_ADD100
#undef SUANLI_ADD10
#undef SUANLI_ADD1

// Seconds this thread has run. On a shared machine a thread loses whole time slices to other
// processes; wall time would count them as slow cycles, the thread's own CPU time does not.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One thread's clock: a warm-up that lets the core reach its boost state (and calibrates the
// repeat length), then the best of a few repeats, so an interrupt in one of them costs nothing.
double best_mhz_of_thread(std::atomic<int>* arrived, int total) {
  arrived->fetch_add(1);
  while (arrived->load() < total) {
    asm volatile("pause");
  }
  constexpr double kWarmupS = 0.010, kRepeatS = 0.008;
  constexpr int kRepeats = 4, kChunk = 16;
  int64_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_seconds();
  do {
    add_chain(kChunk);
    done += kChunk;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < kWarmupS);
  const double ran = std::max(1e-6, thread_seconds() - c0);
  const int64_t iterations =
      std::max<int64_t>(1, static_cast<int64_t>(kRepeatS * static_cast<double>(done) / ran));
  double best = 0;
  for (int r = 0; r < kRepeats; ++r) {
    const double c = thread_seconds();
    add_chain(iterations);
    const double s = thread_seconds() - c;
    if (s > 0) best = std::max(best, static_cast<double>(iterations) * kAddsPerIteration / s / 1e6);
  }
  return best;
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
  f.amx_tile = amx_state && bit(l7.d, 24);
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

  VectorUnits units;
  if (amd) units = amd_units(info.family, info.model_id, isa);
  if (info.vendor == "GenuineIntel")
    units = intel_units(info.family, info.model_id, info.stepping, info.model);
  if (units.fp64_per_cycle == 0) {
    const std::string uarch = units.uarch;
    units = generic_units(isa);
    units.uarch = uarch;
  }
  info.uarch = units.uarch;

  const int busy = std::min(info.threads, info.logical);
  info.measured_mhz = measure_clock_mhz(busy);

  const int cores = std::min(info.threads, info.cores);
  const std::string clock =
      std::to_string(cores) + (cores == 1 ? " core x " : " cores x ") +
      format_mhz(info.measured_mhz) + " MHz (measured, " +
      (busy == info.logical ? std::string("all cores")
                            : std::to_string(busy) + (busy == 1 ? " thread" : " threads")) +
      " busy) x ";
  auto add = [&](suanli_dtype dtype, double per_cycle, const char* unit, const std::string& why) {
    PeakFigure p;
    p.dtype = dtype;
    p.per_cycle_per_core = per_cycle;
    p.ops_per_second = cores * info.measured_mhz * 1e6 * per_cycle;
    p.derivation =
        clock + format_count(per_cycle) + " " + unit + "/cycle (" + info.uarch + ": " + why + ")";
    info.peaks.push_back(std::move(p));
  };
  const double fp64 = units.fp64_per_cycle, fp32 = 2 * fp64;
  const double fp32_ymm = std::min(fp32, 32.0);  // 256-bit forms: at most two pipes of 8 lanes
  add(SUANLI_DTYPE_FP64, fp64, "FLOP", units.why);
  add(SUANLI_DTYPE_FP32, fp32, "FLOP", units.why);
  if (isa.amx_fp16)
    add(SUANLI_DTYPE_FP16, 1024, "FLOP", "AMX TMUL, 16x32 fp16 tile dot products");
  else if (isa.avx512_fp16)
    add(SUANLI_DTYPE_FP16, 2 * fp32, "FLOP", "vfmadd231ph, " + units.why);
  if (isa.amx_bf16)
    add(SUANLI_DTYPE_BF16, 1024, "FLOP", "AMX TMUL, 16x32 bf16 tile dot products");
  else if (isa.avx512_bf16)
    add(SUANLI_DTYPE_BF16, 2 * fp32, "FLOP",
        "vdpbf16ps, 2 bf16 products per fp32 lane, " + units.why);
  if (isa.amx_int8)
    add(SUANLI_DTYPE_INT8, 2048, "OPS", "AMX TMUL, 16x64 int8 tile dot products");
  else if (isa.avx512_vnni)
    add(SUANLI_DTYPE_INT8, 4 * fp32, "OPS",
        "vpdpbusd, 4 int8 products per int32 lane, " + units.why);
  else if (isa.avx_vnni)
    add(SUANLI_DTYPE_INT8, 4 * fp32_ymm, "OPS",
        "AVX-VNNI vpdpbusd ymm, 4 int8 products per int32 lane, 2x 256-bit pipes");
  return info;
}

}  // namespace suanli::cpu
