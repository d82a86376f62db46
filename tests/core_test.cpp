// Tests of src/core: dtype names and conversions, FLOP and byte counts, units.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/op.h"
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

TEST(Units, ScalesToExa) {
  EXPECT_EQ(format_si(1.5e18, "FLOP/s"), "1.50 EFLOP/s");
  EXPECT_EQ(format_si(845e9, "B/s"), "845 GB/s");
  EXPECT_EQ(format_si(12.34e12, "FLOP/s"), "12.3 TFLOP/s");
  EXPECT_EQ(format_clock(83), "01:23");
  EXPECT_EQ(format_clock(3723), "1:02:03");
}

}  // namespace
}  // namespace suanli
