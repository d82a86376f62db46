// Closed-form checks: peak (the ABI's dependent multiply-accumulate chain, exact) and stream
// (copy/scale/add/triad against the host within the rounding of the operation).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "verify/verify.h"
#include "verify/verify_internal.h"

namespace suanli::verify {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- peak ------------------------------------------------------------------------------------

// Largest power of two that divides v (v != 0, finite); +inf for 0.
double low_bit(double v) {
  if (v == 0) return kInf;
  int e;
  const double f = std::frexp(std::fabs(v), &e);  // v = f 2^e, f in [0.5, 1)
  auto mant = static_cast<uint64_t>(std::ldexp(f, 53));
  int tz = 0;
  while ((mant & 1u) == 0) mant >>= 1, ++tz;
  return std::ldexp(1.0, e - 53 + tz);
}

// True when every partial sum a0 + t p (t = 0..depth) is representable in `acc`, so that the
// chain is exact and equals a0 + depth p. All of them are multiples of q, the largest power of
// two dividing both a0 and p; any multiple of q of magnitude at most 2^precision q is
// representable when q is no finer than the type's subnormal spacing and it stays finite.
bool chain_is_exact(double a0, double p, int64_t depth, Dtype acc) {
  if (p == 0) return true;
  const internal::FloatFormat f = internal::float_format(acc);
  const double q = std::min(low_bit(a0), low_bit(p));
  if (q < std::ldexp(1.0, f.min_exponent - f.precision + 1)) return false;
  // Rounding is monotone and the limit is a double: a computed top below it means a true one
  // below it, and below 2^precision q <= 2^53 q the computation is exact anyway.
  const double top = std::fabs(a0) + static_cast<double>(depth) * std::fabs(p);
  return top < std::ldexp(q, f.precision) && top <= f.max_finite;
}

// x = x + alpha*beta, depth times, one rounding per step to `acc` (the product of two inputs
// is exact in an FMA, and in fp64 for inputs of at most 26 significand bits).
double simulate_chain(double a0, double alpha, double beta, int64_t depth, Dtype acc) {
  double x = a0;
  if (acc == Dtype::fp64) {
    for (int64_t t = 0; t < depth; ++t) {
      const double next = std::fma(alpha, beta, x);
      if (next == x) break;  // a fixed point: every later step gives x again
      x = next;
    }
    return x;
  }
  if (acc == Dtype::fp32) {
    float xf = static_cast<float>(x);
    const auto af = static_cast<float>(alpha), bf = static_cast<float>(beta);
    for (int64_t t = 0; t < depth; ++t) {
      const float next = std::fma(af, bf, xf);
      if (next == xf) break;
      xf = next;
    }
    return xf;
  }
  const double p = alpha * beta;
  for (int64_t t = 0; t < depth; ++t) {
    const double next = internal::add_rounded(x, p, acc);
    if (next == x) break;
    x = next;
  }
  return x;
}

// ---- stream ----------------------------------------------------------------------------------

struct StreamWorst {
  double error = -1;
  int64_t index = -1;
  double got = 0, want = 0;
};

}  // namespace

Verification verify_peak(const OpDesc& op, const void* a, const void* c, double alpha,
                         double beta) {
  const PeakShape& ps = op.peak();
  const Dtype acc = operand_types(op).c;
  Verification out;
  out.method = "closed-form";
  out.bound = 0;
  // The multiply's inputs are of the op's dtype (int8: alpha uint8, beta int8).
  double alpha_in, beta_in;
  if (op.dtype == Dtype::int8) {
    alpha_in = std::clamp(std::nearbyint(alpha), 0.0, 255.0);
    beta_in = std::clamp(std::nearbyint(beta), -128.0, 127.0);
  } else {
    alpha_in = internal::round_to_type(alpha, op.dtype);
    beta_in = internal::round_to_type(beta, op.dtype);
  }
  const bool integer = dtype_is_integer(acc);
  // fp64 inputs can have a product that fp64 cannot hold; the FMA still uses it exactly.
  const bool product_exact = std::fma(alpha_in, beta_in, -(alpha_in * beta_in)) == 0;

  // A holds few distinct starting values: compute each one's expected result once.
  std::unordered_map<uint64_t, double> expected;
  int64_t mismatches = 0, worst_at = -1, simulated = 0;
  double worst = 0, worst_got = 0, worst_want = 0;
  bool overflow = false;
  for (int64_t e = 0; e < ps.elements; ++e) {
    const double a0 = internal::load_one(acc, a, e);
    uint64_t key;
    std::memcpy(&key, &a0, sizeof key);
    auto it = expected.find(key);
    if (it == expected.end()) {
      double want;
      if (integer) {
        // int32 accumulators wrap modulo 2^32, as vpdpbusd and dp4a do.
        const auto exact = static_cast<int64_t>(a0) + ps.depth * static_cast<int64_t>(alpha_in) *
                                                          static_cast<int64_t>(beta_in);
        want = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(exact)));
      } else if (product_exact && chain_is_exact(a0, alpha_in * beta_in, ps.depth, acc)) {
        want = a0 + static_cast<double>(ps.depth) * (alpha_in * beta_in);
      } else {
        want = simulate_chain(a0, alpha_in, beta_in, ps.depth, acc);
        ++simulated;
      }
      overflow = overflow || !std::isfinite(want);
      it = expected.emplace(key, want).first;
    }
    const double got = internal::load_one(acc, c, e);
    double diff = std::fabs(got - it->second);
    if (std::isnan(diff)) diff = kInf;
    if (diff > 0) ++mismatches;
    if (diff > worst) worst = diff, worst_at = e, worst_got = got, worst_want = it->second;
  }
  out.error = worst;
  out.passed = mismatches == 0 && !overflow;
  const std::string how =
      simulated == 0 ? "exact closed form" : fmt::format("{} chains simulated", simulated);
  if (overflow)
    out.detail = fmt::format("the chain overflows {} (depth {}, alpha*beta {})", dtype_name(acc),
                             ps.depth, alpha_in * beta_in);
  else if (mismatches == 0)
    out.detail = fmt::format("{} elements, {} distinct starting values, {}; all equal", ps.elements,
                             expected.size(), how);
  else
    out.detail = fmt::format(
        "{} of {} elements differ ({}); worst element {}: got {:.9g}, "
        "expected {:.9g}",
        mismatches, ps.elements, how, worst_at, worst_got, worst_want);
  return out;
}

