// Shared by the verify/*.cpp files: element decoding, exact rounding to narrow types, the error
// model of a dot product and seeded random bits.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "core/dtype.h"
#include "core/op.h"
#include "verify/verify.h"

namespace suanli::verify::internal {

// A check that could not pass (invalid shape, NaN in the output): error infinity.
inline Verification failure(const char* method, double bound, std::string detail) {
  Verification v;
  v.method = method;
  v.passed = false;
  v.error = std::numeric_limits<double>::infinity();
  v.bound = bound;
  v.detail = std::move(detail);
  return v;
}

// ---- random bits ----------------------------------------------------------------------------

// splitmix64 (Steele, Lea, Flood 2014): one add and two multiply-xorshifts per value; good
// enough for test data and cheap enough for 512 MiB buffers.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A seed derived from a parent seed and a tag (buffer index, batch, vector, chunk, ...), so
// independent streams stay independent of the order they are drawn in.
inline uint64_t derive_seed(uint64_t seed, uint64_t tag) {
  uint64_t s = seed ^ (tag * 0xd1342543de82ef95ull);
  splitmix64(s);
  return splitmix64(s);
}

// ---- element decoding -----------------------------------------------------------------------

// fp16 -> float for all 65536 bit patterns (built once); a lookup beats the bit-twiddling
// conversion in the hot loops.
const float* fp16_table();
// fp8 (e4m3 as in OCP FP8 "E4M3FN": no infinities, 0x7f/0xff NaN; e5m2 IEEE-like) -> float.
const float* fp8_table(Dtype t);
// Bit pattern of the fp8 value nearest to v (ties to even; saturates at the largest finite).
uint8_t fp8_from_double(Dtype t, double v);

// out[0..count) = elements [offset, offset + count) of a buffer of type t, as doubles (exact for
// every type). Switches once per call, so callers convert a row at a time.
void load_row(Dtype t, const void* base, int64_t offset, int64_t count, double* out);
// One element (covers the fp8 types, which core's load_as_double does not).
double load_one(Dtype t, const void* base, int64_t i);

// ---- exact rounding -------------------------------------------------------------------------

// Parameters of a binary floating-point format, enough to round into it.
struct FloatFormat {
  int precision;      // significand bits, implicit bit included
  int min_exponent;   // exponent of the smallest normal number
  double max_finite;  // largest finite value
  bool has_inf;       // false: overflow saturates (OCP e4m3 has no infinity)
};
// The format of a floating type (fp64's for anything else).
FloatFormat float_format(Dtype t);

// v rounded to nearest-even in floating-point type t (fp64, fp32, tf32, fp16, bf16, fp8), with
// its subnormals and overflow to infinity (saturation for e4m3): a correct single rounding of
// the double v, unlike float_to_fp16(float(v)), which rounds twice.
double round_to_type(double v, Dtype t);
// a + b rounded once to type t (not double-rounded through fp64): round-to-odd on the fp64 sum
// keeps enough information for the final rounding, since 53 >= p + 2 for every narrower type.
double add_rounded(double a, double b, Dtype t);

// ---- error model of one dot product ---------------------------------------------------------

// Unit roundoffs of a gemm or conv2d (see ErrorModel's use in gemm_check.cpp for the
// derivation). All zero and `exact` for integer types.
struct ErrorModel {
  bool exact = false;
  double u_in = 0;        // inputs rounded by the unit (tf32: fp32 storage, 10-bit multiplies)
  double u_acc = 0;       // accumulation type
  double u_out = 0;       // output storage type
  double u_host = 0;      // the host's own fp64 arithmetic
  double directed_k = 0;  // per-term coefficient of a K-linear term (matrix units, see .cpp)
};
ErrorModel error_model(const OpDesc& op);

// Tolerance of one dot product of k terms whose products have root-sum-square `sigma`,
// excluding the output rounding and the host's error (which callers add, since they know the
// magnitudes): (u_acc*sqrt(k) + directed_k*k + u_in) * sigma.
double dot_tolerance(const ErrorModel& m, double k, double sigma);

// "2^-24" for a power of two, else "%.3g".
std::string format_unit(double u);

}  // namespace suanli::verify::internal
