// conv2d against a direct convolution on the host (fp64 accumulation), on every output point
// of small layers and on a seeded sample, corners and borders included, of large ones.
//
// The tolerance of one output point is that of one dot product (see gemm_check.cpp) without the
// aggregation over j: K = (C/groups) R S terms, sigma^2 = sum of the squared products of the
// point's terms, plus u_out |reference| for storing the result and the host's fp64 rounding.
// A single point is checked directly, so a fault in one point stands out far more sharply than in
// Freivalds' row sums; a kernel that is right everywhere but at a few points is caught only if
// the sample hits one of them, which is why the borders, where padding bugs live, are always in.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "verify/verify.h"
#include "verify/verify_internal.h"

namespace suanli::verify {
namespace {

using internal::ErrorModel;

constexpr double kConvBound = 16;
constexpr double kTinyTolerance = 1e-300;

struct Geometry {
  int64_t n, c, h, w, k, r, s, p, q, groups, c_group, k_group;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t points() const { return n * p * q * k; }
  // Linear index of dst point (image, row, column, channel) in NHWC.
  int64_t index(int64_t in, int64_t ip, int64_t iq, int64_t ik) const {
    return ((in * p + ip) * q + iq) * k + ik;
  }
};

Verification failed(std::string detail) {
  return internal::failure("reference", kConvBound, std::move(detail));
}

// Output points to check: all of them, or up to max_points: the four corners of each (image,
// channel) plane (one corner each when four per plane do not fit in half the budget), a quarter
// of the budget on random border points, the rest uniform. Sorted, without duplicates.
std::vector<int64_t> choose_points(const Geometry& g, uint64_t seed, int64_t max_points,
                                   bool* all) {
  const int64_t total = g.points();
  std::vector<int64_t> pts;
  *all = total <= max_points;
  if (*all) {
    pts.resize(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) pts[static_cast<size_t>(i)] = i;
    return pts;
  }
  uint64_t state = internal::derive_seed(seed, 0x3000);
  auto below = [&state](int64_t bound) {
    return static_cast<int64_t>(internal::splitmix64(state) % static_cast<uint64_t>(bound));
  };
  pts.reserve(static_cast<size_t>(max_points));
  const int64_t corner_p[4] = {0, 0, g.p - 1, g.p - 1};
  const int64_t corner_q[4] = {0, g.q - 1, 0, g.q - 1};
  const int64_t planes = g.n * g.k;
  const int64_t half = max_points / 2;
  if (4 * planes <= half) {
    for (int64_t in = 0; in < g.n; ++in)
      for (int64_t ik = 0; ik < g.k; ++ik)
        for (int c = 0; c < 4; ++c) pts.push_back(g.index(in, corner_p[c], corner_q[c], ik));
  } else if (planes <= half) {
    for (int64_t in = 0; in < g.n; ++in)
      for (int64_t ik = 0; ik < g.k; ++ik) {
        const int c = static_cast<int>((in + ik) % 4);
        pts.push_back(g.index(in, corner_p[c], corner_q[c], ik));
      }
  } else {
    for (int64_t i = 0; i < half; ++i) {
      const int c = static_cast<int>(below(4));
      pts.push_back(g.index(below(g.n), corner_p[c], corner_q[c], below(g.k)));
    }
  }
  const int64_t border_end = static_cast<int64_t>(pts.size()) + (max_points - half) / 2;
  while (static_cast<int64_t>(pts.size()) < border_end) {
    int64_t ip, iq;
    if (below(2)) {  // top or bottom row
      ip = below(2) ? 0 : g.p - 1;
      iq = below(g.q);
    } else {  // left or right column
      ip = below(g.p);
      iq = below(2) ? 0 : g.q - 1;
    }
    pts.push_back(g.index(below(g.n), ip, iq, below(g.k)));
  }
  while (static_cast<int64_t>(pts.size()) < max_points) pts.push_back(below(total));
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  return pts;
}

struct Worst {
  double error = -1;
  int64_t point = -1;
  double got = 0, ref = 0, tol = 0;
};

// Validated before p() and q() divide by the strides; the filter must fit in the padded input
// (p() alone would round a slightly negative extent up to one output row).
bool valid_shape(const Conv2dShape& cs) {
  return cs.groups >= 1 && cs.c % cs.groups == 0 && cs.k % cs.groups == 0 && cs.n >= 1 &&
         cs.c >= 1 && cs.k >= 1 && cs.r >= 1 && cs.s >= 1 && cs.stride_h >= 1 && cs.stride_w >= 1 &&
         cs.dil_h >= 1 && cs.dil_w >= 1 && cs.pad_h >= 0 && cs.pad_w >= 0 &&
         cs.h + 2 * cs.pad_h >= cs.dil_h * (cs.r - 1) + 1 &&
         cs.w + 2 * cs.pad_w >= cs.dil_w * (cs.s - 1) + 1;
}

Geometry geometry(const Conv2dShape& cs) {
  Geometry g{cs.n,        cs.c,        cs.h,     cs.w,      cs.k,     cs.r,
             cs.s,        cs.p(),      cs.q(),   cs.groups, 0,        0,
             cs.stride_h, cs.stride_w, cs.pad_h, cs.pad_w,  cs.dil_h, cs.dil_w};
  g.c_group = g.c / g.groups;
  g.k_group = g.k / g.groups;
  return g;
}

// Whole-output scan for NaN and infinity: cheap, and a sample could miss them.
int64_t count_non_finite(Dtype t, const void* dst, int64_t total) {
  int64_t non_finite = 0;
  if (dtype_is_integer(t)) return 0;
  constexpr int64_t kRow = 4096;
#pragma omp parallel reduction(+ : non_finite)
  {
    std::vector<double> row(kRow);
#pragma omp for schedule(static)
    for (int64_t start = 0; start < total; start += kRow) {
      const int64_t len = std::min(kRow, total - start);
      internal::load_row(t, dst, start, len, row.data());
      for (int64_t i = 0; i < len; ++i) non_finite += std::isfinite(row[i]) ? 0 : 1;
    }
  }
  return non_finite;
}

// Weights as (k, r, s, c/groups) in fp64, so a point's inner loop runs over contiguous channels
// of both src (NHWC) and weights.
std::vector<double> weights_krsc(const Geometry& g, Dtype t, const void* weights) {
  const int64_t terms = g.c_group * g.r * g.s;
  std::vector<double> krsc_weights(static_cast<size_t>(g.k * terms));
  std::vector<double> raw(static_cast<size_t>(g.k * terms));
  internal::load_row(t, weights, 0, g.k * terms, raw.data());
  for (int64_t ik = 0; ik < g.k; ++ik)
    for (int64_t ic = 0; ic < g.c_group; ++ic)
      for (int64_t ir = 0; ir < g.r; ++ir)
        for (int64_t is = 0; is < g.s; ++is)
          krsc_weights[static_cast<size_t>(((ik * g.r + ir) * g.s + is) * g.c_group + ic)] =
              raw[static_cast<size_t>(((ik * g.c_group + ic) * g.r + ir) * g.s + is)];
  return krsc_weights;
}

// The reference of one output point (fp64) and the sum of its squared products.
struct PointSum {
  double value = 0, squares = 0;
};
PointSum reference_point(const Geometry& g, Dtype src_type, const void* src,
                         const std::vector<double>& krsc_weights, int64_t idx,
                         std::vector<double>& seg) {
  const int64_t ik = idx % g.k, iq = (idx / g.k) % g.q, ip = (idx / (g.k * g.q)) % g.p,
                in = idx / (g.k * g.q * g.p);
  const int64_t c0 = (ik / g.k_group) * g.c_group;
  PointSum sum;
  for (int64_t ir = 0; ir < g.r; ++ir) {
    const int64_t ih = ip * g.stride_h - g.pad_h + ir * g.dil_h;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t is = 0; is < g.s; ++is) {
      const int64_t iw = iq * g.stride_w - g.pad_w + is * g.dil_w;
      if (iw < 0 || iw >= g.w) continue;
      internal::load_row(src_type, src, ((in * g.h + ih) * g.w + iw) * g.c + c0, g.c_group,
                         seg.data());
      const double* weight_row =
          &krsc_weights[static_cast<size_t>(((ik * g.r + ir) * g.s + is) * g.c_group)];
      const double* x = seg.data();
      double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
      for (int64_t ic = 0; ic < g.c_group; ++ic) {
        const double prod = x[ic] * weight_row[ic];
        a += prod;
        b += prod * prod;
      }
      sum.value += a;
      sum.squares += b;
    }
  }
  return sum;
}

// The worst scaled error over the chosen points (the first such point on a tie).
Worst worst_point(const Geometry& g, const OperandTypes& types, const ErrorModel& model,
                  const void* src, const std::vector<double>& krsc_weights, const void* dst,
                  const std::vector<int64_t>& pts) {
  const auto count = static_cast<int64_t>(pts.size());
  const double kd = static_cast<double>(g.c_group * g.r * g.s), sqrt_k = std::sqrt(kd);
  Worst worst;
#pragma omp parallel
  {
    Worst local;
    std::vector<double> seg(static_cast<size_t>(g.c_group));
#pragma omp for schedule(dynamic, 64)
    for (int64_t t = 0; t < count; ++t) {
      const int64_t idx = pts[static_cast<size_t>(t)];
      const PointSum ref = reference_point(g, types.a, src, krsc_weights, idx, seg);
      const double y = internal::load_one(types.c, dst, idx);
      const double diff = std::fabs(y - ref.value);
      double tol = 0, err = diff;
      if (!model.exact) {
        const double sigma = std::sqrt(ref.squares);
        tol = internal::dot_tolerance(model, kd, sigma) + model.u_out * std::fabs(ref.value) +
              model.u_host * sqrt_k * sigma + kTinyTolerance;
        err = diff / tol;
      }
      if (std::isnan(err)) err = std::numeric_limits<double>::infinity();
      if (err > local.error) local = {err, idx, y, ref.value, tol};
    }
#pragma omp critical
    if (local.error > worst.error || (local.error == worst.error && local.point < worst.point))
      worst = local;
  }
  return worst;
}

Verification verdict(const Geometry& g, const ErrorModel& model, const Worst& worst, int64_t count,
                     bool all) {
  Verification out;
  out.method = "reference";
  out.bound = model.exact ? 0.0 : kConvBound;
  out.error = std::max(worst.error, 0.0);
  out.passed = out.error <= out.bound;
  const int64_t ik = worst.point % g.k, iq = (worst.point / g.k) % g.q,
                ip = (worst.point / (g.k * g.q)) % g.p, in = worst.point / (g.k * g.q * g.p);
  const std::string checked =
      all ? fmt::format("all {} points", count)
          : fmt::format("{} of {} points (corners, borders, random)", count, g.points());
  if (model.exact)
    out.detail = fmt::format(
        "{}, exact integer check; worst (n,p,q,k) ({},{},{},{}): got {}, "
        "reference {}",
        checked, in, ip, iq, ik, worst.got, worst.ref);
  else
    out.detail = fmt::format(
        "{}, worst (n,p,q,k) ({},{},{},{}): got {:.9g}, reference {:.9g}, "
        "tol {:.3g} (K {})",
        checked, in, ip, iq, ik, worst.got, worst.ref, worst.tol, g.c_group * g.r * g.s);
  return out;
}

}  // namespace

Verification verify_conv2d(const OpDesc& op, const void* src, const void* weights, const void* dst,
                           uint64_t seed, int64_t max_points) {
  if (!valid_shape(op.conv2d())) return failed("invalid conv2d shape " + shape_string(op));
  const OperandTypes types = operand_types(op);
  const ErrorModel model = internal::error_model(op);
  const Geometry g = geometry(op.conv2d());
  const int64_t total = g.points();
  if (const int64_t non_finite = count_non_finite(types.c, dst, total); non_finite > 0)
    return failed(fmt::format("{} of {} outputs are NaN or infinite", non_finite, total));
  const std::vector<double> krsc_weights = weights_krsc(g, types.b, weights);
  bool all = false;
  const std::vector<int64_t> pts = choose_points(g, seed, std::max<int64_t>(max_points, 1), &all);
  const Worst worst = worst_point(g, types, model, src, krsc_weights, dst, pts);
  return verdict(g, model, worst, static_cast<int64_t>(pts.size()), all);
}

}  // namespace suanli::verify
