// suanli OpenCL GEMM: C[b] = op(A[b]) * op(B[b]), row-major (backends/include/suanli/backend.h),
// and GEMM_EX on column-major sub-matrices with alpha and beta (at the end of this file).
//
// Two packing kernels copy A into MR-row panels and B into NR-column panels (zero padded to
// whole panels, converted to the compute type P), so the micro-kernel streams both
// contiguously; each work-item then keeps an MR x NR tile of C in registers as MR x NRV
// vectors of VW lanes (NR = VW * NRV), one multiply-add per lane and k. MR, VW and NRV are
// chosen per device by the backend's auto-tune. Built with:
//   TA, TB   storage types of A and B     P  compute type (also C's storage type)
//   MR, VW, NRV  the tile                  SUANLI_INT  integer multiply-add instead of fma

#define PV XCAT(P, VW)
#define VLOAD XCAT(vload, VW)
#define VSTORE XCAT(vstore, VW)
#ifdef SUANLI_INT
#define MAD(a, b, c) ((a) * (b) + (c))
#else
#define MAD(a, b, c) fma(a, b, c)
#endif
#define NR (VW * NRV)

// Ap[b][mb][k][r] = A[b](mb*MR + r, k) (zero beyond M). Global size: (K, Mp, batch).
__kernel void pack_a(__global const TA* restrict a, __global P* restrict ap, int m, int k,
                     int trans_a, long a_batch, long ap_batch) {
  const int kk = (int)get_global_id(0);
  const int row = (int)get_global_id(1);
  const long b = (long)get_global_id(2);
  const int mb = row / MR, r = row % MR;
  P v = (P)0;
  if (row < m) {
    const long idx = trans_a ? (long)kk * m + row : (long)row * k + kk;
    v = (P)a[b * a_batch + idx];
  }
  ap[b * ap_batch + ((long)mb * k + kk) * MR + r] = v;
}

// Bp[b][nb][k][c] = B[b](k, nb*NR + c) (zero beyond N). Global size: (Np, K, batch).
__kernel void pack_b(__global const TB* restrict bm, __global P* restrict bp, int n, int k,
                     int trans_b, long b_batch, long bp_batch) {
  const int col = (int)get_global_id(0);
  const int kk = (int)get_global_id(1);
  const long b = (long)get_global_id(2);
  const int nb = col / NR, c = col % NR;
  P v = (P)0;
  if (col < n) {
    const long idx = trans_b ? (long)col * k + kk : (long)kk * n + col;
    v = (P)bm[b * b_batch + idx];
  }
  bp[b * bp_batch + ((long)nb * k + kk) * NR + c] = v;
}

// acc = the MR x NR tile of the packed panels pa (k x MR) and pb (k x NR), one MAD per lane and k.
inline void accumulate(__global const P* pa, __global const P* pb, int k, PV acc[MR][NRV]) {
#pragma unroll
  for (int r = 0; r < MR; ++r)
#pragma unroll
    for (int v = 0; v < NRV; ++v) acc[r][v] = (PV)0;
  for (int kk = 0; kk < k; ++kk) {
    PV bv[NRV];
#pragma unroll
    for (int v = 0; v < NRV; ++v) bv[v] = VLOAD(v, pb);
#pragma unroll
    for (int r = 0; r < MR; ++r) {
      const PV av = (PV)pa[r];
#pragma unroll
      for (int v = 0; v < NRV; ++v) acc[r][v] = MAD(av, bv[v], acc[r][v]);
    }
    pa += MR;
    pb += NR;
  }
}

