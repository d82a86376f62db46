// Peak (FMA chains per dtype, as clpeak does) and STREAM kernels on OpenCL.
#include <cstring>
#include <limits>

#include "ocl.h"

namespace suanli::ocl {
namespace {

constexpr int kPeakChains = 8;  // independent vectors per work-item (U in peak.cl)

// Lanes per vector for the accumulator type: one 64-byte register on CPUs, small vectors on
// GPUs (which run one lane per work-item anyway).
int peak_lanes(const Device& d, int acc_bytes) {
  if (d.type & CL_DEVICE_TYPE_CPU) return acc_bytes >= 4 ? 64 / acc_bytes : 16;
  return 4;
}

class PeakOp : public Op {
 public:
  PeakOp(Device& d, const suanli_peak_desc& p, const std::string& opts, int vw, Buffer* a,
         Buffer* c, bool floating)
      : d_(d) {
    k_.k = d.kernel("peak.cl", opts, "peak");
    items_ = static_cast<size_t>(p.elements / (kPeakChains * vw));
    set_arg(k_.k, 0, a->mem);
    set_arg(k_.k, 1, c->mem);
    const cl_int depth = static_cast<cl_int>(p.depth);
    if (floating) {
      if (p.acc_type == SUANLI_DTYPE_FP64) {
        set_arg(k_.k, 2, static_cast<cl_double>(p.alpha));
        set_arg(k_.k, 3, static_cast<cl_double>(p.beta));
      } else if (p.acc_type == SUANLI_DTYPE_FP32) {
        set_arg(k_.k, 2, static_cast<cl_float>(p.alpha));
        set_arg(k_.k, 3, static_cast<cl_float>(p.beta));
      } else {
        // half arguments travel as their bit patterns (cl_half).
        set_arg(k_.k, 2, to_half(p.alpha));
        set_arg(k_.k, 3, to_half(p.beta));
      }
      set_arg(k_.k, 4, depth);
    } else {
      // int8: alpha (uint8) per chain and beta (int8) per step from small tables.
      cl_uchar alpha[kPeakChains];
      cl_char beta[256];
      std::memset(alpha, static_cast<cl_uchar>(static_cast<int>(p.alpha)), sizeof alpha);
      std::memset(beta, static_cast<cl_char>(static_cast<int>(p.beta)), sizeof beta);
      cl_int err = CL_SUCCESS;
      alpha_ = clCreateBuffer(d.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof alpha,
                              alpha, &err);
      check_cl(err, "clCreateBuffer (peak alpha)");
      beta_ = clCreateBuffer(d.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof beta, beta,
                             &err);
      check_cl(err, "clCreateBuffer (peak beta)");
      set_arg(k_.k, 2, alpha_);
      set_arg(k_.k, 3, beta_);
      set_arg(k_.k, 4, depth);
    }
  }
  ~PeakOp() override {
    if (alpha_) clReleaseMemObject(alpha_);
    if (beta_) clReleaseMemObject(beta_);
  }
  void enqueue(cl_event* first, cl_event* last) override {
    enqueue_kernel(d_, k_.k, 1, &items_, nullptr, first, last);
  }

 private:
  // fp16 bits of v (round to nearest even; the peak's alpha and beta are small exact values).
  static cl_half to_half(double v) {
    float f = static_cast<float>(v);
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (e <= 0) return static_cast<cl_half>(sign);  // underflow to zero (not needed here)
    if (e >= 31) return static_cast<cl_half>(sign | 0x7c00u);
    uint32_t h = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return static_cast<cl_half>(h);
  }
  Device& d_;
  Kernel k_;
  size_t items_ = 0;
  cl_mem alpha_ = nullptr, beta_ = nullptr;
};

const char* stream_kernel(suanli_stream_kind k) {
  switch (k) {
    case SUANLI_STREAM_COPY:
      return "stream_copy";
    case SUANLI_STREAM_SCALE:
      return "stream_scale";
    case SUANLI_STREAM_ADD:
      return "stream_add";
    case SUANLI_STREAM_TRIAD:
      return "stream_triad";
  }
  return nullptr;
}

class StreamOp : public Op {
 public:
  StreamOp(Device& d, const suanli_stream_desc& s, const std::string& opts, Buffer* const* bufs)
      : d_(d) {
    k_.k = d.kernel("stream.cl", opts, stream_kernel(s.kind));
    n_ = static_cast<size_t>(s.n);
    set_arg(k_.k, 0, bufs[0]->mem);
    // copy and scale do not read B; pass A in its place so a small B buffer is fine.
    const bool uses_b = s.kind == SUANLI_STREAM_ADD || s.kind == SUANLI_STREAM_TRIAD;
    set_arg(k_.k, 1, uses_b ? bufs[1]->mem : bufs[0]->mem);
    set_arg(k_.k, 2, bufs[2]->mem);
    if (s.type == SUANLI_DTYPE_FP64)
      set_arg(k_.k, 3, static_cast<cl_double>(s.scalar));
    else if (s.type == SUANLI_DTYPE_FP32)
      set_arg(k_.k, 3, static_cast<cl_float>(s.scalar));
    else
      throw BackendError(SUANLI_INTERNAL, "stream: unexpected type");
    set_arg(k_.k, 4, static_cast<cl_long>(s.n));
  }
  void enqueue(cl_event* first, cl_event* last) override {
    enqueue_kernel(d_, k_.k, 1, &n_, nullptr, first, last);
  }

