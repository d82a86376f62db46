// The distributed LU, back substitution and residual of HPL across MPI ranks (hpl_dist.h).
#ifdef SUANLI_HAVE_MPI

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <type_traits>

#include "cluster/hpl_dist_internal.h"
#include "hpl/solve.h"

namespace suanli::cluster {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}

template <class T>
Dtype dtype_of();
template <>
Dtype dtype_of<double>() {
  return Dtype::fp64;
}
template <>
Dtype dtype_of<float>() {
  return Dtype::fp32;
}

int as_int(int64_t v) {
  return static_cast<int>(v);
}

// One step of the LU: global column k, block width jb, and this process's local offsets.
struct Step {
  int64_t k, jb;
  int pk, qk;       // owners of the diagonal block
  int64_t lr, lr2;  // local rows with global index >= k, >= k + jb start here
  int64_t lc, lc2;  // local columns likewise
  int64_t mrest;    // local rows >= k
  int64_t m2, n2;   // trailing block: local rows >= k + jb, local columns >= k + jb
};

template <class T>
Step make_step(const Grid& g, const LocalMatrix<T>& a, int64_t k, int64_t n, int64_t nb) {
  Step s;
  s.k = k;
  s.jb = std::min(nb, n - k);
  s.pk = owner(k, nb, g.p);
  s.qk = owner(k, nb, g.q);
  s.lr = count_before(k, nb, g.row, g.p);
  s.lr2 = count_before(k + s.jb, nb, g.row, g.p);
  s.lc = count_before(k, nb, g.col, g.q);
  s.lc2 = count_before(k + s.jb, nb, g.col, g.q);
  s.mrest = a.rows - s.lr;
  s.m2 = a.rows - s.lr2;
  s.n2 = a.cols - s.lc2;
  return s;
}

// Swaps global rows r1 and r2 over local columns [c0, c0 + width) within the process column:
// locally when one process row owns both, else the two owners exchange.
template <class T>
void swap_rows(const Grid& g, LocalMatrix<T>& a, int64_t r1, int64_t r2, int64_t c0, int64_t width,
               int64_t nb) {
  if (r1 == r2 || width <= 0) return;
  const int o1 = owner(r1, nb, g.p), o2 = owner(r2, nb, g.p);
  if (o1 == o2) {
    if (g.row != o1) return;
    const int64_t l1 = to_local(r1, nb, g.p), l2 = to_local(r2, nb, g.p);
    for (int64_t j = c0; j < c0 + width; ++j) std::swap(a.at(l1, j), a.at(l2, j));
    return;
  }
  if (g.row != o1 && g.row != o2) return;
  const int64_t mine = g.row == o1 ? r1 : r2;
  const int other = g.row == o1 ? o2 : o1;
  const int64_t l = to_local(mine, nb, g.p);
  std::vector<T> buf(static_cast<size_t>(width));
  for (int64_t j = 0; j < width; ++j) buf[static_cast<size_t>(j)] = a.at(l, c0 + j);
  MPI_Sendrecv_replace(buf.data(), as_int(width), mpi_type<T>(), other, 7, other, 7, g.col_comm,
                       MPI_STATUS_IGNORE);
  for (int64_t j = 0; j < width; ++j) a.at(l, c0 + j) = buf[static_cast<size_t>(j)];
}

// The panel (columns k .. k + jb of the process column qk), unblocked right-looking: per column a
// MAXLOC reduction finds the pivot, the pivot row is swapped in and broadcast from the process
// row pk, the rows below are scaled and updated. piv[j]: the global row swapped with k + j.
template <class T>
void factor_panel(const Grid& g, LocalMatrix<T>& a, const Step& s, int64_t nb, bool pivoting,
                  std::vector<int64_t>& piv) {
  std::vector<T> prow(static_cast<size_t>(s.jb));
  for (int64_t j = 0; j < s.jb; ++j) {
    const int64_t gj = s.k + j, c = s.lc + j;
    const int64_t from = count_before(gj, nb, g.row, g.p);
    piv[static_cast<size_t>(j)] = gj;
    if (pivoting) {
      struct {
        double value;
        int row;
      } in{-1.0, 0}, out{};
      for (int64_t i = from; i < a.rows; ++i) {
        const double v = std::fabs(static_cast<double>(a.at(i, c)));
        if (v > in.value || std::isnan(v)) {
          in.value = std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
          in.row = as_int(to_global(i, nb, g.row, g.p));
        }
      }
      MPI_Allreduce(&in, &out, 1, MPI_DOUBLE_INT, MPI_MAXLOC, g.col_comm);
      piv[static_cast<size_t>(j)] = out.row;
      swap_rows(g, a, gj, out.row, s.lc, s.jb, nb);
    }
    const int64_t width = s.jb - j;
    if (g.row == s.pk)
      for (int64_t t = 0; t < width; ++t)
        prow[static_cast<size_t>(t)] = a.at(to_local(gj, nb, g.p), c + t);
    MPI_Bcast(prow.data(), as_int(width), mpi_type<T>(), s.pk, g.col_comm);
    const T pivot = prow[0];
    for (int64_t i = count_before(gj + 1, nb, g.row, g.p); i < a.rows; ++i) {
      const T l = a.at(i, c) / pivot;
      a.at(i, c) = l;
      for (int64_t t = 1; t < width; ++t) a.at(i, c + t) -= l * prow[static_cast<size_t>(t)];
    }
  }
}

