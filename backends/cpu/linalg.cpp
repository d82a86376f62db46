// Dense linear algebra of ABI 1.2 on the CPU (HPL, HPL-MxP): GEMM on sub-matrices through
// OpenBLAS (fp64, fp32) and oneDNN matmul (bf16), LU panels through OpenBLAS's LAPACK (dgetrf /
// sgetrf, partial pivoting) or a recursive no-pivoting LU over OpenBLAS trsm + gemm, laswp, trsm.
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cpu_op.h"
#include "linalg.h"
#include "onednn.h"
#include "openblas.h"

namespace suanli::cpu {
namespace {

constexpr int kColMajor = 102;
constexpr int kNoTrans = 111, kTrans = 112;
constexpr int kUpper = 121, kLower = 122;
constexpr int kNonUnit = 131, kUnit = 132;
constexpr int kLeft = 141, kRight = 142;

using TrsmD = void (*)(int, int, int, int, int, int, int, double, const double*, int, double*, int);
using TrsmS = void (*)(int, int, int, int, int, int, int, float, const float*, int, float*, int);
using GetrfD = void (*)(const int*, const int*, double*, const int*, int*, int*);
using GetrfS = void (*)(const int*, const int*, float*, const int*, int*, int*);
using LaswpD = void (*)(const int*, double*, const int*, const int*, const int*, const int*,
                        const int*);
using LaswpS = void (*)(const int*, float*, const int*, const int*, const int*, const int*,
                        const int*);

// The LAPACK and level-3 entry points beyond gemm, looked up once in the loaded OpenBLAS.
struct Lapack {
  TrsmD dtrsm = nullptr;
  TrsmS strsm = nullptr;
  GetrfD dgetrf = nullptr;
  GetrfS sgetrf = nullptr;
  LaswpD dlaswp = nullptr;
  LaswpS slaswp = nullptr;
  bool complete() const { return dtrsm && strsm && dgetrf && sgetrf && dlaswp && slaswp; }
};

const Lapack& lapack() {
  static const Lapack lp = [] {
    Lapack l;
    const OpenBlas& ob = openblas();
    if (!ob.loaded || !ob.handle) return l;
    l.dtrsm = reinterpret_cast<TrsmD>(dlsym(ob.handle, "cblas_dtrsm"));
    l.strsm = reinterpret_cast<TrsmS>(dlsym(ob.handle, "cblas_strsm"));
    l.dgetrf = reinterpret_cast<GetrfD>(dlsym(ob.handle, "dgetrf_"));
    l.sgetrf = reinterpret_cast<GetrfS>(dlsym(ob.handle, "sgetrf_"));
    l.dlaswp = reinterpret_cast<LaswpD>(dlsym(ob.handle, "dlaswp_"));
    l.slaswp = reinterpret_cast<LaswpS>(dlsym(ob.handle, "slaswp_"));
    return l;
  }();
  return lp;
}

// Why OpenBLAS cannot serve this op, or "" when it can.
std::string blas_missing() {
  const OpenBlas& ob = openblas();
  if (!ob.loaded) return "OpenBLAS is not loaded: " + ob.error;
  if (!lapack().complete())
    return "the loaded OpenBLAS lacks LAPACK (dgetrf_/dlaswp_) or cblas_dtrsm/cblas_strsm";
  return "";
}

// Buffer i of an op, with its size, as plan() hands them over.
struct Operand {
  void* base = nullptr;
  uint64_t bytes = 0;
};

// The first element of a sub-matrix (null when probing). The plugin kit has checked its shape
// (kit::check_linalg_shape, called by each factory) and that it lies inside its buffer (plan).
void* sub_matrix(const Operand& o, int64_t offset, suanli_dtype type) {
  if (!o.base) return nullptr;
  return static_cast<char*>(o.base) + static_cast<uint64_t>(offset) * kit::dtype_bytes(type);
}

class FnOp : public CpuOp {
 public:
  template <typename F>
  FnOp(F f, std::string lib, std::string impl) : f_(std::move(f)) {
    library = std::move(lib);
    implementation = std::move(impl);
  }
  void run() override { f_(); }

