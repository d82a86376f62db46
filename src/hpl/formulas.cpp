// HPL's operation count and scaled residual; the seeded generators.
#include "hpl/formulas.h"

#include "suite/hpl_entry.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace suanli::hpl {
namespace {

uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

double hpl_flops(int64_t n) {
  return hpl_operation_count(n);
}

double scaled_residual(double r_inf, double a_inf, double x_inf, double b_inf, int64_t n) {
  const double eps = std::ldexp(1.0, -53);
  const double den = eps * (a_inf * x_inf + b_inf) * static_cast<double>(n);
  const double s = r_inf / den;
  if (!std::isfinite(r_inf) || !std::isfinite(x_inf) || !std::isfinite(s) || !(den > 0))
    return std::numeric_limits<double>::infinity();
  return s;
}

Matrix::Matrix(int64_t n, uint64_t seed, bool diagonally_dominant)
    : n_(n), seed_(mix(seed ^ 0x48504c2d4d78505bULL)) {
  if (!diagonally_dominant) return;
  diag_.assign(static_cast<size_t>(n), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) s += std::fabs(uniform(i, j));
    diag_[static_cast<size_t>(i)] = s;
  }
}

Matrix::Matrix(int64_t n, uint64_t seed, std::vector<double> diagonal) : Matrix(n, seed, false) {
  diag_ = std::move(diagonal);
}

double Matrix::uniform(int64_t i, int64_t j) const {
  const uint64_t h = mix(seed_ + static_cast<uint64_t>(j) * 0x9e3779b97f4a7c15ULL +
                         static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ULL);
  return static_cast<double>(h >> 11) * 0x1.0p-53 - 0.5;
}

void Matrix::fill_columns(int64_t j0, int64_t j1, double* out, int64_t ld) const {
#pragma omp parallel for schedule(static)
  for (int64_t j = j0; j < j1; ++j) {
    double* col = out + (j - j0) * ld;
    for (int64_t i = 0; i < n_; ++i) col[i] = j == n_ ? b(i) : (*this)(i, j);
  }
}

double Matrix::norm_inf() const {
  double m = 0;
#pragma omp parallel for reduction(max : m) schedule(static)
  for (int64_t i = 0; i < n_; ++i) {
    double s = 0;
    for (int64_t j = 0; j < n_; ++j) s += std::fabs((*this)(i, j));
    m = std::max(m, s);
  }
  return m;
}

double Matrix::b_norm_inf() const {
  double m = 0;
  for (int64_t i = 0; i < n_; ++i) m = std::max(m, std::fabs(b(i)));
  return m;
}

Residual residual(const Matrix& a, const std::vector<double>& x) {
  Residual r;
  const int64_t n = a.n();
  double rmax = 0, amax = 0, xmax = 0;
  bool finite = true;
  for (double v : x) {
    xmax = std::max(xmax, std::fabs(v));
    finite = finite && std::isfinite(v);
  }
#pragma omp parallel for reduction(max : rmax, amax) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = -a.b(i), arow = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double v = a(i, j);
      s += v * x[static_cast<size_t>(j)];
      arow += std::fabs(v);
    }
    rmax = std::max(rmax, std::isfinite(s) ? std::fabs(s) : HUGE_VAL);
    amax = std::max(amax, arow);
  }
  r.r_inf = finite ? rmax : std::numeric_limits<double>::infinity();
  r.a_inf = amax;
  r.x_inf = xmax;
  r.b_inf = a.b_norm_inf();
  r.scaled = scaled_residual(r.r_inf, r.a_inf, r.x_inf, r.b_inf, n);
  return r;
}

}  // namespace suanli::hpl
