// The dense linear algebra of ABI 1.2 on one device: each call plans one op (GEMM_EX, GETRF,
// LASWP, TRSM) on sub-matrices of device buffers and runs it. GETRF, LASWP and TRSM are optional
// in the ABI: where the backend answers unsupported, the call runs on the host instead (the
// sub-matrix downloaded, computed here in plain C++, uploaded back) and `where` says so.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "harness/backend_host.h"

namespace suanli::hpl {

// A column-major sub-matrix of a device buffer: element (i, j) at offset + i + j * ld.
struct Sub {
  DeviceBuffer* buf = nullptr;
  int64_t offset = 0, ld = 1;
  Sub at(int64_t i, int64_t j) const { return {buf, offset + i + j * ld, ld}; }
};

enum class Place { device, host };

class DeviceLinAlg {
 public:
  // force_host: run the optional ops on the host even where the backend has them (tests).
  DeviceLinAlg(Backend& b, int device, bool force_host = false);

  // Empty when the backend can run GEMM_EX for these types, else the reason.
  std::string gemm_unsupported(Dtype ab, Dtype c);

  // C(m x n) = alpha op(A) op(B) + beta C. Types: ab for A and B, c for C (fp64/fp64,
  // fp32/fp32, bf16/fp32, fp16/fp32).
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, Sub a, Sub b,
            double beta, Sub c, Dtype ab, Dtype c_type);
  // LU of the m x n panel; partial pivoting writes n int32 pivots at ipiv (offset in elements).
  void getrf(int64_t m, int64_t n, Sub a, bool pivoting, DeviceBuffer* ipiv, int64_t ipiv_offset,
             Dtype t);
  void laswp(int64_t n, Sub a, int64_t k1, int64_t k2, DeviceBuffer* ipiv, int64_t ipiv_offset,
             Dtype t);
  void trsm(bool right, bool lower, bool unit, int64_t m, int64_t n, Sub a, Sub b, Dtype t);

  // Where the optional ops ran, e.g. "device (dgetrf_ (LAPACK in OpenBLAS))" or "host".
  std::string where_getrf, where_laswp, where_trsm, gemm_impl, gemm_library;
  // Device and host time spent (seconds), for the report's breakdown.
  double seconds_gemm = 0, seconds_other = 0;

 private:
  // Plans one op over buffers and runs it once; false when the backend answers unsupported.
  bool run(const void* desc, const std::vector<DeviceBuffer*>& bufs, std::string* where,
           bool optional, double* seconds);
  Backend& b_;
  int device_;
  bool force_host_;
  bool no_getrf_ = false, no_laswp_ = false, no_trsm_ = false;
};

// Host transfers of a column-major sub-matrix span (the bytes from its first to its last
// element): used by the host fallbacks and by HPL-MxP's conversions.
void download_span(Backend& b, const Sub& s, int64_t rows, int64_t cols, size_t elem, void* out);
void upload_span(Backend& b, const Sub& s, int64_t rows, int64_t cols, size_t elem, const void* in);

}  // namespace suanli::hpl
