// HPL (FP64, partial pivoting) and HPL-MxP (low-precision LU + FP64 GMRES) over DeviceLinAlg.
#include "hpl/solve.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace suanli::hpl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double inf_norm(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::isfinite(x) ? std::max(m, std::fabs(x)) : HUGE_VAL;
  return m;
}

// The device side of refinement: y = A x in FP64 (GEMM_EX with one column), and the
// preconditioner M^-1 v = U^-1 L^-1 v in the factors' storage precision (two TRSMs).
class Operators {
 public:
  Operators(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf, int64_t n)
      : la_(la), b_(b), buf_(buf), n_(n), f32_(static_cast<size_t>(n)) {}

  std::vector<double> matvec(const std::vector<double>& x) {
    const Sub xs{buf_.vec64, 0, n_}, ys{buf_.vec64, n_, n_};
    upload_span(b_, xs, n_, 1, 8, x.data());
    la_.gemm(false, false, n_, 1, n_, 1.0, buf_.a64, xs, 0.0, ys, Dtype::fp64, Dtype::fp64);
    std::vector<double> y(static_cast<size_t>(n_));
    download_span(b_, ys, n_, 1, 8, y.data());
    return y;
  }

  std::vector<double> precondition(const std::vector<double>& v) {
    const double s = inf_norm(v);
    const double scale = s > 0 && std::isfinite(s) ? s : 1.0;  // keep fp32 in range
    for (size_t i = 0; i < v.size(); ++i) f32_[i] = static_cast<float>(v[i] / scale);
    const Sub vs{buf_.vec32, 0, n_};
    upload_span(b_, vs, n_, 1, 4, f32_.data());
    la_.trsm(false, true, true, n_, 1, buf_.f, vs, Dtype::fp32);
    la_.trsm(false, false, false, n_, 1, buf_.f, vs, Dtype::fp32);
    download_span(b_, vs, n_, 1, 4, f32_.data());
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<double>(f32_[i]) * scale;
    return out;
  }

 private:
  DeviceLinAlg& la_;
  Backend& b_;
  const MxpBuffers& buf_;
  int64_t n_;
  std::vector<float> f32_;
};

}  // namespace

std::vector<uint16_t> to_half(const std::vector<float>& v, Dtype t) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = t == Dtype::bf16 ? float_to_bf16(v[i]) : float_to_fp16(v[i]);
  return out;
}

