// Conformance checks of a backend plugin. Every check runs in a forked child that loads the
// plugin itself (the parent never loads it), so a crash or a hang fails that one check; the
// next child resumes after it.
#include "conformance/conformance.h"

#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <suanli/backend.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/op.h"
#include "core/op_traits.h"
#include "core/text.h"
#include "harness/backend_host.h"
#include "verify/verify.h"

namespace suanli::conformance {
namespace {

struct CheckFailed {
  std::string why;
};
[[noreturn]] void fail(std::string why) {
  throw CheckFailed{std::move(why)};
}

std::string str(const char* s) {
  return s ? s : "(null)";
}

// The plugin as the child sees it.
struct Plugin {
  void* dl = nullptr;
  const suanli_backend_api* api = nullptr;
  suanli_context ctx = nullptr;
  int32_t devices = 0;
  std::string last_error() const {
    const char* e = api->last_error(ctx);
    return e ? e : "(last_error returned NULL)";
  }
};

// The ops checked on every device: every op kind and dtype of the harness at small shapes,
// transposes and batches, odd sizes that do not fill a tile.
std::vector<OpDesc> op_list() {
  std::vector<OpDesc> ops;
  auto gemm = [&](Dtype d, GemmShape s, bool signed_a = false) {
    OpDesc o;
    o.kind = OpKind::gemm;
    o.dtype = d;
    o.int8_signed_a = signed_a;
    o.shape = s;
    ops.push_back(o);
  };
  for (Dtype d : {Dtype::fp64, Dtype::fp32, Dtype::tf32, Dtype::fp16, Dtype::bf16, Dtype::fp8_e4m3,
                  Dtype::int8})
    gemm(d, {64, 48, 80, 1, false, false});
  gemm(Dtype::int8, {64, 48, 80, 1, false, false}, true);
  gemm(Dtype::fp32, {33, 17, 29, 1, true, false});
  gemm(Dtype::fp32, {24, 40, 16, 3, false, true});
  gemm(Dtype::fp64, {7, 9, 11, 2, true, true});
  gemm(Dtype::int8, {19, 21, 35, 2, false, true});
  auto conv = [&](Dtype d, Conv2dShape s) {
    OpDesc o;
    o.kind = OpKind::conv2d;
    o.dtype = d;
    o.shape = s;
    ops.push_back(o);
  };
  Conv2dShape c;
  c.n = 1, c.c = 8, c.h = 10, c.w = 10, c.k = 16, c.r = 3, c.s = 3, c.pad_h = c.pad_w = 1;
  for (Dtype d : {Dtype::fp32, Dtype::fp16, Dtype::bf16, Dtype::int8}) conv(d, c);
  Conv2dShape g = c;
  g.n = 2, g.groups = 4, g.stride_h = g.stride_w = 2;
  conv(Dtype::fp32, g);
  for (Dtype d : {Dtype::fp64, Dtype::fp32, Dtype::fp16, Dtype::bf16, Dtype::int8}) {
    OpDesc o;
    o.kind = OpKind::peak;
    o.dtype = d;
    o.shape = PeakShape{4096, 128};
    ops.push_back(o);
  }
  for (StreamKind k : {StreamKind::copy, StreamKind::scale, StreamKind::add, StreamKind::triad}) {
    OpDesc o;
    o.kind = OpKind::stream;
    o.dtype = Dtype::fp64;
    o.shape = StreamShape{k, 10007};
    ops.push_back(o);
  }
  OpDesc s;
  s.kind = OpKind::stream;
  s.dtype = Dtype::fp32;
  s.shape = StreamShape{StreamKind::triad, 4099};
  ops.push_back(s);
  return ops;
}

std::string op_label(const OpDesc& op) {
  std::string shape = shape_string(op);
  for (char& ch : shape)
    if (ch == ' ') ch = '_';
  std::string dt(dtype_name(op.dtype));
  if (op.dtype == Dtype::int8 && op_traits(op.kind).negotiates_precision)
    dt += op.int8_signed_a ? "_s8s8" : "_u8s8";
  return fmt::format("op.{}.{}.{}", op_kind_name(op.kind), dt, shape);
}

// Buffers of one op on one device, freed on scope exit.
struct Buffers {
  const Plugin& p;
  std::vector<suanli_buffer> h;
  explicit Buffers(const Plugin& pl) : p(pl) {}
  ~Buffers() {
    for (suanli_buffer b : h)
      if (b) p.api->buffer_free(p.ctx, b);
  }
  suanli_buffer alloc(int32_t dev, uint64_t bytes) {
    suanli_buffer b = nullptr;
    const suanli_status s = p.api->buffer_alloc(p.ctx, dev, bytes, &b);
    if (s != SUANLI_OK || !b)
      fail(fmt::format("buffer_alloc({} bytes): {} {}", bytes, status_name(s), p.last_error()));
    h.push_back(b);
    return b;
  }
};

struct PlanGuard {
  const Plugin& p;
  suanli_plan plan = nullptr;
  ~PlanGuard() {
    if (plan) p.api->plan_destroy(p.ctx, plan);
  }
};

// Allocates and fills the op's buffers (output poisoned) and keeps the host copies.
struct Staged {
  std::vector<std::vector<char>> host;
  std::vector<suanli_buffer> bufs;
  uint64_t seed = 12345;
};
Staged stage(const Plugin& p, Buffers& b, int32_t dev, const OpDesc& op) {
  Staged st;
  const std::vector<uint64_t> sizes = op_buffer_bytes(op);
  std::vector<void*> ptrs;
  for (uint64_t n : sizes) {
    st.host.emplace_back(n);
    ptrs.push_back(st.host.back().data());
  }
  verify::fill_inputs(op, ptrs.data(), st.seed);
  std::fill(st.host.back().begin(), st.host.back().end(), static_cast<char>(0x7f));
  for (size_t i = 0; i < sizes.size(); ++i) {
    st.bufs.push_back(b.alloc(dev, sizes[i]));
    const suanli_status s = p.api->buffer_upload(p.ctx, st.bufs[i], 0, st.host[i].data(), sizes[i]);
    if (s != SUANLI_OK) fail(fmt::format("buffer_upload: {} {}", status_name(s), p.last_error()));
  }
  return st;
}

double execute(const Plugin& p, suanli_plan plan, int64_t iterations) {
  double secs = -1;
  const suanli_status s = p.api->execute(p.ctx, &plan, 1, iterations, &secs);
  if (s != SUANLI_OK) fail(fmt::format("execute: {} {}", status_name(s), p.last_error()));
  return secs;
}

// Expects a failed call: not OK, and (for calls that keep one) a message.
void expect_error(const Plugin& p, suanli_status s, const std::string& what) {
  if (s == SUANLI_OK) fail(what + " returned OK; expected an error status");
  if (std::string(p.last_error()).empty() && s != SUANLI_UNSUPPORTED)
    fail(what + " returned " + std::string(status_name(s)) + " with an empty last_error");
}

// ---- dense linear algebra (ABI 1.2): gemm_ex, getrf, laswp, trsm
// ---------------------------------

// One linear-algebra op on fp64 data in one buffer: uploads `data`, plans and runs the op, and
// downloads the buffer back into `data`. ipiv (int32) is a second buffer when non-null. Returns
// false (and the reason) when the backend answered UNSUPPORTED consistently in supports() and
// plan(); fails the check on any other disagreement or error.
bool run_linalg(const Plugin& p, int32_t dev, const suanli_op_desc& d, std::vector<double>& data,
                std::vector<int32_t>* ipiv, std::string* unsupported) {
  const char* reason = nullptr;
  const suanli_status sup = p.api->supports(p.ctx, dev, &d, &reason);
  Buffers b(p);
  std::vector<suanli_buffer> bufs{b.alloc(dev, data.size() * 8)};
  if (p.api->buffer_upload(p.ctx, bufs[0], 0, data.data(), data.size() * 8) != SUANLI_OK)
    fail("buffer_upload: " + p.last_error());
  if (ipiv) {
    bufs.push_back(b.alloc(dev, ipiv->size() * 4));
    if (p.api->buffer_upload(p.ctx, bufs[1], 0, ipiv->data(), ipiv->size() * 4) != SUANLI_OK)
      fail("buffer_upload: " + p.last_error());
  }
  // gemm_ex takes A, B, C: all three in the one buffer here.
  if (d.kind == SUANLI_OP_GEMM_EX) bufs = {bufs[0], bufs[0], bufs[0]};
  if (d.kind == SUANLI_OP_TRSM) bufs = {bufs[0], bufs[0]};
  PlanGuard g{p};
  const suanli_status ps = p.api->plan(p.ctx, dev, &d, bufs.data(), bufs.size(), &g.plan, nullptr);
  if (sup == SUANLI_UNSUPPORTED && ps == SUANLI_UNSUPPORTED) {
    *unsupported = str(reason);
    return false;
  }
  if (sup != SUANLI_OK || ps != SUANLI_OK)
    fail(fmt::format("supports: {}, plan: {} ({})", status_name(sup), status_name(ps),
                     p.last_error()));
  execute(p, g.plan, 1);
  if (p.api->buffer_download(p.ctx, bufs[0], 0, data.data(), data.size() * 8) != SUANLI_OK)
    fail("buffer_download: " + p.last_error());
  if (ipiv &&
      p.api->buffer_download(p.ctx, bufs.back(), 0, ipiv->data(), ipiv->size() * 4) != SUANLI_OK)
    fail("buffer_download: " + p.last_error());
  return true;
}

std::vector<double> random_fill(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::isfinite(a[i]) ? std::max(m, std::fabs(a[i] - b[i])) : HUGE_VAL;
  return m;
}

suanli_op_desc linalg_desc(suanli_op_kind kind) {
  suanli_op_desc d{};
  d.struct_size = SUANLI_OP_DESC_SIZE;
  d.kind = kind;
  return d;
}

// One GEMM_EX case: C(37 x 29) = alpha op(A) op(B) + beta C on three sub-matrices of one 64-row
// buffer, checked against host loops (every element outside C must stay). beta = 0 starts C as
// NaN: the ABI says C is not read then.
struct GemmExCase {
  int32_t trans_a, trans_b;
  double alpha, beta;
};

double run_gemm_ex_case(const Plugin& p, int32_t dev, const GemmExCase& v, suanli_op_desc& d,
                        suanli_gemm_ex_desc& g, std::string* unsupported) {
  const int64_t ld = 64, m = 37, n = 29, k = 23, ao = 3, bo = 5 + 30 * ld, co = 1 + 60 * ld;
  std::vector<double> data = random_fill(static_cast<size_t>(ld * 100), 1);
  if (v.beta == 0)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) data[co + i + j * ld] = NAN;
  std::vector<double> want = data;
  // op(A)(i, l) and op(B)(l, j) as the descriptor addresses them (column-major, ld 64).
  auto opa = [&](int64_t i, int64_t l) { return data[ao + (v.trans_a ? l + i * ld : i + l * ld)]; };
  auto opb = [&](int64_t l, int64_t j) { return data[bo + (v.trans_b ? j + l * ld : l + j * ld)]; };
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      for (int64_t l = 0; l < k; ++l) s += opa(i, l) * opb(l, j);
      const double c = data[co + i + j * ld];
      want[co + i + j * ld] = v.alpha * s + (v.beta == 0 ? 0.0 : v.beta * c);
    }
  g = {SUANLI_GEMM_EX_DESC_SIZE,
       m,
       n,
       k,
       v.trans_a,
       v.trans_b,
       v.alpha,
       v.beta,
       ao,
       ld,
       bo,
       ld,
       co,
       ld,
       SUANLI_DTYPE_FP64,
       SUANLI_DTYPE_FP64,
       SUANLI_DTYPE_FP64,
       SUANLI_DTYPE_FP64};
  d = linalg_desc(SUANLI_OP_GEMM_EX);
  d.gemm_ex = &g;
  if (!run_linalg(p, dev, d, data, nullptr, unsupported)) return -1;
  const double e = max_diff(data, want);
  if (!(e <= 1e-12))
    fail(
        fmt::format("trans_a {} trans_b {} alpha {} beta {}: max |error| {:.3g} (bound 1e-12); "
                    "elements outside C must stay",
                    v.trans_a, v.trans_b, v.alpha, v.beta, e));
  return e;
}

