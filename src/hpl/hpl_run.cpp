// HPL / HPL-MxP workloads: suite parsing, sizing, and the timed, verified run.
#include "hpl/hpl_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "hpl/formulas.h"

namespace suanli::hpl {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Leading dimension: n rounded up to 8 elements, and off a multiple of 512 elements (4 KiB
// strides alias in the caches), as HPL pads its local matrices.
int64_t leading_dim(int64_t n) {
  int64_t ld = (n + 7) / 8 * 8;
  if (ld % 512 == 0) ld += 8;
  return ld;
}

// Uploads columns [0, cols) of the generated matrix (fp64, and fp32 when f32 is set) in blocks.
void upload_matrix(Backend& b, const Matrix& gen, int64_t cols, int64_t ld, const Sub& a64,
                   const Sub* f32) {
  const int64_t block = 128;
  std::vector<double> tmp(static_cast<size_t>(ld * block));
  std::vector<float> tmp32(f32 ? tmp.size() : 0);
  for (int64_t j0 = 0; j0 < cols; j0 += block) {
    const int64_t j1 = std::min(cols, j0 + block);
    gen.fill_columns(j0, j1, tmp.data(), ld);
    if (a64.buf) upload_span(b, a64.at(0, j0), gen.n(), j1 - j0, 8, tmp.data());
    if (f32) {
      for (size_t i = 0; i < static_cast<size_t>((j1 - j0) * ld); ++i)
        tmp32[i] = static_cast<float>(tmp[i]);
      upload_span(b, f32->at(0, j0), gen.n(), j1 - j0, 4, tmp32.data());
    }
  }
}

}  // namespace

void set_hpl_timing(Result& r, double seconds, const Backend& b, int device) {
  r.samples = {seconds};
  r.time = compute_stats(r.samples);
  r.iterations = r.iterations_per_sample = 1;
  r.rounds = 1;
  r.stop_reason = StopReason::single_run;
  r.sampling_seconds = seconds;
  r.flops_per_second = r.flops_per_second_best = r.flops / seconds;
  const DeviceInfo& dev = b.devices().at(static_cast<size_t>(device));
  if (const PeakInfo* p = dev.peak(Dtype::fp64); p && p->ops_per_second > 0)
    r.peak_fraction = r.flops_per_second / p->ops_per_second;
}

void set_hpl_verification(Result& r, const Residual& res, const std::string& what) {
  r.verified = true;
  r.verification.method = what;
  r.verification.error = res.scaled;
  r.verification.bound = kResidualThreshold;
  r.verification.passed = res.scaled < kResidualThreshold;
  r.verification.detail = fmt::format(
      "||Ax-b||_inf = {:.3e}, ||A||_inf = {:.6e}, ||x||_inf = {:.6e}, ||b||_inf = {:.6e}; "
      "scaled residual ||Ax-b||_inf / (eps (||A|| ||x|| + ||b||) n) = {:.4g} (threshold {})",
      res.r_inf, res.a_inf, res.x_inf, res.b_inf, res.scaled, kResidualThreshold);
  set_status_from_verification(r);
}

namespace {

// The result's library (the GEMM's) and implementation: where each part of the LU ran.
void describe(Result& r, const DeviceLinAlg& la) {
  r.library = la.gemm_library;
  r.implementation = fmt::format("gemm: {}; panel: {}; triangular solves: {}", la.gemm_impl,
                                 la.where_getrf, la.where_trsm);
  if (!la.where_laswp.empty()) r.implementation += "; row swaps: " + la.where_laswp;
}

json placement(const DeviceLinAlg& la) {
  return {{"gemm", la.gemm_impl},
          {"panel", la.where_getrf},
          {"row_swaps", la.where_laswp},
          {"triangular_solves", la.where_trsm},
          {"gemm_seconds", la.seconds_gemm},
          {"other_seconds", la.seconds_other}};
}

void run_fp64(Backend& b, int device, const Workload& w, int64_t n, int64_t nb,
              const HplHooks& hooks, Result& r) {
  DeviceLinAlg la(b, device, hooks.host_ops);
  if (const std::string why = la.gemm_unsupported(Dtype::fp64, Dtype::fp64); !why.empty()) {
    r.status = Status::unsupported;
    r.reason = "HPL needs FP64 GEMM on sub-matrices: " + why;
    return;
  }
  const int64_t ld = leading_dim(n);
  auto a = b.alloc(device, static_cast<uint64_t>(ld * (n + 1)) * 8);
  auto ipiv = b.alloc(device, static_cast<uint64_t>(n) * 4);
  const Matrix gen(n, w.settings.seed, false);
  const Sub as{a.get(), 0, ld};
  upload_matrix(b, gen, n + 1, ld, as, nullptr);
  const auto t0 = Clock::now();
  const std::vector<double> x = hpl_solve(la, b, as, ipiv.get(), n, nb, hooks.corrupt_factor);
  const double seconds = seconds_since(t0);
  describe(r, la);
  set_hpl_timing(r, seconds, b, device);
  set_hpl_verification(r, residual(gen, x), "HPL scaled residual (host, FP64, regenerated A)");
  r.hpl["placement"] = placement(la);
}

void run_mxp(Backend& b, int device, const Workload& w, int64_t n, int64_t nb,
             const HplHooks& hooks, Result& r) {
  const Dtype p = w.op.dtype;
  DeviceLinAlg la(b, device, hooks.host_ops);
  std::string why = la.gemm_unsupported(p, Dtype::fp32);
  if (why.empty()) why = la.gemm_unsupported(Dtype::fp64, Dtype::fp64);
  if (!why.empty()) {
    r.status = Status::unsupported;
    r.reason = fmt::format("HPL-MxP in {} needs GEMM on sub-matrices in {} and FP64: {}",
                           dtype_name(p), dtype_name(p), why);
    return;
  }
  const int64_t ld = leading_dim(n);
  const bool half = p != Dtype::fp32;
  auto a64 = b.alloc(device, static_cast<uint64_t>(ld * n) * 8);
  auto f = b.alloc(device, static_cast<uint64_t>(ld * n) * 4);
  auto lh = b.alloc(device, half ? static_cast<uint64_t>(n * nb) * 2 : 1);
  auto uh = b.alloc(device, half ? static_cast<uint64_t>(n * nb) * 2 : 1);
  auto v64 = b.alloc(device, static_cast<uint64_t>(2 * n) * 8);
  auto v32 = b.alloc(device, static_cast<uint64_t>(n) * 4);
  const Matrix gen(n, w.settings.seed, true);
  const MxpBuffers buf{
      Sub{a64.get(), 0, ld}, Sub{f.get(), 0, ld}, lh.get(), uh.get(), v64.get(), v32.get()};
  upload_matrix(b, gen, n, ld, buf.a64, &buf.f);
  std::vector<double> rhs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rhs[static_cast<size_t>(i)] = gen.b(i);
  const double a_inf = gen.norm_inf();
  const int max_it = w.hpl_max_iterations > 0 ? w.hpl_max_iterations : kDefaultMaxIterations;
  const auto t0 = Clock::now();
  const MxpOutcome out = mxp_solve(la, b, buf, rhs, a_inf, n, nb, p, max_it, hooks.corrupt_factor);
  const double seconds = seconds_since(t0);
  describe(r, la);
  set_hpl_timing(r, seconds, b, device);
  set_hpl_verification(r, residual(gen, out.x),
                       "HPL-MxP backward error: HPL's scaled residual (host, FP64, regenerated A)");
  r.hpl["refinement"] = {
      {"method", "restarted GMRES(30) in FP64, preconditioned by the LU factors"},
      {"iterations", out.iterations},
      {"restarts", out.restarts},
      {"max_iterations", max_it},
      {"device_backward_error", out.backward_error}};
  r.hpl["factor_seconds"] = out.factor_seconds;
  r.hpl["refine_seconds"] = seconds - out.factor_seconds;
  r.hpl["placement"] = placement(la);
  if (half) r.hpl["placement"]["conversion"] = "host (fp32 panels rounded to 16 bits, transfers)";
}

}  // namespace

Workload hpl_workload(const json& one, const std::string& where) {
  Workload w;
  w.source = where;
  w.hpl = one["op"].get<std::string>();
  w.name = one.value("name", w.hpl);
  const bool mxp = w.hpl == "hpl_mxp";
  const std::string dt = one.value("dtype", mxp ? "fp32" : "fp64");
  w.op.dtype = *dtype_from_name(dt);
  if (!mxp && w.op.dtype != Dtype::fp64)
    throw InputError(fmt::format(
        "{}: hpl solves in fp64 (dtype '{}' given); for a lower-precision factorization use "
        "op hpl_mxp",
        where, dt));
  if (mxp && w.op.dtype != Dtype::fp32 && w.op.dtype != Dtype::bf16 && w.op.dtype != Dtype::fp16)
    throw InputError(fmt::format(
        "{}: hpl_mxp factors in fp32, bf16 or fp16 (dtype '{}' given; the HPL-MxP rules allow "
        "no precision below 16-bit floating point)",
        where, dt));
  w.hpl_n = one.value("n", int64_t{0});
  w.hpl_memory_fraction = one.value("memory_fraction", 0.0);
  if (w.hpl_n <= 0 && w.hpl_memory_fraction <= 0)
    throw InputError(
        fmt::format("{}: {} workload needs 'n' (the matrix order) or 'memory_fraction' (e.g. 0.8)",
                    where, w.hpl));
  w.hpl_nb = one.value("nb", kDefaultNb);
  w.hpl_max_iterations = one.value("max_iterations", 0);
  w.op.kind = OpKind::gemm;  // for the table's sake; the report writes op hpl / hpl_mxp
  w.op.shape = GemmShape{std::max<int64_t>(w.hpl_n, 1), std::max<int64_t>(w.hpl_n, 1), 1, 1};
  w.id = w.hpl_n > 0 ? fmt::format("{}.{}.n{}", w.name, dt, w.hpl_n)
                     : fmt::format("{}.{}.mem{}", w.name, dt, w.hpl_memory_fraction);
  return w;
}

double bytes_per_element(const Workload& w) {
  return w.hpl == "hpl_mxp" ? 12.0 : 8.0;
}

int64_t problem_size(const Workload& w, uint64_t memory_bytes) {
  if (w.hpl_n > 0) return w.hpl_n;
  const double elems =
      w.hpl_memory_fraction * static_cast<double>(memory_bytes) / bytes_per_element(w);
  const int64_t nb = std::max<int64_t>(1, w.hpl_nb);
  return std::max<int64_t>(nb, static_cast<int64_t>(std::sqrt(elems)) / nb * nb);
}

uint64_t device_bytes(const Workload& w, int64_t n) {
  const double ld = static_cast<double>(leading_dim(n));
  double bytes = bytes_per_element(w) * ld * static_cast<double>(n + 1) + 24.0 * n;
  if (w.hpl == "hpl_mxp" && w.op.dtype != Dtype::fp32)
    bytes += 4.0 * static_cast<double>(n * std::max<int64_t>(1, w.hpl_nb));
  return static_cast<uint64_t>(bytes);
}

Result run_hpl_workload(Backend& b, int device, const Workload& w, const RunOptions&,
                        const HplHooks& hooks) {
  Result r;
  r.workload = w.id;
  r.name = w.name;
  r.backend = b.name();
  r.device = device;
  r.op = w.op;
  const bool mxp = w.hpl == "hpl_mxp";
  try {
    const DeviceInfo& dev = b.devices().at(static_cast<size_t>(device));
    const int64_t n = problem_size(w, dev.memory_bytes);
    const int64_t nb = std::clamp<int64_t>(w.hpl_nb > 0 ? w.hpl_nb : kDefaultNb, 1, n);
    r.op.shape = GemmShape{n, n, 1, 1};
    r.flops = hpl_flops(n);
    r.hpl = {{"op", w.hpl},
             {"benchmark", mxp ? "HPL-MxP" : "HPL"},
             {"n", n},
             {"nb", nb},
             {"factorization_precision", std::string(dtype_name(w.op.dtype))},
             {"flop_count", "2/3 n^3 + 3/2 n^2 (FP64 operations of the solve)"},
             {"device_bytes", device_bytes(w, n)}};
    if (w.hpl_n <= 0) r.hpl["memory_fraction"] = w.hpl_memory_fraction;
    if (mxp)
      run_mxp(b, device, w, n, nb, hooks, r);
    else
      run_fp64(b, device, w, n, nb, hooks, r);
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.reason = e.what();
  }
  return r;
}

void perturb_element(Backend& b, const Sub& s, int64_t i, int64_t j, Dtype t, double delta) {
  const Sub e = s.at(i, j);
  if (t == Dtype::fp64) {
    double v = 0;
    download_span(b, e, 1, 1, 8, &v);
    v += delta;
    upload_span(b, e, 1, 1, 8, &v);
  } else {
    float v = 0;
    download_span(b, e, 1, 1, 4, &v);
    v += static_cast<float>(delta);
    upload_span(b, e, 1, 1, 4, &v);
  }
}

}  // namespace suanli::hpl