 private:
  Device& d_;
  Kernel k_;
  size_t n_ = 0;
};

}  // namespace

std::unique_ptr<Op> make_peak(Device& d, const suanli_peak_desc& p, Buffer* const* bufs,
                              std::string* reason) {
  if (p.struct_size < SUANLI_STRUCT_SIZE(suanli_peak_desc, beta))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak descriptor: struct_size too small");
  if (p.elements < 4096 || p.elements % 4096 != 0 || p.depth < 64 || p.depth % 64 != 0 ||
      p.depth > std::numeric_limits<cl_int>::max())
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "peak: elements must be a positive multiple of 4096 and depth of 64 (got "
                       "elements " +
                           std::to_string(p.elements) + ", depth " + std::to_string(p.depth) + ")");
  if (dtype_size(p.in_type) == 0 || dtype_size(p.acc_type) == 0)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "peak: invalid dtype");
  std::string opts = "-cl-std=CL1.2 -DU=" + std::to_string(kPeakChains);
  std::string impl;
  bool floating = true;
  int acc_bytes = 4;
  const suanli_dtype in = p.in_type, acc = p.acc_type;
  if (in == SUANLI_DTYPE_FP32 && acc == SUANLI_DTYPE_FP32) {
    opts += " -DSUANLI_PEAK_FLOAT -DACC=float";
    impl = "fp32 fma";
  } else if (in == SUANLI_DTYPE_FP64 && acc == SUANLI_DTYPE_FP64) {
    if (!d.fp64) {
      *reason = "peak fp64: the device lacks cl_khr_fp64";
      return nullptr;
    }
    opts += " -DSUANLI_PEAK_FLOAT -DSUANLI_FP64 -DACC=double";
    impl = "fp64 fma";
    acc_bytes = 8;
  } else if (in == SUANLI_DTYPE_FP16 && acc == SUANLI_DTYPE_FP16) {
    if (!d.fp16) {
      *reason = "peak fp16 -> fp16: the device lacks cl_khr_fp16 (no native half arithmetic)";
      return nullptr;
    }
    opts += " -DSUANLI_PEAK_FLOAT -DSUANLI_FP16 -DACC=half";
    impl = "fp16 fma";
    acc_bytes = 2;
  } else if ((in == SUANLI_DTYPE_UINT8 || in == SUANLI_DTYPE_INT8) && acc == SUANLI_DTYPE_INT32) {
    opts += " -DACC=int";
    impl = "uint8 x int8 widened to int32: int32 mul + add per step (no integer dot product)";
    floating = false;
  } else {
    *reason = std::string("peak ") + dtype_name(in) + " -> " + dtype_name(acc) +
              ": not implemented by the opencl backend" +
              (in == SUANLI_DTYPE_BF16 ? " (OpenCL C has no bf16 arithmetic)" : "");
    return nullptr;
  }
  const int vw = peak_lanes(d, acc_bytes);
  opts += " -DVW=" + std::to_string(vw);
  if (!bufs) return std::make_unique<ProbeOp>();  // buffer sizes: checked by the plugin kit
  auto op = std::make_unique<PeakOp>(d, p, opts, vw, bufs[0], bufs[1], floating);
  op->implementation = "suanli peak.cl: " + impl + ", " + std::to_string(kPeakChains) +
                       " independent vectors of " + std::to_string(vw) + " chains per work-item";
  return op;
}

std::unique_ptr<Op> make_stream(Device& d, const suanli_stream_desc& s, Buffer* const* bufs,
                                std::string* reason) {
  if (s.struct_size < SUANLI_STRUCT_SIZE(suanli_stream_desc, scalar))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "stream descriptor: struct_size too small");
  if (s.n < 1) throw BackendError(SUANLI_INVALID_ARGUMENT, "stream: n must be >= 1");
  if (!stream_kernel(s.kind))
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "stream: unknown kind " + std::to_string(static_cast<int>(s.kind)));
  if (dtype_size(s.type) == 0) throw BackendError(SUANLI_INVALID_ARGUMENT, "stream: invalid dtype");
  std::string opts = "-cl-std=CL1.2";
  if (s.type == SUANLI_DTYPE_FP32) {
    opts += " -DT=float";
  } else if (s.type == SUANLI_DTYPE_FP64) {
    if (!d.fp64) {
      *reason = "stream fp64: the device lacks cl_khr_fp64";
      return nullptr;
    }
    opts += " -DT=double -DSUANLI_FP64";
  } else {
    *reason = std::string("stream ") + dtype_name(s.type) +
              ": the opencl backend streams fp32 and fp64 only";
    return nullptr;
  }
  if (!bufs) return std::make_unique<ProbeOp>();  // buffer sizes: checked by the plugin kit
  auto op = std::make_unique<StreamOp>(d, s, opts, bufs);
  op->implementation = std::string("suanli stream.cl ") + stream_kernel(s.kind) + " (" +
                       dtype_name(s.type) + ", one element per work-item)";
  return op;
}

}  // namespace suanli::ocl
