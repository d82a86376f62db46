// Peak and stream ops: which of kernels.cu's kernels runs a descriptor, with its parameters.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cuda_op.h"
#include "kernels.h"
#include "labels.h"

namespace suanli::cuda {
namespace {

const char* const kBuiltFor =
    "suanli's CUDA kernels are built for sm_80 and sm_90 (compute_90 PTX)";

// x rounded to nearest-even with `precision` significand bits and normal exponents down to
// `min_exp` (gradual underflow below); +-inf past max_finite.
double round_to(double x, int precision, int min_exp, double max_finite) {
  if (x == 0 || !std::isfinite(x)) return x;
  const int e = std::max(std::ilogb(x), min_exp);
  const double q = std::ldexp(1.0, e - precision + 1);
  const double r = std::nearbyint(x / q) * q;
  return std::fabs(r) > max_finite ? std::copysign(HUGE_VAL, r) : r;
}

uint64_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

uint64_t double_bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// An fp16-representable value as IEEE binary16 bits.
uint64_t half_bits(double v) {
  uint32_t sign = std::signbit(v) ? 0x8000u : 0u;
  v = std::fabs(v);
  if (std::isinf(v)) return sign | 0x7c00u;
  if (v == 0) return sign;
  int e = std::ilogb(v);
  if (e < -14) return sign | static_cast<uint32_t>(std::ldexp(v, 24));  // subnormal
  const auto mant = static_cast<uint32_t>(std::ldexp(v, 10 - e)) & 0x3ffu;
  return sign | (static_cast<uint32_t>(e + 15) << 10) | mant;
}

// Multiplicand of the peak chain in the input type: its value and raw bits.
struct Multiplicand {
  double value;
  uint64_t bits;
};

Multiplicand to_input(double v, suanli_dtype in, bool is_alpha) {
  switch (in) {
    case SUANLI_DTYPE_FP64:
      return {v, double_bits(v)};
    case SUANLI_DTYPE_FP32: {
      const float f = static_cast<float>(v);
      return {f, float_bits(f)};
    }
    case SUANLI_DTYPE_TF32: {
      const double r = round_to(v, 11, -126, 3.40277175e38);
      return {r, float_bits(static_cast<float>(r))};
    }
    case SUANLI_DTYPE_FP16: {
      const double r = round_to(v, 11, -14, 65504.0);
      return {r, half_bits(r)};
    }
    case SUANLI_DTYPE_BF16: {
      const double r = round_to(v, 8, -126, 3.38953139e38);
      return {r, float_bits(static_cast<float>(r)) >> 16};
    }
    case SUANLI_DTYPE_INT8: {
      // The ABI's int8 peak multiplies uint8 (alpha) by int8 (beta).
      const double r = is_alpha ? std::clamp(std::nearbyint(v), 0.0, 255.0)
                                : std::clamp(std::nearbyint(v), -128.0, 127.0);
      return {r, static_cast<uint64_t>(static_cast<int64_t>(r)) & 0xffu};
    }
    default:
      return {v, 0};
  }
}

// Largest power of two that divides the dyadic x (x != 0).
double low_bit(double x) {
  int e = 0;
  const double f = std::frexp(std::fabs(x), &e);
  auto n = static_cast<uint64_t>(std::ldexp(f, 53));
  int tz = 0;
  while ((n & 1) == 0 && tz < 64) n >>= 1, ++tz;
  return std::ldexp(1.0, e - 53 + tz);
}

// True when every partial sum a0 + t*p (t <= depth) is exactly representable with `precision`
// bits: then the tensor core's summation order and alignment cannot change the result, and an
// mma chain equals the ABI's step-by-step FMA chain.
bool chain_exact(double a0, double p, int64_t depth, int precision) {
  if (!std::isfinite(a0)) return false;
  if (p == 0) return true;
  const double q = a0 == 0 ? low_bit(p) : std::min(low_bit(a0), low_bit(p));
  if (q < std::ldexp(1.0, -120)) return false;  // stay clear of subnormals
  const double top = std::fabs(a0) + static_cast<double>(depth) * std::fabs(p);
  return top < std::ldexp(q, precision);
}

const char* kernel_text(PeakKernel k) {
  switch (k) {
    case PeakKernel::fma_f64:
      return "fma.rn.f64 chains on the FP64 units (CUDA cores)";
    case PeakKernel::fma_f32:
      return "fma.rn.f32 chains on the FP32 units (CUDA cores)";
    case PeakKernel::hfma2_f16:
      return "fma.rn.f16x2 (HFMA2) chains, two fp16 accumulators per register (CUDA cores: "
             "compare with the device's peak_fp16_cuda_core_flops, not the tensor-core fp16 "
             "peak; the tensor figure is the fp16 peak with fp32 accumulation)";
    case PeakKernel::mma_f64:
      return "mma.sync m8n8k4 f64 (DMMA tensor cores), 4 steps per instruction";
    case PeakKernel::mma_f16_f32:
      return "mma.sync m16n8k16 f16 x f16 + f32 (tensor cores), 16 steps per instruction";
    case PeakKernel::mma_bf16_f32:
      return "mma.sync m16n8k16 bf16 x bf16 + f32 (tensor cores), 16 steps per instruction";
    case PeakKernel::mma_tf32_f32:
      return "mma.sync m16n8k8 tf32 x tf32 + f32 (tensor cores), 8 steps per instruction";
    case PeakKernel::mma_u8s8_s32:
      return "mma.sync m16n8k32 u8 x s8 + s32 (tensor cores), 32 steps per instruction";
  }
  return "";
}

class PeakOp : public CudaOp {
 public:
  PeakKernel kernel = PeakKernel::fma_f32;
  const void* a = nullptr;
  void* c = nullptr;
  int64_t elements = 0, depth = 0;
  uint64_t alpha = 0, beta = 0;
  bool wgmma = false;  // Hopper: the sm_90a wgmma chain instead of the mma.sync one
  void enqueue() override {
    if (wgmma)
      check_cuda(launch_peak_wgmma(kernel == PeakKernel::mma_bf16_f32, a, c, elements, depth, alpha,
                                   beta, device->stream),
                 "wgmma peak kernel launch");
    else
      check_cuda(launch_peak(kernel, a, c, elements, depth, alpha, beta, device->stream),
                 "peak kernel launch");
  }
};

class StreamOp : public CudaOp {
 public:
  int kind = 0;
  suanli_dtype type = SUANLI_DTYPE_FP64;
  const void *a = nullptr, *b = nullptr;
  void* c = nullptr;
  int64_t n = 0;
  double scalar = 0;
  void enqueue() override {
    const cudaError_t e =
        type == SUANLI_DTYPE_FP64
            ? launch_stream_f64(kind, static_cast<const double*>(a), static_cast<const double*>(b),
                                static_cast<double*>(c), n, scalar, device->sm_count,
                                device->stream)
            : launch_stream_f32(kind, static_cast<const float*>(a), static_cast<const float*>(b),
                                static_cast<float*>(c), n, static_cast<float>(scalar),
                                device->sm_count, device->stream);
    check_cuda(e, "stream kernel launch");
  }
};

std::unique_ptr<CudaOp> unsupported(std::string* reason, std::string why) {
  *reason = std::move(why);
  return nullptr;
}

// Reads A (the starting accumulators) back, to decide whether the tensor-core chain is exact.
bool all_chains_exact(const void* a, int64_t elements, suanli_dtype acc, double p, int64_t depth) {
  if (acc == SUANLI_DTYPE_INT32) return true;  // integer sums wrap identically in any order
  const int precision = acc == SUANLI_DTYPE_FP64 ? 53 : 24;
  const size_t bytes = static_cast<size_t>(elements) * (acc == SUANLI_DTYPE_FP64 ? 8 : 4);
  std::vector<unsigned char> host(bytes);
  SUANLI_CUDA_CHECK(cudaMemcpy(host.data(), a, bytes, cudaMemcpyDeviceToHost));
  double last = std::numeric_limits<double>::quiet_NaN();
  for (int64_t e = 0; e < elements; ++e) {
    double a0;
    if (acc == SUANLI_DTYPE_FP64) {
      std::memcpy(&a0, host.data() + 8 * e, 8);
    } else {
      float f;
      std::memcpy(&f, host.data() + 4 * e, 4);
      a0 = f;
    }
    if (a0 == last) continue;
    if (!chain_exact(a0, p, depth, precision)) return false;
    last = a0;
  }
  return true;
}

}  // namespace

std::unique_ptr<CudaOp> make_peak(const suanli_peak_desc& d, const void* a, void* c, Device& dev,
                                  std::string* reason) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_peak_desc, beta))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak descriptor: struct_size too small");
  if (d.elements <= 0 || d.elements % 4096 != 0 || d.depth <= 0 || d.depth % 64 != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "peak: elements must be a positive multiple of 4096 and depth of 64");
  if (dev.cc() < 80) return unsupported(reason, kBuiltFor);
  const suanli_dtype in = d.in_type, acc = d.acc_type;
  PeakKernel tensor = PeakKernel::fma_f32, core = PeakKernel::fma_f32;
  bool has_tensor = false;
  if (in == SUANLI_DTYPE_FP64 && acc == SUANLI_DTYPE_FP64) {
    core = PeakKernel::fma_f64;
    // DMMA is fast only on the data-center parts (GA100, GH100); elsewhere the FMA units win.
    has_tensor = dev.cc() == 80 || dev.cc() == 90;
    tensor = PeakKernel::mma_f64;
  } else if (in == SUANLI_DTYPE_FP32 && acc == SUANLI_DTYPE_FP32) {
    core = PeakKernel::fma_f32;
  } else if (in == SUANLI_DTYPE_FP16 && acc == SUANLI_DTYPE_FP16) {
    core = PeakKernel::hfma2_f16;
  } else if (in == SUANLI_DTYPE_FP16 && acc == SUANLI_DTYPE_FP32) {
    has_tensor = true, tensor = PeakKernel::mma_f16_f32;
  } else if (in == SUANLI_DTYPE_BF16 && acc == SUANLI_DTYPE_FP32) {
    has_tensor = true, tensor = PeakKernel::mma_bf16_f32;
  } else if (in == SUANLI_DTYPE_TF32 && acc == SUANLI_DTYPE_FP32) {
    has_tensor = true, tensor = PeakKernel::mma_tf32_f32;
  } else if (in == SUANLI_DTYPE_INT8 && acc == SUANLI_DTYPE_INT32) {
    has_tensor = true, tensor = PeakKernel::mma_u8s8_s32;
  } else if (in == SUANLI_DTYPE_FP8_E4M3 || in == SUANLI_DTYPE_FP8_E5M2) {
    return unsupported(reason, "the cuda backend has no fp8 peak kernel yet");
  } else {
    return unsupported(reason, "peak: no kernel for input type " + std::to_string(in) +
                                   " with accumulator type " + std::to_string(acc));
  }
  const Multiplicand al = to_input(d.alpha, in, true), be = to_input(d.beta, in, false);
  auto op = std::make_unique<PeakOp>();
  op->device = &dev;
  op->a = a;
  op->c = c;
  op->elements = d.elements;
  op->depth = d.depth;
  op->kernel = has_tensor ? tensor : core;
  if (has_tensor && a && in != SUANLI_DTYPE_INT8 &&
      !all_chains_exact(a, d.elements, acc, al.value * be.value, d.depth)) {
    // The ABI's chain rounds after every step; a tensor core adds k products at once. With
    // values where that differs, run the step-by-step chain on the FMA units instead
    // (the product of two fp16/bf16/tf32 values is exact in an fp32 FMA).
    op->kernel = core;
  }
  if (op->kernel == PeakKernel::fma_f32 && in != SUANLI_DTYPE_FP32) {
    // Multiplicands rounded to the input type, then carried in fp32 (exactly).
    op->alpha = float_bits(static_cast<float>(al.value));
    op->beta = float_bits(static_cast<float>(be.value));
  } else {
    op->alpha = al.bits;
    op->beta = be.bits;
  }
  if (d.elements % peak_elements_per_block(op->kernel) != 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "peak: elements must be a multiple of " +
                           std::to_string(peak_elements_per_block(op->kernel)));
  op->library = "suanli";
  op->implementation = kernel_text(op->kernel);
  if (has_tensor && op->kernel == core)
    op->implementation += " (tensor-core chain would not be exact for these starting values)";
  const bool mma = op->kernel != PeakKernel::fma_f64 && op->kernel != PeakKernel::fma_f32 &&
                   op->kernel != PeakKernel::hfma2_f16;
  // Hopper: wgmma (sm_90a) where the chain is fp16/bf16 -> fp32 and the elements fill its blocks.
  op->wgmma = dev.cc() == 90 &&
              (op->kernel == PeakKernel::mma_f16_f32 || op->kernel == PeakKernel::mma_bf16_f32) &&
              d.elements % wgmma_peak_elements_per_block() == 0 && wgmma_peak_available();
  if (op->wgmma) {
    op->implementation =
        std::string("wgmma.mma_async m64n128k16 ") +
        (op->kernel == PeakKernel::mma_bf16_f32 ? "bf16 x bf16" : "f16 x f16") +
        " + f32 (Hopper tensor cores, sm_90a), A in registers, B in shared memory, 16 steps per "
        "instruction; " +
        peak_occupancy(d.elements / wgmma_peak_elements_per_block() * 8, dev.sm_count, 2);
    return op;
  }
  const int64_t warps =
      d.elements / peak_elements_per_block(op->kernel) * peak_warps_per_block(op->kernel);
  // mma.sync: 4 independent fragments per warp, ~30 cycles of latency: 4 warps per
  // sub-partition keep the tensor pipe busy; FMA chains: 4 per thread, 2 warps suffice.
  op->implementation += "; " + peak_occupancy(warps, dev.sm_count, mma ? 4 : 2);
  if (mma && dev.cc() >= 90)
    op->implementation +=
        dev.cc() >= 100 ? "; mma.sync ceiling: Blackwell's full tensor rate needs tcgen05"
                        : "; mma.sync ceiling: Hopper's full tensor rate needs wgmma (sm_90a: "
                          "fp16/bf16 -> fp32 only, elements a multiple of 16384), so expect well "
                          "under the table's tensor peak";
  return op;
}