// GEMM_EX on sub-matrices at offsets with ld > rows, every transposition, alpha and beta (beta 0
// over a NaN C), and a C that ends beyond its buffer or an ld below the rows refused.
std::string check_gemm_ex(const Plugin& p, int32_t dev) {
  const GemmExCase cases[] = {
      {0, 1, -1.0, 1.0}, {1, 0, 0.5, -0.25}, {1, 1, 2.0, 0.0}, {0, 0, 1, 3}};
  suanli_op_desc d{};
  suanli_gemm_ex_desc g{};
  double worst = 0;
  for (const GemmExCase& v : cases) {
    std::string why;
    const double e = run_gemm_ex_case(p, dev, v, d, g, &why);
    if (e < 0) return "unsupported (consistently): " + why;
    worst = std::max(worst, e);
  }
  // An operand that ends outside its buffer is refused.
  const int64_t ld = 64;
  g.c_offset = ld * 100 - 10;
  Buffers b(p);
  std::vector<suanli_buffer> one{b.alloc(dev, static_cast<size_t>(ld * 100) * 8)};
  std::vector<suanli_buffer> three{one[0], one[0], one[0]};
  PlanGuard guard{p};
  expect_error(p, p.api->plan(p.ctx, dev, &d, three.data(), 3, &guard.plan, nullptr),
               "plan(gemm_ex with C beyond its buffer)");
  g.c_offset = 0;
  g.ldc = g.m - 1;  // a leading dimension below C's rows
  PlanGuard guard2{p};
  expect_error(p, p.api->plan(p.ctx, dev, &d, three.data(), 3, &guard2.plan, nullptr),
               "plan(gemm_ex with ldc < m)");
  return fmt::format(
      "fp64 sub-matrices with offsets and ld, NN/NT/TN/TT, alpha and beta (0 over NaN): max "
      "|error| {:.2g}; C beyond its buffer and ldc < m refused",
      worst);
}

