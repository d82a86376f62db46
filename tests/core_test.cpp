// Tests of src/core: dtype names and conversions, FLOP and byte counts, units.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "core/dtype.h"
#include "core/names.h"
#include "core/op.h"
#include "core/op_traits.h"
#include "core/units.h"

namespace suanli {
namespace {

TEST(Dtype, NamesRoundTrip) {
  for (Dtype d : {Dtype::fp64, Dtype::fp32, Dtype::tf32, Dtype::fp16, Dtype::bf16, Dtype::fp8_e4m3,
                  Dtype::fp8_e5m2, Dtype::int8, Dtype::uint8, Dtype::int32}) {
    const auto back = dtype_from_name(dtype_name(d));
    ASSERT_TRUE(back.has_value()) << dtype_name(d);
    EXPECT_EQ(*back, d);
  }
  EXPECT_FALSE(dtype_from_name("float32").has_value());
}

TEST(Dtype, UnitRoundoff) {
  EXPECT_EQ(dtype_unit_roundoff(Dtype::fp32), std::ldexp(1.0, -24));
  EXPECT_EQ(dtype_unit_roundoff(Dtype::bf16), std::ldexp(1.0, -8));
  EXPECT_EQ(dtype_unit_roundoff(Dtype::fp64), std::ldexp(1.0, -53));
  EXPECT_EQ(dtype_unit_roundoff(Dtype::int8), 0.0);
}

TEST(Dtype, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0).
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))),
            1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

TEST(Dtype, Fp16ConversionsAreExactWhereRepresentable) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f})
    EXPECT_EQ(fp16_to_float(float_to_fp16(f)), f) << f;
  EXPECT_TRUE(std::isinf(fp16_to_float(float_to_fp16(1e6f))));
  EXPECT_EQ(fp16_to_float(float_to_fp16(1.0f + std::ldexp(1.0f, -11))), 1.0f);  // tie to even
}

TEST(Dtype, StoreSaturatesIntegers) {
  int8_t i8[1];
  store_from_double(i8, Dtype::int8, 0, 300.0);
  EXPECT_EQ(i8[0], 127);
  uint8_t u8[1];
  store_from_double(u8, Dtype::uint8, 0, -5.0);
  EXPECT_EQ(u8[0], 0);
}

TEST(OpCounts, GemmIsTwoFlopsPerMultiplyAdd) {
  OpDesc op;
  op.kind = OpKind::gemm;
  op.dtype = Dtype::fp32;
  op.shape = GemmShape{4096, 4096, 4096, 1, false, false};
  EXPECT_DOUBLE_EQ(op_flops(op), 2.0 * 4096.0 * 4096.0 * 4096.0);
  op.shape = GemmShape{100, 20, 30, 7, true, false};
  EXPECT_DOUBLE_EQ(op_flops(op), 2.0 * 100 * 20 * 30 * 7);
  EXPECT_DOUBLE_EQ(op_bytes(op), 7.0 * 4 * (100 * 30 + 30 * 20 + 100 * 20));
  EXPECT_EQ(shape_string(op), "7x100x20x30 TN");
}

TEST(OpCounts, Int8GemmOperandTypes) {
  OpDesc op;
  op.dtype = Dtype::int8;
  op.shape = GemmShape{8, 8, 8};
  const OperandTypes t = operand_types(op);
  EXPECT_EQ(t.a, Dtype::uint8);
  EXPECT_EQ(t.b, Dtype::int8);
  EXPECT_EQ(t.c, Dtype::int32);
  const auto bytes = op_buffer_bytes(op);
  EXPECT_EQ(bytes, (std::vector<uint64_t>{64, 64, 256}));
}

TEST(OpCounts, Conv2dResNet50Stem) {
  // 7x7/2 conv, 3->64 channels, 224x224 -> 112x112: 118.0 MMACs per image.
  OpDesc op;
  op.kind = OpKind::conv2d;
  Conv2dShape c;
  c.n = 1, c.c = 3, c.h = 224, c.w = 224, c.k = 64, c.r = 7, c.s = 7;
  c.stride_h = c.stride_w = 2;
  c.pad_h = c.pad_w = 3;
  op.shape = c;
  EXPECT_EQ(c.p(), 112);
  EXPECT_EQ(c.q(), 112);
  // Taps on the 3-pixel padding do no work: per dimension 778 of the 112 x 7 = 784
  // (output, tap) pairs read the image (benchdnn counts the same).
  EXPECT_DOUBLE_EQ(op_flops(op), 2.0 * 64 * 3 * 778 * 778);
  c.pad_h = c.pad_w = 0;
  op.shape = c;
  EXPECT_EQ(c.p(), 109);
  EXPECT_DOUBLE_EQ(op_flops(op), 2.0 * 64 * 109 * 109 * 3 * 7 * 7);
}

