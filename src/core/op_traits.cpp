// The op-traits table: gemm, conv2d, peak and stream, one row each.
#include "core/op_traits.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace suanli {
namespace {

// ---- operand types ----------------------------------------------------------------------------

// Storage of the inputs, the output and the accumulator of a product of `d` (before an explicit
// accumulation type).
OperandTypes product_storage(const OpDesc& op) {
  const Dtype d = op.dtype;
  switch (d) {
    case Dtype::tf32:  // fp32 storage, TF32 arithmetic, fp32 accumulation
      return {Dtype::fp32, Dtype::fp32, Dtype::fp32, Dtype::fp32};
    case Dtype::fp16:
    case Dtype::bf16:
    case Dtype::fp8_e4m3:
    case Dtype::fp8_e5m2:
      return {d, d, Dtype::fp32, Dtype::fp32};
    case Dtype::int8:
      return {op.int8_signed_a ? Dtype::int8 : Dtype::uint8, Dtype::int8, Dtype::int32,
              Dtype::int32};
    default:  // fp64, fp32 and the rest: all in the dtype
      return {d, d, d, d};
  }
}

// An explicit accumulation type replaces the accumulator (and a floating output, e.g. fp16 with
// fp16 accumulation).
void apply_accumulate(const OpDesc& op, OperandTypes& t) {
  if (op.accumulate == Dtype::invalid) return;
  t.compute = op.accumulate;
  if (!dtype_is_integer(op.dtype)) t.c = op.accumulate;
}

OperandTypes product_types(const OpDesc& op) {
  OperandTypes t = product_storage(op);
  apply_accumulate(op, t);
  return t;
}

OperandTypes peak_types(const OpDesc& op) {
  OperandTypes t = product_storage(op);
  // The fp16 peak is the half-precision FMA chain (fp16 -> fp16, as AVX512_FP16 vfmadd*ph and
  // CUDA's hfma2 run it); a suite asks for fp32 accumulation explicitly.
  if (op.dtype == Dtype::fp16) t.c = t.compute = Dtype::fp16;
  apply_accumulate(op, t);
  // x = x + alpha*beta: the multiply is in the input type, A and C in the accumulator type.
  t.a = t.c;
  t.b = Dtype::invalid;
  return t;
}

OperandTypes stream_types(const OpDesc& op) {
  return {op.dtype, op.dtype, op.dtype, op.dtype};
}

// ---- buffers, work and traffic ----------------------------------------------------------------

std::vector<int64_t> gemm_elements(const OpDesc& op) {
  const auto& g = op.gemm();
  return {g.m * g.k * g.batch, g.k * g.n * g.batch, g.m * g.n * g.batch};
}
std::vector<int64_t> conv2d_elements(const OpDesc& op) {
  const auto& c = op.conv2d();
  return {c.n * c.h * c.w * c.c, c.k * (c.c / c.groups) * c.r * c.s, c.n * c.p() * c.q() * c.k};
}
std::vector<int64_t> peak_elements(const OpDesc& op) {
  return {op.peak().elements, op.peak().elements};
}
std::vector<int64_t> stream_elements(const OpDesc& op) {
  return {op.stream().n, op.stream().n, op.stream().n};
}

double gemm_flops(const OpDesc& op) {
  const auto& g = op.gemm();
  return 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) *
         static_cast<double>(g.batch);
}

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

// Only filter taps that land on the input count: a tap on padding multiplies by a zero that a
// good implementation skips (benchdnn counts the same way). Rows and columns are independent, so
// the count is the product of the two 1-D counts.
double conv2d_flops(const OpDesc& op) {
  const auto& c = op.conv2d();
  const double taps_h =
      static_cast<double>(valid_taps(c.h, c.p(), c.r, c.stride_h, c.pad_h, c.dil_h));
  const double taps_w =
      static_cast<double>(valid_taps(c.w, c.q(), c.s, c.stride_w, c.pad_w, c.dil_w));
  return 2.0 * static_cast<double>(c.n) * static_cast<double>(c.k) *
         static_cast<double>(c.c / c.groups) * taps_h * taps_w;
}

double peak_flops(const OpDesc& op) {
  return 2.0 * static_cast<double>(op.peak().elements) * static_cast<double>(op.peak().depth);
}