// getrf with partial pivoting of a 40 x 16 panel at an offset, then P L U against A.
std::string check_getrf(const Plugin& p, int32_t dev) {
  const int64_t ld = 48, m = 40, n = 16, off = 4 + 2 * ld;
  std::vector<double> data = random_fill(static_cast<size_t>(ld * 20), 2), a = data;
  std::vector<int32_t> ipiv(n, 0);
  suanli_getrf_desc g{SUANLI_GETRF_DESC_SIZE, m, n, off, ld, 1, 0, SUANLI_DTYPE_FP64};
  suanli_op_desc d = linalg_desc(SUANLI_OP_GETRF);
  d.getrf = &g;
  std::string why;
  if (!run_linalg(p, dev, d, data, &ipiv, &why)) return "unsupported (consistently): " + why;
  // Apply the interchanges to the original panel, then compare with L U.
  auto A = [&](std::vector<double>& v, int64_t i, int64_t j) -> double& {
    return v[off + i + j * ld];
  };
  for (int64_t i = 0; i < n; ++i) {
    const int64_t piv = ipiv[static_cast<size_t>(i)] - 1;
    if (piv < i || piv >= m)
      fail(fmt::format("ipiv[{}] = {} outside [{}, {}]", i, piv + 1, i + 1, m));
    for (int64_t j = 0; j < n; ++j) std::swap(A(a, i, j), A(a, piv, j));
  }
  double e = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t l = 0; l <= std::min(i, j); ++l)
        s += (l == i ? 1.0 : A(data, i, l)) * A(data, l, j);
      e = std::max(e, std::fabs(s - A(a, i, j)));
    }
  if (!(e <= 1e-12)) fail(fmt::format("|P L U - A| = {:.3g} (bound 1e-12)", e));
  return fmt::format("partial pivoting, 40 x 16 panel at an offset: |PLU - A| {:.2g}", e);
}

// trsm on the right, upper, transposed, non-unit, alpha 2: X (4 x 6) A^T = 2 B, A (6 x 6) at the
// top-left with a diagonal >= 2, B after A's last column. Max |error|, or -1 when unsupported.
double check_trsm_right(const Plugin& p, int32_t dev, std::string* unsupported) {
  const int64_t ld = 20, bo = 6 * ld, m = 4, n = 6;
  std::vector<double> data = random_fill(static_cast<size_t>(ld * 12), 5);
  for (int64_t j = 0; j < n; ++j) data[j + j * ld] += data[j + j * ld] < 0 ? -2.0 : 2.0;
  std::vector<double> want = data;
  for (int64_t r = 0; r < m; ++r)  // row r: A x^T = 2 b^T, backward substitution
    for (int64_t j = n - 1; j >= 0; --j) {
      double s = 2 * data[bo + r + j * ld];
      for (int64_t k = j + 1; k < n; ++k) s -= data[j + k * ld] * want[bo + r + k * ld];
      want[bo + r + j * ld] = s / data[j + j * ld];
    }
  suanli_trsm_desc t{SUANLI_TRSM_DESC_SIZE, 1, 0, 1, 0, m, n, 2.0, 0, ld, bo, ld,
                     SUANLI_DTYPE_FP64};
  suanli_op_desc d = linalg_desc(SUANLI_OP_TRSM);
  d.trsm = &t;
  if (!run_linalg(p, dev, d, data, nullptr, unsupported)) return -1;
  const double e = max_diff(data, want);
  if (!(e <= 1e-12))
    fail(fmt::format("trsm (right, upper, transposed): max |error| {:.3g} (bound 1e-12)", e));
  return e;
}

// laswp of 3 interchanges over 5 columns, and trsm (left, lower, unit; right, upper, transposed,
// non-unit) against host loops.
std::string check_laswp_trsm(const Plugin& p, int32_t dev) {
  const int64_t ld = 20, off = 1 + ld;
  std::vector<double> data = random_fill(static_cast<size_t>(ld * 8), 3), want = data;
  std::vector<int32_t> ipiv{4, 2, 9};
  for (int64_t c = 0; c < 5; ++c)
    for (int64_t i = 0; i < 3; ++i)
      std::swap(want[off + i + c * ld], want[off + ipiv[static_cast<size_t>(i)] - 1 + c * ld]);
  suanli_laswp_desc l{SUANLI_LASWP_DESC_SIZE, 5, off, ld, 0, 3, 0, SUANLI_DTYPE_FP64};
  suanli_op_desc d = linalg_desc(SUANLI_OP_LASWP);
  d.laswp = &l;
  std::string why, out;
  if (run_linalg(p, dev, d, data, &ipiv, &why)) {
    if (max_diff(data, want) != 0) fail("laswp: rows not interchanged as ipiv says");
    out = "laswp exact";
  } else {
    out = "laswp unsupported (consistently): " + why;
  }
  // X (6 x 3) at column 6: L (6 x 6, unit lower, at the top-left) X = B. B must not overlap A
  // (the ABI forbids a written operand overlapping another): it starts after A's last column.
  data = random_fill(static_cast<size_t>(ld * 9), 4);
  want = data;
  const int64_t bo = 6 * ld;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t k = 0; k < i; ++k)
        want[bo + i + c * ld] -= data[i + k * ld] * want[bo + k + c * ld];
  suanli_trsm_desc t{SUANLI_TRSM_DESC_SIZE, 0, 1, 0, 1, 6, 3, 1.0, 0, ld, bo, ld,
                     SUANLI_DTYPE_FP64};
  d = linalg_desc(SUANLI_OP_TRSM);
  d.trsm = &t;
  if (!run_linalg(p, dev, d, data, nullptr, &why))
    return out + "; trsm unsupported (consistently): " + why;
  const double e = max_diff(data, want);
  if (!(e <= 1e-12)) fail(fmt::format("trsm: max |error| {:.3g} (bound 1e-12)", e));
  const double e2 = check_trsm_right(p, dev, &why);
  if (e2 < 0) fail("trsm: the left solve ran but the right one is unsupported: " + why);
  return out + fmt::format("; trsm left-lower-unit and right-upper-transposed max |error| {:.2g}",
                           std::max(e, e2));
}

// Emits checks in order; checks before `start` are not run (setup steps always are).
class Sequence {
 public:
  std::function<void(size_t, const std::string&)> on_begin;
  std::function<void(size_t, const Check&)> on_result;
  size_t start = 0;

