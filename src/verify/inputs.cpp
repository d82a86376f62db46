// Seeded input data: every input buffer of an op filled with reproducible values of its type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/op_traits.h"
#include "verify/verify.h"
#include "verify/verify_internal.h"

namespace suanli::verify {
namespace {

using internal::derive_seed;
using internal::splitmix64;

// Elements per independently seeded chunk: the data depends on the seed only, never on the
// number of threads that fill it.
constexpr int64_t kChunk = int64_t{1} << 16;

constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;

// Uniform double in [0, 1) from the top 53 bits.
inline double unit(uint64_t bits) {
  return static_cast<double>(bits >> 11) * kTwoPowMinus53;
}

// Fills n elements of S, value(bits) giving one element; chunks in parallel.
template <typename S, typename F>
void fill_chunks(void* data, int64_t n, uint64_t seed, F value) {
  S* out = static_cast<S*>(data);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    uint64_t state = derive_seed(seed, static_cast<uint64_t>(c));
    const int64_t end = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) out[i] = value(splitmix64(state));
  }
}

// A distribution for floating types as lo + span * U[0, 1), floored for kSmallInt (floor(16 U)
// is exactly bits >> 60), so the element loop holds no switch.
struct Affine {
  double lo, span;
  bool integral;
  double operator()(uint64_t bits) const {
    const double v = lo + span * unit(bits);
    return integral ? std::floor(v) : v;
  }
};

Affine affine(InputFill d) {
  switch (d) {
    case InputFill::positive:
      return {0.5, 1.5, false};
    case InputFill::small_int:
      return {0.0, 16.0, true};
    case InputFill::symmetric:
    default:
      return {-1.0, 2.0, false};
  }
}

void fill_buffer(Dtype t, InputFill d, void* data, int64_t n, uint64_t seed) {
  // One switch per buffer; the lambdas inline into the chunk loop.
  const Affine real = affine(d);
  const bool small = d == InputFill::small_int;
  switch (t) {
    case Dtype::fp64:
      fill_chunks<double>(data, n, seed, real);
      return;
    case Dtype::fp32:
    case Dtype::tf32:  // tf32 workloads keep full fp32 inputs: the unit does the rounding
      fill_chunks<float>(data, n, seed, [real](uint64_t b) { return static_cast<float>(real(b)); });
      return;
    case Dtype::fp16:
      fill_chunks<uint16_t>(
          data, n, seed, [real](uint64_t b) { return float_to_fp16(static_cast<float>(real(b))); });
      return;
    case Dtype::bf16:
      fill_chunks<uint16_t>(
          data, n, seed, [real](uint64_t b) { return float_to_bf16(static_cast<float>(real(b))); });
      return;
    case Dtype::fp8_e4m3:
    case Dtype::fp8_e5m2:
      fill_chunks<uint8_t>(data, n, seed,
                           [real, t](uint64_t b) { return internal::fp8_from_double(t, real(b)); });
      return;
    case Dtype::int8:  // -128..127, or 0..15
      fill_chunks<int8_t>(data, n, seed, [small](uint64_t b) {
        return static_cast<int8_t>(small ? static_cast<int>(b >> 60)
                                         : static_cast<int>(b >> 56) - 128);
      });
      return;
    case Dtype::uint8:  // 0..255, or 0..15
      fill_chunks<uint8_t>(data, n, seed, [small](uint64_t b) {
        return static_cast<uint8_t>(small ? b >> 60 : b >> 56);
      });
      return;
    case Dtype::int32:
      // Small values only: int32 is an accumulator type here, never a random input of a product.
      fill_chunks<int32_t>(data, n, seed, [](uint64_t b) { return static_cast<int32_t>(b >> 60); });
      return;
    default:
      throw std::invalid_argument("fill_inputs: no input values for dtype " +
                                  std::string(dtype_name(t)));
  }
}

}  // namespace

void fill_inputs(const OpDesc& op, void* const* inputs, uint64_t seed) {
  const OpTraits& traits = op_traits(op.kind);
  const OperandTypes t = traits.operand_types(op);
  const std::vector<int64_t> n = traits.buffer_elements(op);
  for (size_t i = 0; i < traits.buffers.size(); ++i) {
    const BufferRole& role = traits.buffers[i];
    if (role.fill == InputFill::none) continue;
    // Each buffer gets its own stream, so A does not change when B's size does.
    fill_buffer(storage_type(t, role.storage), role.fill, inputs[i], n[i],
                derive_seed(seed, 0x1000 + i));
  }
}

}  // namespace suanli::verify
