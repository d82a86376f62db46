// Internals of the distributed HPL (hpl_dist*.cpp, hpl_scalapack.cpp): the process grid, the
// local block of the distributed matrix, the solvers. Needs MPI.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/hpl_dist.h"
#include "cluster/hpl_dist_guard.h"
#include "hpl/device_la.h"
#include "hpl/formulas.h"

namespace suanli::cluster {

// The P x Q grid over MPI_COMM_WORLD, row-major (BLACS "Row": rank = row * Q + col), with a
// communicator per process row (ranks = columns) and per process column (ranks = rows).
class Grid {
 public:
  Grid(int p, int q);
  ~Grid();
  Grid(const Grid&) = delete;
  Grid& operator=(const Grid&) = delete;
  int p, q, row, col;
  MPI_Comm row_comm = MPI_COMM_NULL, col_comm = MPI_COMM_NULL;
  int rank_of(int r, int c) const { return r * q + c; }
  // Local rows / columns of a global extent.
  int64_t local_rows(int64_t m, int64_t nb) const { return count_before(m, nb, row, p); }
  int64_t local_cols(int64_t n, int64_t nb) const { return count_before(n, nb, col, q); }
};

// This process's block of an m x ncols block-cyclic matrix, column-major, in host memory.
template <class T>
struct LocalMatrix {
  int64_t rows = 0, cols = 0, ld = 1;
  std::vector<T> a;
  T& at(int64_t i, int64_t j) { return a[static_cast<size_t>(i + j * ld)]; }
  T at(int64_t i, int64_t j) const { return a[static_cast<size_t>(i + j * ld)]; }
};

// Fills this process's block of columns [0, ncols) of the generated matrix (column n is b).
template <class T>
LocalMatrix<T> generate_local(const Grid& g, const hpl::Matrix& gen, int64_t ncols, int64_t nb);

// HPL-MxP's diagonal, computed distributed: each process sums |A(i, j)| over its block (j != i),
// one reduction over all ranks gives every row's sum on every rank.
std::vector<double> distributed_diagonal(const Grid& g, int64_t n, uint64_t seed, int64_t nb);

// Seconds spent per part of the factorization, for the result.
struct LuTimes {
  double panel = 0, broadcast = 0, swaps = 0, trsm = 0, gemm = 0;
};

// The right-looking LU of the first n columns of `a` (n x ncols, ncols >= n: b rides along as
// column n), in place: partial pivoting (MAXLOC over the process column) or none. The trailing
// update goes through `la` as a GEMM in `gemm_type` (fp64 for T = double, fp32 for float).
// `guard` (may be null): its step boundary before each block step (throws RankFailure when a
// rank failed), and its mid-step hook after the panel. `update`: bf16 / fp16 for HPL-MxP's
// 16-bit trailing update (T = float: L21 and U12 rounded on the host, fp32 accumulation);
// anything else: in T.
template <class T>
LuTimes distributed_lu(const Grid& g, hpl::DeviceLinAlg& la, Backend& b, int device,
                       LocalMatrix<T>& a, int64_t n, int64_t nb, bool pivoting,
                       SolveGuard* guard = nullptr, Dtype update = Dtype::invalid);

// x = U^-1 y with U the factored matrix and y its column n (HPL: L^-1 P b); x on every rank.
std::vector<double> distributed_back_substitution(const Grid& g, const LocalMatrix<double>& a,
                                                  int64_t n, int64_t nb);

// HPL's scaled residual of x (on every rank) for the generated A and b, computed distributed:
// each process its block of A x from the regenerated matrix, sums along process rows, maxima over
// all ranks. The same figures on every rank.
hpl::Residual distributed_residual(const Grid& g, const hpl::Matrix& gen, int64_t nb,
                                   const std::vector<double>& x);

// The whole n x n matrix at rank 0 (column-major, ld n), from every process's block.
template <class T>
std::vector<T> gather_matrix(const Grid& g, const LocalMatrix<T>& a, int64_t n, int64_t nb);

// Changes one element of U (global (n / 3, 2 n / 3)) on the process that owns it: + 1e-3 x
// (1 + |u|) (HPL) or NaN (HPL-MxP).
template <class T>
void corrupt_u(const Grid& g, LocalMatrix<T>& a, int64_t n, int64_t nb, bool nan);

// The ScaLAPACK cross-check: pdgesv on the same generated A and b, on the same grid and block
// size; its time (slowest rank), x on every rank, and its info. The BLAS under ScaLAPACK gets
// `threads` threads where it is OpenBLAS (openblas_set_num_threads); `blas` says what was set.
struct ScalapackSolve {
  double seconds = 0;
  int info = 0;
  std::string blas;
  std::vector<double> x;
};
ScalapackSolve scalapack_pdgesv(const Grid& g, const hpl::Matrix& gen, int64_t nb, int threads);

}  // namespace suanli::cluster