  // Returns false when the check failed (so dependent steps can stop).
  bool check(const std::string& name, const std::function<std::string()>& body,
             bool setup = false) {
    const size_t i = index_++;
    if (i < start) {
      if (!setup) return true;
      try {
        body();
        return true;
      } catch (...) {
        return false;
      }
    }
    on_begin(i, name);
    Check c;
    c.name = name;
    try {
      c.reason = body();
      c.passed = true;
    } catch (const CheckFailed& f) {
      c.reason = f.why;
    } catch (const std::exception& e) {
      c.reason = std::string("exception: ") + e.what();
    }
    on_result(i, c);
    return c.passed;
  }

 private:
  size_t index_ = 0;
};

// The index of the table's first NULL function, or -1.
int first_null_function(const suanli_backend_api* api) {
  const void* fns[] = {reinterpret_cast<const void*>(api->create),
                       reinterpret_cast<const void*>(api->destroy),
                       reinterpret_cast<const void*>(api->last_error),
                       reinterpret_cast<const void*>(api->libraries),
                       reinterpret_cast<const void*>(api->device_count),
                       reinterpret_cast<const void*>(api->device_info),
                       reinterpret_cast<const void*>(api->supports),
                       reinterpret_cast<const void*>(api->buffer_alloc),
                       reinterpret_cast<const void*>(api->buffer_free),
                       reinterpret_cast<const void*>(api->buffer_upload),
                       reinterpret_cast<const void*>(api->buffer_download),
                       reinterpret_cast<const void*>(api->plan),
                       reinterpret_cast<const void*>(api->plan_destroy),
                       reinterpret_cast<const void*>(api->execute),
                       reinterpret_cast<const void*>(api->telemetry)};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; ++i)
    if (!fns[i]) return static_cast<int>(i);
  return -1;
}

// The table is long enough and has every function: the checks that call the plugin can run.
bool table_usable(const suanli_backend_api* api) {
  return api->struct_size >= SUANLI_STRUCT_SIZE(suanli_backend_api, telemetry) &&
         first_null_function(api) < 0;
}

// ---- plugin checks: loading, the table, the context ------------------------------------------

// The plugin's entry point (dlopen, dlsym).
std::string check_load(Plugin& p, const Options& opts, suanli_backend_get_fn& get) {
  p.dl = dlopen(opts.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!p.dl) fail(std::string("dlopen: ") + dlerror());
  get = reinterpret_cast<suanli_backend_get_fn>(dlsym(p.dl, SUANLI_BACKEND_ENTRY));
  if (!get) fail(std::string("no exported symbol ") + SUANLI_BACKEND_ENTRY);
  return std::string("entry point ") + SUANLI_BACKEND_ENTRY + " found";
}

// The table of the harness's major version; an unknown major refused.
std::string check_abi_version(Plugin& p, suanli_backend_get_fn get) {
  p.api = get(SUANLI_ABI_MAJOR);
  if (!p.api) fail(fmt::format("suanli_backend_get({}) returned NULL", SUANLI_ABI_MAJOR));
  if (p.api->abi_major != SUANLI_ABI_MAJOR)
    fail(fmt::format("abi_major {} (the harness speaks {})", p.api->abi_major, SUANLI_ABI_MAJOR));
  if (get(SUANLI_ABI_MAJOR + 1) != nullptr)
    fail(fmt::format("suanli_backend_get({}) (an unknown major) did not return NULL",
                     SUANLI_ABI_MAJOR + 1));
  return fmt::format("ABI {}.{} (harness {}.{}); unknown major refused", p.api->abi_major,
                     p.api->abi_minor, SUANLI_ABI_MAJOR, SUANLI_ABI_MINOR);
}

bool is_backend_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

// The table is long enough, has every function, a short name and a version.
std::string check_struct_sizes(const Plugin& p) {
  const size_t need = SUANLI_BACKEND_API_SIZE;
  if (p.api->struct_size < need)
    fail(fmt::format("suanli_backend_api.struct_size {} < {} (through telemetry)",
                     p.api->struct_size, need));
  if (const int i = first_null_function(p.api); i >= 0)
    fail(fmt::format("function pointer {} of the table is NULL", i));
  const std::string name = p.api->name ? p.api->name : "";
  if (!is_backend_name(name)) fail("name '" + name + "' is not short lowercase [a-z0-9_]");
  if (!p.api->version) fail("version is NULL");
  return fmt::format("table of {} bytes (needs {}), name '{}', version '{}'", p.api->struct_size,
                     need, name, p.api->version);
}

// A context from the create options, and its device count.
std::string check_create(Plugin& p, const Options& opts) {
  std::vector<suanli_kv> kv;
  for (const auto& [k, v] : opts.create_options)
    kv.push_back({sizeof(suanli_kv), k.c_str(), v.c_str()});
  suanli_create_args args{SUANLI_CREATE_ARGS_SIZE, kv.data(), kv.size()};
  const suanli_status s = p.api->create(&args, &p.ctx);
  if (s != SUANLI_OK) {
    const char* e = p.api->last_error(nullptr);
    fail(fmt::format("create: {} {}", status_name(s), e ? e : "(last_error NULL)"));
  }
  if (!p.ctx) fail("create returned OK and a NULL context");
  const suanli_status c = p.api->device_count(p.ctx, &p.devices);
  if (c != SUANLI_OK) fail(fmt::format("device_count: {} {}", status_name(c), p.last_error()));
  if (p.devices < 0) fail(fmt::format("device_count gave {}", p.devices));
  return fmt::format("context created, {} device(s)", p.devices);
}

std::string check_libraries(const Plugin& p) {
  const suanli_kv* libs = nullptr;
  size_t n = 0;
  const suanli_status s = p.api->libraries(p.ctx, &libs, &n);
  if (s != SUANLI_OK) fail(fmt::format("libraries: {} {}", status_name(s), p.last_error()));
  if (n > 0 && !libs) fail("libraries: count > 0 and a NULL table");
  for (size_t i = 0; i < n; ++i)
    if (!libs[i].key || !libs[i].value) fail(fmt::format("libraries[{}]: NULL key or value", i));
  return fmt::format("{} entr{}", n, n == 1 ? "y" : "ies");
}

std::string check_enumeration(const Plugin& p) {
  if (p.devices == 0) fail("no devices: nothing else can be checked");
  suanli_device_info info{};
  info.struct_size = sizeof info;
  expect_error(p, p.api->device_info(p.ctx, p.devices, &info),
               fmt::format("device_info({}) (one past the last device)", p.devices));
  expect_error(p, p.api->device_info(p.ctx, -1, &info), "device_info(-1)");
  return fmt::format("{} device(s); out-of-range indices refused", p.devices);
}

// ---- device checks: identity, telemetry, buffers ---------------------------------------------

