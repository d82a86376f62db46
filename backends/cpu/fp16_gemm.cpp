// FP16 GEMM driver and its two micro-kernels (see fp16_gemm.h).
//
// Packed formats. k runs in pairs p = (2p, 2p+1), so that one 32-bit broadcast carries two A
// values (a pure load on Intel cores, where a 16-bit broadcast also takes the shuffle port that
// the second FMA unit sits on):
//   A panel, per strip of kFp16Mr rows:    ap[p][r]    = A[r][2p] | A[r][2p+1] << 16
//   B panel, per strip of kFp16Nr columns: bp[p][2j+q] = B[2p+q][j]
// so lane 2j of a vfmadd231ph accumulates A[r][2p] B[2p][j] (even k) and lane 2j+1 the odd k of
// the same output; acc[r][2j+q] is the partial sum of q. Rows, columns and k beyond the matrix
// are packed as zeros, so the micro-kernel always computes a whole tile.
//
// Blocking (Goto's scheme): a task owns a kMc x kNc block of C and walks k in blocks of kKc; per
// k block it packs its A block (kMc x kKc, L2) and B block (kKc x kNc); one B strip (kKc x 48,
// 24 KiB) stays in L1 while the A strips stream past it. Partial sums live in the task's fp16
// buffer until the last k block, then the pairs are added and C is written once.
#include "fp16_gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace suanli::cpu {
namespace {

constexpr int kMr = kFp16Mr, kNr = kFp16Nr;
constexpr int kNv = kNr / 16;        // zmm vectors per tile row (16 columns x 2 k each)
constexpr int64_t kKc = 256;         // k per block (128 pairs)
constexpr int64_t kMc = 48 * kMr;    // 384 rows of C per task
constexpr int64_t kNc = 8 * kNr;     // 384 columns of C per task
constexpr int64_t kAccLd = 2 * kNc;  // halves per row of a task's accumulator buffer

// ---- fp16 <-> float, exact and round-to-nearest-even --------------------------------------------

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else {
    float f = static_cast<float>(mant) * (1.0f / 16777216.0f);  // mant x 2^-24
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t double_to_half(double d) {
  return __builtin_bit_cast(uint16_t, static_cast<_Float16>(d));  // one correctly rounded step
}

// ---- micro-kernels ---------------------------------------------------------------------------

// acc (kMr x 2 kNr halves, row stride ld) += the products of `pairs` k pairs of one A and one B
// strip; zeroed first when `first`.
using TileFn = void (*)(int64_t pairs, const uint32_t* ap, const uint16_t* bp, uint16_t* acc,
                        int64_t ld, bool first);

// Scalar emulation of one vfmadd231ph lane: the product and sum rounded once to fp16 (exact in
// double for the inputs of a GEMM test; a test model, never timed).
void tile_portable(int64_t pairs, const uint32_t* ap, const uint16_t* bp, uint16_t* acc, int64_t ld,
                   bool first) {
  for (int r = 0; r < kMr; ++r) {
    uint16_t* row = acc + r * ld;
    if (first) std::fill(row, row + 2 * kNr, 0);
    for (int64_t p = 0; p < pairs; ++p) {
      const uint32_t a2 = ap[p * kMr + r];
      const double a[2] = {half_to_float(static_cast<uint16_t>(a2)),
                           half_to_float(static_cast<uint16_t>(a2 >> 16))};
      const uint16_t* b = bp + p * 2 * kNr;
      for (int lane = 0; lane < 2 * kNr; ++lane)
        row[lane] = double_to_half(a[lane & 1] * half_to_float(b[lane]) + half_to_float(row[lane]));
    }
  }
}

#define SUANLI_TARGET_FP16 __attribute__((target("avx512fp16,avx512bw,avx512vl,avx512f")))

// 24 accumulators (8 rows x 3 vectors), 3 B vectors and one broadcast: 28 of the 32 zmm.
SUANLI_TARGET_FP16 __attribute__((noinline)) void tile_avx512fp16(int64_t pairs, const uint32_t* ap,
                                                                  const uint16_t* bp, uint16_t* acc,
                                                                  int64_t ld, bool first) {
  __m512h c[kMr][kNv];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < kNv; ++v)
      c[r][v] = first ? _mm512_setzero_ph() : _mm512_loadu_ph(acc + r * ld + 32 * v);
  for (int64_t p = 0; p < pairs; ++p) {
    __m512h b[kNv];
#pragma GCC unroll 3
    for (int v = 0; v < kNv; ++v) b[v] = _mm512_loadu_ph(bp + p * 2 * kNr + 32 * v);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const __m512h a = _mm512_castsi512_ph(_mm512_set1_epi32(static_cast<int>(ap[p * kMr + r])));
#pragma GCC unroll 3
      for (int v = 0; v < kNv; ++v) c[r][v] = _mm512_fmadd_ph(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < kNv; ++v) _mm512_storeu_ph(acc + r * ld + 32 * v, c[r][v]);
}

// ---- packing ---------------------------------------------------------------------------------

// Element (i, j) of a row-major matrix with `cols` columns, read transposed when `trans`.
struct View {
  const uint16_t* p;
  int64_t rows, cols;  // logical shape
  bool trans;
  uint16_t at(int64_t i, int64_t j) const {
    if (i >= rows || j >= cols) return 0;
    return trans ? p[j * rows + i] : p[i * cols + j];
  }
};

// Rows [i0, i0+mc) x k [k0, k0+kc) of A into strips of kMr rows.
void pack_a(const View& a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, uint32_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  const bool fast = !a.trans && kc % 2 == 0;  // whole pairs, contiguous in a row of A
  for (int64_t s = 0; s < mc; s += kMr) {
    for (int r = 0; r < kMr; ++r) {
      const int64_t i = i0 + s + r;
      uint32_t* o = out + r;
      if (s + r >= mc) {
        for (int64_t p = 0; p < pairs; ++p) o[p * kMr] = 0;
      } else if (fast) {
        const uint16_t* row = a.p + i * a.cols + k0;
        for (int64_t p = 0; p < pairs; ++p) std::memcpy(o + p * kMr, row + 2 * p, 4);
      } else {
        for (int64_t p = 0; p < pairs; ++p) {
          const uint32_t hi = 2 * p + 1 < kc ? a.at(i, k0 + 2 * p + 1) : 0;
          o[p * kMr] = a.at(i, k0 + 2 * p) | hi << 16;
        }
      }
    }
    out += pairs * kMr;
  }
}

// k [k0, k0+kc) x columns [j0, j0+nc) of B into strips of kNr columns.
void pack_b(const View& b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, uint16_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t s = 0; s < nc; s += kNr) {
    const bool whole = s + kNr <= nc && !b.trans;
    for (int64_t p = 0; p < pairs; ++p, out += 2 * kNr) {
      const int64_t k = k0 + 2 * p;
      if (whole && 2 * p + 1 < kc) {  // two rows of B, interleaved (vectorizes)
        const uint16_t* r0 = b.p + k * b.cols + j0 + s;
        const uint16_t* r1 = r0 + b.cols;
        for (int j = 0; j < kNr; ++j) {
          out[2 * j] = r0[j];
          out[2 * j + 1] = r1[j];
        }
        continue;
      }
      for (int j = 0; j < kNr; ++j)
        for (int q = 0; q < 2; ++q)
          out[2 * j + q] = s + j < nc && 2 * p + q < kc ? b.at(k + q, j0 + s + j) : 0;
    }
  }
}

// ---- driver ----------------------------------------------------------------------------------

struct Scratch {
  std::vector<uint32_t> a;
  std::vector<uint16_t> b, acc;
};

// One row of a task's accumulators to C: each output's two partial sums added in fp16 (the exact
// sum rounded once), stored as fp16 or fp32 (exactly).
using StoreFn = void (*)(const uint16_t* acc, int64_t n, void* c_row, bool c_fp32);

void store_row_portable(const uint16_t* acc, int64_t n, void* c_row, bool c_fp32) {
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t h = double_to_half(static_cast<double>(half_to_float(acc[2 * j])) +
                                      half_to_float(acc[2 * j + 1]));
    if (c_fp32)
      static_cast<float*>(c_row)[j] = half_to_float(h);
    else
      static_cast<uint16_t*>(c_row)[j] = h;
  }
}

