// The ScaLAPACK cross-check of the distributed HPL: pdgesv (Debian's libscalapack-openmpi) on the
// same generated matrix and right-hand side, the same grid and block size.
#include "cluster/hpl_dist.h"

namespace suanli::cluster {

bool scalapack_built() {
#ifdef SUANLI_HAVE_SCALAPACK
  return true;
#else
  return false;
#endif
}

}  // namespace suanli::cluster

#ifdef SUANLI_HAVE_MPI

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "cluster/hpl_dist_internal.h"

#ifdef SUANLI_HAVE_SCALAPACK
extern "C" {
void Cblacs_get(int context, int what, int* value);
void Cblacs_gridinit(int* context, const char* order, int rows, int cols);
void Cblacs_gridinfo(int context, int* rows, int* cols, int* row, int* col);
void Cblacs_gridexit(int context);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb,
               const int* irsrc, const int* icsrc, const int* context, const int* lld, int* info);
void pdgesv_(const int* n, const int* nrhs, double* a, const int* ia, const int* ja,
             const int* desca, int* ipiv, double* b, const int* ib, const int* jb, const int* descb,
             int* info);
}
#endif

namespace suanli::cluster {

#ifdef SUANLI_HAVE_SCALAPACK

namespace {

// OpenBLAS under ScaLAPACK (Debian's libblas.so.3 alternative) gets the rank's thread share.
std::string set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!set) return "BLAS threads not set (not OpenBLAS)";
  set(threads);
  return fmt::format("OpenBLAS, {} thread(s) per rank", threads);
}

}  // namespace

ScalapackSolve scalapack_pdgesv(const Grid& g, const hpl::Matrix& gen, int64_t nb64, int threads) {
  const int n = static_cast<int>(gen.n()), nb = static_cast<int>(nb64), one = 1, zero = 0;
  int ctx = 0;
  Cblacs_get(-1, 0, &ctx);
  Cblacs_gridinit(&ctx, "Row", g.p, g.q);
  int pr = 0, pc = 0, r = 0, c = 0;
  Cblacs_gridinfo(ctx, &pr, &pc, &r, &c);
  if (r != g.row || c != g.col)
    throw std::runtime_error("ScaLAPACK's BLACS grid does not match suanli's (row-major) grid");
  // A: n x n; B: n x 1 on process column 0. Both with suanli's block-cyclic layout.
  LocalMatrix<double> a = generate_local<double>(g, gen, n, nb64);
  const int lld = static_cast<int>(a.ld);
  std::vector<double> b(static_cast<size_t>(a.ld), 0.0);
  if (g.col == 0)
    for (int64_t i = 0; i < a.rows; ++i)
      b[static_cast<size_t>(i)] = gen.b(to_global(i, nb64, g.row, g.p));
  int desca[9], descb[9], info = 0;
  descinit_(desca, &n, &n, &nb, &nb, &zero, &zero, &ctx, &lld, &info);
  descinit_(descb, &n, &one, &nb, &nb, &zero, &zero, &ctx, &lld, &info);
  std::vector<int> ipiv(static_cast<size_t>(a.rows + nb));
  ScalapackSolve out;
  out.blas = set_blas_threads(threads);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  pdgesv_(&n, &one, a.a.data(), &one, &one, desca, ipiv.data(), b.data(), &one, &one, descb,
          &out.info);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MPI_Allreduce(&seconds, &out.seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  // x on every rank: process column 0 holds it, each process row its rows.
  out.x.assign(static_cast<size_t>(n), 0.0);
  if (g.col == 0)
    for (int64_t i = 0; i < a.rows; ++i)
      out.x[static_cast<size_t>(to_global(i, nb64, g.row, g.p))] = b[static_cast<size_t>(i)];
  MPI_Allreduce(MPI_IN_PLACE, out.x.data(), n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  Cblacs_gridexit(ctx);
  return out;
}

#else

ScalapackSolve scalapack_pdgesv(const Grid&, const hpl::Matrix&, int64_t, int) {
  throw std::runtime_error("built without ScaLAPACK (libscalapack-openmpi-dev)");
}

#endif

}  // namespace suanli::cluster

#endif  // SUANLI_HAVE_MPI