namespace {

// The trailing update A22 -= L21 U12 in bf16 / fp16 with fp32 accumulation: L21 and U12 rounded
// to 16 bits on the host (the ABI has no conversion op), the GEMM through the backend.
void half_update(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf, int64_t k, int64_t jb,
                 int64_t n, Dtype t) {
  const int64_t rest = n - k - jb;
  const Sub l21 = buf.f.at(k + jb, k), u12 = buf.f.at(k, k + jb);
  std::vector<float> host(static_cast<size_t>((jb - 1) * buf.f.ld + rest));
  download_span(b, l21, rest, jb, 4, host.data());
  std::vector<float> packed(static_cast<size_t>(rest * jb));
  for (int64_t j = 0; j < jb; ++j)
    std::copy_n(host.begin() + j * buf.f.ld, rest, packed.begin() + j * rest);
  const std::vector<uint16_t> lh = to_half(packed, t);
  upload_span(b, Sub{buf.l_half, 0, rest}, rest, jb, 2, lh.data());
  packed.assign(static_cast<size_t>(jb * rest), 0.f);
  for (int64_t j = 0; j < rest; ++j)  // U12 column by column: jb contiguous values each
    download_span(b, u12.at(0, j), jb, 1, 4, packed.data() + j * jb);
  const std::vector<uint16_t> uh = to_half(packed, t);
  upload_span(b, Sub{buf.u_half, 0, jb}, jb, rest, 2, uh.data());
  la.gemm(false, false, rest, rest, jb, -1.0, Sub{buf.l_half, 0, rest}, Sub{buf.u_half, 0, jb}, 1.0,
          buf.f.at(k + jb, k + jb), t, Dtype::fp32);
}

// Low-precision LU without pivoting, right-looking, blocked.
void mxp_factor(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf, int64_t n, int64_t nb,
                Dtype precision) {
  for (int64_t k = 0; k < n; k += nb) {
    const int64_t jb = std::min(nb, n - k), rest = n - k - jb;
    la.getrf(n - k, jb, buf.f.at(k, k), false, nullptr, 0, Dtype::fp32);
    la.trsm(false, true, true, jb, rest, buf.f.at(k, k), buf.f.at(k, k + jb), Dtype::fp32);
    if (rest == 0) break;
    if (precision == Dtype::fp32)
      la.gemm(false, false, rest, rest, jb, -1.0, buf.f.at(k + jb, k), buf.f.at(k, k + jb), 1.0,
              buf.f.at(k + jb, k + jb), Dtype::fp32, Dtype::fp32);
    else
      half_update(la, b, buf, k, jb, n, precision);
  }
}

// Solves the (j x j) upper-triangular system of GMRES's least-squares problem.
std::vector<double> back_substitute(const std::vector<std::vector<double>>& h,
                                    const std::vector<double>& g, int j) {
  std::vector<double> y(static_cast<size_t>(j));
  for (int i = j - 1; i >= 0; --i) {
    double s = g[static_cast<size_t>(i)];
    for (int c = i + 1; c < j; ++c)
      s -= h[static_cast<size_t>(c)][static_cast<size_t>(i)] * y[static_cast<size_t>(c)];
    y[static_cast<size_t>(i)] = s / h[static_cast<size_t>(i)][static_cast<size_t>(i)];
  }
  return y;
}

// One restart cycle of right-preconditioned GMRES(m) on A M^-1 z = r from z = 0: returns
// M^-1 z, the correction to x; *steps counts the iterations.
std::vector<double> gmres_cycle(Operators& op, const std::vector<double>& r, int m, double tol,
                                int* steps) {
  const size_t n = r.size();
  const double beta = std::sqrt(dot(r, r));
  std::vector<double> corr(n, 0.0);
  if (!(beta > 0) || !std::isfinite(beta)) return corr;
  std::vector<std::vector<double>> v(1, r), h;  // h[j]: column j of the Hessenberg matrix
  for (double& e : v[0]) e /= beta;
  std::vector<double> g{beta}, cs, sn;
  int j = 0;
  for (; j < m; ++j) {
    std::vector<double> w = op.matvec(op.precondition(v[static_cast<size_t>(j)]));
    ++*steps;
    std::vector<double> col(static_cast<size_t>(j) + 2, 0.0);
    for (int i = 0; i <= j; ++i) {  // modified Gram-Schmidt
      col[static_cast<size_t>(i)] = dot(w, v[static_cast<size_t>(i)]);
      for (size_t e = 0; e < n; ++e)
        w[e] -= col[static_cast<size_t>(i)] * v[static_cast<size_t>(i)][e];
    }
    const double hn = std::sqrt(dot(w, w));
    col[static_cast<size_t>(j) + 1] = hn;
    for (int i = 0; i < j; ++i) {  // earlier rotations
      const double a = col[static_cast<size_t>(i)], c = col[static_cast<size_t>(i) + 1];
      col[static_cast<size_t>(i)] = cs[static_cast<size_t>(i)] * a + sn[static_cast<size_t>(i)] * c;
      col[static_cast<size_t>(i) + 1] =
          -sn[static_cast<size_t>(i)] * a + cs[static_cast<size_t>(i)] * c;
    }
    const double a = col[static_cast<size_t>(j)], c = col[static_cast<size_t>(j) + 1];
    const double rho = std::hypot(a, c);
    cs.push_back(rho > 0 ? a / rho : 1.0);
    sn.push_back(rho > 0 ? c / rho : 0.0);
    col[static_cast<size_t>(j)] = rho;
    col[static_cast<size_t>(j) + 1] = 0;
    g.push_back(-sn.back() * g[static_cast<size_t>(j)]);
    g[static_cast<size_t>(j)] *= cs.back();
    h.push_back(std::move(col));
    if (!std::isfinite(hn)) return std::vector<double>(n, NAN);
    if (std::fabs(g[static_cast<size_t>(j) + 1]) <= tol * beta || hn == 0) {
      ++j;
      break;
    }
    for (double& e : w) e /= hn;
    v.push_back(std::move(w));
  }
  const std::vector<double> y = back_substitute(h, g, j);
  std::vector<double> z(n, 0.0);
  for (int i = 0; i < j; ++i)
    for (size_t e = 0; e < n; ++e) z[e] += y[static_cast<size_t>(i)] * v[static_cast<size_t>(i)][e];
  return op.precondition(z);
}

}  // namespace

