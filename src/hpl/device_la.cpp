// Dense linear algebra on a device through ABI 1.2, with host fallbacks for the optional ops.
#include "hpl/device_la.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace suanli::hpl {
namespace {

using Clock = std::chrono::steady_clock;

suanli_dtype abi(Dtype d) {
  return static_cast<suanli_dtype>(static_cast<int>(d));
}

suanli_op_desc op_desc(suanli_op_kind kind) {
  suanli_op_desc d{};
  d.struct_size = SUANLI_OP_DESC_SIZE;
  d.kind = kind;
  return d;
}

uint64_t span_elems(const Sub& s, int64_t rows, int64_t cols) {
  return rows && cols ? static_cast<uint64_t>((cols - 1) * s.ld + rows) : 0;
}

// Host forms of the optional ops, on a span downloaded to `a` (element (i, j) at i + j * ld).
template <typename T>
void host_getrf(T* a, int64_t m, int64_t n, int64_t ld, bool pivoting, int32_t* ipiv) {
  for (int64_t j = 0; j < n; ++j) {
    int64_t p = j;
    if (pivoting) {
      for (int64_t i = j + 1; i < m; ++i)
        if (std::fabs(a[i + j * ld]) > std::fabs(a[p + j * ld])) p = i;
      ipiv[j] = static_cast<int32_t>(p + 1);
      if (p != j)
        for (int64_t c = 0; c < n; ++c) std::swap(a[j + c * ld], a[p + c * ld]);
    }
    const T inv = T(1) / a[j + j * ld];
    for (int64_t i = j + 1; i < m; ++i) a[i + j * ld] *= inv;
    for (int64_t c = j + 1; c < n; ++c) {
      const T u = a[j + c * ld];
      for (int64_t i = j + 1; i < m; ++i) a[i + c * ld] -= a[i + j * ld] * u;
    }
  }
}

template <typename T>
void host_trsm(bool right, bool lower, bool unit, int64_t m, int64_t n, const T* a, int64_t lda,
               T* b, int64_t ldb) {
  auto A = [&](int64_t i, int64_t j) { return a[i + j * lda]; };
  auto B = [&](int64_t i, int64_t j) -> T& { return b[i + j * ldb]; };
  if (!right) {  // A X = B, column by column
    for (int64_t c = 0; c < n; ++c)
      for (int64_t s = 0; s < m; ++s) {
        const int64_t i = lower ? s : m - 1 - s;
        T v = B(i, c);
        if (lower)
          for (int64_t k = 0; k < i; ++k) v -= A(i, k) * B(k, c);
        else
          for (int64_t k = i + 1; k < m; ++k) v -= A(i, k) * B(k, c);
        B(i, c) = unit ? v : v / A(i, i);
      }
    return;
  }
  for (int64_t s = 0; s < n; ++s) {  // X A = B, column by column of X
    const int64_t j = lower ? n - 1 - s : s;
    for (int64_t r = 0; r < m; ++r) {
      T v = B(r, j);
      if (lower)
        for (int64_t k = j + 1; k < n; ++k) v -= B(r, k) * A(k, j);
      else
        for (int64_t k = 0; k < j; ++k) v -= B(r, k) * A(k, j);
      B(r, j) = unit ? v : v / A(j, j);
    }
  }
}

}  // namespace

void download_span(Backend& b, const Sub& s, int64_t rows, int64_t cols, size_t elem, void* out) {
  const uint64_t n = span_elems(s, rows, cols);
  if (n)
    b.check(b.api()->buffer_download(b.context(), s.buf->handle(),
                                     static_cast<uint64_t>(s.offset) * elem, out, n * elem),
            "buffer_download");
}

void upload_span(Backend& b, const Sub& s, int64_t rows, int64_t cols, size_t elem,
                 const void* in) {
  const uint64_t n = span_elems(s, rows, cols);
  if (n)
    b.check(b.api()->buffer_upload(b.context(), s.buf->handle(),
                                   static_cast<uint64_t>(s.offset) * elem, in, n * elem),
            "buffer_upload");
}

DeviceLinAlg::DeviceLinAlg(Backend& b, int device, bool force_host)
    : b_(b), device_(device), force_host_(force_host) {
  no_getrf_ = no_laswp_ = no_trsm_ = force_host;
  if (force_host) where_getrf = where_laswp = where_trsm = "host (forced)";
}