// 16 outputs at a time: the odd halves shifted onto the even ones, one vaddph, vpmovdw keeps
// the even halves; the tail under a mask.
SUANLI_TARGET_FP16 __attribute__((noinline)) void store_row_avx512fp16(const uint16_t* acc,
                                                                       int64_t n, void* c_row,
                                                                       bool c_fp32) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512i pairs = _mm512_maskz_loadu_epi32(m, acc + 2 * j);
    const __m512h sum =
        _mm512_add_ph(_mm512_castsi512_ph(pairs),
                      _mm512_castsi512_ph(_mm512_maskz_srli_epi32(0xFFFF, pairs, 16)));
    const __m256i halves = _mm512_maskz_cvtepi32_epi16(0xFFFF, _mm512_castph_si512(sum));
    if (c_fp32)
      _mm512_mask_storeu_ps(static_cast<float*>(c_row) + j, m, _mm512_maskz_cvtph_ps(0xFFFF, halves));
    else
      _mm256_mask_storeu_epi16(static_cast<uint16_t*>(c_row) + j, m, halves);
  }
}

struct MicroKernel {
  TileFn tile;
  StoreFn store_row;
};

void run_block(const Fp16GemmArgs& g, const View& a, const View& b, void* c, int64_t i0, int64_t j0,
               const MicroKernel& kernel, Scratch* s) {
  const int64_t mc = std::min(kMc, g.m - i0), nc = std::min(kNc, g.n - j0);
  const int64_t mc_pad = (mc + kMr - 1) / kMr * kMr, nc_pad = (nc + kNr - 1) / kNr * kNr;
  for (int64_t k0 = 0; k0 < g.k; k0 += kKc) {
    const int64_t kc = std::min(kKc, g.k - k0), pairs = (kc + 1) / 2;
    pack_a(a, i0, mc, k0, kc, s->a.data());
    pack_b(b, k0, kc, j0, nc, s->b.data());
    for (int64_t js = 0; js < nc_pad; js += kNr)
      for (int64_t is = 0; is < mc_pad; is += kMr)
        kernel.tile(pairs, s->a.data() + is * pairs, s->b.data() + js * 2 * pairs,
                    s->acc.data() + is * kAccLd + 2 * js, kAccLd, k0 == 0);
  }
  const size_t c_size = g.c_fp32 ? 4 : 2;
  for (int64_t i = 0; i < mc; ++i)
    kernel.store_row(s->acc.data() + i * kAccLd, nc,
                     static_cast<char*>(c) + static_cast<size_t>((i0 + i) * g.n + j0) * c_size,
                     g.c_fp32);
}

