// GEMM on the CPU: OpenBLAS (dgemm, sgemm, sbgemm) and oneDNN matmul, forced or picked by timing.
//
// Honesty rules, as everywhere in suanli: a dtype runs only on kernels that compute in that
// dtype (no bf16 computed as fp32, no fp16 as fp32), and never on a oneDNN reference
// implementation; either case is reported as unsupported, with the reason.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu_info.h"
#include "cpu_op.h"
#include "fp16_gemm.h"
#include "onednn.h"
#include "openblas.h"

namespace suanli::cpu {
namespace {

using dt = dnnl::memory::data_type;

// The GEMM types the CPU backend can run (after validation and the support checks).
enum class GemmType { kFp64, kFp32, kBf16, kInt8, kFp16 };

const char* type_label(GemmType t) {
  switch (t) {
    case GemmType::kFp64:
      return "fp64";
    case GemmType::kFp32:
      return "fp32";
    case GemmType::kBf16:
      return "bf16";
    case GemmType::kInt8:
      return "int8";
    case GemmType::kFp16:
      return "fp16";
  }
  return "?";
}

const char* dtype_name(suanli_dtype t) {
  const char* n = suanli_dtype_name(t);
  return n ? n : "invalid";
}

bool is_float_type(suanli_dtype t) {
  return t == SUANLI_DTYPE_FP64 || t == SUANLI_DTYPE_FP32 || t == SUANLI_DTYPE_TF32 ||
         t == SUANLI_DTYPE_FP16 || t == SUANLI_DTYPE_BF16 || t == SUANLI_DTYPE_FP8_E4M3 ||
         t == SUANLI_DTYPE_FP8_E5M2;
}

bool is_fp8(suanli_dtype t) {
  return t == SUANLI_DTYPE_FP8_E4M3 || t == SUANLI_DTYPE_FP8_E5M2;
}

[[noreturn]] void invalid(const std::string& msg) {
  throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm: " + msg);
}

std::string types_string(const suanli_gemm_desc& d) {
  return std::string("a=") + dtype_name(d.a_type) + " b=" + dtype_name(d.b_type) +
         " c=" + dtype_name(d.c_type) + " compute=" + dtype_name(d.compute_type);
}

// fp16 runs on suanli's own AVX512-FP16 kernel, which multiplies and accumulates in fp16
// (vfmadd231ph): the only fp16 arithmetic the ISA has (no fp16 -> fp32 dot product before
// AVX10.2). fp32 accumulation would be fp32 arithmetic, which suanli does not pass off as fp16.
bool classify_fp16(const suanli_gemm_desc& d, GemmType* type, std::string* reason) {
  if (!kernel_isa().avx512_fp16) {
    *reason = detect_isa().avx512_fp16
                  ? "AVX512_FP16 hidden by SUANLI_CPU_MAX_ISA: no native fp16 arithmetic"
                  : fp16_refusal();
    return false;
  }
  if (d.compute_type != SUANLI_DTYPE_FP16) {
    *reason =
        "fp16 with fp32 accumulation: AVX512-FP16 multiplies and accumulates in fp16 only "
        "(vfmadd231ph); suanli does not compute fp16 in fp32. The CPU backend runs fp16 "
        "GEMM with fp16 accumulation (suite: \"accumulate\": \"fp16\")";
    return false;
  }
  *type = GemmType::kFp16;
  return true;
}

// Checks the descriptor against backend.h; throws on what the ABI does not allow. Returns the
// GEMM type, or false with *reason for well-formed combinations this CPU cannot run natively.
bool classify(const suanli_gemm_desc& d, GemmType* type, std::string* reason) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type))
    invalid("struct_size " + std::to_string(d.struct_size) + " is too small");
  if (d.m <= 0 || d.n <= 0 || d.k <= 0)
    invalid("m, n, k must be >= 1 (got " + std::to_string(d.m) + ", " + std::to_string(d.n) + ", " +
            std::to_string(d.k) + ")");
  if (d.batch < 1) invalid("batch must be >= 1 (got " + std::to_string(d.batch) + ")");
  if ((d.trans_a != 0 && d.trans_a != 1) || (d.trans_b != 0 && d.trans_b != 1))
    invalid("trans_a and trans_b must be 0 or 1");
  const std::string types = types_string(d);
  switch (d.a_type) {
    case SUANLI_DTYPE_FP64:
    case SUANLI_DTYPE_FP32:
      if (d.b_type != d.a_type || d.c_type != d.a_type || d.compute_type != d.a_type)
        invalid("mismatched types (" + types + "): fp64/fp32 GEMM takes a=b=c=compute");
      *type = d.a_type == SUANLI_DTYPE_FP64 ? GemmType::kFp64 : GemmType::kFp32;
      return true;
    case SUANLI_DTYPE_TF32:
      if (d.b_type != SUANLI_DTYPE_TF32 ||
          (d.c_type != SUANLI_DTYPE_FP32 && d.c_type != SUANLI_DTYPE_TF32) ||
          (d.compute_type != SUANLI_DTYPE_FP32 && d.compute_type != SUANLI_DTYPE_TF32))
        invalid("mismatched types (" + types + "): tf32 GEMM takes a=b=tf32, c and compute fp32");
      *reason = "CPU has no TF32 arithmetic; suanli does not compute tf32 in fp32";
      return false;
    case SUANLI_DTYPE_FP16:
    case SUANLI_DTYPE_BF16:
      if (d.b_type != d.a_type || (d.c_type != SUANLI_DTYPE_FP32 && d.c_type != d.a_type) ||
          (d.compute_type != SUANLI_DTYPE_FP32 && d.compute_type != d.a_type))
        invalid("mismatched types (" + types + "): fp16/bf16 GEMM takes a=b, c and compute " +
                "fp32 or the input type");
      if (d.a_type == SUANLI_DTYPE_FP16) return classify_fp16(d, type, reason);
      if (d.c_type != SUANLI_DTYPE_FP32 || d.compute_type != SUANLI_DTYPE_FP32) {
        *reason = "bf16 with " + std::string(dtype_name(d.compute_type)) + " accumulation and " +
                  dtype_name(d.c_type) + " output: the CPU backend runs bf16 x bf16 -> fp32 " +
                  "with fp32 accumulation only, and does not substitute it";
        return false;
      }
      *type = GemmType::kBf16;
      return true;
    case SUANLI_DTYPE_FP8_E4M3:
    case SUANLI_DTYPE_FP8_E5M2:
      if (!is_fp8(d.b_type) || !is_float_type(d.c_type) || !is_float_type(d.compute_type))
        invalid("mismatched types (" + types + "): fp8 GEMM takes fp8 a and b");
      *reason = "CPU has no fp8 arithmetic; suanli does not compute fp8 in another precision";
      return false;
    case SUANLI_DTYPE_UINT8:
      if (d.b_type != SUANLI_DTYPE_INT8 || d.c_type != SUANLI_DTYPE_INT32 ||
          d.compute_type != SUANLI_DTYPE_INT32)
        invalid("mismatched types (" + types + "): int8 GEMM takes a=uint8 b=int8 c=int32");
      *type = GemmType::kInt8;
      return true;
    case SUANLI_DTYPE_INT8:
      if (d.b_type == SUANLI_DTYPE_INT8 && d.c_type == SUANLI_DTYPE_INT32 &&
          d.compute_type == SUANLI_DTYPE_INT32) {
        // s8 x s8: a form backend.h allows; the harness falls back to it only when u8 x s8 is
        // refused, and this backend runs u8 x s8 (VNNI's form).
        *reason = "int8 GEMM as s8 x s8: the CPU backend runs u8 x s8 (VNNI's form)";
        return false;
      }
      invalid("mismatched types (" + types + "): int8 GEMM takes a=int8 b=int8 c=int32");
    default:
      invalid("type combination " + types + " is not a GEMM of backend.h (int8 GEMM takes " +
              "a=uint8 b=int8 c=int32)");
  }
}

