// Output verification: Freivalds for GEMM, host reference for conv2d, closed forms for peak and
// stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/op.h"

namespace suanli::verify {

// Outcome of one check; goes into the report's `verification` object.
struct Verification {
  std::string method;  // "freivalds", "reference", "closed-form"
  bool passed = false;
  double error = 0;    // measured error, in the unit of `bound` (see each check)
  double bound = 0;    // the limit `error` had to stay within
  std::string detail;  // where the worst point was, how many points checked, ...
};

// Fills the op's input buffers (gemm A,B; conv src,weights; peak A; stream
// A,B) with seeded pseudo-random values of their storage types. `inputs[i]`
// points at buffer i of op_buffer_elements(op); the output buffer is left alone.
void fill_inputs(const OpDesc& op, void* const* inputs, uint64_t seed);

// The output of one execution of `op` checked with its kind's verifier (verify_output.cpp, one
// row per op kind): `buffers` are the op's buffers in op_buffer_elements order, inputs as
// filled from `seed` and the output last, as downloaded. Peak and stream use the parameters
// the harness gives every plugin (kPeakAlpha, kPeakBeta, kStreamScalar of core/op_traits.h).
Verification verify_output(const OpDesc& op, const std::vector<std::vector<char>>& buffers,
                           uint64_t seed);

// Freivalds' check of C = op(A) op(B) over all of C (every batch):
// r = C x - A (B x) for `vectors` random x (entries +-1), FP64 host accumulation.
// The tolerance per row i follows the random-rounding model of a K-term dot
// product: tol_i = (u_acc*sqrt(K) + d*K + u_in)*sigma_i + u_out*sqrt(sum_j C_ij^2)
// + the host's fp64 rounding, sigma_i = sqrt(sum_j x_j^2 sum_k A_ik^2 B_kj^2)
// (computed in O(MK+KN)); d = u_acc/32 for matrix-unit dtypes (tf32, fp16, bf16,
// fp8), whose truncating accumulation grows like K, else 0 (gemm_check.cpp).
// error = max_i |r_i| / tol_i (a scaled residual, like HPL's), bound = 16.
// Integer types are exact: error = max |r_i|, bound = 0. NaN, infinity or
// |C_ij| > 1e154 anywhere in C fails with error = infinity.
Verification verify_gemm(const OpDesc& op, const void* a, const void* b, const void* c,
                         uint64_t seed, int vectors = 3);

// Direct convolution on the host with FP64 accumulation, on all outputs when
// there are at most `max_points`, else on `max_points` outputs chosen by the
// seed: a corner of every (image, channel) plane (all four when they fit in
// half the budget; random corners when N*K > max_points/2), a quarter on
// border points, the rest uniform. NaN/infinity is looked for in all of dst.
// error = max |y - ref| / tol, tol per point as for gemm with K = C/g*R*S
// (+ u_out*|ref|), bound 16; integer types exact (bound 0).
Verification verify_conv2d(const OpDesc& op, const void* src, const void* weights, const void* dst,
                           uint64_t seed, int64_t max_points = 1 << 16);

// Peak: C[e] must equal A[e] + depth*alpha*beta evaluated as the chain of
// the ABI (x = x + alpha*beta, depth times, in the accumulate type), exactly:
// error = max |C - expected|, bound = 0 (int32 accumulators wrap mod 2^32).
Verification verify_peak(const OpDesc& op, const void* a, const void* c, double alpha, double beta);

// Stream: C against copy/scale/add/triad of A, B computed on the host.
// error = max |C - ref| / (u * |terms|) (|A|, |sA|, |A|+|B|, |A|+|sB|); bound
// 0 for copy, 2 (one ulp) for scale and add, 3 for triad (fused or not).
Verification verify_stream(const OpDesc& op, const void* a, const void* b, const void* c,
                           double scalar);

}  // namespace suanli::verify
