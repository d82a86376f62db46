// Stream op: copy/scale/add/triad bandwidth, vectorized per ISA, streaming stores past the LLC.
#include <immintrin.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "cpu_info.h"
#include "cpu_op.h"

namespace suanli::cpu {
namespace {

constexpr int64_t kLineBytes = 64;
// Where the OS does not report an L3 size.
constexpr int64_t kDefaultLlcBytes = 32ll << 20;

// The loops of the four kinds over [i0, i1): heads and tails of the vector loops, and the whole
// range where the CPU lacks AVX2 (the compiler vectorizes them for the baseline ISA).
template <typename T>
void scalar_range(suanli_stream_kind kind, const T* a, const T* b, T* c, T s, int64_t i0,
                  int64_t i1) {
  switch (kind) {
    case SUANLI_STREAM_COPY:
      for (int64_t i = i0; i < i1; ++i) c[i] = a[i];
      break;
    case SUANLI_STREAM_SCALE:
      for (int64_t i = i0; i < i1; ++i) c[i] = s * a[i];
      break;
    case SUANLI_STREAM_ADD:
      for (int64_t i = i0; i < i1; ++i) c[i] = a[i] + b[i];
      break;
    case SUANLI_STREAM_TRIAD:
      for (int64_t i = i0; i < i1; ++i) c[i] = a[i] + s * b[i];
      break;
  }
}

// First index from i0 at which c is cache-line aligned (streaming stores need aligned targets).
template <typename T>
int64_t aligned_from(const T* c, int64_t i0, int64_t i1) {
  const auto addr = reinterpret_cast<uintptr_t>(c + i0);
  const int64_t skip = static_cast<int64_t>((kLineBytes - addr % kLineBytes) % kLineBytes);
  return std::min(i1, i0 + skip / static_cast<int64_t>(sizeof(T)));
}

// The vector loops of one ISA whose registers are W bits (__mWd / __mW, _mmW_* intrinsics),
// written once and expanded per ISA inside its target region (an intrinsic inlines only into a
// function compiled for its target). Vector operands use GCC's vector operators; the empty asm
// (constraint REG: a register of that ISA) on each product keeps a + s*b as a multiply and an add
// (no FMA contraction), so C matches the plain C++ expression bit for bit, as the host reference
// computes it.
#define SUANLI_STREAM_VECTOR_LOOPS(W, REG)                                                         \
  inline __m##W##d load(const double* p) {                                                         \
    return _mm##W##_loadu_pd(p);                                                                   \
  }                                                                                                \
  inline __m##W load(const float* p) {                                                             \
    return _mm##W##_loadu_ps(p);                                                                   \
  }                                                                                                \
  inline __m##W##d splat(double s) {                                                               \
    return _mm##W##_set1_pd(s);                                                                    \
  }                                                                                                \
  inline __m##W splat(float s) {                                                                   \
    return _mm##W##_set1_ps(s);                                                                    \
  }                                                                                                \
  template <bool kNt>                                                                              \
  inline void put(double* p, __m##W##d v) {                                                        \
    if constexpr (kNt)                                                                             \
      _mm##W##_stream_pd(p, v);                                                                    \
    else                                                                                           \
      _mm##W##_storeu_pd(p, v);                                                                    \
  }                                                                                                \
  template <bool kNt>                                                                              \
  inline void put(float* p, __m##W v) {                                                            \
    if constexpr (kNt)                                                                             \
      _mm##W##_stream_ps(p, v);                                                                    \
    else                                                                                           \
      _mm##W##_storeu_ps(p, v);                                                                    \
  }                                                                                                \
  template <typename T, bool kNt>                                                                  \
  void range(suanli_stream_kind kind, const T* a, const T* b, T* c, T s, int64_t i0, int64_t i1) { \
    constexpr int64_t kLanes = W / 8 / sizeof(T);                                                  \
    const int64_t begin = aligned_from(c, i0, i1);                                                 \
    const int64_t end = begin + (i1 - begin) / kLanes * kLanes;                                    \
    scalar_range(kind, a, b, c, s, i0, begin);                                                     \
    const auto vs = splat(s);                                                                      \
    switch (kind) {                                                                                \
      case SUANLI_STREAM_COPY:                                                                     \
        for (int64_t i = begin; i < end; i += kLanes) put<kNt>(c + i, load(a + i));                \
        break;                                                                                     \
      case SUANLI_STREAM_SCALE:                                                                    \
        for (int64_t i = begin; i < end; i += kLanes) put<kNt>(c + i, vs * load(a + i));           \
        break;                                                                                     \
      case SUANLI_STREAM_ADD:                                                                      \
        for (int64_t i = begin; i < end; i += kLanes) put<kNt>(c + i, load(a + i) + load(b + i));  \
        break;                                                                                     \
      case SUANLI_STREAM_TRIAD:                                                                    \
        for (int64_t i = begin; i < end; i += kLanes) {                                            \
          auto p = vs * load(b + i);                                                               \
          asm("" : REG(p));                                                                        \
          put<kNt>(c + i, load(a + i) + p);                                                        \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    scalar_range(kind, a, b, c, s, end, i1);                                                       \
    if constexpr (kNt) _mm_sfence(); /* streaming stores are weakly ordered: drain them */         \
  }

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
SUANLI_STREAM_VECTOR_LOOPS(512, "+v")
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
SUANLI_STREAM_VECTOR_LOOPS(256, "+x")
}  // namespace avx2
#pragma GCC pop_options

#undef SUANLI_STREAM_VECTOR_LOOPS

enum class Path { kAvx512, kAvx2, kGeneric };

template <typename T>
class StreamOp : public CpuOp {
 public:
  StreamOp(suanli_stream_kind kind, const void* a, const void* b, void* c, double s, int64_t n,
           Path path, bool nt, int threads)
      : kind_(kind),
        a_(static_cast<const T*>(a)),
        b_(static_cast<const T*>(b)),
        c_(static_cast<T*>(c)),
        s_(static_cast<T>(s)),
        n_(n),
        path_(path),
        nt_(nt),
        threads_(threads) {}

  void run() override {
    // Static partition on cache-line boundaries: no line is written by two threads.
    constexpr int64_t kLine = kLineBytes / sizeof(T);
    const int64_t lines = (n_ + kLine - 1) / kLine;
#pragma omp parallel num_threads(threads_)
    {
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t i0 = std::min(n_, lines * t / nt * kLine);
      const int64_t i1 = std::min(n_, lines * (t + 1) / nt * kLine);
      run_range(i0, i1);
    }
  }

 private:
  void run_range(int64_t i0, int64_t i1) const {
    switch (path_) {
      case Path::kAvx512:
        if (nt_)
          avx512::range<T, true>(kind_, a_, b_, c_, s_, i0, i1);
        else
          avx512::range<T, false>(kind_, a_, b_, c_, s_, i0, i1);
        break;
      case Path::kAvx2:
        if (nt_)
          avx2::range<T, true>(kind_, a_, b_, c_, s_, i0, i1);
        else
          avx2::range<T, false>(kind_, a_, b_, c_, s_, i0, i1);
        break;
      case Path::kGeneric:
        scalar_range(kind_, a_, b_, c_, s_, i0, i1);
        break;
    }
  }

  suanli_stream_kind kind_;
  const T* a_;
  const T* b_;
  T* c_;
  T s_;
  int64_t n_;
  Path path_;
  bool nt_;
  int threads_;
};

int64_t llc_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? l3 : kDefaultLlcBytes;
}