// Stream references are computed with one rounding of the exact result (fp64: of the fp64
// operations, unfused), and the error of element i is |C_i - R_i| / (u M_i), M_i the magnitude
// of the terms (|A|, |sA|, |A|+|B|, |A|+|sB|): a correctly rounded result is within u M_i of the
// exact value and so is R_i. Bounds: copy 0 (exact); scale and add 2 (one ulp); triad 3, since
// an unfused multiply-add is within 2 u M_i of the exact value and R_i within u M_i, whether
// either is fused or not.
Verification verify_stream(const OpDesc& op, const void* a, const void* b, const void* c,
                           double scalar) {
  const StreamShape& ss = op.stream();
  const Dtype t = op.dtype;
  const bool integer = dtype_is_integer(t);
  const double u = dtype_unit_roundoff(t);
  const double s = integer ? std::nearbyint(scalar) : internal::round_to_type(scalar, t);
  const StreamKind kind = ss.kind;
  const bool uses_b = kind == StreamKind::add || kind == StreamKind::triad;

  StreamWorst worst;
  int64_t non_finite = 0;
#pragma omp parallel reduction(+ : non_finite)
  {
    constexpr int64_t kBlock = 4096;
    std::vector<double> va(kBlock), vb(kBlock), vc(kBlock);
    StreamWorst local;
#pragma omp for schedule(static)
    for (int64_t start = 0; start < ss.n; start += kBlock) {
      const int64_t len = std::min(kBlock, ss.n - start);
      internal::load_row(t, a, start, len, va.data());
      if (uses_b) internal::load_row(t, b, start, len, vb.data());
      internal::load_row(t, c, start, len, vc.data());
      for (int64_t i = 0; i < len; ++i) {
        const double x = va[static_cast<size_t>(i)], y = vb[static_cast<size_t>(i)],
                     got = vc[static_cast<size_t>(i)];
        double want, mag;
        switch (kind) {
          case StreamKind::copy:
            want = x, mag = std::fabs(x);
            break;
          case StreamKind::scale:
            want = integer ? s * x : internal::round_to_type(s * x, t);
            mag = std::fabs(s * x);
            break;
          case StreamKind::add:
            want = integer ? x + y : internal::add_rounded(x, y, t);
            mag = std::fabs(x) + std::fabs(y);
            break;
          case StreamKind::triad:
          default:
            // s*y is exact in fp64 for types up to fp32; fp64 rounds it once more, covered by
            // the bound.
            want = integer ? x + s * y : internal::add_rounded(x, s * y, t);
            mag = std::fabs(x) + std::fabs(s * y);
            break;
        }
        if (!std::isfinite(got)) ++non_finite;
        const double diff = std::fabs(got - want);
        double err;
        if (integer || u * mag == 0)
          err = diff == 0 ? 0 : (integer ? diff : kInf);
        else
          err = diff / (u * mag);
        if (std::isnan(err)) err = kInf;
        if (err > local.error) local = {err, start + i, got, want};
      }
    }
#pragma omp critical
    if (local.error > worst.error || (local.error == worst.error && local.index < worst.index))
      worst = local;
  }

  Verification out;
  out.method = "closed-form";
  switch (kind) {
    case StreamKind::copy:
      out.bound = 0;
      break;
    case StreamKind::scale:
    case StreamKind::add:
      out.bound = integer ? 0 : 2;
      break;
    case StreamKind::triad:
      out.bound = integer ? 0 : 3;
      break;
  }
  out.error = std::max(worst.error, 0.0);
  out.passed = non_finite == 0 && out.error <= out.bound;
  const std::string unit = integer ? "absolute" : "in units of u (|terms|)";
  if (non_finite > 0)
    out.detail = fmt::format("{} of {} elements are NaN or infinite", non_finite, ss.n);
  else
    out.detail = fmt::format(
        "{} {} elements, error {}; worst element {}: got {:.17g}, "
        "expected {:.17g}",
        stream_kind_name(kind), ss.n, unit, worst.index, worst.got, worst.want);
  return out;
}

}  // namespace suanli::verify