 private:
  std::function<void()> f_;
};

std::unique_ptr<CpuOp> fn_op(std::function<void()> f, const std::string& lib,
                             const std::string& impl) {
  return std::make_unique<FnOp>(std::move(f), lib, impl);
}

int i32(int64_t v) {
  return static_cast<int>(v);
}

// ---- gemm_ex ------------------------------------------------------------------------------------

// bf16 x bf16 -> fp32 through a oneDNN matmul: column-major C = op(A) op(B) is row-major
// C^T = op(B)^T op(A)^T, which oneDNN takes with strides; alpha as output scale, beta as sum.
std::unique_ptr<CpuOp> gemm_ex_bf16(const suanli_gemm_ex_desc& d, void* a, void* b, void* c,
                                    const CpuConfig& cfg, std::string* reason) {
  using dims = dnnl::memory::dims;
  using dt = dnnl::memory::data_type;
  if (!cpu_has_native_bf16()) {
    *reason = bf16_refusal("");
    return nullptr;
  }
  if (d.m == 0 || d.n == 0 || d.k == 0) {
    *reason = "gemm_ex bf16: empty shapes are not planned (the caller skips them)";
    return nullptr;
  }
  const dnnl::memory::desc src({d.n, d.k}, dt::bf16, d.trans_b ? dims{1, d.ldb} : dims{d.ldb, 1});
  const dnnl::memory::desc wei({d.k, d.m}, dt::bf16, d.trans_a ? dims{1, d.lda} : dims{d.lda, 1});
  const dnnl::memory::desc dst({d.n, d.m}, dt::f32, dims{d.ldc, 1});
  dnnl::primitive_attr attr = strict_attr();
  if (d.alpha != 1.0) attr.set_output_scales(0, {static_cast<float>(d.alpha)});
  if (d.beta != 0.0) {
    dnnl::post_ops po;
    po.append_sum(static_cast<float>(d.beta));
    attr.set_post_ops(po);
  }
  set_omp_threads(cfg.threads);
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, dnnl_engine());
  } catch (const dnnl::error& e) {
    if (e.status != dnnl_unimplemented) throw_dnnl(e, "gemm_ex bf16: matmul primitive descriptor");
    *reason = onednn_library() + " has no bf16 matmul for these strides";
    return nullptr;
  }
  const std::string impl = pd.impl_info_str();
  // With a strided C oneDNN 2.6 picks its gemm driver ("gemm:jit"), whose bf16 kernels use
  // vdpbf16ps on a CPU with AVX512_BF16 (checked above); brgemm kernels name their ISA.
  const std::string why = impl == "gemm:jit" ? "" : bf16_refusal(impl);
  if (!why.empty() || is_reference_impl(impl)) {
    *reason = why.empty() ? "oneDNN has only a reference bf16 matmul (" + impl + ") here" : why;
    return nullptr;
  }
  if (!a) return fn_op([] {}, onednn_library(), "matmul " + impl);
  struct State {
    dnnl::matmul prim;
    dnnl::memory s, w, d, scratch;
  };
  auto st = std::make_shared<State>(State{
      dnnl::matmul(pd), dnnl::memory(src, dnnl_engine(), b), dnnl::memory(wei, dnnl_engine(), a),
      dnnl::memory(dst, dnnl_engine(), c), dnnl::memory(pd.scratchpad_desc(), dnnl_engine())});
  const int threads = cfg.threads;
  return fn_op(
      [st, threads] {
        set_omp_threads(threads);
        st->prim.execute(dnnl_stream(), {{DNNL_ARG_SRC, st->s},
                                         {DNNL_ARG_WEIGHTS, st->w},
                                         {DNNL_ARG_DST, st->d},
                                         {DNNL_ARG_SCRATCHPAD, st->scratch}});
        dnnl_stream().wait();
      },
      onednn_library(), "matmul " + impl);
}