// U12 = L11^-1 A12 on the process row pk (rows lr .. lr + jb, local columns from lc2), L11 the
// unit lower top of the broadcast panel (leading dimension mrest).
template <class T>
void solve_u12(LocalMatrix<T>& a, const Step& s, const std::vector<T>& panel) {
  for (int64_t c = s.lc2; c < a.cols; ++c)
    for (int64_t i = 1; i < s.jb; ++i) {
      T v = a.at(s.lr + i, c);
      for (int64_t t = 0; t < i; ++t)
        v -= panel[static_cast<size_t>(i + t * s.mrest)] * a.at(s.lr + t, c);
      a.at(s.lr + i, c) = v;
    }
}

// Device buffers of the trailing update: A (a copy of the local matrix's layout), L21, U12.
struct UpdateBuffers {
  std::unique_ptr<DeviceBuffer> a, l, u;
};

// L21 (the panel's rows below the diagonal block, m2 x jb) and U12 (jb x n2) rounded to bf16 /
// fp16 and uploaded, for the 16-bit trailing update of HPL-MxP.
template <class T>
void upload_half(Backend& b, UpdateBuffers& buf, const Step& s, const std::vector<T>& panel,
                 const std::vector<T>& u, int64_t skip, Dtype low) {
  std::vector<float> packed(static_cast<size_t>(s.m2 * s.jb));
  for (int64_t j = 0; j < s.jb; ++j)
    std::copy_n(panel.begin() + skip + j * s.mrest, s.m2, packed.begin() + j * s.m2);
  hpl::upload_span(b, hpl::Sub{buf.l.get(), 0, s.m2}, s.m2, s.jb, 2,
                   hpl::to_half(packed, low).data());
  packed.assign(u.begin(), u.begin() + s.jb * s.n2);
  hpl::upload_span(b, hpl::Sub{buf.u.get(), 0, s.jb}, s.jb, s.n2, 2,
                   hpl::to_half(packed, low).data());
}

// A22 -= L21 U12 through the backend: the panel rows and U12 uploaded (in `low` precision when it
// is bf16 / fp16: rounded on the host, accumulated in fp32), the trailing block's span uploaded,
// one GEMM_EX, the span downloaded.
template <class T>
void trailing_update(hpl::DeviceLinAlg& la, Backend& b, UpdateBuffers& buf, LocalMatrix<T>& a,
                     const Step& s, const std::vector<T>& panel, const std::vector<T>& u,
                     Dtype low) {
  if (s.m2 <= 0 || s.n2 <= 0) return;
  const size_t e = sizeof(T);
  const int64_t skip = s.lr2 - s.lr;  // panel rows above the trailing block (U11's, on pk)
  const bool half = low == Dtype::bf16 || low == Dtype::fp16;
  const hpl::Sub l21 = half ? hpl::Sub{buf.l.get(), 0, s.m2} : hpl::Sub{buf.l.get(), skip, s.mrest};
  const hpl::Sub u12{buf.u.get(), 0, s.jb};
  const hpl::Sub a22{buf.a.get(), s.lr2 + s.lc2 * a.ld, a.ld};
  T* host22 = &a.at(s.lr2, s.lc2);
  if (half) {
    if constexpr (std::is_same_v<T, float>) upload_half(b, buf, s, panel, u, skip, low);
  } else {
    hpl::upload_span(b, l21, s.m2, s.jb, e, panel.data() + skip);
    hpl::upload_span(b, u12, s.jb, s.n2, e, u.data());
  }
  hpl::upload_span(b, a22, s.m2, s.n2, e, host22);
  la.gemm(false, false, s.m2, s.n2, s.jb, -1.0, l21, u12, 1.0, a22, half ? low : dtype_of<T>(),
          dtype_of<T>());
  hpl::download_span(b, a22, s.m2, s.n2, e, host22);
}

}  // namespace