// copy 0, scale and add n, triad 2n.
double stream_flops(const OpDesc& op) {
  const StreamKind k = op.stream().kind;
  const double n = static_cast<double>(op.stream().n);
  return k == StreamKind::copy ? 0.0 : k == StreamKind::triad ? 2.0 * n : n;
}

// Every operand read once and the output written once.
double all_buffer_bytes(const OpDesc&, const std::vector<uint64_t>& b) {
  double sum = 0;
  for (uint64_t x : b) sum += static_cast<double>(x);
  return sum;
}
double peak_bytes(const OpDesc&, const std::vector<uint64_t>&) {
  return 0.0;  // register-resident by design
}
// STREAM's counting: copy and scale move 2 arrays, add and triad 3.
double stream_bytes(const OpDesc& op, const std::vector<uint64_t>& b) {
  const auto k = op.stream().kind;
  const bool two = (k == StreamKind::copy || k == StreamKind::scale);
  return static_cast<double>(two ? b[0] + b[2] : b[0] + b[1] + b[2]);
}

// ---- text and report fields -------------------------------------------------------------------

std::string gemm_shape(const OpDesc& op) {
  const auto& g = op.gemm();
  std::string s = fmt::format("{}x{}x{}", g.m, g.n, g.k);
  if (g.batch > 1) s = fmt::format("{}x{}", g.batch, s);
  if (g.trans_a || g.trans_b)
    s += fmt::format(" {}{}", g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N');
  return s;
}
std::string conv2d_shape(const OpDesc& op) {
  const auto& c = op.conv2d();
  std::string s = fmt::format("n{} c{} {}x{} k{} {}x{}", c.n, c.c, c.h, c.w, c.k, c.r, c.s);
  if (c.stride_h != 1 || c.stride_w != 1) s += fmt::format(" /{}", c.stride_h);
  if (c.pad_h || c.pad_w) s += fmt::format(" p{}", c.pad_h);
  if (c.dil_h != 1 || c.dil_w != 1) s += fmt::format(" d{}", c.dil_h);
  if (c.groups != 1) s += fmt::format(" g{}", c.groups);
  return s;
}
std::string peak_shape(const OpDesc& op) {
  return fmt::format("{}x{}", op.peak().elements, op.peak().depth);
}
std::string stream_shape(const OpDesc& op) {
  return fmt::format("{} {}", stream_kind_name(op.stream().kind), op.stream().n);
}

std::vector<ShapeField> gemm_fields(const OpDesc& op) {
  const GemmShape& g = op.gemm();
  return {{"m", g.m},
          {"n", g.n},
          {"k", g.k},
          {"batch", g.batch},
          {"trans_a", g.trans_a},
          {"trans_b", g.trans_b}};
}
std::vector<ShapeField> conv2d_fields(const OpDesc& op) {
  const Conv2dShape& c = op.conv2d();
  using Pair = std::array<int64_t, 2>;
  return {{"n", c.n},
          {"c", c.c},
          {"h", c.h},
          {"w", c.w},
          {"k", c.k},
          {"r", c.r},
          {"s", c.s},
          {"stride", Pair{c.stride_h, c.stride_w}},
          {"pad", Pair{c.pad_h, c.pad_w}},
          {"dilation", Pair{c.dil_h, c.dil_w}},
          {"groups", c.groups},
          {"p", c.p()},
          {"q", c.q()}};
}
std::vector<ShapeField> peak_fields(const OpDesc& op) {
  return {{"elements", op.peak().elements}, {"depth", op.peak().depth}};
}
std::vector<ShapeField> stream_fields(const OpDesc& op) {
  return {{"kind", std::string(stream_kind_name(op.stream().kind))}, {"n", op.stream().n}};
}

// ---- ABI descriptors --------------------------------------------------------------------------

// tf32 travels as its own type in the ABI (fp32 storage, TF32 arithmetic).
suanli_dtype product_input(const OpDesc& op, Dtype storage) {
  return op.dtype == Dtype::tf32 ? SUANLI_DTYPE_TF32 : abi::dtype(storage);
}

void gemm_abi(const OpDesc& op, const OperandTypes& t, AbiOp& a) {
  const GemmShape& g = op.gemm();
  a.gemm = {SUANLI_GEMM_DESC_SIZE,
            g.m,
            g.n,
            g.k,
            g.batch,
            g.trans_a ? 1 : 0,
            g.trans_b ? 1 : 0,
            product_input(op, t.a),
            product_input(op, t.b),
            abi::dtype(t.c),
            abi::dtype(t.compute)};
  a.desc.kind = SUANLI_OP_GEMM;
  a.desc.gemm = &a.gemm;
}
void conv2d_abi(const OpDesc& op, const OperandTypes& t, AbiOp& a) {
  a.conv2d = abi::conv2d_desc(op.conv2d(), t.a, t.b, t.c);
  a.desc.kind = SUANLI_OP_CONV2D;
  a.desc.conv2d = &a.conv2d;
}
void peak_abi(const OpDesc& op, const OperandTypes& t, AbiOp& a) {
  const PeakShape& p = op.peak();
  a.peak = {SUANLI_PEAK_DESC_SIZE,
            p.elements,
            p.depth,
            op.dtype == Dtype::int8 ? SUANLI_DTYPE_INT8 : abi::dtype(op.dtype),
            abi::dtype(t.c),
            kPeakAlpha,
            kPeakBeta};
  a.desc.kind = SUANLI_OP_PEAK;
  a.desc.peak = &a.peak;
}
void stream_abi(const OpDesc& op, const OperandTypes&, AbiOp& a) {
  const StreamShape& s = op.stream();
  a.stream = {SUANLI_STREAM_DESC_SIZE, static_cast<suanli_stream_kind>(static_cast<int>(s.kind)),
              s.n, abi::dtype(op.dtype), kStreamScalar};
  a.desc.kind = SUANLI_OP_STREAM;
  a.desc.stream = &a.stream;
}

// ---- the table --------------------------------------------------------------------------------

constexpr BufferRole kIn{Operand::a, InputFill::symmetric},
    kWeights{Operand::b, InputFill::symmetric}, kOut{Operand::c, InputFill::none};

const std::array<OpTraits, kOpKindCount> kOpTraits{{
    {OpKind::gemm,
     "gemm",
     true,
     true,
     {kIn, kWeights, kOut},
     product_types,
     gemm_elements,
     gemm_flops,
     all_buffer_bytes,
     gemm_shape,
     gemm_fields,
     gemm_abi},
    {OpKind::conv2d,
     "conv2d",
     true,
     true,
     {kIn, kWeights, kOut},
     product_types,
     conv2d_elements,
     conv2d_flops,
     all_buffer_bytes,
     conv2d_shape,
     conv2d_fields,
     conv2d_abi},
    // A holds the starting accumulators; A and C are both of the accumulator type (Operand::a
    // is the accumulator type for peak, see peak_types).
    {OpKind::peak,
     "peak",
     true,
     false,
     {{Operand::a, InputFill::small_int}, {Operand::c, InputFill::none}},
     peak_types,
     peak_elements,
     peak_flops,
     peak_bytes,
     peak_shape,
     peak_fields,
     peak_abi},
    {OpKind::stream,
     "stream",
     false,
     false,
     {{Operand::a, InputFill::positive}, {Operand::b, InputFill::positive}, kOut},
     stream_types,
     stream_elements,
     stream_flops,
     stream_bytes,
     stream_shape,
     stream_fields,
     stream_abi},
}};

}  // namespace

const OpTraits* find_op_traits(OpKind kind) {
  for (const OpTraits& t : kOpTraits)
    if (t.kind == kind) return &t;
  return nullptr;
}

const OpTraits& op_traits(OpKind kind) {
  if (const OpTraits* t = find_op_traits(kind)) return *t;
  throw std::invalid_argument(fmt::format("no op traits for op kind {}", static_cast<int>(kind)));
}

AbiOp::AbiOp(const OpDesc& op) {
  desc.struct_size = SUANLI_OP_DESC_SIZE;
  const OpTraits& traits = op_traits(op.kind);
  traits.abi_desc(op, traits.operand_types(op), *this);
}

namespace abi {
suanli_conv2d_desc conv2d_desc(const Conv2dShape& c, Dtype src, Dtype weights, Dtype dst) {
  return {SUANLI_CONV2D_DESC_SIZE,
          c.n,
          c.c,
          c.h,
          c.w,
          c.k,
          c.r,
          c.s,
          c.stride_h,
          c.stride_w,
          c.pad_h,
          c.pad_w,
          c.dil_h,
          c.dil_w,
          c.groups,
          dtype(src),
          dtype(weights),
          dtype(dst)};
}
}  // namespace abi

}  // namespace suanli