std::unique_ptr<CpuOp> make_gemm_ex(const suanli_gemm_ex_desc& d, const Operand* ops,
                                    const CpuConfig& cfg, std::string* reason) {
  kit::check_linalg_shape(d);
  const bool f64 = d.a_type == SUANLI_DTYPE_FP64 && d.b_type == d.a_type && d.c_type == d.a_type;
  const bool f32 = d.a_type == SUANLI_DTYPE_FP32 && d.b_type == d.a_type && d.c_type == d.a_type;
  const bool half = (d.a_type == SUANLI_DTYPE_BF16 || d.a_type == SUANLI_DTYPE_FP16) &&
                    d.b_type == d.a_type && d.c_type == SUANLI_DTYPE_FP32;
  if (!f64 && !f32 && !half) {
    *reason = "gemm_ex: types a/b/c must be fp64, fp32, or bf16/fp16 with fp32 c";
    return nullptr;
  }
  if (d.a_type == SUANLI_DTYPE_FP16) {
    *reason = fp16_refusal();
    return nullptr;
  }
  void* a = sub_matrix(ops[0], d.a_offset, d.a_type);
  void* b = sub_matrix(ops[1], d.b_offset, d.b_type);
  void* c = sub_matrix(ops[2], d.c_offset, d.c_type);
  if (half) return gemm_ex_bf16(d, a, b, c, cfg, reason);
  const OpenBlas& ob = openblas();
  if (!ob.loaded) {
    *reason = "OpenBLAS is not loaded: " + ob.error;
    return nullptr;
  }
  const int ta = d.trans_a ? kTrans : kNoTrans, tb = d.trans_b ? kTrans : kNoTrans;
  const int threads = cfg.threads;
  const std::string impl = std::string(f64 ? "cblas_dgemm" : "cblas_sgemm") + " column-major";
  if (!a) return fn_op([] {}, ob.library, impl);
  if (f64)
    return fn_op(
        [=, &ob] {
          ob.set_threads(threads);
          ob.dgemm(kColMajor, ta, tb, i32(d.m), i32(d.n), i32(d.k), d.alpha,
                   static_cast<const double*>(a), i32(d.lda), static_cast<const double*>(b),
                   i32(d.ldb), d.beta, static_cast<double*>(c), i32(d.ldc));
        },
        ob.library, impl);
  return fn_op(
      [=, &ob] {
        ob.set_threads(threads);
        ob.sgemm(kColMajor, ta, tb, i32(d.m), i32(d.n), i32(d.k), static_cast<float>(d.alpha),
                 static_cast<const float*>(a), i32(d.lda), static_cast<const float*>(b), i32(d.ldb),
                 static_cast<float>(d.beta), static_cast<float*>(c), i32(d.ldc));
      },
      ob.library, impl);
}

// ---- getrf, laswp, trsm -----------------------------------------------------------------------

bool real_type(suanli_dtype t, std::string* reason, const char* op) {
  if (t == SUANLI_DTYPE_FP64 || t == SUANLI_DTYPE_FP32) return true;
  *reason = std::string(op) + ": types are fp64 and fp32";
  return false;
}

// LU without pivoting, recursive over columns (left half, then trsm + gemm on the right half):
// all but the narrow base cases run in OpenBLAS's level-3 kernels.
template <typename T, typename Trsm, typename Gemm>
void lu_nopiv(T* a, int m, int n, int lda, Trsm trsm, Gemm gemm) {
  if (n <= 16) {
    for (int j = 0; j < n; ++j) {
      const T inv = T(1) / a[j + j * lda];
      for (int i = j + 1; i < m; ++i) a[i + j * lda] *= inv;
      for (int c = j + 1; c < n; ++c) {
        const T u = a[j + c * lda];
        for (int i = j + 1; i < m; ++i) a[i + c * lda] -= a[i + j * lda] * u;
      }
    }
    return;
  }
  const int n1 = n / 2, n2 = n - n1;
  lu_nopiv(a, m, n1, lda, trsm, gemm);
  T* a12 = a + n1 * lda;
  trsm(kColMajor, kLeft, kLower, kNoTrans, kUnit, n1, n2, T(1), a, lda, a12, lda);
  gemm(kColMajor, kNoTrans, kNoTrans, m - n1, n2, n1, T(-1), a + n1, lda, a12, lda, T(1), a12 + n1,
       lda);
  lu_nopiv(a12 + n1, m - n1, n2, lda, trsm, gemm);
}