Grid::Grid(int p_, int q_) : p(p_), q(q_) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  row = rank / q;
  col = rank % q;
  MPI_Comm_split(MPI_COMM_WORLD, row, col, &row_comm);
  MPI_Comm_split(MPI_COMM_WORLD, col, row, &col_comm);
}

Grid::~Grid() {
  if (row_comm != MPI_COMM_NULL) MPI_Comm_free(&row_comm);
  if (col_comm != MPI_COMM_NULL) MPI_Comm_free(&col_comm);
}

template <class T>
LocalMatrix<T> generate_local(const Grid& g, const hpl::Matrix& gen, int64_t ncols, int64_t nb) {
  LocalMatrix<T> a;
  a.rows = g.local_rows(gen.n(), nb);
  a.cols = g.local_cols(ncols, nb);
  a.ld = std::max<int64_t>(1, a.rows);
  a.a.assign(static_cast<size_t>(a.ld * std::max<int64_t>(1, a.cols)), T(0));
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < a.cols; ++j) {
    const int64_t gj = to_global(j, nb, g.col, g.q);
    for (int64_t i = 0; i < a.rows; ++i) {
      const int64_t gi = to_global(i, nb, g.row, g.p);
      a.a[static_cast<size_t>(i + j * a.ld)] =
          static_cast<T>(gj == gen.n() ? gen.b(gi) : gen(gi, gj));
    }
  }
  return a;
}
template LocalMatrix<double> generate_local(const Grid&, const hpl::Matrix&, int64_t, int64_t);
template LocalMatrix<float> generate_local(const Grid&, const hpl::Matrix&, int64_t, int64_t);