TEST(OpCounts, GroupedConvDividesChannels) {
  OpDesc op;
  op.kind = OpKind::conv2d;
  Conv2dShape c;
  c.n = 2, c.c = 32, c.h = 8, c.w = 8, c.k = 64, c.r = 3, c.s = 3, c.pad_h = c.pad_w = 1;
  c.groups = 4;
  op.shape = c;
  // 3x3 pad 1 on 8x8: the edge taps of the edge outputs fall on padding, 22 of 24 per dimension.
  EXPECT_DOUBLE_EQ(op_flops(op), 2.0 * 2 * 64 * (32 / 4) * 22 * 22);
  EXPECT_EQ(op_buffer_elements(op)[1], 64 * 8 * 9);
}

TEST(OpCounts, PeakAndStream) {
  OpDesc p;
  p.kind = OpKind::peak;
  p.dtype = Dtype::bf16;
  p.shape = PeakShape{4096, 128};
  EXPECT_DOUBLE_EQ(op_flops(p), 2.0 * 4096 * 128);
  EXPECT_EQ(op_buffer_bytes(p), (std::vector<uint64_t>{4096 * 4, 4096 * 4}));  // fp32 accumulators
  // The fp16 peak is an fp16 -> fp16 FMA chain (backend.h); fp32 accumulation only on request.
  p.dtype = Dtype::fp16;
  EXPECT_EQ(operand_types(p).compute, Dtype::fp16);
  EXPECT_EQ(op_buffer_bytes(p), (std::vector<uint64_t>{4096 * 2, 4096 * 2}));
  p.accumulate = Dtype::fp32;
  EXPECT_EQ(operand_types(p).compute, Dtype::fp32);
  OpDesc s;
  s.kind = OpKind::stream;
  s.dtype = Dtype::fp64;
  s.shape = StreamShape{StreamKind::triad, 1000};
  EXPECT_DOUBLE_EQ(op_bytes(s), 3 * 8000.0);
  EXPECT_DOUBLE_EQ(op_flops(s), 2000.0);
  s.shape = StreamShape{StreamKind::copy, 1000};
  EXPECT_DOUBLE_EQ(op_bytes(s), 2 * 8000.0);
}

// Every op kind has its row, and the row agrees with the kind's own descriptor and counts.
TEST(OpTraits, EveryKindHasOneRow) {
  const OpKind kinds[] = {OpKind::gemm, OpKind::conv2d, OpKind::peak, OpKind::stream};
  static_assert(sizeof(kinds) / sizeof(kinds[0]) == kOpKindCount);
  for (OpKind k : kinds) {
    const OpTraits& t = op_traits(k);
    EXPECT_EQ(t.kind, k);
    EXPECT_EQ(op_kind_name(k), t.name);
    EXPECT_EQ(t.buffers.back().fill, InputFill::none) << t.name << ": the output is never filled";
  }
  EXPECT_EQ(find_op_traits(static_cast<OpKind>(99)), nullptr);
  EXPECT_THROW(op_traits(static_cast<OpKind>(99)), std::invalid_argument);
  EXPECT_EQ(op_kind_name(static_cast<OpKind>(99)), "invalid");
}