void check_peak_entries(const suanli_device_info& d) {
  if (d.peak_count > 0 && !d.peaks) fail("peak_count > 0 and peaks NULL");
  for (size_t i = 0; i < d.peak_count; ++i) {
    const suanli_peak_entry& e = d.peaks[i];
    if (e.struct_size < SUANLI_STRUCT_SIZE(suanli_peak_entry, derivation))
      fail(fmt::format("peaks[{}].struct_size {}", i, e.struct_size));
    if (e.dtype <= SUANLI_DTYPE_INVALID || e.dtype > SUANLI_DTYPE_INT32)
      fail(fmt::format("peaks[{}].dtype {}", i, static_cast<int>(e.dtype)));
    if (!(e.ops_per_second >= 0) || !std::isfinite(e.ops_per_second) || e.ops_per_second > 1e19)
      fail(fmt::format("peaks[{}].ops_per_second {}", i, e.ops_per_second));
    if (!e.derivation) fail(fmt::format("peaks[{}].derivation is NULL", i));
  }
}

std::string check_device_info(const Plugin& p, int32_t dev) {
  suanli_device_info d{};
  d.struct_size = sizeof d;
  const suanli_status s = p.api->device_info(p.ctx, dev, &d);
  if (s != SUANLI_OK) fail(fmt::format("device_info: {} {}", status_name(s), p.last_error()));
  if (!d.name || !*d.name) fail("name is NULL or empty");
  for (auto [f, v] : {std::pair{"vendor", d.vendor},
                      {"kind", d.kind},
                      {"uuid", d.uuid},
                      {"driver", d.driver},
                      {"features", d.features}})
    if (!v) fail(std::string(f) + " is NULL (unknown strings are \"\")");
  const std::string kind = d.kind;
  if (kind != "cpu" && kind != "gpu" && kind != "accelerator")
    fail("kind '" + kind + "': expected cpu, gpu or accelerator");
  if (d.memory_bytes == 0) fail("memory_bytes is 0");
  if (d.compute_units < 1) fail(fmt::format("compute_units {}", d.compute_units));
  if (d.threads < 0) fail(fmt::format("threads {}", d.threads));
  if (!(d.clock_mhz >= 0 && d.clock_mhz < 1e5) || !(d.max_clock_mhz >= 0 && d.max_clock_mhz < 1e5))
    fail(fmt::format("clock {} MHz / max {} MHz out of range", d.clock_mhz, d.max_clock_mhz));
  check_peak_entries(d);
  if (d.extra_count > 0 && !d.extra) fail("extra_count > 0 and extra NULL");
  for (size_t i = 0; i < d.extra_count; ++i)
    if (!d.extra[i].key || !d.extra[i].value) fail(fmt::format("extra[{}]: NULL key or value", i));
  return fmt::format("'{}' ({}), {} compute units, {:.0f} MiB, {} peak entr{}", d.name, kind,
                     d.compute_units, static_cast<double>(d.memory_bytes) / 1048576.0, d.peak_count,
                     d.peak_count == 1 ? "y" : "ies");
}

std::string check_telemetry(const Plugin& p, int32_t dev) {
  suanli_telemetry t{};
  t.struct_size = sizeof t;
  const suanli_status s = p.api->telemetry(p.ctx, dev, &t);
  if (s != SUANLI_OK) fail(fmt::format("telemetry: {} {}", status_name(s), p.last_error()));
  for (auto [f, v] :
       {std::pair{"power_w", t.power_w}, {"energy_j", t.energy_j}, {"clock_mhz", t.clock_mhz}})
    if (!std::isnan(v) && !(v >= 0 && std::isfinite(v)))
      fail(fmt::format("{} = {} (expected NaN or a finite value >= 0)", f, v));
  return std::string("fields are NaN or finite");
}

// One transfer that must succeed.
void transfer(const Plugin& p, bool upload, suanli_buffer buf, uint64_t offset, void* host,
              uint64_t bytes, const char* what) {
  const suanli_status s = upload ? p.api->buffer_upload(p.ctx, buf, offset, host, bytes)
                                 : p.api->buffer_download(p.ctx, buf, offset, host, bytes);
  if (s != SUANLI_OK) fail(fmt::format("{}: {} {}", what, status_name(s), p.last_error()));
}

std::string check_round_trip(const Plugin& p, int32_t dev) {
  Buffers b(p);
  const uint64_t n = (1 << 20) + 13;
  suanli_buffer buf = b.alloc(dev, n);
  std::vector<unsigned char> src(n), back(n), part(1000), part_back(1000);
  std::mt19937 rng(7);
  for (auto& c : src) c = static_cast<unsigned char>(rng());
  for (auto& c : part) c = static_cast<unsigned char>(rng());
  transfer(p, true, buf, 0, src.data(), n, "upload");
  transfer(p, false, buf, 0, back.data(), n, "download");
  if (back != src) fail("downloaded bytes differ from the uploaded ones");
  const uint64_t off = 4097;
  transfer(p, true, buf, off, part.data(), part.size(), "upload at offset");
  transfer(p, false, buf, off, part_back.data(), part.size(), "download at offset");
  if (part_back != part) fail("bytes uploaded at offset 4097 came back different");
  std::copy(part.begin(), part.end(), src.begin() + off);
  transfer(p, false, buf, 0, back.data(), n, "download");
  if (back != src) fail("an upload at an offset changed bytes outside its range");
  return std::string("1 MiB + 13 bytes whole and at offset 4097");
}

std::string check_bounds(const Plugin& p, int32_t dev) {
  Buffers b(p);
  suanli_buffer buf = b.alloc(dev, 4096);
  std::vector<char> host(8192);
  expect_error(p, p.api->buffer_upload(p.ctx, buf, 4090, host.data(), 16),
               "upload of 16 bytes at 4090 into 4096");
  expect_error(p, p.api->buffer_download(p.ctx, buf, 0, host.data(), 4097),
               "download of 4097 bytes from 4096");
  expect_error(p, p.api->buffer_download(p.ctx, buf, 5000, host.data(), 1),
               "download at offset 5000 of 4096");
  expect_error(p, p.api->buffer_upload(p.ctx, buf, UINT64_MAX - 2, host.data(), 8),
               "upload at an offset that wraps around");
  return std::string("out-of-range transfers refused");
}

std::string check_unknown_kind(const Plugin& p, int32_t dev) {
  suanli_op_desc d{};
  d.struct_size = SUANLI_OP_DESC_SIZE;
  d.kind = static_cast<suanli_op_kind>(9999);
  const char* reason = nullptr;
  const suanli_status s = p.api->supports(p.ctx, dev, &d, &reason);
  if (s != SUANLI_UNSUPPORTED)
    fail(
        fmt::format("supports(op kind 9999) returned {}; an op kind the plugin does not "
                    "know must be UNSUPPORTED",
                    status_name(s)));
  if (!reason || !*reason) fail("UNSUPPORTED without a reason");
  return std::string("unsupported: ") + reason;
}

// ---- op checks: every op of op_list, and the timing of the first supported one ---------------

