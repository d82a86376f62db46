// The verifier of each op kind: the verification column of the op-traits table
// (core/op_traits.h), one level up because the checks need the verify module.
#include <array>
#include <stdexcept>

#include "core/op_traits.h"
#include "verify/verify.h"

namespace suanli::verify {
namespace {

using Buffers = std::vector<std::vector<char>>;

struct Verifier {
  OpKind kind;
  Verification (*check)(const OpDesc&, const Buffers&, uint64_t seed);
};

const std::array<Verifier, kOpKindCount> kVerifiers{{
    {OpKind::gemm,
     [](const OpDesc& op, const Buffers& b, uint64_t seed) {
       return verify_gemm(op, b[0].data(), b[1].data(), b[2].data(), seed);
     }},
    {OpKind::conv2d,
     [](const OpDesc& op, const Buffers& b, uint64_t seed) {
       return verify_conv2d(op, b[0].data(), b[1].data(), b[2].data(), seed);
     }},
    {OpKind::peak,
     [](const OpDesc& op, const Buffers& b, uint64_t) {
       return verify_peak(op, b[0].data(), b[1].data(), kPeakAlpha, kPeakBeta);
     }},
    {OpKind::stream,
     [](const OpDesc& op, const Buffers& b, uint64_t) {
       return verify_stream(op, b[0].data(), b[1].data(), b[2].data(), kStreamScalar);
     }},
}};

}  // namespace

Verification verify_output(const OpDesc& op, const Buffers& buffers, uint64_t seed) {
  for (const Verifier& v : kVerifiers)
    if (v.kind == op.kind) return v.check(op, buffers, seed);
  return {};
}

}  // namespace suanli::verify
