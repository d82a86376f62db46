// FLOP and byte counts, operand types and shape strings: the one place work is counted.
#include "core/op.h"

#include <fmt/format.h>

#include <algorithm>

namespace suanli {

std::string_view op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::gemm:
      return "gemm";
    case OpKind::conv2d:
      return "conv2d";
    case OpKind::peak:
      return "peak";
    case OpKind::stream:
      return "stream";
  }
  return "invalid";
}

std::string_view stream_kind_name(StreamKind k) {
  switch (k) {
    case StreamKind::copy:
      return "copy";
    case StreamKind::scale:
      return "scale";
    case StreamKind::add:
      return "add";
    case StreamKind::triad:
      return "triad";
  }
  return "invalid";
}

OperandTypes operand_types(const OpDesc& op) {
  OperandTypes t;
  const Dtype d = op.dtype;
  switch (d) {
    case Dtype::fp64:
    case Dtype::fp32:
      t = {d, d, d, d};
      break;
    case Dtype::tf32:  // fp32 storage, TF32 arithmetic, fp32 accumulation
      t = {Dtype::fp32, Dtype::fp32, Dtype::fp32, Dtype::fp32};
      break;
    case Dtype::fp16:
    case Dtype::bf16:
    case Dtype::fp8_e4m3:
    case Dtype::fp8_e5m2:
      t = {d, d, Dtype::fp32, Dtype::fp32};
      break;
    case Dtype::int8:
      t = {op.int8_signed_a ? Dtype::int8 : Dtype::uint8, Dtype::int8, Dtype::int32, Dtype::int32};
      break;
    default:
      t = {d, d, d, d};
      break;
  }
  // The fp16 peak is the half-precision FMA chain (fp16 -> fp16, as AVX512_FP16 vfmadd*ph and
  // CUDA's hfma2 run it); a suite asks for fp32 accumulation explicitly.
  if (op.kind == OpKind::peak && d == Dtype::fp16) t.c = t.compute = Dtype::fp16;
  if (op.accumulate != Dtype::invalid) {
    t.compute = op.accumulate;
    if (!dtype_is_integer(d)) t.c = op.accumulate;  // e.g. fp16 with fp16 accumulation
  }
  if (op.kind == OpKind::peak) {
    // x = x + alpha*beta: the multiply is in the input type, A and C in the accumulator type.
    t.a = t.c;
    t.b = Dtype::invalid;
  } else if (op.kind == OpKind::stream) {
    t = {d, d, d, d};
  }
  return t;
}

namespace {
// Pairs (output index, filter tap) of one spatial dimension whose input index lies inside
// [0, in): sum over taps of the outputs that read a real input element through that tap.
int64_t valid_taps(int64_t in, int64_t out, int64_t taps, int64_t stride, int64_t pad,
                   int64_t dil) {
  int64_t n = 0;
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t off = t * dil - pad;  // input index = o * stride + off
    // smallest o with o*stride + off >= 0, largest with o*stride + off <= in - 1
    const int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    const int64_t hi_num = in - 1 - off;
    if (hi_num < 0) continue;
    const int64_t hi = std::min(out - 1, hi_num / stride);
    if (hi >= lo) n += hi - lo + 1;
  }
  return n;
}
}  // namespace

double op_flops(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::gemm: {
      const auto& g = op.gemm();
      return 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) *
             static_cast<double>(g.batch);
    }
    case OpKind::conv2d: {
      // Only filter taps that land on the input count: a tap on padding multiplies by a zero
      // that a good implementation skips (benchdnn counts the same way). Rows and columns are
      // independent, so the count is the product of the two 1-D counts.
      const auto& c = op.conv2d();
      const double taps_h =
          static_cast<double>(valid_taps(c.h, c.p(), c.r, c.stride_h, c.pad_h, c.dil_h));
      const double taps_w =
          static_cast<double>(valid_taps(c.w, c.q(), c.s, c.stride_w, c.pad_w, c.dil_w));
      return 2.0 * static_cast<double>(c.n) * static_cast<double>(c.k) *
             static_cast<double>(c.c / c.groups) * taps_h * taps_w;
    }
    case OpKind::peak:
      return 2.0 * static_cast<double>(op.peak().elements) * static_cast<double>(op.peak().depth);
    case OpKind::stream: {
      const auto& s = op.stream();
      const double n = static_cast<double>(s.n);
      switch (s.kind) {
        case StreamKind::copy:
          return 0.0;
        case StreamKind::scale:
          return n;
        case StreamKind::add:
          return n;
        case StreamKind::triad:
          return 2.0 * n;
      }
    }
  }
  return 0.0;
}