TEST(OpTraits, AbiDescriptorOfEachKind) {
  OpDesc g;
  g.kind = OpKind::gemm;
  g.dtype = Dtype::tf32;
  g.shape = GemmShape{64, 32, 16, 2, true, false};
  const AbiOp ga(g);
  EXPECT_EQ(ga.desc.struct_size, SUANLI_OP_DESC_SIZE);
  EXPECT_EQ(ga.desc.kind, SUANLI_OP_GEMM);
  ASSERT_EQ(ga.desc.gemm, &ga.gemm);
  EXPECT_EQ(ga.gemm.struct_size, SUANLI_GEMM_DESC_SIZE);
  EXPECT_EQ(ga.gemm.m, 64);
  EXPECT_EQ(ga.gemm.batch, 2);
  EXPECT_EQ(ga.gemm.trans_a, 1);
  EXPECT_EQ(ga.gemm.a_type, SUANLI_DTYPE_TF32);  // tf32 travels as itself, stored as fp32
  EXPECT_EQ(ga.gemm.c_type, SUANLI_DTYPE_FP32);

  OpDesc c;
  c.kind = OpKind::conv2d;
  c.dtype = Dtype::int8;
  Conv2dShape cs;
  cs.n = 2, cs.c = 8, cs.h = 9, cs.w = 7, cs.k = 4, cs.r = 3, cs.s = 3, cs.dil_h = 2, cs.groups = 2;
  c.shape = cs;
  const AbiOp ca(c);
  EXPECT_EQ(ca.desc.kind, SUANLI_OP_CONV2D);
  ASSERT_EQ(ca.desc.conv2d, &ca.conv2d);
  EXPECT_EQ(ca.conv2d.struct_size, SUANLI_CONV2D_DESC_SIZE);
  EXPECT_EQ(ca.conv2d.dil_h, 2);
  EXPECT_EQ(ca.conv2d.groups, 2);
  EXPECT_EQ(ca.conv2d.src_type, SUANLI_DTYPE_UINT8);
  EXPECT_EQ(ca.conv2d.weight_type, SUANLI_DTYPE_INT8);
  EXPECT_EQ(ca.conv2d.dst_type, SUANLI_DTYPE_INT32);

  OpDesc p;
  p.kind = OpKind::peak;
  p.dtype = Dtype::bf16;
  p.shape = PeakShape{1024, 64};
  const AbiOp pa(p);
  EXPECT_EQ(pa.desc.kind, SUANLI_OP_PEAK);
  EXPECT_EQ(pa.peak.in_type, SUANLI_DTYPE_BF16);
  EXPECT_EQ(pa.peak.acc_type, SUANLI_DTYPE_FP32);

  OpDesc s;
  s.kind = OpKind::stream;
  s.dtype = Dtype::fp64;
  s.shape = StreamShape{StreamKind::add, 100};
  const AbiOp sa(s);
  EXPECT_EQ(sa.desc.kind, SUANLI_OP_STREAM);
  EXPECT_EQ(sa.stream.kind, SUANLI_STREAM_ADD);
  EXPECT_EQ(sa.stream.scalar, kStreamScalar);
}

TEST(OpTraits, ReportFieldsOfAShape) {
  OpDesc c;
  c.kind = OpKind::conv2d;
  Conv2dShape cs;
  cs.c = 3, cs.h = 8, cs.w = 8, cs.k = 4, cs.r = 3, cs.s = 3, cs.stride_h = cs.stride_w = 2;
  c.shape = cs;
  std::map<std::string, std::string> seen;
  for (const ShapeField& f : op_traits(OpKind::conv2d).shape_fields(c)) {
    if (const auto* pair = std::get_if<std::array<int64_t, 2>>(&f.value))
      seen[f.name] = std::to_string((*pair)[0]) + "," + std::to_string((*pair)[1]);
    else if (const auto* n = std::get_if<int64_t>(&f.value))
      seen[f.name] = std::to_string(*n);
  }
  EXPECT_EQ(seen.size(), 13u);
  EXPECT_EQ(seen["stride"], "2,2");
  EXPECT_EQ(seen["p"], std::to_string(cs.p()));
}

TEST(Names, TableLookupBothWays) {
  enum class Color { red, green, blue };
  static constexpr NameRow<Color> kColors[] = {{Color::red, "red"}, {Color::green, "green"}};
  EXPECT_EQ(name_of(Color::green, kColors), "green");
  EXPECT_EQ(name_of(Color::blue, kColors), "invalid");
  EXPECT_EQ(name_of(Color::blue, kColors, "?"), "?");
  EXPECT_EQ(value_named("red", kColors), Color::red);
  EXPECT_FALSE(value_named("blue", kColors).has_value());
  EXPECT_EQ(stream_kind_name(StreamKind::triad), "triad");
}

TEST(Units, ScalesToExa) {
  EXPECT_EQ(format_si(1.5e18, "FLOP/s"), "1.50 EFLOP/s");
  EXPECT_EQ(format_si(845e9, "B/s"), "845 GB/s");
  EXPECT_EQ(format_si(12.34e12, "FLOP/s"), "12.3 TFLOP/s");
  EXPECT_EQ(format_clock(83), "01:23");
  EXPECT_EQ(format_clock(3723), "1:02:03");
}

}  // namespace
}  // namespace suanli
