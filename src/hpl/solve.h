// The two solvers over DeviceLinAlg: HPL's FP64 blocked right-looking LU with partial pivoting
// (the right-hand side carried as column n, so the forward substitution happens during the
// factorization), and HPL-MxP's low-precision LU without pivoting refined to FP64 accuracy by
// restarted GMRES preconditioned with the low-precision factors.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "hpl/device_la.h"
#include "hpl/formulas.h"

namespace suanli::hpl {

// Test hook: called once the factors are complete, before anything solves with them. `factors`
// is the n x n factor matrix (L below the diagonal, U on and above) of type `t` on the device.
using CorruptFactor = std::function<void(Backend& b, const Sub& factors, int64_t n, Dtype t)>;

// HPL: A (n x (n + 1), fp64, [A | b]) is overwritten by its factors; returns x. ipiv: n int32.
std::vector<double> hpl_solve(DeviceLinAlg& la, Backend& b, const Sub& a, DeviceBuffer* ipiv,
                              int64_t n, int64_t nb, const CorruptFactor& corrupt);

struct MxpBuffers {
  Sub a64;               // n x n fp64 copy of A (for residuals in GMRES)
  Sub f;                 // n x n fp32: A on entry, its factors on return
  DeviceBuffer* l_half;  // bf16 / fp16 factorization: (n x nb) scratch for L21
  DeviceBuffer* u_half;  // ... (nb x n) scratch for U12
  DeviceBuffer* vec64;   // 2 n fp64: GEMM_EX operands of the matrix-vector product
  DeviceBuffer* vec32;   // n fp32: right-hand side of the preconditioner's triangular solves
};

struct MxpOutcome {
  std::vector<double> x;
  int iterations = 0;         // GMRES iterations (one preconditioned matvec each)
  int restarts = 0;           // outer refinement steps (residual recomputed in FP64)
  double backward_error = 0;  // the last one GMRES saw (device residual)
  double factor_seconds = 0;
  double refine_seconds = 0;
};

// HPL-MxP: factors f (fp32 storage) with the trailing update in `precision` (fp32, bf16, fp16),
// then refines x in FP64 until the scaled residual is below `target` or max_iterations GMRES
// iterations have run. a_inf, b: ||A||_inf and the right-hand side.
// Rounds a host fp32 block to bf16 / fp16 storage (the 16-bit trailing update's operands; the
// ABI has no conversion op).
std::vector<uint16_t> to_half(const std::vector<float>& v, Dtype t);

MxpOutcome mxp_solve(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf,
                     const std::vector<double>& rhs, double a_inf, int64_t n, int64_t nb,
                     Dtype precision, int max_iterations, const CorruptFactor& corrupt);

// The refinement alone, on factors already in buf.f (mxp_solve's second half; distributed
// HPL-MxP gathers its factors and refines with this): x0 = M^-1 b, then GMRES cycles.
MxpOutcome mxp_refine(DeviceLinAlg& la, Backend& b, const MxpBuffers& buf,
                      const std::vector<double>& rhs, double a_inf, int64_t n, int max_iterations);

}  // namespace suanli::hpl
