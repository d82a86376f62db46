// LASWP and TRSM of ABI 1.2 (HPL's row interchanges and triangular solves) on OpenCL:
// kernels/linalg.cl, fp64 (cl_khr_fp64) and fp32. GETRF is not implemented (the harness factors
// the panel on the host). The plugin kit has checked each operand's shape and buffer.
#include "ocl.h"

namespace suanli::ocl {
namespace {

constexpr size_t kLocal = 16;  // work-items per group, fixed (see kernels/linalg.cl)

// Build options for a type, or "" with *reason when the device cannot run it.
std::string type_options(const Device& d, suanli_dtype t, const char* op, std::string* reason) {
  if (t == SUANLI_DTYPE_FP32) return "-cl-std=CL1.2 -DT=float";
  if (t != SUANLI_DTYPE_FP64) {
    *reason = std::string(op) + ": types are fp64 and fp32";
    return "";
  }
  if (!d.fp64) {
    *reason = std::string(op) + " fp64: the device lacks cl_khr_fp64";
    return "";
  }
  return "-cl-std=CL1.2 -DT=double -DSUANLI_FP64";
}

// One kernel over `vectors` work-items (rounded up to kLocal).
class VectorOp : public Op {
 public:
  VectorOp(Device& d, const std::string& opts, const char* name, int64_t vectors)
      : d_(d), k_(d.kernel("linalg.cl", opts, name)), vectors_(vectors) {
    implementation = std::string("suanli linalg.cl ") + name + ": one work-item per vector";
  }
  cl_kernel kernel() const { return k_.k; }
  void enqueue(cl_event* first, cl_event* last) override {
    const size_t global = (static_cast<size_t>(vectors_) + kLocal - 1) / kLocal * kLocal;
    enqueue_kernel(d_, k_.k, 1, &global, &kLocal, first, last);
  }

 private:
  Device& d_;
  Kernel k_;
  int64_t vectors_;
};

// The support probe compiles the program and runs the kernel once (an implementation may compile
// at first launch), so that no timed HPL step pays for it.
void warm(Device& d, const std::string& opts, const char* name) {
  if (!d.warmed.insert(opts + " " + name).second) return;
  VectorOp op(d, opts, name, 0);
  cl_int err = CL_SUCCESS;
  cl_mem m = clCreateBuffer(d.context, CL_MEM_READ_WRITE, 64, nullptr, &err);
  check_cl(err, "clCreateBuffer (warm-up)");
  const cl_long zero = 0;
  const cl_int one = 1, none = 0;
  if (std::string(name) == "laswp")
    set_args(op.kernel(), m, zero, one, none, none, none, m, zero, zero);
  else
    set_args(op.kernel(), m, zero, one, m, zero, one, none, none, none, none, none, none);
  // alpha: an argument of T, set apart (float or double).
  if (std::string(name) == "trsm") {
    if (opts.find("double") != std::string::npos)
      set_arg(op.kernel(), 12, 1.0);
    else
      set_arg(op.kernel(), 12, 1.0f);
  }
  try {
    run_timed(d, {&op}, 1);
  } catch (...) {
    clReleaseMemObject(m);
    throw;
  }
  clReleaseMemObject(m);
}

}  // namespace

void warm_linalg(Device& d, suanli_dtype t) {
  std::string unused;
  const std::string opts = type_options(d, t, "warm-up", &unused);
  if (opts.empty()) return;
  warm(d, opts, "laswp");
  warm(d, opts, "trsm");
}

std::unique_ptr<Op> make_laswp(Device& d, const suanli_laswp_desc& l, Buffer* const* bufs,
                               std::string* reason) {
  kit::check_linalg_shape(l);
  const std::string opts = type_options(d, l.type, "laswp", reason);
  if (opts.empty()) return nullptr;
  if (!bufs) {
    warm(d, opts, "laswp");
    return std::make_unique<ProbeOp>();
  }
  auto op = std::make_unique<VectorOp>(d, opts, "laswp", l.n);
  set_args(op->kernel(), bufs[0]->mem, cl_long{l.a_offset}, static_cast<cl_int>(l.lda),
           static_cast<cl_int>(l.n), static_cast<cl_int>(l.k1), static_cast<cl_int>(l.k2),
           bufs[1]->mem, cl_long{l.ipiv_offset},
           static_cast<cl_long>(bufs[0]->bytes / kit::dtype_bytes(l.type)));
  return op;
}

std::unique_ptr<Op> make_trsm(Device& d, const suanli_trsm_desc& t, Buffer* const* bufs,
                              std::string* reason) {
  kit::check_linalg_shape(t);
  const std::string opts = type_options(d, t.type, "trsm", reason);
  if (opts.empty()) return nullptr;
  if (!bufs) {
    warm(d, opts, "trsm");
    return std::make_unique<ProbeOp>();
  }
  const int64_t na = t.side ? t.n : t.m, vectors = t.side ? t.m : t.n;
  auto op = std::make_unique<VectorOp>(d, opts, "trsm", vectors);
  set_args(op->kernel(), bufs[0]->mem, cl_long{t.a_offset}, static_cast<cl_int>(t.lda),
           bufs[1]->mem, cl_long{t.b_offset}, static_cast<cl_int>(t.ldb), static_cast<cl_int>(na),
           static_cast<cl_int>(vectors), cl_int{t.side}, cl_int{t.lower}, cl_int{t.trans},
           cl_int{t.unit_diag});
  if (t.type == SUANLI_DTYPE_FP64)
    set_arg(op->kernel(), 12, t.alpha);
  else
    set_arg(op->kernel(), 12, static_cast<cl_float>(t.alpha));
  return op;
}

}  // namespace suanli::ocl
