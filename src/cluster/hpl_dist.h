// HPL and HPL-MxP across MPI ranks: a 2-D block-cyclic distribution of [A | b] on a P x Q grid of
// processes (HPL's and ScaLAPACK's layout: block nb x nb, process (r, c) = rank r * Q + c), the
// right-looking LU with the panel factored by the process column that owns it (partial pivoting
// with one MAXLOC reduction per column), the panel broadcast along process rows, the row swaps
// and U's block row broadcast along process columns, and the trailing update as a GEMM through
// the backend (src/hpl's DeviceLinAlg). The same HPL verification, computed distributed. A
// ScaLAPACK pdgesv cross-check of the FP64 solve where ScaLAPACK was found at build time.
// docs/hpl.md, "Across MPI ranks".
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend_host.h"

namespace suanli::cluster {

// P x Q for `ranks` processes: the suite's p and q when given (their product must be the rank
// count), else the most nearly square factorization with P <= Q, as HPL advises.
// Throws InputError naming the fields.
std::pair<int, int> choose_grid(int ranks, int p, int q);

// Block-cyclic index arithmetic (ScaLAPACK's numroc / indxg2l / indxl2g with source 0).
int64_t count_before(int64_t g, int64_t nb, int coord, int procs);  // indices < g owned by coord
inline int owner(int64_t g, int64_t nb, int procs) {
  return static_cast<int>((g / nb) % procs);
}
inline int64_t to_local(int64_t g, int64_t nb, int procs) {
  return g / (nb * procs) * nb + g % nb;
}
inline int64_t to_global(int64_t l, int64_t nb, int coord, int procs) {
  return (l / nb * procs + coord) * nb + l % nb;
}

// One entry of a distributed HPL suite (suites/hpl-small.json).
struct DistWorkload {
  std::string op;     // hpl or hpl_mxp
  std::string dtype;  // fp64 (hpl), fp32 / bf16 / fp16 (hpl_mxp)
  int64_t n = 0, nb = 128;
  int p = 0, q = 0;  // 0: chosen from the rank count
  int max_iterations = 200;
  bool scalapack = true;  // hpl: cross-check with ScaLAPACK's pdgesv
  uint64_t seed = 1;
  std::string id() const;
};

struct DistSuite {
  std::string name, description, origin, sha256;
  std::vector<DistWorkload> workloads;
  // settings.timeout_s: no step boundary of a solve passed for this long ends the job with an
  // error result (hpl_dist_guard.h); `run --timeout` overrides it.
  double timeout_s = 600;
};

// A distributed suite is marked by "suanli_hpl_dist_suite": 1 at its top.
bool is_hpl_dist_suite_text(const std::string& text);
// Throws InputError naming the file and the place in it.
DistSuite parse_hpl_dist_suite(const std::string& text, const std::string& origin);
DistSuite load_hpl_dist_suite(const std::string& name_or_path);

// Test hook SUANLI_TEST_CORRUPT_FACTOR=hpl|hpl_mxp|all: after the factorization, the rank that
// owns one element of U changes it (hpl: + 1e-3 relative; hpl_mxp: NaN), so the result must come
// out failed. Throws InputError for another value.
std::string corrupt_factor_hook();

// SUANLI_TEST_RANK_THROW=<rank>:<step>[:mid]: that rank throws at LU block step <step> (before
// the step's agreement, or with :mid in the middle of the step, after the panel, where the other
// ranks wait in a collective: the watchdog's case). Throws InputError for a malformed value.
struct RankThrowHook {
  int rank = -1;
  int64_t step = -1;
  bool mid = false;
  bool active() const { return rank >= 0; }
};
RankThrowHook rank_throw_hook();

// Whether this build has the ScaLAPACK cross-check (SUANLI_HAVE_SCALAPACK).
bool scalapack_built();

struct DistRunOptions {
  std::string suite;     // name or path
  std::string out;       // cluster report path (rank 0); empty: suanli-reports/hpl-HOST-TIME.json
  LoadOptions load;      // the backend to load in this process (default: cpu)
  int threads = 0;       // 0: the host's cores divided among the ranks on it
  double timeout_s = 0;  // run --timeout; 0: the suite's settings.timeout_s
  bool quiet = false;
  std::vector<std::string> argv;
};

// `suanli run --suite hpl-small` (any suite with the marker), under mpirun/srun or alone (one
// rank): every rank loads the backend in its own process (MPI and the device in one process:
// workers cannot take part in MPI), runs each workload collectively, rank 0 writes a cluster
// report whose `distributed.results` hold one result per workload. Returns the exit status.
int run_hpl_dist(const DistRunOptions& o);

}  // namespace suanli::cluster