bool DeviceLinAlg::run(const void* desc, const std::vector<DeviceBuffer*>& bufs, std::string* where,
                       bool optional, double* seconds) {
  const auto* d = static_cast<const suanli_op_desc*>(desc);
  std::vector<suanli_buffer> handles;
  for (DeviceBuffer* x : bufs) handles.push_back(x->handle());
  suanli_plan h = nullptr;
  suanli_plan_info info{};
  info.struct_size = SUANLI_PLAN_INFO_SIZE;
  const auto t0 = Clock::now();
  const suanli_status s =
      b_.api()->plan(b_.context(), device_, d, handles.data(), handles.size(), &h, &info);
  if (s == SUANLI_UNSUPPORTED && optional) {
    if (where) *where = fmt::format("host (backend: {})", b_.api()->last_error(b_.context()));
    return false;
  }
  b_.check(s, "plan");
  DevicePlan plan(&b_, h, info.library ? info.library : "",
                  info.implementation ? info.implementation : "");
  if (where && where->empty()) *where = fmt::format("device ({})", plan.implementation);
  if (where == &gemm_impl && gemm_library.empty()) gemm_library = plan.library;
  b_.execute({&plan}, 1);
  *seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

std::string DeviceLinAlg::gemm_unsupported(Dtype ab, Dtype c) {
  suanli_gemm_ex_desc g{};
  g.struct_size = SUANLI_GEMM_EX_DESC_SIZE;
  g.m = g.n = g.k = 64;
  g.lda = g.ldb = g.ldc = 64;
  g.alpha = -1;
  g.beta = 1;
  g.a_type = g.b_type = abi(ab);
  g.c_type = g.compute_type = abi(c);
  suanli_op_desc d = op_desc(SUANLI_OP_GEMM_EX);
  d.gemm_ex = &g;
  if (b_.api()->abi_minor < 2)
    return fmt::format("{} backend speaks ABI 1.{}; HPL needs GEMM on sub-matrices (ABI 1.2)",
                       b_.name(), b_.api()->abi_minor);
  const char* reason = nullptr;
  const suanli_status s = b_.api()->supports(b_.context(), device_, &d, &reason);
  if (s == SUANLI_OK) return "";
  if (s == SUANLI_UNSUPPORTED) return reason && *reason ? reason : "gemm_ex unsupported";
  return fmt::format("gemm_ex: {}", b_.api()->last_error(b_.context()));
}

void DeviceLinAlg::gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, Sub a,
                        Sub b, double beta, Sub c, Dtype ab, Dtype c_type) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  suanli_gemm_ex_desc g{};
  g.struct_size = SUANLI_GEMM_EX_DESC_SIZE;
  g.m = m;
  g.n = n;
  g.k = k;
  g.trans_a = ta;
  g.trans_b = tb;
  g.alpha = alpha;
  g.beta = beta;
  g.a_offset = a.offset;
  g.lda = a.ld;
  g.b_offset = b.offset;
  g.ldb = b.ld;
  g.c_offset = c.offset;
  g.ldc = c.ld;
  g.a_type = g.b_type = abi(ab);
  g.c_type = g.compute_type = abi(c_type);
  suanli_op_desc d = op_desc(SUANLI_OP_GEMM_EX);
  d.gemm_ex = &g;
  run(&d, {a.buf, b.buf, c.buf}, &gemm_impl, false, &seconds_gemm);
}

void DeviceLinAlg::getrf(int64_t m, int64_t n, Sub a, bool pivoting, DeviceBuffer* ipiv,
                         int64_t ipiv_offset, Dtype t) {
  if (m <= 0 || n <= 0) return;
  if (!no_getrf_) {
    suanli_getrf_desc g{SUANLI_GETRF_DESC_SIZE,
                        m,
                        n,
                        a.offset,
                        a.ld,
                        pivoting ? 1 : 0,
                        ipiv_offset,
                        abi(t)};
    suanli_op_desc d = op_desc(SUANLI_OP_GETRF);
    d.getrf = &g;
    std::vector<DeviceBuffer*> bufs{a.buf};
    if (pivoting) bufs.push_back(ipiv);
    if (run(&d, bufs, &where_getrf, true, &seconds_other)) return;
    no_getrf_ = true;
  }
  const auto t0 = Clock::now();
  const size_t es = dtype_size(t);
  std::vector<char> span(span_elems(a, m, n) * es);
  std::vector<int32_t> piv(static_cast<size_t>(n));
  download_span(b_, a, m, n, es, span.data());
  if (t == Dtype::fp64)
    host_getrf(reinterpret_cast<double*>(span.data()), m, n, a.ld, pivoting, piv.data());
  else
    host_getrf(reinterpret_cast<float*>(span.data()), m, n, a.ld, pivoting, piv.data());
  upload_span(b_, a, m, n, es, span.data());
  if (pivoting) upload_span(b_, Sub{ipiv, ipiv_offset, n}, n, 1, 4, piv.data());
  seconds_other += std::chrono::duration<double>(Clock::now() - t0).count();
}