// An op the device refuses: with a reason, and plan agrees (UNSUPPORTED too, never a plan).
std::string check_refused_op(const Plugin& p, int32_t dev, const OpDesc& op, const AbiOp& abi,
                             const char* reason) {
  if (!reason || !*reason) fail("supports: UNSUPPORTED without a reason");
  const std::string why = reason;
  Buffers b(p);
  Staged st = stage(p, b, dev, op);
  PlanGuard g{p};
  const suanli_status ps =
      p.api->plan(p.ctx, dev, &abi.desc, st.bufs.data(), st.bufs.size(), &g.plan, nullptr);
  if (ps != SUANLI_UNSUPPORTED)
    fail(fmt::format("supports said UNSUPPORTED ({}) but plan returned {}", why, status_name(ps)));
  return "unsupported: " + why;
}

// Every buffer downloaded after the run; the inputs must be as they went up.
std::vector<std::vector<char>> download_all(const Plugin& p, const Staged& st) {
  const size_t out = st.bufs.size() - 1;
  std::vector<std::vector<char>> got = st.host;
  for (size_t i = 0; i < st.bufs.size(); ++i) {
    const suanli_status ds =
        p.api->buffer_download(p.ctx, st.bufs[i], 0, got[i].data(), got[i].size());
    if (ds != SUANLI_OK) fail(fmt::format("download: {} {}", status_name(ds), p.last_error()));
    if (i != out && got[i] != st.host[i])
      fail(fmt::format("input buffer {} was changed by the op", i));
  }
  return got;
}

// One op: supports and plan agree, a supported op runs once with a device time, leaves its
// inputs alone and gives a verified output.
std::string check_op(const Plugin& p, int32_t dev, const OpDesc& op) {
  AbiOp abi(op);
  const char* reason = nullptr;
  const suanli_status s = p.api->supports(p.ctx, dev, &abi.desc, &reason);
  if (s == SUANLI_UNSUPPORTED) return check_refused_op(p, dev, op, abi, reason);
  if (s != SUANLI_OK)
    fail(fmt::format("supports: {} {} (expected OK or UNSUPPORTED)", status_name(s),
                     p.last_error()));
  Buffers b(p);
  Staged st = stage(p, b, dev, op);
  PlanGuard g{p};
  suanli_plan_info info{};
  info.struct_size = sizeof info;
  const suanli_status ps =
      p.api->plan(p.ctx, dev, &abi.desc, st.bufs.data(), st.bufs.size(), &g.plan, &info);
  if (ps != SUANLI_OK || !g.plan)
    fail(fmt::format("supports said OK but plan returned {}: {}", status_name(ps), p.last_error()));
  const double secs = execute(p, g.plan, 1);
  if (!(secs > 0) || !std::isfinite(secs)) fail(fmt::format("execute: device time {} s", secs));
  const verify::Verification v = verify::verify_output(op, download_all(p, st), st.seed);
  if (!v.passed)
    fail(fmt::format("wrong answer ({}): error {:.3g} > bound {:.3g}; {}", v.method, v.error,
                     v.bound, v.detail));
  return fmt::format("verified ({}, error {:.3g} <= {:.3g}); {} / {}", v.method, v.error, v.bound,
                     str(info.library), str(info.implementation));
}

// How many ops the device supports; `usable` becomes the first of them.
std::string find_usable_op(const Plugin& p, int32_t dev, const std::vector<OpDesc>& ops,
                           std::optional<OpDesc>& usable) {
  int n = 0;
  for (const OpDesc& op : ops) {
    AbiOp abi(op);
    const char* reason = nullptr;
    if (p.api->supports(p.ctx, dev, &abi.desc, &reason) != SUANLI_OK) continue;
    ++n;
    if (!usable) usable = op;
  }
  return fmt::format("{} of {} ops supported{}", n, ops.size(),
                     usable ? "; first: " + op_label(*usable) : "");
}

// A plan of the op over freshly staged buffers, which must succeed.
struct StagedPlan {
  Buffers buffers;
  Staged staged;
  PlanGuard guard;
  StagedPlan(const Plugin& p, int32_t dev, const OpDesc& op, const AbiOp& abi)
      : buffers(p), staged(stage(p, buffers, dev, op)), guard{p} {
    const suanli_status ps = p.api->plan(p.ctx, dev, &abi.desc, staged.bufs.data(),
                                         staged.bufs.size(), &guard.plan, nullptr);
    if (ps != SUANLI_OK) fail(fmt::format("plan: {} {}", status_name(ps), p.last_error()));
  }
};

// Device time grows with the iteration count: n iterations against 4n.
std::string check_timing(const Plugin& p, int32_t dev, const OpDesc& op) {
  AbiOp abi(op);
  StagedPlan run(p, dev, op, abi);
  const suanli_plan plan = run.guard.plan;
  execute(p, plan, 1);  // warm-up
  double t1 = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 3; ++i) {
    const double t = execute(p, plan, 1);
    if (!(t > 0) || !std::isfinite(t)) fail(fmt::format("device time {} s for 1 iteration", t));
    t1 = std::min(t1, t);
  }
  // n iterations against 4n: both long enough that a launch overhead is amortized.
  const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(0.01 / t1)), 2, 1000);
  double tn = std::numeric_limits<double>::infinity(), t4n = tn;
  for (int i = 0; i < 3; ++i) {
    tn = std::min(tn, execute(p, plan, n));
    t4n = std::min(t4n, execute(p, plan, 4 * n));
  }
  const double ratio = t4n / tn;
  // Shared machines are noisy (best of 3, a loose band around 4), but a time that stays flat or
  // shrinks, or one that grows far faster than the work, fails.
  if (!(ratio >= 2.0) || !(ratio <= 16.0))
    fail(
        fmt::format("{} iterations took {:.3g} s and {} took {:.3g} s: ratio {:.3g}, expected "
                    "about 4 (1 iteration: {:.3g} s)",
                    n, tn, 4 * n, t4n, ratio, t1));
  return fmt::format(
      "{}: 1 iteration {:.3g} s, {} iterations {:.3g} s, {} iterations {:.3g} s (ratio {:.3g})",
      op_label(op), t1, n, tn, 4 * n, t4n, ratio);
}

// ---- error paths: bad descriptors get an error status, not a crash ----------------------------

// plan() that must fail with an error status (a plan a faulty plugin returns anyway is destroyed).
void expect_plan_error(const Plugin& p, int32_t dev, const suanli_op_desc* desc,
                       const suanli_buffer* bufs, size_t count, const std::string& what) {
  PlanGuard g{p};
  expect_error(p, p.api->plan(p.ctx, dev, desc, bufs, count, &g.plan, nullptr), what);
}

// An op's staged buffers and its ABI descriptor, for the checks that spoil one of them.
struct StagedOp {
  Buffers buffers;
  Staged staged;
  AbiOp abi;
  StagedOp(const Plugin& p, int32_t dev, const OpDesc& op)
      : buffers(p), staged(stage(p, buffers, dev, op)), abi(op) {}
  const std::vector<suanli_buffer>& bufs() const { return staged.bufs; }
};