std::vector<double> distributed_diagonal(const Grid& g, int64_t n, uint64_t seed, int64_t nb) {
  const hpl::Matrix plain(n, seed, false);
  std::vector<double> diag(static_cast<size_t>(n), 0.0);
  const int64_t rows = g.local_rows(n, nb), cols = g.local_cols(n, nb);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t gi = to_global(i, nb, g.row, g.p);
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t gj = to_global(j, nb, g.col, g.q);
      if (gj != gi) s += std::fabs(plain(gi, gj));
    }
    diag[static_cast<size_t>(gi)] = s;
  }
  MPI_Allreduce(MPI_IN_PLACE, diag.data(), as_int(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return diag;
}

template <class T>
LuTimes distributed_lu(const Grid& g, hpl::DeviceLinAlg& la, Backend& b, int device,
                       LocalMatrix<T>& a, int64_t n, int64_t nb, bool pivoting, SolveGuard* guard,
                       Dtype update) {
  LuTimes times;
  UpdateBuffers buf;
  const uint64_t e = sizeof(T);
  buf.a = b.alloc(device, e * static_cast<uint64_t>(a.ld * std::max<int64_t>(1, a.cols)));
  buf.l = b.alloc(device, e * static_cast<uint64_t>(std::max<int64_t>(1, a.rows) * nb));
  buf.u = b.alloc(device, e * static_cast<uint64_t>(std::max<int64_t>(1, a.cols) * nb));
  std::vector<int64_t> piv(static_cast<size_t>(nb));
  for (int64_t k = 0; k < n; k += nb) {
    if (guard) guard->step(k / nb);
    const Step s = make_step(g, a, k, n, nb);
    auto t0 = Clock::now();
    if (g.col == s.qk) factor_panel(g, a, s, nb, pivoting, piv);
    times.panel += since(t0);
    if (guard) guard->mid_step(k / nb);
    // The panel (L below and on the diagonal block, U11 above it) and the pivots along the rows.
    t0 = Clock::now();
    std::vector<T> panel(static_cast<size_t>(std::max<int64_t>(1, s.mrest * s.jb)));
    if (g.col == s.qk)
      for (int64_t j = 0; j < s.jb; ++j)
        std::copy_n(&a.at(s.lr, s.lc + j), s.mrest, panel.begin() + j * s.mrest);
    MPI_Bcast(piv.data(), as_int(s.jb), MPI_INT64_T, s.qk, g.row_comm);
    MPI_Bcast(panel.data(), as_int(s.mrest * s.jb), mpi_type<T>(), s.qk, g.row_comm);
    times.broadcast += since(t0);
    t0 = Clock::now();
    if (pivoting)
      for (int64_t j = 0; j < s.jb; ++j)
        swap_rows(g, a, k + j, piv[static_cast<size_t>(j)], s.lc2, s.n2, nb);
    times.swaps += since(t0);
    // U12 on the process row pk, then broadcast down the process columns.
    t0 = Clock::now();
    std::vector<T> u(static_cast<size_t>(std::max<int64_t>(1, s.jb * s.n2)));
    if (g.row == s.pk) {
      solve_u12(a, s, panel);
      for (int64_t c = 0; c < s.n2; ++c)
        std::copy_n(&a.at(s.lr, s.lc2 + c), s.jb, u.begin() + c * s.jb);
    }
    MPI_Bcast(u.data(), as_int(s.jb * s.n2), mpi_type<T>(), s.pk, g.col_comm);
    times.trsm += since(t0);
    t0 = Clock::now();
    trailing_update(la, b, buf, a, s, panel, u, update);
    times.gemm += since(t0);
  }
  return times;
}
template LuTimes distributed_lu(const Grid&, hpl::DeviceLinAlg&, Backend&, int,
                                LocalMatrix<double>&, int64_t, int64_t, bool, SolveGuard*, Dtype);
template LuTimes distributed_lu(const Grid&, hpl::DeviceLinAlg&, Backend&, int, LocalMatrix<float>&,
                                int64_t, int64_t, bool, SolveGuard*, Dtype);

std::vector<double> distributed_back_substitution(const Grid& g, const LocalMatrix<double>& a,
                                                  int64_t n, int64_t nb) {
  std::vector<double> x(static_cast<size_t>(n), 0.0);
  std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(1, a.rows)), 0.0);
  const int qb = owner(n, nb, g.q);
  const int64_t lb = g.col == qb ? to_local(n, nb, g.q) : -1;
  const int64_t blocks = (n + nb - 1) / nb;
  for (int64_t kb = blocks - 1; kb >= 0; --kb) {
    const int64_t k = kb * nb, jb = std::min(nb, n - k);
    const int pk = owner(k, nb, g.p), qk = owner(k, nb, g.q);
    const int64_t lr = count_before(k, nb, g.row, g.p), lc = count_before(k, nb, g.col, g.q);
    std::vector<double> xk(static_cast<size_t>(jb), 0.0);
    if (g.row == pk) {  // y_k - sum over solved blocks, reduced to (pk, qk)
      std::vector<double> t(static_cast<size_t>(jb));
      for (int64_t i = 0; i < jb; ++i)
        t[static_cast<size_t>(i)] =
            (lb >= 0 ? a.at(lr + i, lb) : 0.0) - partial[static_cast<size_t>(lr + i)];
      MPI_Reduce(t.data(), xk.data(), as_int(jb), MPI_DOUBLE, MPI_SUM, qk, g.row_comm);
      if (g.col == qk)
        for (int64_t i = jb - 1; i >= 0; --i) {
          double v = xk[static_cast<size_t>(i)];
          for (int64_t t2 = i + 1; t2 < jb; ++t2)
            v -= a.at(lr + i, lc + t2) * xk[static_cast<size_t>(t2)];
          xk[static_cast<size_t>(i)] = v / a.at(lr + i, lc + i);
        }
    }
    MPI_Bcast(xk.data(), as_int(jb), MPI_DOUBLE, g.rank_of(pk, qk), MPI_COMM_WORLD);
    std::copy(xk.begin(), xk.end(), x.begin() + k);
    if (g.col == qk)  // rows above block k accumulate U(i, k-block) x_k
      for (int64_t i = 0; i < lr; ++i) {
        double s = 0;
        for (int64_t t2 = 0; t2 < jb; ++t2) s += a.at(i, lc + t2) * xk[static_cast<size_t>(t2)];
        partial[static_cast<size_t>(i)] += s;
      }
  }
  return x;
}