void DeviceLinAlg::laswp(int64_t n, Sub a, int64_t k1, int64_t k2, DeviceBuffer* ipiv,
                         int64_t ipiv_offset, Dtype t) {
  if (n <= 0 || k2 <= k1) return;
  if (!no_laswp_) {
    suanli_laswp_desc l{SUANLI_LASWP_DESC_SIZE,
                        n,
                        a.offset,
                        a.ld,
                        k1,
                        k2,
                        ipiv_offset,
                        abi(t)};
    suanli_op_desc d = op_desc(SUANLI_OP_LASWP);
    d.laswp = &l;
    if (run(&d, {a.buf, ipiv}, &where_laswp, true, &seconds_other)) return;
    no_laswp_ = true;
  }
  const auto t0 = Clock::now();
  const size_t es = dtype_size(t);
  std::vector<int32_t> piv(static_cast<size_t>(k2));
  download_span(b_, Sub{ipiv, ipiv_offset, k2}, k2, 1, 4, piv.data());
  // The rows reach at most the largest pivot: download only that many rows of each column.
  int64_t rows = k2;
  for (int64_t i = k1; i < k2; ++i) rows = std::max<int64_t>(rows, piv[static_cast<size_t>(i)]);
  rows = std::min(rows, a.ld);
  std::vector<char> span(span_elems(a, rows, n) * es);
  download_span(b_, a, rows, n, es, span.data());
  for (int64_t c = 0; c < n; ++c)
    for (int64_t i = k1; i < k2; ++i) {
      const int64_t p = piv[static_cast<size_t>(i)] - 1;
      if (p != i)
        std::swap_ranges(span.data() + (i + c * a.ld) * static_cast<int64_t>(es),
                         span.data() + (i + c * a.ld + 1) * static_cast<int64_t>(es),
                         span.data() + (p + c * a.ld) * static_cast<int64_t>(es));
    }
  upload_span(b_, a, rows, n, es, span.data());
  seconds_other += std::chrono::duration<double>(Clock::now() - t0).count();
}

void DeviceLinAlg::trsm(bool right, bool lower, bool unit, int64_t m, int64_t n, Sub a, Sub b,
                        Dtype t) {
  if (m <= 0 || n <= 0) return;
  if (!no_trsm_) {
    suanli_trsm_desc s{SUANLI_TRSM_DESC_SIZE,
                       right ? 1 : 0,
                       lower ? 1 : 0,
                       0,
                       unit ? 1 : 0,
                       m,
                       n,
                       1.0,
                       a.offset,
                       a.ld,
                       b.offset,
                       b.ld,
                       abi(t)};
    suanli_op_desc d = op_desc(SUANLI_OP_TRSM);
    d.trsm = &s;
    if (run(&d, {a.buf, b.buf}, &where_trsm, true, &seconds_other)) return;
    no_trsm_ = true;
  }
  const auto t0 = Clock::now();
  const size_t es = dtype_size(t);
  const int64_t na = right ? n : m;
  std::vector<char> sa(span_elems(a, na, na) * es), sb(span_elems(b, m, n) * es);
  download_span(b_, a, na, na, es, sa.data());
  download_span(b_, b, m, n, es, sb.data());
  if (t == Dtype::fp64)
    host_trsm(right, lower, unit, m, n, reinterpret_cast<const double*>(sa.data()), a.ld,
              reinterpret_cast<double*>(sb.data()), b.ld);
  else
    host_trsm(right, lower, unit, m, n, reinterpret_cast<const float*>(sa.data()), a.ld,
              reinterpret_cast<float*>(sb.data()), b.ld);
  upload_span(b_, b, m, n, es, sb.data());
  seconds_other += std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace suanli::hpl
