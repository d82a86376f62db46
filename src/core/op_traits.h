// One entry per op kind: the single place that knows an op's buffers and their sizes, its FLOPs
// and bytes, how its inputs are filled, its shape in text and in reports, and its ABI descriptor.
// Output verification is the one entry above core that goes with it (verify::verify_output, in
// verify/verify_output.cpp, one verifier per kind). A new op kind: an OpKind value, a Shape
// struct (core/op.h), a row of kOpTraits (core/op_traits.cpp), its verifier, and its descriptor
// in the ABI header (backends/include/suanli/backend.h) and the backends that run it.
#pragma once

#include <suanli/backend.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/op.h"

namespace suanli {

// Parameters of peak and stream ops that the harness chooses and the verifier needs.
constexpr double kPeakAlpha = 1.0;
constexpr double kPeakBeta = 1.0;
constexpr double kStreamScalar = 3.0;

// What values an input buffer gets (verify::fill_inputs draws them).
enum class InputFill {
  none,       // the output: poisoned by the harness, never filled
  symmetric,  // floating: uniform [-1, 1]; integer: the type's whole range
  positive,   // floating: uniform [0.5, 2] (stream: no cancellation, so a relative check works)
  small_int,  // integers 0..15 (peak: A + depth stays exact in the accumulator)
};

// Which of the operand types (operand_types) a buffer is stored in.
enum class Operand { a, b, c };

inline Dtype storage_type(const OperandTypes& t, Operand o) {
  return o == Operand::a ? t.a : o == Operand::b ? t.b : t.c;
}

struct BufferRole {
  Operand storage;
  InputFill fill;
};

// One field of an op's shape in a report: a count, a flag, a name, or an (h, w) pair.
struct ShapeField {
  std::string name;
  std::variant<int64_t, bool, std::string, std::array<int64_t, 2>> value;
};

// The ABI form of an OpDesc; owns the per-kind struct the op_desc points at.
struct AbiOp {
  explicit AbiOp(const OpDesc& op);
  AbiOp(const AbiOp&) = delete;
  AbiOp& operator=(const AbiOp&) = delete;
  suanli_op_desc desc{};
  suanli_gemm_desc gemm{};
  suanli_conv2d_desc conv2d{};
  suanli_peak_desc peak{};
  suanli_stream_desc stream{};
};

struct OpTraits {
  OpKind kind;
  std::string_view name;  // "gemm": the report's "op" and the suite's
  // FLOPs (true) or bytes (false) are the op's headline throughput.
  bool compute_bound;
  // The runner's precision fallbacks apply (int8 as u8 x s8 or s8 x s8, fp16 accumulation);
  // int8 inputs come signed or unsigned.
  bool negotiates_precision;
  // The buffers in ABI order, the output last.
  std::vector<BufferRole> buffers;
  OperandTypes (*operand_types)(const OpDesc&);
  std::vector<int64_t> (*buffer_elements)(const OpDesc&);
  double (*flops)(const OpDesc&);
  // Compulsory traffic of one execution, from the buffers' bytes.
  double (*bytes)(const OpDesc&, const std::vector<uint64_t>& buffer_bytes);
  std::string (*shape_string)(const OpDesc&);
  std::vector<ShapeField> (*shape_fields)(const OpDesc&);
  // Writes the kind's descriptor into abi and points abi.desc at it.
  void (*abi_desc)(const OpDesc&, const OperandTypes&, AbiOp& abi);
};

constexpr std::size_t kOpKindCount = 4;
// The row of a kind; throws std::invalid_argument for a value outside OpKind.
const OpTraits& op_traits(OpKind kind);
// The row of a kind, or nullptr.
const OpTraits* find_op_traits(OpKind kind);

namespace abi {
// Core types to the ABI's, value for value (harness/backend_host.cpp checks the two agree).
inline suanli_dtype dtype(Dtype d) {
  return static_cast<suanli_dtype>(static_cast<int>(d));
}
// The convolution descriptor of a shape and its storage types: the one place its 18 fields are
// written (the conv2d op, and the model layers' conv2d_layer descriptors).
suanli_conv2d_desc conv2d_desc(const Conv2dShape& c, Dtype src, Dtype weights, Dtype dst);
}  // namespace abi

}  // namespace suanli
