// The fabric suite: MPI collectives and point-to-point over message sizes, timed, with algbw and
// busbw as nccl-tests defines them (doc/PERFORMANCE.md there), every output verified against what
// each rank contributed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace suanli::cluster {

class MpiSession;

enum class FabricOp {
  allreduce,
  allgather,
  reduce_scatter,
  alltoall,
  broadcast,
  sendrecv,
  pingpong
};
std::string_view fabric_op_name(FabricOp op);
inline bool is_reduction(FabricOp op) {
  return op == FabricOp::allreduce || op == FabricOp::reduce_scatter;
}
// Element types of the fabric suite: fp32, bf16, fp16 (summed through a user MPI_Op: MPI has no
// 16-bit float types), int32.
enum class FabricDtype { fp32, bf16, fp16, int32 };
std::string_view fabric_dtype_name(FabricDtype d);
size_t fabric_dtype_size(FabricDtype d);

// busbw / algbw for `ranks` ranks (nccl-tests): allreduce 2(n-1)/n; reduce_scatter, allgather,
// alltoall (n-1)/n; broadcast, sendrecv, pingpong 1.
double busbw_factor(FabricOp op, int ranks);

struct FabricTest {
  FabricOp op = FabricOp::allreduce;
  std::vector<FabricDtype> dtypes;
};

struct FabricSuite {
  std::string name, description, origin, sha256;
  uint64_t min_bytes = 8, max_bytes = uint64_t{1} << 30;
  int min_iterations = 5, max_iterations = 1000, warmup = 2;
  double seconds_per_size = 0.05;  // timed iterations are sized to about this long
  double memory_fraction = 0.5;    // sizes whose buffers on a host exceed this share of its
                                   // available memory are skipped (recorded)
  std::vector<FabricTest> tests;
};

// `fabric` (built in) or a path; throws InputError naming the file and place.
bool is_fabric_suite_text(const std::string& text);
FabricSuite parse_fabric_suite(const std::string& text, const std::string& origin);
FabricSuite load_fabric_suite(const std::string& name_or_path);

// Test hook SUANLI_TEST_CORRUPT_COLLECTIVE=<op>: the last rank changes one element of that op's
// output before verification (the result must come out failed).
std::string corrupt_collective_hook();

// Runs the suite on every rank (collective: every rank calls it) and returns the results (the
// same on every rank). Every result has op, bytes, dtype, scope, ranks, status, time_s,
// algbw_bytes_per_second, busbw_bytes_per_second, iterations, and verification.
nlohmann::json run_fabric(MpiSession& mpi, const FabricSuite& suite, bool progress);

}  // namespace suanli::cluster
