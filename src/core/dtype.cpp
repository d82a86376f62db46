// Element types: names, sizes, rounding units and host conversions.
#include "core/dtype.h"

#include <array>
#include <cmath>
#include <limits>

namespace suanli {
namespace {

struct DtypeRow {
  Dtype type;
  std::string_view name;
  std::size_t size;
  int significand_bits;  // 0 = integer
};

constexpr std::array<DtypeRow, 10> kTypes{{
    {Dtype::fp64, "fp64", 8, 53},
    {Dtype::fp32, "fp32", 4, 24},
    {Dtype::tf32, "tf32", 4, 11},
    {Dtype::fp16, "fp16", 2, 11},
    {Dtype::bf16, "bf16", 2, 8},
    {Dtype::fp8_e4m3, "fp8_e4m3", 1, 4},
    {Dtype::fp8_e5m2, "fp8_e5m2", 1, 3},
    {Dtype::int8, "int8", 1, 0},
    {Dtype::uint8, "uint8", 1, 0},
    {Dtype::int32, "int32", 4, 0},
}};

const DtypeRow* find(Dtype t) {
  for (const auto& r : kTypes)
    if (r.type == t) return &r;
  return nullptr;
}

}  // namespace

std::string_view dtype_name(Dtype t) {
  const DtypeRow* r = find(t);
  return r ? r->name : std::string_view("invalid");
}

std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const auto& r : kTypes)
    if (r.name == name) return r.type;
  return std::nullopt;
}

std::size_t dtype_size(Dtype t) {
  const DtypeRow* r = find(t);
  return r ? r->size : 0;
}

bool dtype_is_integer(Dtype t) {
  const DtypeRow* r = find(t);
  return r && r->significand_bits == 0;
}

double dtype_unit_roundoff(Dtype t) {
  const DtypeRow* r = find(t);
  if (!r || r->significand_bits == 0) return 0.0;
  return std::ldexp(1.0, -r->significand_bits);
}

uint16_t float_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {
    // Subnormal or zero in fp16: scale so that rounding happens at the right bit.
    float a;
    std::memcpy(&a, &absx, 4);
    const float scaled = a * 16777216.0f;  // 2^24: one fp16 subnormal ulp = 1
    const auto m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // round to nearest even
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  uint32_t x;
  if (exp == 31)
    x = sign | 0x7f800000u | (mant << 13);
  else
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  std::memcpy(&f, &x, 4);
  return f;
}

float round_to_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&f, &u, 4);
  return f;
}

double load_as_double(const void* data, Dtype t, std::size_t i) {
  switch (t) {
    case Dtype::fp64:
      return static_cast<const double*>(data)[i];
    case Dtype::fp32:
    case Dtype::tf32:
      return static_cast<const float*>(data)[i];
    case Dtype::fp16:
      return fp16_to_float(static_cast<const uint16_t*>(data)[i]);
    case Dtype::bf16:
      return bf16_to_float(static_cast<const uint16_t*>(data)[i]);
    case Dtype::int8:
      return static_cast<const int8_t*>(data)[i];
    case Dtype::uint8:
      return static_cast<const uint8_t*>(data)[i];
    case Dtype::int32:
      return static_cast<const int32_t*>(data)[i];
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

namespace {
template <typename I>
I saturate(double v) {
  const double r = std::nearbyint(v);
  if (r <= static_cast<double>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (r >= static_cast<double>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(r);
}
}  // namespace

void store_from_double(void* data, Dtype t, std::size_t i, double v) {
  switch (t) {
    case Dtype::fp64:
      static_cast<double*>(data)[i] = v;
      break;
    case Dtype::fp32:
      static_cast<float*>(data)[i] = static_cast<float>(v);
      break;
    case Dtype::tf32:
      static_cast<float*>(data)[i] = round_to_tf32(static_cast<float>(v));
      break;
    case Dtype::fp16:
      static_cast<uint16_t*>(data)[i] = float_to_fp16(static_cast<float>(v));
      break;
    case Dtype::bf16:
      static_cast<uint16_t*>(data)[i] = float_to_bf16(static_cast<float>(v));
      break;
    case Dtype::int8:
      static_cast<int8_t*>(data)[i] = saturate<int8_t>(v);
      break;
    case Dtype::uint8:
      static_cast<uint8_t*>(data)[i] = saturate<uint8_t>(v);
      break;
    case Dtype::int32:
      static_cast<int32_t*>(data)[i] = saturate<int32_t>(v);
      break;
    default:
      break;
  }
}

}  // namespace suanli
