// Dense linear algebra of ABI 1.2 (gemm_ex, getrf, laswp, trsm) on the CPU: linalg.cpp.
#pragma once

#include <suanli/backend.h>

#include <cstdint>
#include <memory>
#include <string>

#include "cpu_op.h"

namespace suanli::cpu {

// The op for a GEMM_EX / GETRF / LASWP / TRSM descriptor over buffers (bufs[i] of sizes[i] bytes;
// all null: only "supported?"). nullptr with *reason when unsupported; throws BackendError for
// invalid descriptors (an operand outside its buffer, among others).
std::unique_ptr<CpuOp> make_linalg_op(const suanli_op_desc& op, void* const* bufs,
                                      const uint64_t* sizes, size_t nbufs, const CpuConfig& cfg,
                                      std::string* reason);

}  // namespace suanli::cpu
