// Element decoding, exact rounding to narrow types and the dot-product error model of verify/.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "verify/verify_internal.h"

namespace suanli::verify::internal {
namespace {

std::array<float, 256> make_fp8_table(Dtype t) {
  std::array<float, 256> table{};
  const bool e4m3 = (t == Dtype::fp8_e4m3);
  const int mant_bits = e4m3 ? 3 : 2;
  const int bias = e4m3 ? 7 : 15;
  const int max_exp = e4m3 ? 15 : 31;
  for (int bits = 0; bits < 256; ++bits) {
    const int sign = bits >> 7;
    const int exp = (bits & 0x7f) >> mant_bits;
    const int mant = bits & ((1 << mant_bits) - 1);
    double v;
    if (exp == 0) {
      v = std::ldexp(mant, 1 - bias - mant_bits);
    } else if (e4m3 && exp == max_exp && mant == 7) {
      v = std::numeric_limits<double>::quiet_NaN();
    } else if (!e4m3 && exp == max_exp) {
      v = mant == 0 ? std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::quiet_NaN();
    } else {
      v = std::ldexp(1.0 + std::ldexp(mant, -mant_bits), exp - bias);
    }
    table[bits] = static_cast<float>(sign ? -v : v);
  }
  return table;
}

template <typename S, typename F>
void convert(const void* base, int64_t offset, int64_t count, double* out, F f) {
  const S* p = static_cast<const S*>(base) + offset;
  for (int64_t i = 0; i < count; ++i) out[i] = f(p[i]);
}

}  // namespace

FloatFormat float_format(Dtype t) {
  switch (t) {
    case Dtype::fp64:
      return {53, -1022, std::numeric_limits<double>::max(), true};
    case Dtype::fp32:
      return {24, -126, std::numeric_limits<float>::max(), true};
    case Dtype::tf32:
      return {11, -126, std::ldexp(2.0 - std::ldexp(1.0, -10), 127), true};
    case Dtype::fp16:
      return {11, -14, 65504.0, true};
    case Dtype::bf16:
      return {8, -126, std::ldexp(2.0 - std::ldexp(1.0, -7), 127), true};
    case Dtype::fp8_e4m3:
      return {4, -6, 448.0, false};
    case Dtype::fp8_e5m2:
      return {3, -14, 57344.0, true};
    default:
      return {53, -1022, std::numeric_limits<double>::max(), true};
  }
}

const float* fp16_table() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t h = 0; h < 65536; ++h) t[h] = fp16_to_float(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

const float* fp8_table(Dtype t) {
  static const std::array<float, 256> e4m3 = make_fp8_table(Dtype::fp8_e4m3);
  static const std::array<float, 256> e5m2 = make_fp8_table(Dtype::fp8_e5m2);
  return t == Dtype::fp8_e4m3 ? e4m3.data() : e5m2.data();
}

uint8_t fp8_from_double(Dtype t, double v) {
  if (std::isnan(v)) return 0x7f;
  const double r = round_to_type(v, t);
  const uint8_t sign = std::signbit(r) ? 0x80 : 0x00;
  const float* table = fp8_table(t);
  // Positive patterns 0x00..last_finite increase with their value.
  const int last_finite = (t == Dtype::fp8_e4m3) ? 0x7e : 0x7b;
  if (std::isinf(r)) return static_cast<uint8_t>(sign | 0x7c);
  const float a = static_cast<float>(std::fabs(r));
  const float* it = std::lower_bound(table, table + last_finite + 1, a);
  return static_cast<uint8_t>(sign | static_cast<uint8_t>(it - table));
}

void load_row(Dtype t, const void* base, int64_t offset, int64_t count, double* out) {
  switch (t) {
    case Dtype::fp64:
      std::memcpy(out, static_cast<const double*>(base) + offset,
                  static_cast<size_t>(count) * sizeof(double));
      return;
    case Dtype::fp32:
    case Dtype::tf32:
      convert<float>(base, offset, count, out, [](float v) { return static_cast<double>(v); });
      return;
    case Dtype::fp16: {
      const float* table = fp16_table();
      convert<uint16_t>(base, offset, count, out, [table](uint16_t v) { return table[v]; });
      return;
    }
    case Dtype::bf16:
      convert<uint16_t>(base, offset, count, out, [](uint16_t v) { return bf16_to_float(v); });
      return;
    case Dtype::fp8_e4m3:
    case Dtype::fp8_e5m2: {
      const float* table = fp8_table(t);
      convert<uint8_t>(base, offset, count, out, [table](uint8_t v) { return table[v]; });
      return;
    }
    case Dtype::int8:
      convert<int8_t>(base, offset, count, out, [](int8_t v) { return static_cast<double>(v); });
      return;
    case Dtype::uint8:
      convert<uint8_t>(base, offset, count, out, [](uint8_t v) { return static_cast<double>(v); });
      return;
    case Dtype::int32:
      convert<int32_t>(base, offset, count, out, [](int32_t v) { return static_cast<double>(v); });
      return;
    default:
      std::fill(out, out + count, std::numeric_limits<double>::quiet_NaN());
      return;
  }
}

double load_one(Dtype t, const void* base, int64_t i) {
  double v;
  load_row(t, base, i, 1, &v);
  return v;
}

double round_to_type(double v, Dtype t) {
  if (t == Dtype::fp64 || !std::isfinite(v) || v == 0) return v;
  if (t == Dtype::fp32) return static_cast<float>(v);  // the hardware conversion is exact RNE
  const FloatFormat f = float_format(t);
  // Quantum (ulp) of v in the target format, clamped at the subnormal spacing; v / q is an exact
  // power-of-two scaling, so nearbyint (ties to even in the default mode) is the only rounding.
  const int e = std::max(std::ilogb(v), f.min_exponent);
  const double q = std::ldexp(1.0, e - (f.precision - 1));
  const double r = std::nearbyint(v / q) * q;
  if (std::fabs(r) > f.max_finite)
    return f.has_inf ? std::copysign(std::numeric_limits<double>::infinity(), v)
                     : std::copysign(f.max_finite, v);
  return r;
}

double add_rounded(double a, double b, Dtype t) {
  double s = a + b;
  if (t == Dtype::fp64 || !std::isfinite(s)) return round_to_type(s, t);
  // TwoSum (Knuth): s + err == a + b exactly.
  const double bb = s - a;
  const double err = (a - (s - bb)) + (b - bb);
  if (err != 0) {
    uint64_t bits;
    std::memcpy(&bits, &s, sizeof bits);
    // Round to odd: of the two doubles around a + b, take the one with an odd last bit.
    if ((bits & 1u) == 0)
      s = std::nextafter(s, err > 0 ? std::numeric_limits<double>::infinity()
                                    : -std::numeric_limits<double>::infinity());
  }
  return round_to_type(s, t);
}

ErrorModel error_model(const OpDesc& op) {
  ErrorModel m;
  const OperandTypes t = operand_types(op);
  if (dtype_is_integer(t.c) || dtype_is_integer(t.compute)) {
    m.exact = true;
    return m;
  }
  m.u_acc = dtype_unit_roundoff(t.compute);
  m.u_out = dtype_unit_roundoff(t.c);
  m.u_host = std::ldexp(1.0, -53);
  // tf32: fp32 storage, but the unit keeps 10 fraction bits of each input (rounded or
  // truncated, which the 2^-11 unit and the bound of 16 both cover).
  if (op.dtype == Dtype::tf32) m.u_in = dtype_unit_roundoff(Dtype::tf32);
  // Inputs more precise than the accumulator are rounded to it before they are multiplied.
  const double u_inputs = std::min(dtype_unit_roundoff(t.a), dtype_unit_roundoff(t.b));
  if (u_inputs < m.u_acc) m.u_in = std::max(m.u_in, m.u_acc);
  // Matrix units (tensor cores and the like) that multiply narrow inputs may add each block of
  // products into the accumulator with truncation instead of round-to-nearest (measured on
  // NVIDIA V100, T4 and A100 tensor cores: Fasi, Higham, Mikaitis, Pranesh 2021). Directed
  // rounding has a bias, so the error grows like K rather than sqrt(K). A host simulation of
  // round-toward-zero accumulation of bf16 products (tests/verify_test.cpp,
  // PassesWithTruncatingAccumulation) gives, with u_acc/32 * K added, worst-row errors of 2.7
  // (K = 8192) and 3.6 (K = 65536) for 8 products per step, and 5.0 and 12.3 for one product
  // per step (the worst case) against the bound of 16; without it, the K = 65536 case would
  // fail. The price: single-element faults must be about 3x larger to show (K = 4096).
  switch (op.dtype) {
    case Dtype::tf32:
    case Dtype::fp16:
    case Dtype::bf16:
    case Dtype::fp8_e4m3:
    case Dtype::fp8_e5m2:
      m.directed_k = m.u_acc / 32;
      break;
    default:
      break;
  }
  return m;
}

double dot_tolerance(const ErrorModel& m, double k, double sigma) {
  return (m.u_acc * std::sqrt(k) + m.directed_k * k + m.u_in) * sigma;
}

std::string format_unit(double u) {
  int e;
  const double f = std::frexp(u, &e);
  if (f == 0.5) return fmt::format("2^{}", e - 1);
  return fmt::format("{:.3g}", u);
}

}  // namespace suanli::verify::internal