std::string check_null_op(const Plugin& p, int32_t dev, const OpDesc& op) {
  const char* reason = nullptr;
  expect_error(p, p.api->supports(p.ctx, dev, nullptr, &reason), "supports(NULL op)");
  StagedOp s(p, dev, op);
  expect_plan_error(p, dev, nullptr, s.bufs().data(), s.bufs().size(), "plan(NULL op)");
  s.abi.desc.gemm = nullptr, s.abi.desc.conv2d = nullptr, s.abi.desc.peak = nullptr,
  s.abi.desc.stream = nullptr;
  expect_plan_error(p, dev, &s.abi.desc, s.bufs().data(), s.bufs().size(),
                    "plan(op whose kind's parameters are NULL)");
  return std::string("refused");
}

std::string check_negative_sizes(const Plugin& p, int32_t dev, const OpDesc& op) {
  StagedOp s(p, dev, op);
  s.abi.gemm.m = -s.abi.gemm.m;
  s.abi.peak.elements = -s.abi.peak.elements;
  s.abi.stream.n = -s.abi.stream.n;
  s.abi.conv2d.h = -s.abi.conv2d.h;
  const char* reason = nullptr;
  expect_error(p, p.api->supports(p.ctx, dev, &s.abi.desc, &reason), "supports(negative size)");
  expect_plan_error(p, dev, &s.abi.desc, s.bufs().data(), s.bufs().size(), "plan(negative size)");
  return op_label(op) + " with a negated size refused";
}

std::string check_buffer_count(const Plugin& p, int32_t dev, const OpDesc& op) {
  StagedOp s(p, dev, op);
  const size_t n = s.bufs().size();
  expect_plan_error(p, dev, &s.abi.desc, s.bufs().data(), n - 1,
                    fmt::format("plan with {} of {} buffers", n - 1, n));
  expect_plan_error(p, dev, &s.abi.desc, nullptr, 0, "plan with no buffers");
  return std::string("refused");
}

std::string check_null_buffer(const Plugin& p, int32_t dev, const OpDesc& op) {
  StagedOp s(p, dev, op);
  std::vector<suanli_buffer> bufs = s.bufs();
  bufs[0] = nullptr;
  expect_plan_error(p, dev, &s.abi.desc, bufs.data(), bufs.size(), "plan with a NULL buffer");
  return std::string("refused");
}

std::string check_small_buffer(const Plugin& p, int32_t dev, const OpDesc& op) {
  StagedOp s(p, dev, op);
  const std::vector<uint64_t> need = op_buffer_bytes(op);
  for (size_t i = 0; i < s.bufs().size(); ++i) {
    // Buffer i one element short of what the op needs (stream copy/scale do not read B).
    if (op.kind == OpKind::stream && i == 1 &&
        (op.stream().kind == StreamKind::copy || op.stream().kind == StreamKind::scale))
      continue;
    std::vector<suanli_buffer> bufs = s.bufs();
    bufs[i] = s.buffers.alloc(dev, need[i] / 2);
    expect_plan_error(
        p, dev, &s.abi.desc, bufs.data(), bufs.size(),
        fmt::format("plan with buffer {} of {} bytes (needs {})", i, need[i] / 2, need[i]));
  }
  return std::string("every too-small buffer refused");
}

std::string check_bad_device(const Plugin& p, int32_t dev, const OpDesc& op) {
  AbiOp abi(op);
  const char* reason = nullptr;
  expect_error(p, p.api->supports(p.ctx, p.devices, &abi.desc, &reason),
               "supports on a device that does not exist");
  suanli_buffer buf = nullptr;
  expect_error(p, p.api->buffer_alloc(p.ctx, -1, 64, &buf), "buffer_alloc on device -1");
  if (buf) p.api->buffer_free(p.ctx, buf);
  StagedOp s(p, dev, op);
  expect_plan_error(p, p.devices, &s.abi.desc, s.bufs().data(), s.bufs().size(),
                    "plan on a device that does not exist");
  return std::string("refused");
}

std::string check_execute_args(const Plugin& p, int32_t dev, const OpDesc& op) {
  AbiOp abi(op);
  StagedPlan run(p, dev, op, abi);
  double secs = 0;
  expect_error(p, p.api->execute(p.ctx, &run.guard.plan, 1, 0, &secs), "execute with 0 iterations");
  expect_error(p, p.api->execute(p.ctx, &run.guard.plan, 1, -5, &secs),
               "execute with -5 iterations");
  suanli_plan none = nullptr;
  expect_error(p, p.api->execute(p.ctx, &none, 1, 1, &secs), "execute of a NULL plan");
  return std::string("refused");
}

// ---- the sequence -----------------------------------------------------------------------------

using DeviceCheck = std::string (*)(const Plugin&, int32_t dev);
using OpCheck = std::string (*)(const Plugin&, int32_t dev, const OpDesc& op);

struct DeviceCheckRow {
  const char* name;
  DeviceCheck run;
};
struct OpCheckRow {
  const char* name;
  OpCheck run;
  const char* without_op;  // the failure when the device supports no op
};

// Checks of a device before its ops.
constexpr DeviceCheckRow kDeviceChecks[] = {{"devices.info", check_device_info},
                                            {"telemetry", check_telemetry},
                                            {"buffers.round_trip", check_round_trip},
                                            {"buffers.bounds", check_bounds}};

// Checks of a device on its first supported op, after the ops.
constexpr const char* kNoBadDescriptors = "no supported op to derive bad descriptors from";
constexpr OpCheckRow kUsableOpChecks[] = {
    {"timing", check_timing, "no supported op to time"},
    {"errors.null_op", check_null_op, kNoBadDescriptors},
    {"errors.negative_sizes", check_negative_sizes, kNoBadDescriptors},
    {"errors.buffer_count", check_buffer_count, kNoBadDescriptors},
    {"errors.null_buffer", check_null_buffer, kNoBadDescriptors},
    {"errors.small_buffer", check_small_buffer, kNoBadDescriptors},
    {"errors.bad_device", check_bad_device, kNoBadDescriptors},
    {"errors.execute_args", check_execute_args, kNoBadDescriptors}};

// Every check of one device, in order.
void run_device_checks(const Plugin& p, int32_t dev, const std::vector<OpDesc>& ops,
                       Sequence& seq) {
  const std::string at = fmt::format("[{}]", dev);
  for (const DeviceCheckRow& c : kDeviceChecks)
    seq.check(c.name + at, [&] { return c.run(p, dev); });
  // The first supported op, for the timing and error checks (a setup step: it runs again,
  // quietly, when a child resumes after a crash).
  std::optional<OpDesc> usable;
  seq.check(
      "ops.supported" + at, [&] { return find_usable_op(p, dev, ops, usable); }, true);
  for (const OpDesc& op : ops) seq.check(op_label(op) + at, [&] { return check_op(p, dev, op); });
  seq.check("unsupported.unknown_kind" + at, [&] { return check_unknown_kind(p, dev); });
  for (const OpCheckRow& c : kUsableOpChecks)
    seq.check(c.name + at, [&] {
      if (!usable) fail(c.without_op);
      return c.run(p, dev, *usable);
    });
}

