// HPL's reference formulas: operation count, scaled residual (backward error) and its threshold,
// and the seeded matrix generators of HPL (uniform) and HPL-MxP (row diagonally dominant).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace suanli::hpl {

// HPL's threshold: a solution passes when its scaled residual is below 16.
constexpr double kResidualThreshold = 16.0;

// Operations HPL and HPL-MxP credit for solving an n x n system: 2/3 n^3 + 3/2 n^2 (FP64 count,
// whatever precision factored it).
double hpl_flops(int64_t n);

// HPL's scaled residual: ||Ax - b||_inf / (eps * (||A||_inf * ||x||_inf + ||b||_inf) * n), with
// eps the FP64 rounding unit (2^-53, HPL's HPL_dlamch('eps')). inf/nan inputs give +inf.
double scaled_residual(double r_inf, double a_inf, double x_inf, double b_inf, int64_t n);

// The seeded matrix of a run. Element (i, j), 0 <= i < n, 0 <= j <= n (column n is b), is a
// counter-based hash of (seed, i, j) mapped to a uniform value in [-0.5, 0.5), so any element can
// be regenerated anywhere (host verification regenerates A instead of keeping a copy).
// diagonally_dominant (HPL-MxP's generator): A(i, i) = sum over j != i of |A(i, j)|, a matrix
// that factors stably without pivoting.
class Matrix {
 public:
  Matrix(int64_t n, uint64_t seed, bool diagonally_dominant);
  // HPL-MxP's matrix with its diagonal computed elsewhere (distributed runs sum the row sums of
  // their blocks): `diagonal` must be what the constructor above would compute.
  Matrix(int64_t n, uint64_t seed, std::vector<double> diagonal);
  int64_t n() const { return n_; }
  double operator()(int64_t i, int64_t j) const {
    if (i == j && !diag_.empty()) return diag_[static_cast<size_t>(i)];
    return uniform(i, j);
  }
  double b(int64_t i) const { return uniform(i, n_); }
  // Columns [j0, j1) of A (j1 may be n + 1: b included), column-major into out with leading
  // dimension ld (ld >= n).
  void fill_columns(int64_t j0, int64_t j1, double* out, int64_t ld) const;
  // ||A||_inf (max row sum of |A(i, j)|, j < n) and ||b||_inf.
  double norm_inf() const;
  double b_norm_inf() const;

 private:
  double uniform(int64_t i, int64_t j) const;
  int64_t n_;
  uint64_t seed_;
  std::vector<double> diag_;  // empty unless diagonally dominant
};

struct Residual {
  double r_inf = 0, a_inf = 0, x_inf = 0, b_inf = 0;
  double scaled = 0;  // scaled_residual of the above
};

// ||Ax - b||_inf and the scaled residual of x, computed on the host from the generator (FP64,
// OpenMP over rows): the harness's own check, independent of the device.
Residual residual(const Matrix& a, const std::vector<double>& x);

}  // namespace suanli::hpl