struct Shape {
  int64_t m, n, k, batch;
  bool ta, tb;
};

// Stands in for an op when the factory only answered "supported?" (null buffers); never run.
class ProbeOp : public CpuOp {
 public:
  void run() override { throw BackendError(SUANLI_INTERNAL, "gemm: a support-check op was run"); }
};

// ---- OpenBLAS --------------------------------------------------------------------------------

class OpenBlasGemm : public CpuOp {
 public:
  OpenBlasGemm(const OpenBlas& ob, const Shape& s, GemmType type, void* a, void* b, void* c,
               int threads)
      : ob_(ob), s_(s), type_(type), a_(a), b_(b), c_(c), threads_(threads) {}

  void run() override {
    ob_.set_threads(threads_);
    const int m = static_cast<int>(s_.m), n = static_cast<int>(s_.n), k = static_cast<int>(s_.k);
    const int ta = s_.ta ? kCblasTrans : kCblasNoTrans, tb = s_.tb ? kCblasTrans : kCblasNoTrans;
    const int lda = s_.ta ? m : k, ldb = s_.tb ? k : n, ldc = n;
    const size_t sa = static_cast<size_t>(s_.m) * s_.k, sb = static_cast<size_t>(s_.k) * s_.n,
                 sc = static_cast<size_t>(s_.m) * s_.n;
    for (int64_t i = 0; i < s_.batch; ++i) {
      switch (type_) {
        case GemmType::kFp64:
          ob_.dgemm(kCblasRowMajor, ta, tb, m, n, k, 1.0, static_cast<const double*>(a_) + i * sa,
                    lda, static_cast<const double*>(b_) + i * sb, ldb, 0.0,
                    static_cast<double*>(c_) + i * sc, ldc);
          break;
        case GemmType::kFp32:
          ob_.sgemm(kCblasRowMajor, ta, tb, m, n, k, 1.0f, static_cast<const float*>(a_) + i * sa,
                    lda, static_cast<const float*>(b_) + i * sb, ldb, 0.0f,
                    static_cast<float*>(c_) + i * sc, ldc);
          break;
        case GemmType::kBf16:
          ob_.sbgemm(kCblasRowMajor, ta, tb, m, n, k, 1.0f,
                     static_cast<const uint16_t*>(a_) + i * sa, lda,
                     static_cast<const uint16_t*>(b_) + i * sb, ldb, 0.0f,
                     static_cast<float*>(c_) + i * sc, ldc);
          break;
        case GemmType::kInt8:
        case GemmType::kFp16:
          break;  // refused by make_openblas
      }
    }
  }