// ABI 1.2's dense linear algebra (HPL) on one device.
void run_linalg_checks(const Plugin& p, int32_t dev, Sequence& seq) {
  const std::string at = fmt::format("[{}]", dev);
  seq.check("linalg.gemm_ex.fp64" + at, [&] { return check_gemm_ex(p, dev); });
  seq.check("linalg.getrf.fp64" + at, [&] { return check_getrf(p, dev); });
  seq.check("linalg.laswp_trsm.fp64" + at, [&] { return check_laswp_trsm(p, dev); });
}

// Loading, the table and the context: false when nothing after them can run.
bool run_setup_checks(const Options& opts, Plugin& p, Sequence& seq) {
  suanli_backend_get_fn get = nullptr;
  if (!seq.check(
          "load", [&] { return check_load(p, opts, get); }, true))
    return false;
  // Every check runs even after one failed; only a failure that leaves nothing to call (no table,
  // another major, a short table, a NULL function, no context) ends the sequence.
  seq.check(
      "abi.version", [&] { return check_abi_version(p, get); }, true);
  if (!p.api || p.api->abi_major != SUANLI_ABI_MAJOR) return false;
  seq.check(
      "abi.struct_sizes", [&] { return check_struct_sizes(p); }, true);
  if (!table_usable(p.api)) return false;
  return seq.check(
      "create", [&] { return check_create(p, opts); }, true);
}

// The checks, in order. Runs inside the child (or in process when not isolated).
void run_checks(const Options& opts, Sequence& seq) {
  Plugin p;
  if (!run_setup_checks(opts, p, seq)) return;
  seq.check("libraries", [&] { return check_libraries(p); });
  seq.check("devices.enumeration", [&] { return check_enumeration(p); });
  const std::vector<OpDesc> ops = op_list();
  const int32_t devices = std::min<int32_t>(p.devices, opts.max_devices);
  for (int32_t dev = 0; dev < devices; ++dev) run_device_checks(p, dev, ops, seq);
  if (p.api->abi_minor >= 2)
    for (int32_t dev = 0; dev < devices; ++dev) run_linalg_checks(p, dev, seq);
  seq.check("destroy", [&] {
    p.api->destroy(p.ctx);
    p.ctx = nullptr;
    return std::string("context destroyed");
  });
}

// ---- isolation ---------------------------------------------------------------------------------

std::string escape(const std::string& s) {
  return replace_chars(s, {{'\\', "\\\\"}, {'\n', "\\n"}, {'\t', "\\t"}});
}
std::string unescape(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[++i];
      o += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      o += s[i];
    }
  }
  return o;
}

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  size_t start = 0;
  while (true) {
    const size_t t = line.find('\t', start);
    f.push_back(line.substr(start, t == std::string::npos ? std::string::npos : t - start));
    if (t == std::string::npos) break;
    start = t + 1;
  }
  return f;
}

std::vector<Check> run_isolated(const Options& opts) {
  std::vector<Check> out;
  size_t start = 0;
  for (int round = 0; round < 1000; ++round) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("conformance: pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("conformance: fork failed");
    if (pid == 0) {
      ::close(fds[0]);
      Sequence seq;
      seq.start = start;
      seq.on_begin = [&](size_t i, const std::string& name) {
        write_all(fds[1], fmt::format("B\t{}\t{}\n", i, escape(name)));
      };
      seq.on_result = [&](size_t i, const Check& c) {
        write_all(fds[1], fmt::format("R\t{}\t{}\t{}\t{}\n", i, c.passed ? 1 : 0, escape(c.name),
                                      escape(c.reason)));
      };
      try {
        run_checks(opts, seq);
      } catch (...) {
      }
      write_all(fds[1], "E\n");
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string buf;
    std::optional<std::pair<size_t, std::string>> in_flight;
    bool ended = false, timed_out = false;
    auto last = std::chrono::steady_clock::now();
    while (true) {
      pollfd pfd{fds[0], POLLIN, 0};
      const int r = ::poll(&pfd, 1, 200);
      if (r > 0) {
        char tmp[4096];
        const ssize_t n = ::read(fds[0], tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          const std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          const std::vector<std::string> f = split_tabs(line);
          if (f[0] == "B" && f.size() >= 3) {
            in_flight = std::pair{std::stoul(f[1]), unescape(f[2])};
            last = std::chrono::steady_clock::now();
          } else if (f[0] == "R" && f.size() >= 5) {
            Check c;
            c.passed = f[2] == "1";
            c.name = unescape(f[3]);
            c.reason = unescape(f[4]);
            out.push_back(c);
            start = std::stoul(f[1]) + 1;
            in_flight.reset();
          } else if (f[0] == "E") {
            ended = true;
          }
        }
      } else if (r < 0 && errno != EINTR) {
        break;
      }
      if (in_flight &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - last).count() >
              opts.check_timeout_s) {
        ::kill(pid, SIGKILL);
        timed_out = true;
        break;
      }
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (ended) return out;
    if (!in_flight) {
      out.push_back(
          {"harness", false,
           "the checking process died outside any check (while loading the plugin "
           "again?): " +
               std::string(WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited")});
      return out;
    }
    std::string why;
    if (timed_out)
      why = fmt::format("hung: no answer within {} s (killed)", opts.check_timeout_s);
    else if (WIFSIGNALED(status))
      why = fmt::format("crashed: {} (signal {})", strsignal(WTERMSIG(status)), WTERMSIG(status));
    else
      why = fmt::format("the plugin ended the process (exit status {})",
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    out.push_back({in_flight->second, false, why});
    start = in_flight->first + 1;
  }
  return out;
}

}  // namespace

std::vector<Check> run(const Options& opts) {
  struct stat st {};
  if (::stat(opts.plugin.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw InputError(opts.plugin + ": no such plugin file (expected a libsuanli_backend_*.so)");
  if (opts.isolate) return run_isolated(opts);
  std::vector<Check> out;
  Sequence seq;
  seq.on_begin = [](size_t, const std::string&) {};
  seq.on_result = [&](size_t, const Check& c) { out.push_back(c); };
  run_checks(opts, seq);
  return out;
}

std::string tally(const std::vector<Check>& checks) {
  const size_t passed = static_cast<size_t>(
      std::count_if(checks.begin(), checks.end(), [](const Check& c) { return c.passed; }));
  return fmt::format("checks: {}  passed: {}  failed: {}", checks.size(), passed,
                     checks.size() - passed);
}

}  // namespace suanli::conformance
