// Freivalds' check of a GEMM: C x against A (B x) in fp64 on the host, every row of every batch
// against a tolerance from the random-rounding model of a dot product.
//
// Tolerance. Row i of the residual is r_i = sum_j x_j (C_ij - (AB)_ij) with x_j = +-1 drawn
// independently, so the rounding errors e_ij of the kernel add up like a random walk over j:
// |r_i| ~ sqrt(sum_j e_ij^2). Under the probabilistic model (Higham & Mary 2019: rounding errors
// behave as independent, mean-zero variables), a K-term dot product accumulated with unit
// roundoff u has |e_ij| ~ u sqrt(K) sigma_ij, sigma_ij^2 = sum_k A_ik^2 B_kj^2 (each partial sum
// is rounded; partial sums are random walks of the terms). Summed over j:
//   sqrt(sum_j e_ij^2) ~ u_acc sqrt(K) sigma_i,  sigma_i^2 = sum_k A_ik^2 (sum_j B_kj^2).
// A unit that rounds its inputs first (tf32) adds one relative error per product, u_in sigma_i;
// storing C adds u_out |C_ij| per element, u_out sqrt(sum_j C_ij^2) per row; matrix units that
// truncate add directed_k K sigma_i (see error_model). The host's own fp64 rounding (of B x over
// N terms, of A (B x) over K terms, of C x over N terms) is added with u_host = 2^-53, which
// only matters for fp64. The terms are root-mean-square sizes; the bound of 16 on |r_i| / tol_i
// leaves room for the maximum over many rows (about 4.5 standard deviations for 10^5 rows)
// and for kernels less favourable than the model, while a fault much larger than the rounding
// noise of a row still shows. Integer GEMMs are exact: r must be 0 (all values involved stay
// below 2^53, checked before use, so fp64 arithmetic is exact too).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "verify/verify.h"
#include "verify/verify_internal.h"

namespace suanli::verify {
namespace {

using internal::ErrorModel;

constexpr double kGemmBound = 16;
// Keeps 0/0 out of |r| / tol when a row of A or C is all zeros.
constexpr double kTinyTolerance = 1e-300;

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

double sum_squares(const double* a, int64_t n) {
  return dot(a, a, n);
}

// sum_i a_i^2 w_i
double weighted_squares(const double* a, const double* w, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * a[i] * w[i];
  return s;
}

// sum_i (a_i b_i)^2
double product_squares(const double* a, const double* b, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    const double p = a[i] * b[i];
    s += p * p;
  }
  return s;
}

// Column blocks for a pass over a row-major matrix whose columns are the outputs (transposed
// operands): each thread owns whole columns, so no two threads write the same accumulator,
// and each row segment it reads is contiguous.
int64_t column_block(int64_t columns) {
  const int64_t blocks = 4 * static_cast<int64_t>(max_threads());
  return std::max<int64_t>(256, (columns + blocks - 1) / blocks);
}

// Host-side quantities of one batch. Vectors are stored one after another (v * length + i).
struct Sketch {
  int64_t m = 0, n = 0, k = 0;
  int vectors = 0;
  std::vector<double> x;    // vectors x n: +-1
  std::vector<double> y;    // vectors x k: op(B) x
  std::vector<double> bsq;  // k: sum_j op(B)_kj^2
  std::vector<double> z;    // vectors x m: op(A) (op(B) x)
  std::vector<double> s2;   // m: sigma_i^2 = sum_k op(A)_ik^2 bsq_k
  std::vector<double> t2;   // vectors x m: sum_k (op(A)_ik y_k)^2, scale of the host's error in z
  std::vector<double> w;    // vectors x m: C x
  std::vector<double> cn2;  // m: sum_j C_ij^2
  std::vector<char> bad;    // m: row of C holds a NaN or an infinity
};

// y = op(B) x and bsq, for B of type t at `base` (element offset `offset`).
void sketch_b(Sketch& s, Dtype t, const void* base, int64_t offset, bool trans) {
  const int64_t k = s.k, n = s.n;
  const int vectors = s.vectors;
  if (!trans) {  // B is k x n: one output per row
#pragma omp parallel
    {
      std::vector<double> row(static_cast<size_t>(n));
#pragma omp for schedule(static)
      for (int64_t kk = 0; kk < k; ++kk) {
        internal::load_row(t, base, offset + kk * n, n, row.data());
        s.bsq[kk] = sum_squares(row.data(), n);
        for (int v = 0; v < vectors; ++v) s.y[v * k + kk] = dot(row.data(), &s.x[v * n], n);
      }
    }
    return;
  }
  // B is stored n x k: row j holds op(B)[:, j].
  const int64_t width = column_block(k);
  const int64_t blocks = (k + width - 1) / width;
#pragma omp parallel
  {
    std::vector<double> row(static_cast<size_t>(width));
#pragma omp for schedule(dynamic)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t k0 = blk * width, len = std::min(width, k - k0);
      double* bsq = &s.bsq[k0];
      std::fill(bsq, bsq + len, 0.0);
      for (int v = 0; v < vectors; ++v) std::fill(&s.y[v * k + k0], &s.y[v * k + k0] + len, 0.0);
      for (int64_t j = 0; j < n; ++j) {
        internal::load_row(t, base, offset + j * k + k0, len, row.data());
        const double* r = row.data();
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) bsq[i] += r[i] * r[i];
        for (int v = 0; v < vectors; ++v) {
          const double xj = s.x[v * n + j];
          double* y = &s.y[v * k + k0];
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) y[i] += r[i] * xj;
        }
      }
    }
  }
}