 private:
  const OpenBlas& ob_;
  Shape s_;
  GemmType type_;
  void *a_, *b_, *c_;
  int threads_;
};

std::unique_ptr<CpuOp> make_openblas(const Shape& s, GemmType type, void* a, void* b, void* c,
                                     int threads, std::string* reason) {
  if (type == GemmType::kInt8) {
    *reason = "OpenBLAS has no int8 GEMM";
    return nullptr;
  }
  const OpenBlas& ob = openblas();
  if (!ob.loaded) {
    *reason = ob.error;
    return nullptr;
  }
  if (s.m > INT_MAX || s.n > INT_MAX || s.k > INT_MAX) {
    *reason = "OpenBLAS (32-bit interface) takes dimensions up to 2^31-1";
    return nullptr;
  }
  const char* routine = "cblas_sgemm";
  if (type == GemmType::kFp64) routine = "cblas_dgemm";
  if (type == GemmType::kBf16) {
    routine = "cblas_sbgemm";
    if (!ob.sbgemm) {
      *reason = "this OpenBLAS " + ob.version +
                " build exports no cblas_sbgemm (built without BUILD_BFLOAT16)";
      return nullptr;
    }
    if (!ob.native_sbgemm || !cpu_has_native_bf16()) {
      *reason = "OpenBLAS core " + ob.corename + " has no bf16 kernels (its sbgemm converts to " +
                "fp32); suanli does not compute bf16 in fp32";
      return nullptr;
    }
  }
  std::unique_ptr<CpuOp> op;
  if (a && b && c)
    op = std::make_unique<OpenBlasGemm>(ob, s, type, a, b, c, threads);
  else
    op = std::make_unique<ProbeOp>();
  op->library = ob.library;
  const std::string isa = openblas_core_isa(ob.corename);
  op->implementation = std::string(routine) + " (" + ob.corename + " kernels" +
                       (isa.empty() ? "" : ", " + isa) + ")" +
                       (s.batch > 1 ? ", one call per batch entry" : "");
  if (a && b && c) ob.set_threads(threads);  // spawn OpenBLAS's workers now, not in a timed run
  return op;
}

