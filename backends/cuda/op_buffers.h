// Bytes each buffer of an op needs, for every op kind of the ABI (the model ops included), so
// plan() refuses a too-small buffer with INVALID_ARGUMENT before any CUDA call, cuBLASLt, cuDNN or
// our kernels could write past an allocation. Host-only and free of CUDA types: tests check it
// without a GPU (tests/cuda_test.cpp).
#pragma once

#include <suanli/backend.h>

#include <cstdint>
#include <string>
#include <vector>

namespace suanli::cuda {

// Bytes of one element of t as stored (tf32 in fp32 storage); 1 for unknown types.
uint64_t dtype_bytes(suanli_dtype t);

// Minimum bytes of each buffer, in the order plan() receives them. Empty when the descriptor is
// malformed or of an unknown kind (the op's factory refuses those with its own message); a size
// that overflows 64 bits is UINT64_MAX, which no buffer satisfies. Strided matmul operands need
// the offset of their last element plus one element.
std::vector<uint64_t> op_buffer_bytes(const suanli_op_desc* op);

// "" when every buffer is large enough, else "buffer I holds B bytes; the op needs N". Buffers
// beyond the op's list are not checked here (the factory checks the count).
std::string check_buffer_sizes(const suanli_op_desc* op, const uint64_t* sizes, size_t count);

}  // namespace suanli::cuda