std::vector<double> hpl_solve(DeviceLinAlg& la, Backend& b, const Sub& a, DeviceBuffer* ipiv,
                              int64_t n, int64_t nb, const CorruptFactor& corrupt) {
  for (int64_t k = 0; k < n; k += nb) {
    const int64_t jb = std::min(nb, n - k), right = n + 1 - k - jb;
    la.getrf(n - k, jb, a.at(k, k), true, ipiv, k, Dtype::fp64);
    la.laswp(right, a.at(k, k + jb), 0, jb, ipiv, k, Dtype::fp64);
    la.trsm(false, true, true, jb, right, a.at(k, k), a.at(k, k + jb), Dtype::fp64);
    la.gemm(false, false, n - k - jb, right, jb, -1.0, a.at(k + jb, k), a.at(k, k + jb), 1.0,
            a.at(k + jb, k + jb), Dtype::fp64, Dtype::fp64);
  }
  if (corrupt) corrupt(b, a, n, Dtype::fp64);
  // Column n holds L^-1 P b: back substitution with U gives x.
  la.trsm(false, false, false, n, 1, a, a.at(0, n), Dtype::fp64);
  std::vector<double> x(static_cast<size_t>(n));
  download_span(b, a.at(0, n), n, 1, 8, x.data());
  return x;
}

MxpOutcome mxp_solve(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf,
                     const std::vector<double>& rhs, double a_inf, int64_t n, int64_t nb,
                     Dtype precision, int max_iterations, const CorruptFactor& corrupt) {
  const auto t0 = Clock::now();
  mxp_factor(la, b, buf, n, nb, precision);
  if (corrupt) corrupt(b, buf.f, n, Dtype::fp32);
  MxpOutcome out = mxp_refine(la, b, buf, rhs, a_inf, n, max_iterations);
  out.factor_seconds = seconds_since(t0) - out.refine_seconds;
  return out;
}

MxpOutcome mxp_refine(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf,
                      const std::vector<double>& rhs, double a_inf, int64_t n, int max_iterations) {
  MxpOutcome out;
  const auto t0 = Clock::now();
  Operators op(la, b, buf, n);
  out.x = op.precondition(rhs);
  const double b_inf = inf_norm(rhs);
  // Stop well inside HPL's threshold: the host's own residual, computed independently, decides.
  const double target = 1.0;
  while (true) {
    const std::vector<double> ax = op.matvec(out.x);
    std::vector<double> r(rhs.size());
    double r_inf = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      r[i] = rhs[i] - ax[i];
      r_inf = std::isfinite(r[i]) ? std::max(r_inf, std::fabs(r[i])) : HUGE_VAL;
    }
    out.backward_error = scaled_residual(r_inf, a_inf, inf_norm(out.x), b_inf, n);
    if (out.backward_error < target || !std::isfinite(out.backward_error) ||
        out.iterations >= max_iterations || out.restarts >= max_iterations)
      break;
    const int m = std::min(30, max_iterations - out.iterations);
    const std::vector<double> dx = gmres_cycle(op, r, m, 1e-12, &out.iterations);
    for (size_t i = 0; i < dx.size(); ++i) out.x[i] += dx[i];
    ++out.restarts;
  }
  out.refine_seconds = seconds_since(t0);
  return out;
}

}  // namespace suanli::hpl