std::unique_ptr<CudaOp> make_stream(const suanli_stream_desc& d, const void* a, const void* b,
                                    void* c, Device& dev, std::string* reason) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_stream_desc, scalar))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "stream descriptor: struct_size too small");
  if (d.n <= 0) throw BackendError(SUANLI_INVALID_ARGUMENT, "stream: n must be positive");
  if (d.kind < SUANLI_STREAM_COPY || d.kind > SUANLI_STREAM_TRIAD)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "stream: unknown kind");
  if (dev.cc() < 80) return unsupported(reason, kBuiltFor);
  if (d.type != SUANLI_DTYPE_FP64 && d.type != SUANLI_DTYPE_FP32)
    return unsupported(reason, "the cuda backend's stream kernels are fp64 and fp32 only");
  auto op = std::make_unique<StreamOp>();
  op->device = &dev;
  op->kind = static_cast<int>(d.kind);
  op->type = d.type;
  op->a = a;
  op->b = b;
  op->c = c;
  op->n = d.n;
  op->scalar = d.scalar;
  op->library = "suanli";
  const uint64_t esz = d.type == SUANLI_DTYPE_FP64 ? 8 : 4;
  op->implementation =
      std::string("grid-stride ") + (d.type == SUANLI_DTYPE_FP64 ? "fp64" : "fp32") +
      " kernel, 16-byte vector loads and stores, 4 per thread per trip, 256 threads/block, 8 "
      "blocks/SM; " +
      stream_residency(stream_bytes_touched(static_cast<int>(d.kind), d.n, esz), dev.l2_bytes);
  return op;
}

}  // namespace suanli::cuda