// z = op(A) y, s2 and t2.
void sketch_a(Sketch& s, Dtype t, const void* base, int64_t offset, bool trans) {
  const int64_t m = s.m, k = s.k;
  const int vectors = s.vectors;
  if (!trans) {  // A is m x k
#pragma omp parallel
    {
      std::vector<double> row(static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t i = 0; i < m; ++i) {
        internal::load_row(t, base, offset + i * k, k, row.data());
        s.s2[i] = weighted_squares(row.data(), s.bsq.data(), k);
        for (int v = 0; v < vectors; ++v) {
          s.z[v * m + i] = dot(row.data(), &s.y[v * k], k);
          s.t2[v * m + i] = product_squares(row.data(), &s.y[v * k], k);
        }
      }
    }
    return;
  }
  // A is stored k x m: row kk holds op(A)[:, kk].
  const int64_t width = column_block(m);
  const int64_t blocks = (m + width - 1) / width;
#pragma omp parallel
  {
    std::vector<double> row(static_cast<size_t>(width));
#pragma omp for schedule(dynamic)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t i0 = blk * width, len = std::min(width, m - i0);
      double* s2 = &s.s2[i0];
      std::fill(s2, s2 + len, 0.0);
      for (int v = 0; v < vectors; ++v) {
        std::fill(&s.z[v * m + i0], &s.z[v * m + i0] + len, 0.0);
        std::fill(&s.t2[v * m + i0], &s.t2[v * m + i0] + len, 0.0);
      }
      for (int64_t kk = 0; kk < k; ++kk) {
        internal::load_row(t, base, offset + kk * m + i0, len, row.data());
        const double* r = row.data();
        const double bsq = s.bsq[kk];
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) s2[i] += r[i] * r[i] * bsq;
        for (int v = 0; v < vectors; ++v) {
          const double yk = s.y[v * k + kk];
          double* z = &s.z[v * m + i0];
          double* t2 = &s.t2[v * m + i0];
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) {
            const double p = r[i] * yk;
            z[i] += p;
            t2[i] += p * p;
          }
        }
      }
    }
  }
}

// w = C x, cn2, and rows holding non-finite values.
void sketch_c(Sketch& s, Dtype t, const void* base, int64_t offset) {
  const int64_t m = s.m, n = s.n;
  const int vectors = s.vectors;
#pragma omp parallel
  {
    std::vector<double> row(static_cast<size_t>(n));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m; ++i) {
      internal::load_row(t, base, offset + i * n, n, row.data());
      // x * 0 is 0 for finite x and NaN for NaN and infinities: a vectorizable finiteness test.
      double probe = 0;
      const double* r = row.data();
#pragma omp simd reduction(+ : probe)
      for (int64_t j = 0; j < n; ++j) probe += r[j] * 0.0;
      s.cn2[i] = sum_squares(r, n);
      // NaN != 0 too. A sum of squares that overflows comes from values no correct result has
      // (|C_ij| > 1e154; the runner's 0x7f poison is 1.4e306 in fp64) and would make the
      // tolerance infinite.
      s.bad[i] = (probe != 0 || !std::isfinite(s.cn2[i])) ? 1 : 0;
      for (int v = 0; v < vectors; ++v) s.w[v * m + i] = dot(r, &s.x[v * n], n);
    }
  }
}

// Largest magnitude a value of integer type t can have.
double integer_magnitude(Dtype t) {
  switch (t) {
    case Dtype::uint8:
      return 255;
    case Dtype::int8:
      return 128;
    default:
      return 2147483648.0;  // int32
  }
}

Verification failed(std::string detail) {
  return internal::failure("freivalds", kGemmBound, std::move(detail));
}

}  // namespace