// ---- suanli's own fp16 kernel -------------------------------------------------------------------

class Fp16GemmOp : public CpuOp {
 public:
  explicit Fp16GemmOp(const Fp16GemmArgs& args) : args_(args) {}
  void run() override { fp16_gemm(args_, Fp16MicroKernel::kAvx512Fp16); }

 private:
  Fp16GemmArgs args_;
};

std::unique_ptr<CpuOp> make_fp16(const suanli_gemm_desc& d, void* a, void* b, void* c,
                                 int threads) {
  std::unique_ptr<CpuOp> op;
  if (a && b && c) {
    Fp16GemmArgs g;
    g.m = d.m;
    g.n = d.n;
    g.k = d.k;
    g.batch = d.batch;
    g.ta = d.trans_a != 0;
    g.tb = d.trans_b != 0;
    g.a = static_cast<const uint16_t*>(a);
    g.b = static_cast<const uint16_t*>(b);
    g.c = c;
    g.c_fp32 = d.c_type == SUANLI_DTYPE_FP32;
    g.threads = threads;
    op = std::make_unique<Fp16GemmOp>(g);
  } else {
    op = std::make_unique<ProbeOp>();
  }
  op->library = "suanli";
  op->implementation =
      "avx512_fp16 vfmadd231ph GEMM, fp16 accumulation (two fp16 partial sums "
      "per output, even and odd k, added in fp16 at the end), " +
      std::to_string(kFp16Mr) + "x" + std::to_string(kFp16Nr) +
      " micro-kernel on packed A/B panels, " + std::to_string(threads) +
      (threads == 1 ? " thread" : " threads") +
      (d.c_type == SUANLI_DTYPE_FP32 ? ", C stored as fp32" : "");
  return op;
}

// ---- oneDNN ----------------------------------------------------------------------------------

// "BA16a64b4a": oneDNN's name for a blocked layout (outer dimensions from the largest stride,
// capitals for blocked ones, then the inner blocks), or "ab"/"ba"-style for plain ones.
std::string layout_tag(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) return "non-blocked";
  const auto& blk = d.format_desc.blocking;
  std::vector<int> order(static_cast<size_t>(d.ndims));
  for (int i = 0; i < d.ndims; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return blk.strides[x] > blk.strides[y]; });
  std::string tag;
  for (int i : order) {
    bool blocked = false;
    for (int b = 0; b < blk.inner_nblks; ++b) blocked |= blk.inner_idxs[b] == i;
    tag += static_cast<char>((blocked ? 'A' : 'a') + i);
  }
  for (int b = 0; b < blk.inner_nblks; ++b)
    tag += std::to_string(blk.inner_blks[b]) + static_cast<char>('a' + blk.inner_idxs[b]);
  return tag;
}

class OneDnnGemm : public CpuOp {
 public:
  // b_md is the harness's B; the primitive reads pd.weights_desc(), into which B is reordered
  // here (and again whenever the harness writes B) when oneDNN chose its own layout.
  OneDnnGemm(const dnnl::matmul::primitive_desc& pd, const dnnl::memory::desc& a_md,
             const dnnl::memory::desc& b_md, const dnnl::memory::desc& c_md, void* a, void* b,
             void* c, int threads)
      : prim_(pd),
        a_(a_md, dnnl_engine(), a),
        user_b_(b_md, dnnl_engine(), b),
        c_(c_md, dnnl_engine(), c),
        scratch_(pd.scratchpad_desc(), dnnl_engine()),
        b_host_(b),
        threads_(threads) {
    if (pd.weights_desc() == b_md) {
      b_ = user_b_;
    } else {
      b_ = dnnl::memory(pd.weights_desc(), dnnl_engine());
      repack();
    }
  }

  void run() override {
    set_omp_threads(threads_);
    prim_.execute(dnnl_stream(), {{DNNL_ARG_SRC, a_},
                                  {DNNL_ARG_WEIGHTS, b_},
                                  {DNNL_ARG_DST, c_},
                                  {DNNL_ARG_SCRATCHPAD, scratch_}});
    dnnl_stream().wait();
  }

  // The harness wrote new B (fresh inputs): pack it again, outside any timed run.
  void input_written(const void* buffer) override {
    if (buffer == b_host_ && packed()) repack();
  }