std::string mib(int64_t bytes) {
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

}  // namespace

std::unique_ptr<CpuOp> make_stream(const suanli_stream_desc& d, const void* a, const void* b,
                                   void* c, const CpuConfig& cfg, std::string* reason) {
  if (!SUANLI_HAS_FIELD(&d, suanli_stream_desc, scalar))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "stream descriptor: struct_size too small");
  // The descriptor comes from C, where an enum field may hold any int; loading a value outside the
  // enumerators' range as the C++ enum would be undefined, so both are read as ints first.
  static_assert(sizeof(d.kind) == sizeof(int32_t) && sizeof(d.type) == sizeof(int32_t),
                "C enums are int-sized");
  int32_t kind_raw, type_raw;
  std::memcpy(&kind_raw, &d.kind, sizeof kind_raw);
  std::memcpy(&type_raw, &d.type, sizeof type_raw);
  if (kind_raw < SUANLI_STREAM_COPY || kind_raw > SUANLI_STREAM_TRIAD)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "stream: kind " + std::to_string(kind_raw) + " unknown");
  const auto kind = static_cast<suanli_stream_kind>(kind_raw);
  if (d.n <= 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "stream: n = " + std::to_string(d.n) + " must be positive");
  const bool reads_b = kind == SUANLI_STREAM_ADD || kind == SUANLI_STREAM_TRIAD;
  const bool probe = !a && !b && !c;
  if (!probe && (!a || !c || (reads_b && !b)))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "stream: a buffer the kind needs is null");
  if (type_raw < SUANLI_DTYPE_FP64 || type_raw > SUANLI_DTYPE_INT32)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "stream: type " + std::to_string(type_raw) + " unknown");
  if (type_raw != SUANLI_DTYPE_FP64 && type_raw != SUANLI_DTYPE_FP32) {
    *reason =
        "stream: the cpu backend's kernels cover fp64 and fp32 (bandwidth does not depend "
        "on the element type)";
    return nullptr;
  }

  const IsaFeatures isa = kernel_isa();
  const Path path = isa.avx512f ? Path::kAvx512 : isa.avx2 ? Path::kAvx2 : Path::kGeneric;
  const int64_t elem = type_raw == SUANLI_DTYPE_FP64 ? 8 : 4;
  const int64_t working_set = (reads_b ? 3 : 2) * d.n * elem;
  const int64_t llc = llc_bytes();
  // Past the last-level cache, streaming stores skip the read-for-ownership of C (a third of the
  // traffic of a triad); inside it, ordinary stores keep C in cache for the next run.
  const bool nt = path != Path::kGeneric && working_set > llc;
  const int threads = cfg.threads > 0 ? cfg.threads : 1;

  std::unique_ptr<CpuOp> op;
  if (elem == 8)
    op = std::make_unique<StreamOp<double>>(kind, a, b, c, d.scalar, d.n, path, nt, threads);
  else
    op = std::make_unique<StreamOp<float>>(kind, a, b, c, d.scalar, d.n, path, nt, threads);
  op->library = "suanli";
  const char* isa_name = path == Path::kAvx512 ? "avx512 zmm"
                         : path == Path::kAvx2 ? "avx2 ymm"
                                               : "generic C++ (baseline SSE2)";
  op->implementation = std::string(isa_name) + " loops, " +
                       (nt ? "streaming (non-temporal) stores" : "regular stores") +
                       " (working set " + mib(working_set) + (nt ? " > " : " <= ") + "L3 " +
                       mib(llc) + "), " + std::to_string(threads) +
                       (threads == 1 ? " thread" : " threads") + ", static schedule";
  return op;
}

}  // namespace suanli::cpu