Verification verify_gemm(const OpDesc& op, const void* a, const void* b, const void* c,
                         uint64_t seed, int vectors) {
  const GemmShape& g = op.gemm();
  const OperandTypes types = operand_types(op);
  const ErrorModel model = internal::error_model(op);
  if (g.m <= 0 || g.n <= 0 || g.k <= 0 || g.batch <= 0 || vectors <= 0)
    return failed(fmt::format("invalid shape {}x{}x{} batch {} or {} vectors", g.m, g.n, g.k,
                              g.batch, vectors));
  const double nd = static_cast<double>(g.n), kd = static_cast<double>(g.k);
  if (model.exact) {
    // fp64 sums of integers are exact while every partial sum stays below 2^53.
    const double limit = 9007199254740992.0;
    const double amax = integer_magnitude(types.a), bmax = integer_magnitude(types.b),
                 cmax = integer_magnitude(types.c);
    if (amax * bmax * nd * kd >= limit || cmax * nd >= limit)
      return failed(fmt::format("{}x{}x{} is too large for an exact fp64 check", g.m, g.n, g.k));
  }

  Sketch s;
  s.m = g.m, s.n = g.n, s.k = g.k, s.vectors = vectors;
  const auto per_row_sums = static_cast<size_t>(vectors) * static_cast<size_t>(g.m);
  s.x.resize(static_cast<size_t>(vectors) * static_cast<size_t>(g.n));
  s.y.resize(static_cast<size_t>(vectors) * static_cast<size_t>(g.k));
  s.bsq.resize(static_cast<size_t>(g.k));
  s.z.resize(per_row_sums);
  s.t2.resize(per_row_sums);
  s.w.resize(per_row_sums);
  s.s2.resize(static_cast<size_t>(g.m));
  s.cn2.resize(static_cast<size_t>(g.m));
  s.bad.resize(static_cast<size_t>(g.m));

  const double sqrt_k = std::sqrt(kd), sqrt_n = std::sqrt(nd);
  double worst = -1, worst_residual = 0, worst_tol = 0;
  int64_t worst_batch = 0, worst_row = 0;
  int64_t bad_rows = 0, first_bad_batch = -1, first_bad_row = -1;
  for (int64_t batch = 0; batch < g.batch; ++batch) {
    uint64_t state = internal::derive_seed(seed, 0x2000 + static_cast<uint64_t>(batch));
    for (double& e : s.x) e = (internal::splitmix64(state) >> 63) ? 1.0 : -1.0;
    sketch_b(s, types.b, b, batch * g.k * g.n, g.trans_b);
    sketch_a(s, types.a, a, batch * g.m * g.k, g.trans_a);
    sketch_c(s, types.c, c, batch * g.m * g.n);
    for (int64_t i = 0; i < g.m; ++i) {
      if (s.bad[i]) {
        if (bad_rows++ == 0) first_bad_batch = batch, first_bad_row = i;
        continue;
      }
      const double sigma = std::sqrt(s.s2[i]), cnorm = std::sqrt(s.cn2[i]);
      for (int v = 0; v < vectors; ++v) {
        const double r = std::fabs(s.w[v * g.m + i] - s.z[v * g.m + i]);
        double tol = 0, err = r;
        if (!model.exact) {
          tol = internal::dot_tolerance(model, kd, sigma) + model.u_out * cnorm +
                model.u_host * (sqrt_n * (sigma + cnorm) + sqrt_k * std::sqrt(s.t2[v * g.m + i])) +
                kTinyTolerance;
          err = std::isfinite(tol) ? r / tol : std::numeric_limits<double>::infinity();
        }
        if (!(err <= worst)) {  // NaN from inf - inf in A, B (not C) ends up here too
          worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
          worst_residual = r, worst_tol = tol, worst_batch = batch, worst_row = i;
        }
      }
    }
  }

  Verification out;
  out.method = "freivalds";
  out.bound = model.exact ? 0.0 : kGemmBound;
  if (bad_rows > 0) {
    out.passed = false;
    out.error = std::numeric_limits<double>::infinity();
    out.detail = fmt::format(
        "{} rows of C hold NaN, infinity or values beyond 1e154; first: row {} of batch {}",
        bad_rows, first_bad_row, first_bad_batch);
    return out;
  }
  out.error = std::max(worst, 0.0);
  out.passed = out.error <= out.bound;
  const std::string where = g.batch > 1 ? fmt::format("row {} of batch {}", worst_row, worst_batch)
                                        : fmt::format("row {}", worst_row);
  if (model.exact) {
    out.detail = fmt::format("{} vectors, exact integer check; worst {}: residual {}", vectors,
                             where, worst_residual);
  } else {
    out.detail = fmt::format(
        "{} vectors, worst {}: residual {:.3g}, tol {:.3g} (u_acc {}, u_in {}, u_out {}, K {})",
        vectors, where, worst_residual, worst_tol, internal::format_unit(model.u_acc),
        model.u_in > 0 ? internal::format_unit(model.u_in) : "0",
        internal::format_unit(model.u_out), g.k);
  }
  return out;
}

}  // namespace suanli::verify