// One MR x NR tile of C per work-item. Global size: (Mp / MR, Np / NR, batch); work-items
// next to each other in dimension 0 share their B panel (it stays in cache).
__kernel void gemm_tile(__global const P* restrict ap, __global const P* restrict bp,
                        __global P* restrict c, int m, int n, int k, long ap_batch,
                        long bp_batch, long c_batch) {
  const int mb = (int)get_global_id(0);
  const int nb = (int)get_global_id(1);
  const long b = (long)get_global_id(2);
  __global const P* pa = ap + b * ap_batch + (long)mb * k * MR;
  __global const P* pb = bp + b * bp_batch + (long)nb * k * NR;
  PV acc[MR][NRV];
  accumulate(pa, pb, k, acc);
  __global P* pc = c + b * c_batch;
  const int row0 = mb * MR, col0 = nb * NR;
#pragma unroll
  for (int r = 0; r < MR; ++r) {
    const int row = row0 + r;
    if (row >= m) break;
#pragma unroll
    for (int v = 0; v < NRV; ++v) {
      const int col = col0 + v * VW;
      if (col + VW <= n) {
        VSTORE(acc[r][v], 0, pc + (long)row * n + col);
      } else {
        P tmp[VW];
        VSTORE(acc[r][v], 0, tmp);
        for (int l = 0; l < VW && col + l < n; ++l) pc[(long)row * n + col + l] = tmp[l];
      }
    }
  }
}

// ---- GEMM on column-major sub-matrices (SUANLI_OP_GEMM_EX, for HPL) ------------------------------
// C(i, j) = c[c_off + i + j * ldc] = alpha * sum_l op(A)(i, l) op(B)(l, j) + beta * C(i, j), with
// op(A)(i, l) = a[a_off + i + l * lda] (a[a_off + l + i * lda] when trans_a) and likewise B. The
// same packed panels and register tile as above; beta == 0 does not read C. The host launches
// fixed work-group sizes over global sizes rounded up to them (an implementation such as PoCL
// compiles a kernel per work-group size, and HPL's shapes change every step): work-items beyond
// the panels return at once.

// Ap[mb][k][r] = op(A)(mb*MR + r, k) (zero beyond M). Global size: (Mp, K): neighbours read
// neighbouring rows, contiguous in a column-major A.
__kernel void pack_a_ex(__global const TA* restrict a, __global P* restrict ap, int m, int k,
                        int trans_a, long a_off, int lda) {
  const int row = (int)get_global_id(0);
  const int kk = (int)get_global_id(1);
  const int mb = row / MR, r = row % MR;
  if (kk >= k || mb * MR >= m) return;
  P v = (P)0;
  if (row < m) v = (P)a[a_off + (trans_a ? (long)row * lda + kk : (long)kk * lda + row)];
  ap[((long)mb * k + kk) * MR + r] = v;
}

// Bp[nb][k][c] = op(B)(k, nb*NR + c) (zero beyond N). Global size: (K, Np).
__kernel void pack_b_ex(__global const TB* restrict bm, __global P* restrict bp, int n, int k,
                        int trans_b, long b_off, int ldb) {
  const int kk = (int)get_global_id(0);
  const int col = (int)get_global_id(1);
  const int nb = col / NR, c = col % NR;
  if (kk >= k || nb * NR >= n) return;
  P v = (P)0;
  if (col < n) v = (P)bm[b_off + (trans_b ? (long)kk * ldb + col : (long)col * ldb + kk)];
  bp[((long)nb * k + kk) * NR + c] = v;
}

// One MR x NR tile of C per work-item, written with alpha and beta. Global size: (Mp / MR,
// Np / NR).
__kernel void gemm_tile_ex(__global const P* restrict ap, __global const P* restrict bp,
                           __global P* restrict c, int m, int n, int k, long c_off, int ldc,
                           P alpha, P beta) {
  const int mb = (int)get_global_id(0);
  const int nb = (int)get_global_id(1);
  if (mb * MR >= m || nb * NR >= n) return;
  PV acc[MR][NRV];
  accumulate(ap + (long)mb * k * MR, bp + (long)nb * k * NR, k, acc);
  const int row0 = mb * MR, col0 = nb * NR;
#pragma unroll
  for (int v = 0; v < NRV; ++v) {
#pragma unroll
    for (int r = 0; r < MR; ++r) {
      const int row = row0 + r;
      if (row >= m) break;
      P tmp[VW];
      VSTORE(acc[r][v], 0, tmp);
      for (int l = 0; l < VW; ++l) {
        const int col = col0 + v * VW + l;
        if (col >= n) break;
        __global P* pc = c + c_off + row + (long)col * ldc;
        *pc = beta == (P)0 ? alpha * tmp[l] : MAD(alpha, tmp[l], beta * *pc);
      }
    }
  }
}
