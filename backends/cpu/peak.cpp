// Peak op: dependent FMA / dot-product chains per dtype that keep every vector FMA pipe busy.
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "cpu_info.h"
#include "cpu_op.h"

// The kernels are compiled for their ISA only (the file has no -march), so the plugin loads on any
// x86-64 and picks a path at run time. Each step is inline asm: the compiler can neither fold the
// chain nor replace the instruction, and the asm needs only the register file of the ISA.
#define SUANLI_TARGET_AVX512 __attribute__((target("avx512f")))
#define SUANLI_TARGET_AVX2 __attribute__((target("avx2")))
#define SUANLI_TARGET_AMX __attribute__((target("amx-tile,amx-bf16,amx-int8")))

namespace suanli::cpu {
namespace {

// Accumulator registers per block. The longest chain latency is vdpbf16ps at 6 cycles on two
// pipes (Zen 5; FMA: 4), so 12 in flight fill the pipes and 16 leave slack. With 16 ymm
// registers the AVX2 path has room for 12 besides alpha and beta.
constexpr int kZmmAccumulators = 16;
constexpr int kYmmAccumulators = 12;
// Work is split in granules of this many registers; a thread's remainder after whole blocks runs
// in blocks of 8 and 4.
constexpr int64_t kGranule = 4;
// Instructions per chain per loop iteration: depth is a multiple of 64, so depth/4 (int8) is a
// multiple of 16 and every step count divides by this.
constexpr int64_t kUnroll = 4;

// acc += alpha * beta in the lanes of a register, one instruction per call: NAME's step() runs
// INSN on VEC registers (REG: the asm constraint, "v" for zmm, "x" for ymm).
#define SUANLI_PEAK_STEP(NAME, TARGET, VEC, REG, INSN)       \
  struct NAME {                                              \
    TARGET static void step(VEC& x, VEC a, VEC b) {          \
      asm(INSN " %2, %1, %0" : "+" REG(x) : REG(a), REG(b)); \
    }                                                        \
  };

SUANLI_PEAK_STEP(Vfmadd231pdZmm, SUANLI_TARGET_AVX512, __m512i, "v", "vfmadd231pd")
SUANLI_PEAK_STEP(Vfmadd231psZmm, SUANLI_TARGET_AVX512, __m512i, "v", "vfmadd231ps")
SUANLI_PEAK_STEP(Vdpbf16psZmm, SUANLI_TARGET_AVX512, __m512i, "v", "vdpbf16ps")
// AVX512-FP16: 32 fp16 lanes, product and sum rounded once to fp16. Only reached when cpuid
// reports AVX512_FP16 (the assembler accepts it anyway; the asm needs only zmm registers).
SUANLI_PEAK_STEP(Vfmadd231phZmm, SUANLI_TARGET_AVX512, __m512i, "v", "vfmadd231ph")
// AT&T order: the unsigned bytes (alpha) are the middle operand, the signed ones (beta) the first.
SUANLI_PEAK_STEP(VpdpbusdZmm, SUANLI_TARGET_AVX512, __m512i, "v", "vpdpbusd")
SUANLI_PEAK_STEP(Vfmadd231pdYmm, SUANLI_TARGET_AVX2, __m256i, "x", "vfmadd231pd")
SUANLI_PEAK_STEP(Vfmadd231psYmm, SUANLI_TARGET_AVX2, __m256i, "x", "vfmadd231ps")
// The VEX form, which AVX-VNNI CPUs without AVX-512 (Alder Lake and later clients) execute.
SUANLI_PEAK_STEP(VpdpbusdYmm, SUANLI_TARGET_AVX2, __m256i, "x", "%{vex%} vpdpbusd")
#undef SUANLI_PEAK_STEP

// Registers [r0, r1) of the element arrays: whole blocks, then the remainder in smaller blocks.
// alpha and beta are 64-bit lane patterns of the multiplicands.
using RangeFn = void (*)(const void* a, void* c, int64_t r0, int64_t r1, int64_t steps,
                         uint64_t alpha, uint64_t beta);

// block_<isa>: kAcc registers of chains loaded from A, `steps` instructions each, stored to C.
// range_<isa>: a RangeFn over such blocks. Written once for both register widths: each width
// needs its own target attribute and intrinsics (a template cannot vary the attribute), so a
// macro stamps the two out. ISA: zmm or ymm; BYTES: register bytes; ACC: accumulators per block.
#define SUANLI_PEAK_CHAINS(ISA, TARGET, VEC, BYTES, ACC, LOAD, STORE, SET1)               \
  template <class Step, int kAcc>                                                         \
  TARGET void block_##ISA(const char* a, char* c, int64_t steps, VEC va, VEC vb) {        \
    VEC x[kAcc];                                                                          \
    _Pragma("GCC unroll 32") for (int i = 0; i < kAcc; ++i) x[i] =                        \
        LOAD(reinterpret_cast<const VEC*>(a + BYTES * i));                                \
    for (int64_t s = 0; s < steps; s += kUnroll) {                                        \
      _Pragma("GCC unroll 4") for (int u = 0; u < kUnroll; ++u) {                         \
        _Pragma("GCC unroll 32") for (int i = 0; i < kAcc; ++i) Step::step(x[i], va, vb); \
      }                                                                                   \
    }                                                                                     \
    _Pragma("GCC unroll 32") for (int i = 0; i < kAcc; ++i)                               \
        STORE(reinterpret_cast<VEC*>(c + BYTES * i), x[i]);                               \
  }                                                                                       \
  template <class Step>                                                                   \
  TARGET void range_##ISA(const void* a, void* c, int64_t r0, int64_t r1, int64_t steps,  \
                          uint64_t alpha, uint64_t beta) {                                \
    const VEC va = SET1(static_cast<long long>(alpha));                                   \
    const VEC vb = SET1(static_cast<long long>(beta));                                    \
    const char* pa = static_cast<const char*>(a) + BYTES * r0;                            \
    char* pc = static_cast<char*>(c) + BYTES * r0;                                        \
    int64_t left = r1 - r0;                                                               \
    for (; left >= ACC; left -= ACC, pa += BYTES * ACC, pc += BYTES * ACC)                \
      block_##ISA<Step, ACC>(pa, pc, steps, va, vb);                                      \
    for (; left >= 8; left -= 8, pa += BYTES * 8, pc += BYTES * 8)                        \
      block_##ISA<Step, 8>(pa, pc, steps, va, vb);                                        \
    for (; left >= 4; left -= 4, pa += BYTES * 4, pc += BYTES * 4)                        \
      block_##ISA<Step, 4>(pa, pc, steps, va, vb);                                        \
  }