  bool packed() const { return b_.get_data_handle() != user_b_.get_data_handle(); }

 private:
  void repack() {
    set_omp_threads(threads_);
    dnnl::reorder(user_b_, b_).execute(dnnl_stream(), user_b_, b_);
    dnnl_stream().wait();
  }

  dnnl::matmul prim_;
  dnnl::memory a_, user_b_, b_, c_, scratch_;
  const void* b_host_;
  int threads_;
};

// Row-major operand of `rows` x `cols` per batch entry, stored transposed when `trans`.
dnnl::memory::desc operand_md(const Shape& s, int64_t rows, int64_t cols, bool trans, dt type) {
  using dims = dnnl::memory::dims;
  const dims row_col_strides = trans ? dims{1, rows} : dims{cols, 1};
  if (s.batch == 1) return dnnl::memory::desc({rows, cols}, type, row_col_strides);
  return dnnl::memory::desc({s.batch, rows, cols}, type,
                            dims{rows * cols, row_col_strides[0], row_col_strides[1]});
}

std::unique_ptr<CpuOp> make_onednn(const Shape& s, GemmType type, void* a, void* b, void* c,
                                   int threads, const std::string& b_layout, std::string* reason) {
  dt ta, tb, tc;
  switch (type) {
    case GemmType::kFp64:
      *reason = onednn_library() + " has no fp64 data type";
      return nullptr;
    case GemmType::kFp32:
      ta = tb = tc = dt::f32;
      break;
    case GemmType::kBf16:
      if (!cpu_has_native_bf16()) {
        *reason = bf16_refusal("");
        return nullptr;
      }
      ta = tb = dt::bf16;
      tc = dt::f32;
      break;
    case GemmType::kInt8:
      ta = dt::u8;
      tb = dt::s8;
      tc = dt::s32;
      break;
    default:
      return nullptr;
  }
  const dnnl::memory::desc a_md = operand_md(s, s.m, s.k, s.ta, ta);
  const dnnl::memory::desc b_md = operand_md(s, s.k, s.n, s.tb, tb);
  const dnnl::memory::desc c_md = operand_md(s, s.m, s.n, false, tc);
  set_omp_threads(threads);  // oneDNN sizes its blocking for the threads it will run on
  // B (the weights of a layer) in the layout oneDNN prefers, as a deployed engine pre-packs its
  // weights; "plain" keeps the harness's row-major B.
  const bool any = b_layout == "packed";
  const dnnl::memory::desc b_any(b_md.dims(), tb, dnnl::memory::format_tag::any);
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, any ? b_any : b_md, c_md),
                                      strict_attr(), dnnl_engine());
  } catch (const dnnl::error& e) {
    if (e.status != dnnl_unimplemented) throw_dnnl(e, "gemm: matmul primitive descriptor");
    *reason = onednn_library() + " has no matmul for " + type_label(type) + " on this CPU";
    return nullptr;
  }
  const std::string impl = pd.impl_info_str();
  if (is_reference_impl(impl)) {
    *reason = onednn_library() + " has only a reference implementation (" + impl + ") for " +
              type_label(type) + " matmul here; suanli does not measure reference kernels";
    return nullptr;
  }
  if (type == GemmType::kBf16) {
    const std::string why = bf16_refusal(impl);
    if (!why.empty()) {
      *reason = why;
      return nullptr;
    }
  }
  std::unique_ptr<CpuOp> op;
  try {
    if (a && b && c)
      op = std::make_unique<OneDnnGemm>(pd, a_md, b_md, c_md, a, b, c, threads);
    else
      op = std::make_unique<ProbeOp>();
  } catch (const dnnl::error& e) {
    throw_dnnl(e, "gemm: matmul primitive");
  }
  const bool packed = !(pd.weights_desc() == b_md);
  const std::string layout =
      packed ? "B packed once at plan time into oneDNN's layout " + layout_tag(pd.weights_desc())
             : std::string("B plain ") + (s.tb ? "transposed" : "row-major") +
                   (any ? " (oneDNN's choice)" : " (gemm_b_layout=plain)");
  op->library = onednn_library();
  op->implementation = "matmul " + impl + " (" + layout + ")";
  return op;
}