hpl::Residual distributed_residual(const Grid& g, const hpl::Matrix& gen, int64_t nb,
                                   const std::vector<double>& x) {
  const int64_t n = gen.n(), rows = g.local_rows(n, nb), cols = g.local_cols(n, nb);
  // Per local row: sum_j A(i, j) x_j over my columns (b subtracted on process column 0), and
  // sum_j |A(i, j)|.
  std::vector<double> sums(static_cast<size_t>(2 * std::max<int64_t>(1, rows)), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t gi = to_global(i, nb, g.row, g.p);
    double s = g.col == 0 ? -gen.b(gi) : 0.0, arow = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t gj = to_global(j, nb, g.col, g.q);
      const double v = gen(gi, gj);
      s += v * x[static_cast<size_t>(gj)];
      arow += std::fabs(v);
    }
    sums[static_cast<size_t>(i)] = s;
    sums[static_cast<size_t>(rows + i)] = arow;
  }
  MPI_Allreduce(MPI_IN_PLACE, sums.data(), as_int(2 * rows), MPI_DOUBLE, MPI_SUM, g.row_comm);
  double m[2] = {0, 0};  // max |r_i|, max row sum
  for (int64_t i = 0; i < rows; ++i) {
    const double r = sums[static_cast<size_t>(i)];
    m[0] = std::max(m[0], std::isfinite(r) ? std::fabs(r) : HUGE_VAL);
    m[1] = std::max(m[1], sums[static_cast<size_t>(rows + i)]);
  }
  MPI_Allreduce(MPI_IN_PLACE, m, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  hpl::Residual r;
  bool finite = true;
  for (double v : x) {
    r.x_inf = std::max(r.x_inf, std::fabs(v));
    finite = finite && std::isfinite(v);
  }
  r.r_inf = finite ? m[0] : std::numeric_limits<double>::infinity();
  r.a_inf = m[1];
  r.b_inf = gen.b_norm_inf();
  r.scaled = hpl::scaled_residual(r.r_inf, r.a_inf, r.x_inf, r.b_inf, n);
  return r;
}

template <class T>
std::vector<T> gather_matrix(const Grid& g, const LocalMatrix<T>& a, int64_t n, int64_t nb) {
  const int64_t rows = g.local_rows(n, nb), cols = g.local_cols(n, nb);
  std::vector<T> mine(static_cast<size_t>(std::max<int64_t>(1, rows * cols)));
  for (int64_t j = 0; j < cols; ++j)
    std::copy_n(a.a.data() + j * a.ld, rows, mine.begin() + j * rows);
  const int ranks = g.p * g.q;
  std::vector<int> counts(static_cast<size_t>(ranks)), displs(static_cast<size_t>(ranks));
  int64_t total = 0;
  for (int r = 0; r < ranks; ++r) {
    const int64_t c = count_before(n, nb, r / g.q, g.p) * count_before(n, nb, r % g.q, g.q);
    counts[static_cast<size_t>(r)] = as_int(c);
    displs[static_cast<size_t>(r)] = as_int(total);
    total += c;
  }
  const bool root = g.row == 0 && g.col == 0;
  std::vector<T> all(root ? static_cast<size_t>(total) : 1);
  MPI_Gatherv(mine.data(), as_int(rows * cols), mpi_type<T>(), all.data(), counts.data(),
              displs.data(), mpi_type<T>(), 0, MPI_COMM_WORLD);
  if (!root) return {};
  std::vector<T> full(static_cast<size_t>(n * n));
  for (int r = 0; r < ranks; ++r) {
    const int pr = r / g.q, pc = r % g.q;
    const int64_t rr = count_before(n, nb, pr, g.p), cc = count_before(n, nb, pc, g.q);
    const T* blk = all.data() + displs[static_cast<size_t>(r)];
    for (int64_t j = 0; j < cc; ++j) {
      const int64_t gj = to_global(j, nb, pc, g.q);
      for (int64_t i = 0; i < rr; ++i)
        full[static_cast<size_t>(to_global(i, nb, pr, g.p) + gj * n)] =
            blk[static_cast<size_t>(i + j * rr)];
    }
  }
  return full;
}
template std::vector<float> gather_matrix(const Grid&, const LocalMatrix<float>&, int64_t, int64_t);

template <class T>
void corrupt_u(const Grid& g, LocalMatrix<T>& a, int64_t n, int64_t nb, bool nan) {
  const int64_t gi = n / 3, gj = 2 * n / 3;
  if (owner(gi, nb, g.p) != g.row || owner(gj, nb, g.q) != g.col) return;
  T& v = a.at(to_local(gi, nb, g.p), to_local(gj, nb, g.q));
  v = nan ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(v + 1e-3 * (1 + std::fabs(v)));
}
template void corrupt_u(const Grid&, LocalMatrix<double>&, int64_t, int64_t, bool);
template void corrupt_u(const Grid&, LocalMatrix<float>&, int64_t, int64_t, bool);

}  // namespace suanli::cluster

#endif  // SUANLI_HAVE_MPI
