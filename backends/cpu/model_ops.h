// The model ops of ABI 1.1 (matmul, conv2d layer, pool, norm, softmax, eltwise) on the CPU.
#pragma once

#include <memory>
#include <string>

#include "cpu_op.h"

namespace suanli::cpu {

// Builds one model op over buffers bufs[0..nbufs) in the order backend.h lists for its kind.
// With bufs == nullptr it only answers "supported?" (a never-run op, or nullptr with *reason).
// Throws BackendError on invalid descriptors.
std::unique_ptr<CpuOp> make_model_op(const suanli_op_desc& op, void* const* bufs, size_t nbufs,
                                     const CpuConfig& cfg, std::string* reason);

}  // namespace suanli::cpu