// ---- auto --------------------------------------------------------------------------------------

// Best time of one run: one warm-up run, then at least two timed runs (one slow run, when the
// VM or another process takes a core, must not decide the pick), and more while they add up to
// less than ~20 ms, so that short ops are compared on many runs.
double best_time(CpuOp& op) {
  using Clock = std::chrono::steady_clock;
  op.run();
  double best = 1e300, total = 0;
  for (int i = 0; i < 100 && (i < 2 || total < 0.02); ++i) {
    const auto t0 = Clock::now();
    op.run();
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, t);
    total += t;
  }
  return best;
}

std::string format_time(double seconds) {
  char buf[32];
  const double ms = seconds * 1e3;
  if (ms >= 1000)
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  else if (ms >= 100)
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.3g ms", ms);
  return buf;
}

}  // namespace

std::unique_ptr<CpuOp> make_gemm(const suanli_gemm_desc& d, void* a, void* b, void* c,
                                 const CpuConfig& cfg, std::string* reason) {
  GemmType type;
  if (!classify(d, &type, reason)) return nullptr;
  const Shape s{d.m, d.n, d.k, d.batch, d.trans_a != 0, d.trans_b != 0};
  const int threads = std::max(1, cfg.threads);
  if (type == GemmType::kFp16) {
    if (cfg.gemm_library != "auto") {
      *reason = "fp16 GEMM runs on suanli's own kernel only (gemm_library=" + cfg.gemm_library +
                " has no native fp16 path here)";
      return nullptr;
    }
    return make_fp16(d, a, b, c, threads);
  }
  const std::string& lib = cfg.gemm_library;
  if (lib == "openblas") return make_openblas(s, type, a, b, c, threads, reason);
  if (lib == "onednn") return make_onednn(s, type, a, b, c, threads, cfg.gemm_b_layout, reason);
  if (lib != "auto")
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "gemm_library '" + lib + "': expected auto, openblas or onednn");

  std::string why_blas, why_dnnl;
  std::unique_ptr<CpuOp> blas = make_openblas(s, type, a, b, c, threads, &why_blas);
  std::unique_ptr<CpuOp> onednn =
      make_onednn(s, type, a, b, c, threads, cfg.gemm_b_layout, &why_dnnl);
  if (!blas && !onednn) {
    *reason = "openblas: " + why_blas + "; onednn: " + why_dnnl;
    return nullptr;
  }
  if (!blas || !onednn) {
    const bool is_blas = blas != nullptr;
    std::unique_ptr<CpuOp> only = is_blas ? std::move(blas) : std::move(onednn);
    only->implementation += is_blas ? " (auto: onednn cannot: " + why_dnnl + ")"
                                    : " (auto: openblas cannot: " + why_blas + ")";
    return only;
  }
  if (!(a && b && c)) return blas;  // support check: either will do
  const double t_blas = best_time(*blas);
  const double t_dnnl = best_time(*onednn);
  const std::string race = "openblas " + format_time(t_blas) + " vs onednn " + format_time(t_dnnl);
  std::unique_ptr<CpuOp> pick = t_blas <= t_dnnl ? std::move(blas) : std::move(onednn);
  pick->implementation += " (auto: " + race + ")";
  return pick;
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx:
      isa = "avx512_core_amx";
      break;
    case dnnl::cpu_isa::avx512_core_bf16:
      isa = "avx512_core_bf16";
      break;
    case dnnl::cpu_isa::avx512_core_vnni:
      isa = "avx512_core_vnni";
      break;
    case dnnl::cpu_isa::avx512_core:
      isa = "avx512_core";
      break;
    case dnnl::cpu_isa::avx2_vnni:
      isa = "avx2_vnni";
      break;
    case dnnl::cpu_isa::avx2:
      isa = "avx2";
      break;
    default:
      isa = "other";
      break;
  }
  const std::string runtime = v->cpu_runtime == DNNL_RUNTIME_OMP
                                  ? "OpenMP"
                                  : (v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other");
  const std::string hash = v->hash ? v->hash : "";
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" +
         (hash.empty() || hash == "N/A" ? std::string() : "git " + hash + ", ") + "CPU runtime " +
         runtime + ", max ISA " + isa + ")";
}

}  // namespace suanli::cpu
