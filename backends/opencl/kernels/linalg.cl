// suanli OpenCL: the row interchanges and triangular solves of ABI 1.2 (LASWP, TRSM; HPL) on
// column-major sub-matrices (backends/include/suanli/backend.h). Built with T = float or double.
// Each work-item owns one vector the op treats independently (a column for LASWP and a left TRSM,
// a row for a right TRSM); global sizes are rounded up to the fixed work-group size, so
// work-items beyond the vectors return at once.

// For i = k1 .. k2-1 in order: swap rows i and ipiv[ipiv_off + i] - 1 of column c. A pivot
// outside [0, lda), or naming an element beyond the buffer's `elems`, is not applied (the pivots
// are data: the host cannot check them before the kernel reads them).
__kernel void laswp(__global T* a, long a_off, int lda, int n, int k1, int k2,
                    __global const int* ipiv, long ipiv_off, long elems) {
  const int c = (int)get_global_id(0);
  if (c >= n) return;
  const long col0 = a_off + (long)c * lda;
  __global T* col = a + col0;
  for (int i = k1; i < k2; ++i) {
    const int p = ipiv[ipiv_off + i] - 1;
    if (p == i || p < 0 || p >= lda || col0 + p >= elems) continue;
    const T t = col[i];
    col[i] = col[p];
    col[p] = t;
  }
}

// side 0: op(A) X = alpha B (A na x na, one column of B per work-item); side 1: X op(A) = alpha B,
// i.e. op(A)^T x = alpha b for each row of B. The solve is with M = A^T when trans ^ side, else A;
// M is lower triangular when lower ^ (trans ^ side): forward substitution, else backward.
__kernel void trsm(__global const T* a, long a_off, int lda, __global T* b, long b_off, int ldb,
                   int na, int nvec, int side, int lower, int trans, int unit, T alpha) {
  const int v = (int)get_global_id(0);
  if (v >= nvec) return;
  __global T* x = b + b_off + (side ? (long)v : (long)v * ldb);
  const long st = side ? ldb : 1;
  const int tr = trans ^ side, low = lower ^ tr;
  __global const T* m = a + a_off;
  for (int t = 0; t < na; ++t) x[t * st] *= alpha;
  for (int s = 0; s < na; ++s) {
    const int i = low ? s : na - 1 - s;
    T xi = x[i * st];
    if (!unit) xi /= m[i + (long)i * lda];
    x[i * st] = xi;
    const int r0 = low ? i + 1 : 0, r1 = low ? na : i;
    for (int r = r0; r < r1; ++r)  // M(r, i)
      x[r * st] -= (tr ? m[i + (long)r * lda] : m[r + (long)i * lda]) * xi;
  }
}
