// cuBLASLt helpers shared by the GEMM and the model matmul (see lt_util.h).
#include "lt_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace suanli::cuda {

void check_lt(cublasStatus_t s, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const char* name = cublasLtGetStatusName(s);
  const char* text = cublasLtGetStatusString(s);
  throw BackendError(s == CUBLAS_STATUS_ALLOC_FAILED ? SUANLI_OUT_OF_MEMORY : SUANLI_DEVICE_ERROR,
                     std::string(call) + ": " + (name ? name : "?") + " (" +
                         (text ? text : "no description") + ")");
}

LtDescs::~LtDescs() {
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (c) cublasLtMatrixLayoutDestroy(c);
  if (b) cublasLtMatrixLayoutDestroy(b);
  if (a) cublasLtMatrixLayoutDestroy(a);
  if (op) cublasLtMatmulDescDestroy(op);
}

DeviceScratch::~DeviceScratch() {
  if (ptr) cudaFree(ptr);
}

void DeviceScratch::alloc(uint64_t bytes) {
  SUANLI_CUDA_CHECK(cudaMalloc(&ptr, bytes ? bytes : 1));
}

std::vector<cublasLtMatmulHeuristicResult_t> lt_heuristics(Device& dev, const LtDescs& desc,
                                                           int max_algos) {
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(max_algos));
  int found = 0;
  const cublasStatus_t s =
      cublasLtMatmulAlgoGetHeuristic(dev.lt, desc.op, desc.a, desc.b, desc.c, desc.c, desc.pref,
                                     max_algos, results.data(), &found);
  // cuBLASLt answers INVALID_VALUE (not NOT_SUPPORTED) for several shapes and layouts it cannot
  // run, e.g. int8 outside the TN form on some GPUs: both mean "no algorithm", i.e. UNSUPPORTED.
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE) return {};
  check_lt(s, "cublasLtMatmulAlgoGetHeuristic");
  std::vector<cublasLtMatmulHeuristicResult_t> ok;
  for (int i = 0; i < found; ++i)
    if (results[static_cast<size_t>(i)].state == CUBLAS_STATUS_SUCCESS)
      ok.push_back(results[static_cast<size_t>(i)]);
  return ok;
}

namespace {

// Seconds of the best of `reps` runs, +inf when a run fails.
double time_candidate(Device& dev, EventPair& ev, int reps,
                      const std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>& run,
                      const cublasLtMatmulAlgo_t& algo) {
  if (run(algo) != CUBLAS_STATUS_SUCCESS) return std::numeric_limits<double>::infinity();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    SUANLI_CUDA_CHECK(cudaEventRecord(ev.start, dev.stream));
    const cublasStatus_t s = run(algo);
    SUANLI_CUDA_CHECK(cudaEventRecord(ev.stop, dev.stream));
    const double t = ev.seconds();
    if (s != CUBLAS_STATUS_SUCCESS) return std::numeric_limits<double>::infinity();
    best = std::min(best, t);
  }
  return best;
}

}  // namespace

size_t lt_pick_fastest(Device& dev, const std::vector<cublasLtMatmulHeuristicResult_t>& candidates,
                       const std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>& run,
                       std::string* report) {
  if (candidates.size() <= 1) {
    *report = "heuristics' only algorithm";
    return 0;
  }
  EventPair ev;
  size_t best = 0;
  double best_s = std::numeric_limits<double>::infinity(), spent = 0;
  std::string times;
  for (size_t i = 0; i < candidates.size(); ++i) {
    // Stop trying more once tuning has taken ~2 s (a huge fp64 GEMM): the rest keep their order.
    if (spent > 2.0) break;
    const double s = time_candidate(dev, ev, 3, run, candidates[i].algo);
    spent += std::isfinite(s) ? 4 * s : 0;
    char us[32] = "failed";
    if (std::isfinite(s)) std::snprintf(us, sizeof us, "%.1f us", s * 1e6);
    times += (times.empty() ? "#" : ", #") + std::to_string(i) + " " + us;
    if (s < best_s) best_s = s, best = i;
  }
  SUANLI_CUDA_CHECK(cudaStreamSynchronize(dev.stream));
  *report = "fastest of " + std::to_string(candidates.size()) +
            " heuristic algorithms timed at plan (" + times + "): #" + std::to_string(best);
  return best;
}

std::string lt_algo_text(const cublasLtMatmulAlgo_t& algo, float waves) {
  auto get = [&](cublasLtMatmulAlgoConfigAttributes_t attr) -> long long {
    uint64_t v = 0;  // every attribute read here fits: int32/uint32/uint16 written little-endian
    size_t written = 0;
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof v, &written) !=
        CUBLAS_STATUS_SUCCESS)
      return -1;
    return static_cast<long long>(v);
  };
  char w[32];
  std::snprintf(w, sizeof w, "%.2f", waves);
  return "algo " + std::to_string(get(CUBLASLT_ALGO_CONFIG_ID)) + ", tile id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_TILE_ID)) + ", stages id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_STAGES_ID)) + ", split-k " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_SPLITK_NUM)) + ", cluster id " +
         std::to_string(get(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID)) + ", waves " + w;
}

std::string lt_compute_text(cublasComputeType_t c) {
  switch (c) {
    case CUBLAS_COMPUTE_16F:
      return "CUBLAS_COMPUTE_16F (fp16 accumulation; not the _PEDANTIC form, so cuBLASLt may "
             "use any fp16-accumulating kernel)";
    case CUBLAS_COMPUTE_32F:
      return "CUBLAS_COMPUTE_32F (fp32 accumulation)";
    case CUBLAS_COMPUTE_32F_FAST_TF32:
      return "CUBLAS_COMPUTE_32F_FAST_TF32 (TF32 tensor cores, fp32 accumulation)";
    case CUBLAS_COMPUTE_64F:
      return "CUBLAS_COMPUTE_64F";
    case CUBLAS_COMPUTE_32I:
      return "CUBLAS_COMPUTE_32I (exact int32 accumulation)";
    default:
      return "cublasComputeType " + std::to_string(static_cast<int>(c));
  }
}

}  // namespace suanli::cuda
