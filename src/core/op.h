// Op descriptors of the harness (gemm, conv2d, peak, stream) and the one place FLOPs and bytes are
// counted.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"

namespace suanli {

enum class OpKind { gemm, conv2d, peak, stream };
enum class StreamKind { copy, scale, add, triad };

std::string_view op_kind_name(OpKind k);
std::string_view stream_kind_name(StreamKind k);

struct GemmShape {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool trans_a = false, trans_b = false;
};

struct Conv2dShape {
  int64_t n = 1, c = 0, h = 0, w = 0;  // input NHWC
  int64_t k = 0, r = 1, s = 1;         // output channels, filter
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  int64_t p() const { return (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1; }
  int64_t q() const { return (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1; }
};

struct PeakShape {
  int64_t elements = 0;  // independent output values
  int64_t depth = 0;     // multiply-accumulates per output value
};

struct StreamShape {
  StreamKind kind = StreamKind::triad;
  int64_t n = 0;  // elements per array
};

// One workload's op. `dtype` is the label the report carries (fp64, fp32,
// tf32, fp16, bf16, int8, ...); `accumulate` the accumulation type, which
// defaults from dtype (fp16/bf16 -> fp32, int8 -> int32).
struct OpDesc {
  OpKind kind = OpKind::gemm;
  Dtype dtype = Dtype::fp32;
  Dtype accumulate = Dtype::invalid;  // invalid = default for dtype
  // int8 gemm/conv: s8 x s8 instead of u8 x s8 (x86 VNNI's native form). The runner asks for
  // u8 x s8 first and falls back to s8 x s8 when the backend cannot (cuBLASLt, for one).
  bool int8_signed_a = false;
  std::variant<GemmShape, Conv2dShape, PeakShape, StreamShape> shape;

  const GemmShape& gemm() const { return std::get<GemmShape>(shape); }
  const Conv2dShape& conv2d() const { return std::get<Conv2dShape>(shape); }
  const PeakShape& peak() const { return std::get<PeakShape>(shape); }
  const StreamShape& stream() const { return std::get<StreamShape>(shape); }
};

// Storage types of the operands: A, B (weights for conv; unused for peak and
// copy/scale), C (output) and the accumulation type.
struct OperandTypes {
  Dtype a = Dtype::invalid, b = Dtype::invalid, c = Dtype::invalid, compute = Dtype::invalid;
};
OperandTypes operand_types(const OpDesc& op);

// Work of one execution of the op:
//  gemm:   2*m*n*k*batch                    (a multiply-add is 2 FLOPs; int8 counts OPS)
//  conv2d: 2*n*k*(c/groups) x (output, filter tap) pairs that read the input, not padding
//          (= 2*n*k*p*q*(c/groups)*r*s without padding; benchdnn's count)
//  peak:   2*elements*depth
//  stream: copy 0, scale n, add n, triad 2n
double op_flops(const OpDesc& op);
// Compulsory memory traffic of one execution: every operand read once and
// the output written once (stream: STREAM's counting, 2 or 3 arrays).
double op_bytes(const OpDesc& op);
// Element counts of the buffers the op uses, in order (gemm: A, B, C;
// conv2d: src, weights, dst; peak: A, C; stream: A, B, C).
std::vector<int64_t> op_buffer_elements(const OpDesc& op);
// Bytes of each buffer (element count x storage size).
std::vector<uint64_t> op_buffer_bytes(const OpDesc& op);
// "4096x4096x4096", "n1 c64 h56 w56 k64 r3 s3 /1 p1", "elements 65536 depth 4096", "triad n
// 67108864"
std::string shape_string(const OpDesc& op);
// Whether FLOPs (true) or bytes (false) are the op's headline throughput.
bool op_is_compute_bound(const OpDesc& op);

}  // namespace suanli
