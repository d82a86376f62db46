// Element types: names, sizes, rounding units and host conversions (bf16, fp16).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace suanli {

// Mirrors suanli_dtype of the plugin ABI value for value (core includes none
// of our headers; harness/abi.cpp checks the two stay equal).
enum class Dtype : int {
  invalid = 0,
  fp64 = 1,
  fp32 = 2,
  tf32 = 3,
  fp16 = 4,
  bf16 = 5,
  fp8_e4m3 = 6,
  fp8_e5m2 = 7,
  int8 = 8,
  uint8 = 9,
  int32 = 10,
};

std::string_view dtype_name(Dtype t);  // "fp32", ...
std::optional<Dtype> dtype_from_name(std::string_view name);
std::size_t dtype_size(Dtype t);  // bytes per element in storage
bool dtype_is_integer(Dtype t);
// Unit roundoff u = 2^-(p) for a type with p significand bits (incl. implicit);
// 0 for integer types (exact arithmetic).
double dtype_unit_roundoff(Dtype t);

// Host conversions, round-to-nearest-even, NaN preserved.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_float(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_fp16(float f);
float fp16_to_float(uint16_t h);
// Round an fp32 value to TF32 (10 explicit mantissa bits), kept in fp32.
float round_to_tf32(float f);

// Reads element i of a buffer of type t as double (exact for every type here).
double load_as_double(const void* data, Dtype t, std::size_t i);
// Stores v, rounded to type t (integers: rounded and saturated).
void store_from_double(void* data, Dtype t, std::size_t i, double v);

}  // namespace suanli
