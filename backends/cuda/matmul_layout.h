// How a strided batched matmul of the ABI (suanli_matmul_desc) maps onto cuBLASLt's column-major
// matrices and single strided batch. Host-only and free of CUDA types, so tests check it without a
// GPU (tests/cuda_test.cpp).
#pragma once

#include <suanli/backend.h>

#include <cstdint>

namespace suanli::cuda {

// How one matrix of the ABI lies in memory, for cuBLASLt (column-major): row-major (unit column
// stride) or column-major (unit row stride), with its leading dimension.
struct MatLayout {
  bool row_major = true;
  int64_t ld = 0;
};

inline bool layout_of(int64_t rows, int64_t cols, int64_t rs, int64_t cs, MatLayout* out) {
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= cols)) {
    *out = {true, rows == 1 ? cols : rs};
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= rows)) {
    *out = {false, cols == 1 ? rows : cs};
    return true;
  }
  return false;
}

// The two batch dimensions folded into cuBLASLt's one strided batch where the strides allow it,
// else a host loop over batch0 around a strided batch of batch1 (strides in elements).
struct BatchPlan {
  int64_t loops = 1;
  int64_t count = 1;
  int64_t a = 0, b = 0, c = 0;                 // per-batch strides inside one cuBLASLt call
  int64_t loop_a = 0, loop_b = 0, loop_c = 0;  // per-loop strides
};

inline BatchPlan plan_batches(const suanli_matmul_desc& d, int64_t c0, int64_t c1) {
  BatchPlan p;
  if (d.batch0 == 1) {
    p.count = d.batch1;
    p.a = d.a_stride[1], p.b = d.b_stride[1], p.c = c1;
  } else if (d.batch1 == 1) {
    p.count = d.batch0;
    p.a = d.a_stride[0], p.b = d.b_stride[0], p.c = c0;
  } else if (d.a_stride[0] == d.batch1 * d.a_stride[1] &&
             d.b_stride[0] == d.batch1 * d.b_stride[1] && c0 == d.batch1 * c1) {
    p.count = d.batch0 * d.batch1;
    p.a = d.a_stride[1], p.b = d.b_stride[1], p.c = c1;
  } else {
    p.loops = d.batch0;
    p.count = d.batch1;
    p.a = d.a_stride[1], p.b = d.b_stride[1], p.c = c1;
    p.loop_a = d.a_stride[0], p.loop_b = d.b_stride[0], p.loop_c = c0;
  }
  return p;
}

// Largest power of two (<= 256) dividing the address and every byte offset added to it: what
// cuBLASLt may assume about each batch's pointer (its heuristics otherwise assume 256).
inline uint32_t alignment(const void* p, int64_t esz, int64_t s1, int64_t s2) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256u;
  bits |= static_cast<uint64_t>(s1 * esz) | static_cast<uint64_t>(s2 * esz);
  return static_cast<uint32_t>(bits & (~bits + 1));
}

}  // namespace suanli::cuda