SUANLI_PEAK_CHAINS(zmm, SUANLI_TARGET_AVX512, __m512i, 64, kZmmAccumulators, _mm512_loadu_si512,
                   _mm512_storeu_si512, _mm512_set1_epi64)
SUANLI_PEAK_CHAINS(ymm, SUANLI_TARGET_AVX2, __m256i, 32, kYmmAccumulators, _mm256_loadu_si256,
                   _mm256_storeu_si256, _mm256_set1_epi64x)
#undef SUANLI_PEAK_CHAINS

// ---- AMX ---------------------------------------------------------------------------------------
// Where the OS grants the tile state (cpu_info.cpp asks for it), the bf16 and int8 ceilings are
// AMX's: tdpbf16ps / tdpbusd, one per 16 cycles per core (Intel Optimization Reference Manual,
// AMX chapter; latency ~52 cycles). A block is four accumulator tiles (C0..C3: 16 rows x 64 bytes =
// 256 fp32/int32 elements each) loaded from A, updated `steps` times as C0 += T4 T6, C1 += T4 T7,
// C2 += T5 T6, C3 += T5 T7 (four independent chains, 64 cycles apart: more than the latency),
// stored to C. T4/T5 hold alpha, T6/T7 beta in every element: each step adds K products
// alpha*beta to every element (bf16: K = 32, int8: K = 64), the closed form of the peak op.
constexpr int kTileBytes = 1024;  // 16 rows x 64 bytes
constexpr int kAmxAccumulators = 4;

struct TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "the tile configuration is 64 bytes");

// NAME::steps(n): n rounds of the four chains through TDP (an AMX dot-product intrinsic: the first
// source's bytes are the unsigned ones for tdpbusd, alpha; the second's signed, beta).
#define SUANLI_AMX_STEPS(NAME, TDP)                    \
  struct NAME {                                        \
    SUANLI_TARGET_AMX static void steps(int64_t n) {   \
      for (int64_t s = 0; s < n; ++s) {                \
        TDP(0, 4, 6);                                  \
        TDP(1, 4, 7);                                  \
        TDP(2, 5, 6);                                  \
        TDP(3, 5, 7);                                  \
      }                                                \
    }                                                  \
  };