std::unique_ptr<CpuOp> make_getrf(const suanli_getrf_desc& d, const Operand* ops,
                                  const CpuConfig& cfg, std::string* reason) {
  kit::check_linalg_shape(d);
  if (!real_type(d.type, reason, "getrf")) return nullptr;
  if (const std::string why = blas_missing(); !why.empty()) {
    *reason = why;
    return nullptr;
  }
  void* a = sub_matrix(ops[0], d.a_offset, d.type);
  int* ipiv = nullptr;
  if (d.pivoting) ipiv = static_cast<int*>(sub_matrix(ops[1], d.ipiv_offset, SUANLI_DTYPE_INT32));
  const OpenBlas& ob = openblas();
  const Lapack& lp = lapack();
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const int threads = cfg.threads, m = i32(d.m), n = i32(d.n), lda = i32(d.lda);
  const std::string impl = d.pivoting
                               ? std::string(f64 ? "dgetrf_" : "sgetrf_") + " (LAPACK in OpenBLAS)"
                               : "recursive LU without pivoting over " +
                                     std::string(f64 ? "dtrsm/dgemm" : "strsm/sgemm");
  if (!a) return fn_op([] {}, ob.library, impl);
  if (d.pivoting)
    return fn_op(
        [=, &ob, &lp] {
          ob.set_threads(threads);
          int info = 0;
          if (f64)
            lp.dgetrf(&m, &n, static_cast<double*>(a), &lda, ipiv, &info);
          else
            lp.sgetrf(&m, &n, static_cast<float*>(a), &lda, ipiv, &info);
          // info > 0 (an exact zero pivot) leaves inf/nan in U: the harness's residual sees it.
        },
        ob.library, impl);
  return fn_op(
      [=, &ob, &lp] {
        ob.set_threads(threads);
        if (f64)
          lu_nopiv(static_cast<double*>(a), m, n, lda, lp.dtrsm, ob.dgemm);
        else
          lu_nopiv(static_cast<float*>(a), m, n, lda, lp.strsm, ob.sgemm);
      },
      ob.library, impl);
}

std::unique_ptr<CpuOp> make_laswp(const suanli_laswp_desc& d, const Operand* ops,
                                  const CpuConfig& cfg, std::string* reason) {
  kit::check_linalg_shape(d);
  if (!real_type(d.type, reason, "laswp")) return nullptr;
  if (const std::string why = blas_missing(); !why.empty()) {
    *reason = why;
    return nullptr;
  }
  int* ipiv = static_cast<int*>(sub_matrix(ops[1], d.ipiv_offset, SUANLI_DTYPE_INT32));
  // The kit checked the rows k1..k2; the rows the pivots name are data, checked at run time.
  void* a = sub_matrix(ops[0], d.a_offset, d.type);
  const uint64_t elems = ops[0].bytes / kit::dtype_bytes(d.type);
  const int64_t last_col = d.a_offset + (d.n - 1) * d.lda;  // first element of the last column
  const OpenBlas& ob = openblas();
  const Lapack& lp = lapack();
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const int threads = cfg.threads, n = i32(d.n), lda = i32(d.lda), k1 = i32(d.k1) + 1,
            k2 = i32(d.k2), lda_rows = i32(d.lda);
  const std::string impl = std::string(f64 ? "dlaswp_" : "slaswp_") + " (LAPACK in OpenBLAS)";
  if (!a) return fn_op([] {}, ob.library, impl);
  return fn_op(
      [=, &ob, &lp] {
        for (int i = k1 - 1; i < k2; ++i)
          if (ipiv[i] < 1 || ipiv[i] > lda_rows ||
              static_cast<uint64_t>(last_col + ipiv[i]) > elems)
            throw BackendError(SUANLI_INVALID_ARGUMENT,
                               "laswp: pivot " + std::to_string(ipiv[i]) + " outside the matrix");
        if (k2 < k1 || n == 0) return;
        ob.set_threads(threads);
        const int one = 1;
        // LAPACK's laswp reads ipiv(k1..k2) with 1-based k: hand it the array as given.
        if (f64)
          lp.dlaswp(&n, static_cast<double*>(a), &lda, &k1, &k2, ipiv, &one);
        else
          lp.slaswp(&n, static_cast<float*>(a), &lda, &k1, &k2, ipiv, &one);
      },
      ob.library, impl);
}