std::vector<int64_t> op_buffer_elements(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::gemm: {
      const auto& g = op.gemm();
      return {g.m * g.k * g.batch, g.k * g.n * g.batch, g.m * g.n * g.batch};
    }
    case OpKind::conv2d: {
      const auto& c = op.conv2d();
      return {c.n * c.h * c.w * c.c, c.k * (c.c / c.groups) * c.r * c.s, c.n * c.p() * c.q() * c.k};
    }
    case OpKind::peak:
      return {op.peak().elements, op.peak().elements};
    case OpKind::stream:
      return {op.stream().n, op.stream().n, op.stream().n};
  }
  return {};
}

std::vector<uint64_t> op_buffer_bytes(const OpDesc& op) {
  const OperandTypes t = operand_types(op);
  const std::vector<int64_t> n = op_buffer_elements(op);
  std::vector<uint64_t> bytes;
  bytes.reserve(n.size());
  for (std::size_t i = 0; i < n.size(); ++i) {
    Dtype d;
    if (op.kind == OpKind::peak)
      d = t.c;  // A and C both hold accumulators
    else
      d = (i == 0) ? t.a : (i == 1 ? t.b : t.c);
    bytes.push_back(static_cast<uint64_t>(n[i]) * dtype_size(d));
  }
  return bytes;
}

double op_bytes(const OpDesc& op) {
  if (op.kind == OpKind::peak) return 0.0;  // register-resident by design
  const std::vector<uint64_t> b = op_buffer_bytes(op);
  if (op.kind == OpKind::stream) {
    const auto k = op.stream().kind;
    const bool two = (k == StreamKind::copy || k == StreamKind::scale);
    return static_cast<double>(two ? b[0] + b[2] : b[0] + b[1] + b[2]);
  }
  double sum = 0;
  for (uint64_t x : b) sum += static_cast<double>(x);
  return sum;
}

std::string shape_string(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::gemm: {
      const auto& g = op.gemm();
      std::string s = fmt::format("{}x{}x{}", g.m, g.n, g.k);
      if (g.batch > 1) s = fmt::format("{}x{}", g.batch, s);
      if (g.trans_a || g.trans_b)
        s += fmt::format(" {}{}", g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N');
      return s;
    }
    case OpKind::conv2d: {
      const auto& c = op.conv2d();
      std::string s = fmt::format("n{} c{} {}x{} k{} {}x{}", c.n, c.c, c.h, c.w, c.k, c.r, c.s);
      if (c.stride_h != 1 || c.stride_w != 1) s += fmt::format(" /{}", c.stride_h);
      if (c.pad_h || c.pad_w) s += fmt::format(" p{}", c.pad_h);
      if (c.dil_h != 1 || c.dil_w != 1) s += fmt::format(" d{}", c.dil_h);
      if (c.groups != 1) s += fmt::format(" g{}", c.groups);
      return s;
    }
    case OpKind::peak:
      return fmt::format("{}x{}", op.peak().elements, op.peak().depth);
    case OpKind::stream:
      return fmt::format("{} {}", stream_kind_name(op.stream().kind), op.stream().n);
  }
  return "";
}

bool op_is_compute_bound(const OpDesc& op) {
  return op.kind != OpKind::stream;
}

}  // namespace suanli