SUANLI_AMX_STEPS(TdpBf16ps, _tile_dpbf16ps)
SUANLI_AMX_STEPS(TdpBusd, _tile_dpbusd)
#undef SUANLI_AMX_STEPS

// A RangeFn over tiles [r0, r1) (a multiple of 4: whole blocks); the tile configuration is
// per-thread state, loaded and released here.
template <class Tdp>
SUANLI_TARGET_AMX void range_amx(const void* a, void* c, int64_t r0, int64_t r1, int64_t steps,
                                 uint64_t alpha, uint64_t beta) {
  alignas(64) uint64_t alpha_tile[kTileBytes / 8], beta_tile[kTileBytes / 8];
  for (int i = 0; i < kTileBytes / 8; ++i) alpha_tile[i] = alpha, beta_tile[i] = beta;
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  // The tile intrinsics are asm without a memory clobber: make the stores above visible to them.
  asm volatile("" ::: "memory");
  _tile_loadconfig(&cfg);
  _tile_loadd(4, alpha_tile, 64);
  _tile_loadd(5, alpha_tile, 64);
  _tile_loadd(6, beta_tile, 64);
  _tile_loadd(7, beta_tile, 64);
  const char* pa = static_cast<const char*>(a) + kTileBytes * r0;
  char* pc = static_cast<char*>(c) + kTileBytes * r0;
  for (int64_t left = r1 - r0; left >= kAmxAccumulators;
       left -= kAmxAccumulators, pa += 4 * kTileBytes, pc += 4 * kTileBytes) {
    _tile_loadd(0, pa, 64);
    _tile_loadd(1, pa + kTileBytes, 64);
    _tile_loadd(2, pa + 2 * kTileBytes, 64);
    _tile_loadd(3, pa + 3 * kTileBytes, 64);
    Tdp::steps(steps);
    _tile_stored(0, pc, 64);
    _tile_stored(1, pc + kTileBytes, 64);
    _tile_stored(2, pc + 2 * kTileBytes, 64);
    _tile_stored(3, pc + 3 * kTileBytes, 64);
  }
  _tile_release();
  asm volatile("" ::: "memory");  // and the tile stores to whoever reads C
}

struct Kernel {
  RangeFn range = nullptr;
  int register_bytes = 0;  // 64 (zmm) or 32 (ymm)
  int accumulators = 0;
  const char* name = "";  // ISA and instruction, for the report
};

// The FMA chain of the widest registers the CPU has (zmm, else ymm); no range when neither.
template <class ZmmStep, class YmmStep>
Kernel fma_kernel(bool zmm, bool ymm, const char* zmm_name, const char* ymm_name) {
  if (zmm) return {range_zmm<ZmmStep>, 64, kZmmAccumulators, zmm_name};
  if (ymm) return {range_ymm<YmmStep>, 32, kYmmAccumulators, ymm_name};
  return {};
}

class PeakOp : public CpuOp {
 public:
  PeakOp(const Kernel& k, const void* a, void* c, int64_t registers, int64_t steps, uint64_t alpha,
         uint64_t beta, int threads)
      : kernel_(k),
        a_(a),
        c_(c),
        registers_(registers),
        steps_(steps),
        alpha_(alpha),
        beta_(beta),
        threads_(threads) {}

  void run() override {
    const int64_t granules = registers_ / kGranule;
#pragma omp parallel num_threads(threads_)
    {
      const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t g0 = granules * t / n, g1 = granules * (t + 1) / n;
      kernel_.range(a_, c_, g0 * kGranule, g1 * kGranule, steps_, alpha_, beta_);
    }
  }

 private:
  Kernel kernel_;
  const void* a_;
  void* c_;
  int64_t registers_, steps_;
  uint64_t alpha_, beta_;
  int threads_;
};

