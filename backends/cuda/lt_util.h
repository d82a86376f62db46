// What gemm.cpp and model_ops.cpp share about cuBLASLt: error checks, the descriptors' lifetime,
// the heuristic query (a shape cuBLASLt has no algorithm for is UNSUPPORTED, never an error), and
// the plan-time choice among several algorithms by timing each on the device.
#pragma once

#include <cublasLt.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cuda_op.h"

namespace suanli::cuda {

// Throws BackendError (OUT_OF_MEMORY for CUBLAS_STATUS_ALLOC_FAILED, else DEVICE_ERROR).
void check_lt(cublasStatus_t s, const char* call);
#define SUANLI_LT_CHECK(call) ::suanli::cuda::check_lt((call), #call)

// RAII over one matmul's cuBLASLt descriptors.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescs() = default;
  LtDescs(const LtDescs&) = delete;
  LtDescs& operator=(const LtDescs&) = delete;
  ~LtDescs();
};

// Device memory owned by one op (staged operands, scratch); freed with it.
struct DeviceScratch {
  void* ptr = nullptr;
  DeviceScratch() = default;
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch();
  void alloc(uint64_t bytes);
};

// Algorithms cuBLASLt's heuristics offer for desc (C and D share desc.c), best first; empty when
// it has none for this shape and type (CUBLAS_STATUS_NOT_SUPPORTED, CUBLAS_STATUS_INVALID_VALUE
// or no result): the caller answers UNSUPPORTED. Other failures throw.
std::vector<cublasLtMatmulHeuristicResult_t> lt_heuristics(Device& dev, const LtDescs& desc,
                                                           int max_algos);

// How many algorithms plan() asks the heuristics for and times.
constexpr int kLtCandidates = 8;

// Times run(algo) for each candidate on the device's stream (one warm-up, then the best of
// `reps` event-timed runs) and returns the index of the fastest; candidates whose run fails are
// skipped. *report names every candidate's time. With one candidate it only returns 0.
size_t lt_pick_fastest(Device& dev, const std::vector<cublasLtMatmulHeuristicResult_t>& candidates,
                       const std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>& run,
                       std::string* report);

// "algo 21, tile id 18, stages id 12, split-k 1, cluster id 0, waves 0.97" of an algorithm.
std::string lt_algo_text(const cublasLtMatmulAlgo_t& algo, float waves);

// cuBLASLt's compute type as a label, e.g. "CUBLAS_COMPUTE_16F (fp16 accumulation)".
std::string lt_compute_text(cublasComputeType_t c);

}  // namespace suanli::cuda