std::unique_ptr<CpuOp> make_trsm(const suanli_trsm_desc& d, const Operand* ops,
                                 const CpuConfig& cfg, std::string* reason) {
  kit::check_linalg_shape(d);
  if (!real_type(d.type, reason, "trsm")) return nullptr;
  if (const std::string why = blas_missing(); !why.empty()) {
    *reason = why;
    return nullptr;
  }
  void* a = sub_matrix(ops[0], d.a_offset, d.type);
  void* b = sub_matrix(ops[1], d.b_offset, d.type);
  const OpenBlas& ob = openblas();
  const Lapack& lp = lapack();
  const bool f64 = d.type == SUANLI_DTYPE_FP64;
  const int side = d.side ? kRight : kLeft, uplo = d.lower ? kLower : kUpper,
            tr = d.trans ? kTrans : kNoTrans, diag = d.unit_diag ? kUnit : kNonUnit;
  const int threads = cfg.threads, m = i32(d.m), n = i32(d.n), lda = i32(d.lda), ldb = i32(d.ldb);
  const double alpha = d.alpha;
  const std::string impl = f64 ? "cblas_dtrsm" : "cblas_strsm";
  if (!a) return fn_op([] {}, ob.library, impl);
  return fn_op(
      [=, &ob, &lp] {
        if (m == 0 || n == 0) return;
        ob.set_threads(threads);
        if (f64)
          lp.dtrsm(kColMajor, side, uplo, tr, diag, m, n, alpha, static_cast<const double*>(a), lda,
                   static_cast<double*>(b), ldb);
        else
          lp.strsm(kColMajor, side, uplo, tr, diag, m, n, static_cast<float>(alpha),
                   static_cast<const float*>(a), lda, static_cast<float*>(b), ldb);
      },
      ob.library, impl);
}

}  // namespace

std::unique_ptr<CpuOp> make_linalg_op(const suanli_op_desc& op, void* const* bufs,
                                      const uint64_t* sizes, size_t nbufs, const CpuConfig& cfg,
                                      std::string* reason) {
  // The kit has checked the descriptor (op_params), and when planning the buffers' count and that
  // each operand lies inside its buffer (op_buffer_bytes).
  Operand ops[2 + 1];
  const size_t want = op.kind == SUANLI_OP_GEMM_EX ? 3 : 2;
  for (size_t i = 0; bufs && i < std::min(nbufs, want); ++i) ops[i] = {bufs[i], sizes[i]};
  switch (op.kind) {
    case SUANLI_OP_GEMM_EX:
      if (op.gemm_ex) return make_gemm_ex(*op.gemm_ex, ops, cfg, reason);
      break;
    case SUANLI_OP_GETRF:
      if (op.getrf) return make_getrf(*op.getrf, ops, cfg, reason);
      break;
    case SUANLI_OP_LASWP:
      if (op.laswp) return make_laswp(*op.laswp, ops, cfg, reason);
      break;
    case SUANLI_OP_TRSM:
      if (op.trsm) return make_trsm(*op.trsm, ops, cfg, reason);
      break;
    default:
      break;
  }
  throw BackendError(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
}

}  // namespace suanli::cpu
