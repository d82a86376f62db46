// suanli OpenCL peak: for each element e, x = A[e]; repeat depth times x = x + alpha * beta;
// C[e] = x (backends/include/suanli/backend.h). Each work-item runs U independent vectors of
// VW chains (U * VW elements, contiguous), so the multiply-add units always have U
// independent operations in flight, as clpeak does. Built with:
//   ACC  accumulator type     U, VW  vectors per work-item and lanes per vector
//   SUANLI_PEAK_FLOAT  floating types (fma); otherwise int8 as uint8 x int8 -> int32

#define ACCV XCAT(ACC, VW)
#define VLOAD XCAT(vload, VW)
#define VSTORE XCAT(vstore, VW)
#define REP4(s) s(0) s(1) s(2) s(3)
#define REP8(s) REP4(s) s(4) s(5) s(6) s(7)

#if U == 4
#define FOR_U(s) REP4(s)
#elif U == 8
#define FOR_U(s) REP8(s)
#elif U == 16
#define FOR_U(s) REP8(s) s(8) s(9) s(10) s(11) s(12) s(13) s(14) s(15)
#else
#error "U must be 4, 8 or 16"
#endif

#if defined(SUANLI_PEAK_FLOAT)
// Floating types: fma() is one fused multiply-add that the compiler may neither hoist nor
// split, so every step is a real FMA even though alpha and beta are the same each time.
#define DECL(u) ACCV x##u = VLOAD(u, a + base);
#define ONE(u) x##u = fma(av, bv, x##u);
#define STORE(u) VSTORE(x##u, u, c + base);
__kernel void peak(__global const ACC* restrict a, __global ACC* restrict c, ACC alpha,
                   ACC beta, int depth) {
  const long base = (long)get_global_id(0) * (U * VW);
  const ACCV av = (ACCV)alpha, bv = (ACCV)beta;
  FOR_U(DECL)
  for (int i = 0; i < depth; i += 8) {
    FOR_U(ONE) FOR_U(ONE) FOR_U(ONE) FOR_U(ONE)
    FOR_U(ONE) FOR_U(ONE) FOR_U(ONE) FOR_U(ONE)
  }
  FOR_U(STORE)
}
#else
// int8: uint8 x int8 products widened to int32, one multiply and one add per step (a plain
// integer multiply-add: OpenCL C has no per-lane dot-product builtin for vectors). alpha comes per chain from a table and beta per step, so the
// compiler can neither hoist the products out of the loop nor fold the chain into one multiply.
#define DECL(u) ACCV x##u = VLOAD(u, a + base); const ACCV a##u = (ACCV)(alpha_table[u]);
#define ONE(u) x##u = x##u + a##u * tb;
#define STORE(u) VSTORE(x##u, u, c + base);
__kernel void peak(__global const int* restrict a, __global int* restrict c,
                   __global const uchar* restrict alpha_table,
                   __global const char* restrict beta_table, int depth) {
  const long base = (long)get_global_id(0) * (U * VW);
  FOR_U(DECL)
  for (int i = 0; i < depth; ++i) {
    const ACCV tb = (ACCV)(beta_table[i & 255]);
    FOR_U(ONE)
  }
  FOR_U(STORE)
}
#endif