#undef SUANLI_TARGET_FP16

}  // namespace

void fp16_gemm(const Fp16GemmArgs& g, Fp16MicroKernel which) {
  const MicroKernel kernel = which == Fp16MicroKernel::kAvx512Fp16
                                 ? MicroKernel{tile_avx512fp16, store_row_avx512fp16}
                                 : MicroKernel{tile_portable, store_row_portable};
  const int64_t mb = (g.m + kMc - 1) / kMc, nb = (g.n + kNc - 1) / kNc;
  const int64_t tasks = g.batch * mb * nb;
  const size_t c_size = g.c_fp32 ? 4 : 2;
#pragma omp parallel num_threads(std::max(1, g.threads))
  {
    Scratch s;
    s.a.resize(static_cast<size_t>(kMc * (kKc / 2)));
    s.b.resize(static_cast<size_t>(kKc * kNc));
    s.acc.resize(static_cast<size_t>(kMc * kAccLd));
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t e = t / (mb * nb), ib = t / nb % mb, jb = t % nb;
      const View a{g.a + e * g.m * g.k, g.m, g.k, g.ta};
      const View b{g.b + e * g.k * g.n, g.k, g.n, g.tb};
      void* c = static_cast<char*>(g.c) + static_cast<size_t>(e * g.m * g.n) * c_size;
      run_block(g, a, b, c, ib * kMc, jb * kNc, kernel, &s);
    }
  }
}

}  // namespace suanli::cpu