// The descriptor comes from C, where an enum field may hold any int; loading a value outside the
// enumerators' range as the C++ enum would be undefined, so it is read as an int first.
int32_t raw_enum(const suanli_dtype& e) {
  static_assert(sizeof(suanli_dtype) == sizeof(int32_t), "C enums are int-sized");
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

const char* dtype_name(int32_t t) {
  return suanli_dtype_name(t);
}

uint64_t pattern32(uint32_t v) {
  return (static_cast<uint64_t>(v) << 32) | v;
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Round to nearest even, as vcvtneps2bf16 does.
uint16_t to_bf16(double d) {
  const uint32_t u = float_bits(static_cast<float>(d));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Round to nearest even, as the fp16 multiplicands are (one rounding, from double).
uint16_t to_fp16(double d) {
  return __builtin_bit_cast(uint16_t, static_cast<_Float16>(d));
}

// An integer multiplicand of vpdpbusd must be exact: a rounded one would make the closed form lie.
int64_t exact_integer(double v, double lo, double hi, const char* what) {
  if (!(v >= lo && v <= hi) || std::floor(v) != v)
    throw BackendError(SUANLI_INVALID_ARGUMENT, std::string("peak int8: ") + what + " = " +
                                                    std::to_string(v) + " is not an integer in [" +
                                                    std::to_string(static_cast<int>(lo)) + ", " +
                                                    std::to_string(static_cast<int>(hi)) + "]");
  return static_cast<int64_t>(v);
}

}  // namespace

std::unique_ptr<CpuOp> make_peak(const suanli_peak_desc& d, const void* a, void* c,
                                 const CpuConfig& cfg, std::string* reason) {
  if (!SUANLI_HAS_FIELD(&d, suanli_peak_desc, beta))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak descriptor: struct_size too small");
  if (d.elements <= 0 || d.elements % 4096 != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak: elements = " + std::to_string(d.elements) +
                                                    " is not a positive multiple of 4096");
  if (d.depth <= 0 || d.depth % 64 != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak: depth = " + std::to_string(d.depth) +
                                                    " is not a positive multiple of 64");
  if ((a == nullptr) != (c == nullptr))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak: buffers A and C must both be given");
  const int32_t in_raw = raw_enum(d.in_type), acc_raw = raw_enum(d.acc_type);
  const char* in = dtype_name(in_raw);
  const char* acc = dtype_name(acc_raw);
  if (!in || !acc)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak: in_type " + std::to_string(in_raw) +
                                                    " / acc_type " + std::to_string(acc_raw) +
                                                    " is not a known dtype");
  const std::string types = std::string(in) + " -> " + acc;
  auto unsupported = [&](const std::string& why) -> std::unique_ptr<CpuOp> {
    *reason = "peak " + types + ": " + why;
    return nullptr;
  };

  const IsaFeatures isa = kernel_isa();
  const IsaFeatures real = detect_isa();
  const bool capped = real.avx512f && !isa.avx512f;
  const std::string cap_note = capped ? " (AVX-512 hidden by SUANLI_CPU_MAX_ISA=avx2)" : "";
  const bool zmm = isa.avx512f;
  const bool ymm = isa.avx2 && isa.fma;

  Kernel k;
  int fold = 1;
  uint64_t alpha = 0, beta = 0;
  const auto it = static_cast<suanli_dtype>(in_raw);
  const auto at = static_cast<suanli_dtype>(acc_raw);
  if (it == SUANLI_DTYPE_FP64 && at == SUANLI_DTYPE_FP64) {
    k = fma_kernel<Vfmadd231pdZmm, Vfmadd231pdYmm>(zmm, ymm, "avx512 vfmadd231pd zmm",
                                                   "avx2 vfmadd231pd ymm");
    if (!k.range) return unsupported("CPU lacks AVX2/FMA: no native fused multiply-add");
    std::memcpy(&alpha, &d.alpha, sizeof alpha);
    std::memcpy(&beta, &d.beta, sizeof beta);
  } else if (it == SUANLI_DTYPE_FP32 && at == SUANLI_DTYPE_FP32) {
    k = fma_kernel<Vfmadd231psZmm, Vfmadd231psYmm>(zmm, ymm, "avx512 vfmadd231ps zmm",
                                                   "avx2 vfmadd231ps ymm");
    if (!k.range) return unsupported("CPU lacks AVX2/FMA: no native fused multiply-add");
    alpha = pattern32(float_bits(static_cast<float>(d.alpha)));
    beta = pattern32(float_bits(static_cast<float>(d.beta)));
  } else if (it == SUANLI_DTYPE_BF16 && at == SUANLI_DTYPE_FP32) {
    if (!isa.avx512_bf16)
      return unsupported("CPU lacks AVX512_BF16" + cap_note +
                         ": no native bf16 dot-product instruction");
    k = {range_zmm<Vdpbf16psZmm>, 64, kZmmAccumulators, "avx512_bf16 vdpbf16ps zmm"};
    fold = 2;
    if (isa.amx_bf16) {
      k = {range_amx<TdpBf16ps>, kTileBytes, kAmxAccumulators, "amx_bf16 tdpbf16ps (tiles)"};
      fold = 32;
    }
    const uint32_t a16 = to_bf16(d.alpha), b16 = to_bf16(d.beta);
    alpha = pattern32(a16 | (a16 << 16));
    beta = pattern32(b16 | (b16 << 16));
  } else if ((it == SUANLI_DTYPE_INT8 || it == SUANLI_DTYPE_UINT8) && at == SUANLI_DTYPE_INT32) {
    if (zmm && isa.avx512_vnni)
      k = {range_zmm<VpdpbusdZmm>, 64, kZmmAccumulators, "avx512_vnni vpdpbusd zmm"};
    else if (isa.avx2 && isa.avx_vnni)
      k = {range_ymm<VpdpbusdYmm>, 32, kYmmAccumulators, "avx_vnni vpdpbusd ymm (VEX)"};
    else
      return unsupported("CPU lacks AVX512_VNNI and AVX_VNNI" + cap_note +
                         ": no native int8 dot-product instruction");
    fold = 4;
    if (isa.amx_int8) {
      k = {range_amx<TdpBusd>, kTileBytes, kAmxAccumulators, "amx_int8 tdpbusd (tiles)"};
      fold = 64;
    }
    // uint8 x int8: alpha is the unsigned operand, beta the signed one.
    const auto ua = static_cast<uint32_t>(exact_integer(d.alpha, 0, 255, "alpha"));
    const auto sb =
        static_cast<uint8_t>(static_cast<int8_t>(exact_integer(d.beta, -128, 127, "beta")));
    alpha = pattern32(ua * 0x01010101u);
    beta = pattern32(static_cast<uint32_t>(sb) * 0x01010101u);
  } else if (it == SUANLI_DTYPE_FP16 && at == SUANLI_DTYPE_FP16) {
    if (!isa.avx512_fp16)
      return unsupported(
          std::string(real.avx512_fp16 ? "AVX512_FP16 hidden" : "CPU lacks AVX512_FP16") +
          cap_note + ": no native fp16 FMA instruction");
    k = {range_zmm<Vfmadd231phZmm>, 64, kZmmAccumulators, "avx512_fp16 vfmadd231ph zmm"};
    const uint64_t a16 = to_fp16(d.alpha), b16 = to_fp16(d.beta);
    alpha = a16 * 0x0001000100010001ull;
    beta = b16 * 0x0001000100010001ull;
  } else if (it == SUANLI_DTYPE_FP16) {
    return unsupported("the fp16 peak chain is fp16 -> fp16 (vfmadd231ph accumulates in fp16)");
  } else if (it == SUANLI_DTYPE_TF32) {
    return unsupported("CPUs have no TF32 arithmetic");
  } else if (it == SUANLI_DTYPE_FP8_E4M3 || it == SUANLI_DTYPE_FP8_E5M2) {
    return unsupported("CPU has no native FP8 arithmetic");
  } else {
    return unsupported(
        "not a combination the peak op defines (fp64 -> fp64, fp32 -> fp32, "
        "bf16 -> fp32, int8 -> int32)");
  }

  const int threads = cfg.threads > 0 ? cfg.threads : 1;
  const int64_t element_bytes = at == SUANLI_DTYPE_FP64 ? 8 : at == SUANLI_DTYPE_FP16 ? 2 : 4;
  const int64_t lanes = k.register_bytes / element_bytes;
  auto op =
      std::make_unique<PeakOp>(k, a, c, d.elements / lanes, d.depth / fold, alpha, beta, threads);
  op->library = "suanli";
  op->implementation = std::string(k.name) + ", " + std::to_string(k.accumulators) +
                       " accumulator " + (k.register_bytes == kTileBytes ? "tiles" : "registers") +
                       " (" + std::to_string(k.accumulators * lanes) +
                       " chains) per block, " + std::to_string(threads) +
                       (threads == 1 ? " thread" : " threads") + cap_note;
  return op;
}

}  // namespace suanli::cpu
