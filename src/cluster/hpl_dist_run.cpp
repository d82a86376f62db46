// Distributed HPL suites (hpl_dist.h): parsing, the collective run of each workload, the
// ScaLAPACK cross-check and the cluster report.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "cluster/cluster_run.h"
#include "cluster/hpl_dist.h"
#include "cluster/mpi_env.h"
#include "core/error.h"
#include "harness/journal.h"
#include "hpl/hpl_run.h"
#include "report/file_io.h"
#include "report/hash.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/system_info.h"

#ifdef SUANLI_HAVE_MPI
#include "cluster/hpl_dist_internal.h"
#endif

namespace suanli::cluster {

using nlohmann::json;

int64_t count_before(int64_t g, int64_t nb, int coord, int procs) {
  const int64_t blocks = g / nb, full = blocks / procs, extra = blocks % procs;
  int64_t c = full * nb;
  if (coord < extra) c += nb;
  if (coord == extra) c += g % nb;
  return c;
}

std::pair<int, int> choose_grid(int ranks, int p, int q) {
  if (p > 0 || q > 0) {
    if (p <= 0 || q <= 0 || p * q != ranks)
      throw InputError(fmt::format(
          "grid p {} x q {}: give both, with p x q = the number of ranks ({})", p, q, ranks));
    return {p, q};
  }
  int best = 1;
  for (int d = 1; d * d <= ranks; ++d)
    if (ranks % d == 0) best = d;
  return {best, ranks / best};
}

std::string DistWorkload::id() const {
  return fmt::format("{}.{}.n{}.nb{}", op, dtype, n, nb);
}

bool is_hpl_dist_suite_text(const std::string& text) {
  return text.find("\"suanli_hpl_dist_suite\"") != std::string::npos;
}

namespace {

DistWorkload parse_workload(const json& e, const json& settings, const std::string& where) {
  if (!e.is_object()) throw InputError(fmt::format("{}: expected an object", where));
  DistWorkload w;
  w.op = e.value("op", "");
  if (w.op != "hpl" && w.op != "hpl_mxp")
    throw InputError(fmt::format("{}/op: '{}' is not hpl or hpl_mxp", where, w.op));
  w.dtype = e.value("dtype", w.op == "hpl" ? "fp64" : "fp32");
  if ((w.op == "hpl" && w.dtype != "fp64") ||
      (w.op == "hpl_mxp" && w.dtype != "fp32" && w.dtype != "bf16" && w.dtype != "fp16"))
    throw InputError(
        fmt::format("{}/dtype: '{}': hpl solves in fp64; hpl_mxp factors in fp32, bf16 or fp16",
                    where, w.dtype));
  w.n = e.value("n", int64_t{0});
  w.nb = e.value("nb", int64_t{128});
  w.p = e.value("p", 0);
  w.q = e.value("q", 0);
  w.max_iterations = e.value("max_iterations", 200);
  w.scalapack = e.value("scalapack", w.op == "hpl");
  w.seed = settings.value("seed", uint64_t{1});
  if (w.n < 1 || w.n > 1000000 || w.nb < 1 || w.nb > 4096 || w.p < 0 || w.q < 0 ||
      w.max_iterations < 1)
    throw InputError(fmt::format(
        "{}: expected 1 <= n <= 1000000, 1 <= nb <= 4096, p and q >= 0, max_iterations >= 1",
        where));
  return w;
}

DistSuite dist_suite(const MarkedSuite& m) {
  const json& j = m.doc;
  const std::string& origin = m.origin;
  DistSuite s{m.name, m.description, origin, m.sha256, {}};
  const json settings = j.value("settings", json::object());
  if (settings.contains("timeout_s")) {
    if (!settings["timeout_s"].is_number() || settings["timeout_s"].get<double>() <= 0)
      throw InputError(
          fmt::format("{}: /settings/timeout_s: expected a number of seconds > 0", origin));
    s.timeout_s = settings["timeout_s"].get<double>();
  }
  if (!j.contains("workloads") || !j["workloads"].is_array() || j["workloads"].empty())
    throw InputError(fmt::format("{}: /workloads: expected a non-empty array", origin));
  for (size_t i = 0; i < j["workloads"].size(); ++i)
    s.workloads.push_back(
        parse_workload(j["workloads"][i], settings, fmt::format("{}: /workloads/{}", origin, i)));
  return s;
}

}  // namespace

DistSuite parse_hpl_dist_suite(const std::string& text, const std::string& origin) {
  return dist_suite(parse_marked_suite(text, origin, "suanli_hpl_dist_suite", "hpl-dist"));
}

DistSuite load_hpl_dist_suite(const std::string& name_or_path) {
  return dist_suite(load_marked_suite(name_or_path, "suanli_hpl_dist_suite", "hpl-dist"));
}

std::string corrupt_factor_hook() {
  const char* v = std::getenv("SUANLI_TEST_CORRUPT_FACTOR");
  const std::string s = v ? v : "";
  if (!s.empty() && s != "hpl" && s != "hpl_mxp" && s != "all")
    throw InputError(
        fmt::format("SUANLI_TEST_CORRUPT_FACTOR='{}': expected hpl, hpl_mxp or all", s));
  return s;
}

RankThrowHook rank_throw_hook() {
  RankThrowHook h;
  const char* v = std::getenv("SUANLI_TEST_RANK_THROW");
  if (!v || !*v) return h;
  const std::string s = v;
  const InputError bad(
      fmt::format("SUANLI_TEST_RANK_THROW='{}': expected <rank>:<step> or <rank>:<step>:mid", s));
  char* end = nullptr;
  const long r = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != ':' || r < 0) throw bad;
  const char* rest = end + 1;
  const long long st = std::strtoll(rest, &end, 10);
  const std::string tail = end;
  if (end == rest || st < 0 || (!tail.empty() && tail != ":mid")) throw bad;
  h.rank = static_cast<int>(r);
  h.step = st;
  h.mid = tail == ":mid";
  return h;
}

#ifndef SUANLI_HAVE_MPI

int run_hpl_dist(const DistRunOptions&) {
  throw InputError("distributed HPL needs MPI: this suanli was built without it");
}

#else

namespace {

using Clock = std::chrono::steady_clock;

double slowest_since(Clock::time_point t0) {
  double s = std::chrono::duration<double>(Clock::now() - t0).count(), max = 0;
  MPI_Allreduce(&s, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return max;
}

double norm2(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// The result's identity and the `hpl` object every distributed result carries.
Result base_result(const Backend& b, const DistWorkload& w, int p, int q) {
  Result r;
  r.workload = w.id();
  r.name = w.op;
  r.backend = b.name();
  r.device = 0;
  r.op.kind = OpKind::gemm;
  r.op.dtype = *dtype_from_name(w.dtype);
  r.op.shape = GemmShape{w.n, w.n, 1, 1};
  r.flops = hpl::hpl_flops(w.n);
  r.hpl = {{"op", w.op},
           {"benchmark", w.op == "hpl" ? "HPL" : "HPL-MxP"},
           {"n", w.n},
           {"nb", w.nb},
           {"factorization_precision", w.dtype},
           {"flop_count", "2/3 n^3 + 3/2 n^2 (FP64 operations of the solve)"},
           {"distributed",
            {{"ranks", p * q},
             {"grid", {{"p", p}, {"q", q}, {"order", "row-major (BLACS \"Row\")"}}},
             {"layout", "2-D block-cyclic, nb x nb blocks, [A | b] as HPL"},
             {"matrix", "host memory of each rank; trailing update staged to the device"}}}};
  return r;
}

json lu_json(const LuTimes& t, const hpl::DeviceLinAlg& la) {
  return {{"panel", "host, unblocked, pivot search by MPI_Allreduce(MAXLOC) in the process column"},
          {"panel_broadcast", "MPI_Bcast along the process row"},
          {"row_swaps", "MPI_Sendrecv between the owners in the process column"},
          {"triangular_solve",
           "host, U12 on the diagonal block's process row, then MPI_Bcast "
           "down the process columns"},
          {"gemm", la.gemm_impl},
          {"seconds",
           {{"panel", t.panel},
            {"broadcast", t.broadcast},
            {"swaps", t.swaps},
            {"triangular_solve", t.trsm},
            {"trailing_update", t.gemm}}}};
}

// Timing and the HPL verdict; the rate is the whole job's, so no one device's peak applies.
void finish_result(Result& r, const Backend& b, double seconds, const hpl::Residual& res,
                   const std::string& what) {
  hpl::set_hpl_timing(r, seconds, b, 0);
  r.peak_fraction = -1;
  hpl::set_hpl_verification(r, res, what);
}

// ScaLAPACK's pdgesv on the same system, side by side; a disagreement fails the result.
void cross_check(const Grid& g, const hpl::Matrix& gen, const DistWorkload& w,
                 const std::vector<double>& x, int threads, Result& r) {
  if (!w.scalapack) return;
  if (!scalapack_built()) {
    r.hpl["scalapack"] = {{"status", "unavailable"},
                          {"reason", "built without ScaLAPACK (libscalapack-openmpi-dev)"}};
    return;
  }
  const ScalapackSolve s = scalapack_pdgesv(g, gen, w.nb, threads);
  const hpl::Residual res = distributed_residual(g, gen, w.nb, s.x);
  const double mine = norm2(x), theirs = norm2(s.x);
  const double rel = std::fabs(mine - theirs) / theirs;
  double max_diff = 0, max_x = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(x[i] - s.x[i]));
    max_x = std::max(max_x, std::fabs(s.x[i]));
  }
  const bool agree = s.info == 0 && rel <= 1e-9 && res.scaled < hpl::kResidualThreshold;
  r.hpl["scalapack"] = {
      {"routine", "pdgesv (ScaLAPACK, same matrix, right-hand side, grid and nb)"},
      {"info", s.info},
      {"blas", s.blas},
      {"seconds", s.seconds},
      {"flops_per_second", r.flops / s.seconds},
      {"scaled_residual", res.scaled},
      {"solution_norm2", theirs},
      {"suanli_solution_norm2", mine},
      {"norm_relative_difference", rel},
      {"max_relative_difference", max_x > 0 ? max_diff / max_x : max_diff},
      {"bound", 1e-9},
      {"agree", agree}};
  if (!agree && r.status == Status::ok) {
    r.status = Status::failed;
    r.reason = fmt::format(
        "ScaLAPACK cross-check failed: solution norms differ by {:.3g} relative (bound 1e-9), "
        "pdgesv info {}, its scaled residual {:.4g}",
        rel, s.info, res.scaled);
  }
}

Result run_hpl(const Grid& g, Backend& b, const DistWorkload& w, bool corrupt, int threads,
               SolveGuard& guard) {
  Result r = base_result(b, w, g.p, g.q);
  hpl::DeviceLinAlg la(b, 0);
  if (const std::string why = la.gemm_unsupported(Dtype::fp64, Dtype::fp64); !why.empty()) {
    r.status = Status::unsupported;
    r.reason = "distributed HPL needs FP64 GEMM on sub-matrices: " + why;
    return r;
  }
  const hpl::Matrix gen(w.n, w.seed, false);
  LocalMatrix<double> a = generate_local<double>(g, gen, w.n + 1, w.nb);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  const LuTimes lu = distributed_lu(g, la, b, 0, a, w.n, w.nb, true, &guard);
  if (corrupt) corrupt_u(g, a, w.n, w.nb, false);
  const std::vector<double> x = distributed_back_substitution(g, a, w.n, w.nb);
  const double seconds = slowest_since(t0);
  finish_result(r, b, seconds, distributed_residual(g, gen, w.nb, x),
                "HPL scaled residual (distributed over the P x Q grid, FP64, regenerated A)");
  r.library = la.gemm_library;
  r.implementation = "distributed LU (2-D block-cyclic); trailing GEMM: " + la.gemm_impl;
  r.hpl["lu"] = lu_json(lu, la);
  r.hpl["back_substitution"] = "distributed, block by block, x broadcast to every rank";
  guard.checkpoint();
  cross_check(g, gen, w, x, threads, r);
  return r;
}

// Rank 0's FP64 refinement of the gathered factors (mxp_refine through the backend).
hpl::MxpOutcome refine_at_root(Backend& b, hpl::DeviceLinAlg& la, const hpl::Matrix& gen,
                               const std::vector<float>& factors, double a_inf,
                               const DistWorkload& w) {
  const int64_t n = w.n;
  auto a64 = b.alloc(0, static_cast<uint64_t>(n * n) * 8);
  auto f = b.alloc(0, static_cast<uint64_t>(n * n) * 4);
  auto v64 = b.alloc(0, static_cast<uint64_t>(2 * n) * 8);
  auto v32 = b.alloc(0, static_cast<uint64_t>(n) * 4);
  std::vector<double> host(static_cast<size_t>(n * n));
  gen.fill_columns(0, n, host.data(), n);
  const hpl::MxpBuffers buf{
      hpl::Sub{a64.get(), 0, n}, hpl::Sub{f.get(), 0, n}, nullptr, nullptr, v64.get(), v32.get()};
  hpl::upload_span(b, buf.a64, n, n, 8, host.data());
  hpl::upload_span(b, buf.f, n, n, 4, factors.data());
  std::vector<double> rhs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rhs[static_cast<size_t>(i)] = gen.b(i);
  return hpl::mxp_refine(la, b, buf, rhs, a_inf, n, w.max_iterations);
}

Result run_mxp(const Grid& g, Backend& b, const DistWorkload& w, bool corrupt, SolveGuard& guard) {
  Result r = base_result(b, w, g.p, g.q);
  hpl::DeviceLinAlg la(b, 0);
  // The trailing update in the factorization precision (16-bit: operands rounded on the host,
  // fp32 accumulation), refused where the backend has no such GEMM.
  const Dtype low = *dtype_from_name(w.dtype);
  std::string why = la.gemm_unsupported(low, Dtype::fp32);
  if (!why.empty()) why = fmt::format("no {} GEMM_EX into fp32 on this backend: {}", w.dtype, why);
  if (why.empty()) why = la.gemm_unsupported(Dtype::fp64, Dtype::fp64);
  if (!why.empty()) {
    r.status = Status::unsupported;
    r.reason = fmt::format("distributed HPL-MxP in {}: {}", w.dtype, why);
    return r;
  }
  const hpl::Matrix gen(w.n, w.seed, distributed_diagonal(g, w.n, w.seed, w.nb));
  const double a_inf =
      distributed_residual(g, gen, w.nb, std::vector<double>(static_cast<size_t>(w.n), 0.0)).a_inf;
  LocalMatrix<float> a = generate_local<float>(g, gen, w.n, w.nb);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  const LuTimes lu = distributed_lu(g, la, b, 0, a, w.n, w.nb, false, &guard, low);
  if (corrupt) corrupt_u(g, a, w.n, w.nb, true);
  const double factor_seconds = slowest_since(t0);
  const std::vector<float> factors = gather_matrix(g, a, w.n, w.nb);
  hpl::MxpOutcome out;
  if (g.row == 0 && g.col == 0) out = refine_at_root(b, la, gen, factors, a_inf, w);
  out.x.resize(static_cast<size_t>(w.n));
  int counts[2] = {out.iterations, out.restarts};
  MPI_Bcast(out.x.data(), static_cast<int>(w.n), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(counts, 2, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Bcast(&out.backward_error, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  const double seconds = slowest_since(t0);
  finish_result(r, b, seconds, distributed_residual(g, gen, w.nb, out.x),
                "HPL-MxP backward error: HPL's scaled residual (distributed, FP64, regenerated A)");
  r.library = la.gemm_library;
  r.implementation =
      fmt::format(
          "distributed LU without pivoting (fp32 storage, {} trailing update{}), factors "
          "gathered at rank 0, FP64 GMRES there; GEMM: ",
          w.dtype, low == Dtype::fp32 ? "" : " with fp32 accumulation") +
      la.gemm_impl;
  r.hpl["trailing_update_precision"] = w.dtype;
  r.hpl["lu"] = lu_json(lu, la);
  r.hpl["refinement"] = {
      {"method", "restarted GMRES(30) in FP64 at rank 0 on the gathered fp32 factors"},
      {"distributed", false},
      {"iterations", counts[0]},
      {"restarts", counts[1]},
      {"max_iterations", w.max_iterations},
      {"device_backward_error", out.backward_error}};
  r.hpl["factor_seconds"] = factor_seconds;
  r.hpl["refine_seconds"] = seconds - factor_seconds;
  return r;
}

// The error result of a solve that a rank's failure ended (every rank, or rank 0's watchdog).
Result failed_solve(const Backend& b, const DistWorkload& w, int p, int q, int rank, int64_t step,
                    const std::string& reason) {
  Result r = base_result(b, w, p, q);
  r.status = Status::error;
  r.reason = reason;
  r.hpl["failure"] = {{"rank", rank}, {"lu_block_step", step}};
  return r;
}

Result run_workload(Backend& b, const DistWorkload& w, const Grid& g, const std::string& hook,
                    int threads, SolveGuard& guard) {
  const bool corrupt = hook == "all" || hook == w.op;
  try {
    Result r = w.op == "hpl" ? run_hpl(g, b, w, corrupt, threads, guard)
                             : run_mxp(g, b, w, corrupt, guard);
    guard.end_workload();
    return r;
  } catch (const RankFailure& f) {  // a rank failed: every rank left at the same boundary
    return failed_solve(b, w, g.p, g.q, f.rank, f.step, f.what());
  } catch (const std::exception& e) {  // this rank failed: tell the others
    try {
      guard.fail(e.what());
    } catch (const RankFailure& f) {
      return failed_solve(b, w, g.p, g.q, f.rank, f.step, f.what());
    }
  }
}

std::string summary_line(const json& r) {
  std::string s =
      fmt::format("{:<28} {:>8} {:>10.2f} GFLOPS  residual {:<10.4g} {}", r.value("workload", ""),
                  fmt::format("{}x{}", r["hpl"]["distributed"]["grid"]["p"].get<int>(),
                              r["hpl"]["distributed"]["grid"]["q"].get<int>()),
                  r.value("flops_per_second", 0.0) / 1e9,
                  r.contains("verification") ? r["verification"].value("error", 0.0) : 0.0,
                  r.value("status", ""));
  if (r["hpl"].contains("scalapack") && r["hpl"]["scalapack"].contains("seconds")) {
    const json& sc = r["hpl"]["scalapack"];
    s += fmt::format("\n{:<28} {:>8} {:>10.2f} GFLOPS  residual {:<10.4g} norm rel diff {:.3g}",
                     "  ScaLAPACK pdgesv", "", sc["flops_per_second"].get<double>() / 1e9,
                     sc["scaled_residual"].get<double>(),
                     sc["norm_relative_difference"].get<double>());
  }
  if (r.contains("reason")) s += "\n  " + r["reason"].get<std::string>();
  return s + "\n";
}

// What a rank solved on: its device and that device's declared peaks for the rank's share
// (threads), for the rating's Rpeak of the job (src/cluster/cluster_rate.cpp).
json rank_device(const Backend& b) {
  const DeviceInfo& d = b.devices()[0];
  json peaks = json::object();
  for (const PeakInfo& pk : d.peaks)
    peaks[std::string(dtype_name(pk.dtype))] = {{"ops_per_second", pk.ops_per_second},
                                                {"derivation", pk.derivation}};
  return {{"backend", b.name()},  {"index", d.index}, {"name", d.name},
          {"kind", d.kind},       {"uuid", d.uuid},   {"compute_units", d.compute_units},
          {"threads", d.threads}, {"peaks", peaks}};
}

// Every rank's JSON at rank 0 (rank order); empty elsewhere.
std::vector<json> gather_json(const json& mine, int rank, int size) {
  const std::string text = mine.dump();
  int len = static_cast<int>(text.size());
  std::vector<int> lens(static_cast<size_t>(size)), displs(static_cast<size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += lens[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(std::max(total, 1)), '\0');
  MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  std::vector<json> out;
  if (rank != 0) return out;
  for (int r = 0; r < size; ++r)
    out.push_back(json::parse(all.substr(static_cast<size_t>(displs[static_cast<size_t>(r)]),
                                         static_cast<size_t>(lens[static_cast<size_t>(r)]))));
  return out;
}

// Rank 0's record of the run, shared with the guard's watchdog thread.
struct RunRecord {
  const DistRunOptions* opts = nullptr;
  const DistSuite* suite = nullptr;
  const MpiSession* mpi = nullptr;
  const Backend* backend = nullptr;
  std::string started, out;
  json test_hooks = json::object();
  std::vector<json> devices;  // per rank
  std::mutex mu;
  json results = json::array();
  const DistWorkload* current = nullptr;
  int p = 1, q = 1;
  std::optional<Journal> journal;
};

json write_report(RunRecord& rec, const json& results) {
  std::vector<json> nodes = collective_nodes(*rec.mpi);
  for (size_t r = 0; r < nodes.size() && r < rec.devices.size(); ++r)
    nodes[r]["device"] = rec.devices[r];
  ClusterMeta meta;
  meta.command = rec.opts->argv;
  meta.started_utc = rec.started;
  meta.finished_utc = utc_timestamp();
  meta.suite = {
      {"name", rec.suite->name}, {"origin", rec.suite->origin}, {"sha256", rec.suite->sha256}};
  meta.mpi = mpi_json(*rec.mpi);
  meta.test_hooks = rec.test_hooks;
  json report = make_cluster_report(meta, std::move(nodes));
  report["distributed"] = {{"results", results}};
  report["sha256"] = report_sha256(report);
  write_file_atomic(rec.out, report.dump(2) + "\n");
  if (rec.journal) rec.journal->remove();
  report["path"] = rec.out;
  return report;
}

void print_summary(const json& report, const json& results, const json& hooks, bool quiet) {
  if (!quiet)
    for (const json& r : results) fmt::print("{}", summary_line(r));
  fmt::print("cluster report: {}\ndistributed results: {}  ok: {}\n",
             report["path"].get<std::string>(), results.size(),
             std::count_if(results.begin(), results.end(),
                           [](const json& r) { return r.value("status", "") == "ok"; }));
  if (!hooks.empty()) fmt::print("note: test hooks were active: {}\n", hooks.dump());
}

// The guard's watchdog on rank 0, before MPI_Abort: the finished results and an error result
// for the solve that did not end.
void write_on_stuck(RunRecord& rec, int rank, const std::string& reason) {
  std::lock_guard<std::mutex> lock(rec.mu);
  json results = rec.results;
  if (rec.current)
    results.push_back(
        result_to_json(failed_solve(*rec.backend, *rec.current, rec.p, rec.q, rank, -1, reason)));
  const json report = write_report(rec, results);
  print_summary(report, results, rec.test_hooks, rec.opts->quiet);
}

json active_hooks(const std::string& corrupt, const RankThrowHook& rt) {
  json hooks = json::object();
  if (!corrupt.empty())
    hooks["corrupt_factor"] = {{"op", corrupt}, {"variable", "SUANLI_TEST_CORRUPT_FACTOR"}};
  if (rt.active())
    hooks["rank_throw"] = {{"rank", rt.rank},
                           {"lu_block_step", rt.step},
                           {"mid_step", rt.mid},
                           {"variable", "SUANLI_TEST_RANK_THROW"}};
  return hooks;
}

Backend& load_dist_backend(const DistRunOptions& o, const MpiSession& mpi, int& threads,
                           LoadResult& loaded) {
  LoadOptions lo = o.load;
  if (lo.only.empty()) lo.only = {"cpu"};
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  threads =
      o.threads > 0 ? o.threads : std::max(1, static_cast<int>(cores / mpi.layout().local_size));
  lo.create_options.emplace_back("threads", std::to_string(threads));
  loaded = load_backends(lo);
  if (loaded.backends.empty() || loaded.backends[0]->devices().empty())
    throw InputError(fmt::format("distributed HPL: backend {} could not be loaded{}",
                                 fmt::join(lo.only, ","),
                                 loaded.issues.empty() ? "" : ": " + loaded.issues[0].reason));
  return *loaded.backends[0];
}

void open_journal(RunRecord& rec) {
  try {
    rec.journal.emplace(Journal::create(
        journal_path_for(rec.out),
        {{"kind", "hpl-dist"}, {"suite", rec.suite->name}, {"started_utc", rec.started}}));
  } catch (const std::exception& e) {
    fmt::print(stderr, "suanli: warning: no journal for this run: {}\n", e.what());
  }
}

}  // namespace

int run_hpl_dist(const DistRunOptions& o) {
  const DistSuite suite = load_hpl_dist_suite(o.suite);
  const std::string corrupt = corrupt_factor_hook();
  const RankThrowHook rank_throw = rank_throw_hook();
  RunRecord rec;
  rec.opts = &o;
  rec.suite = &suite;
  rec.started = utc_timestamp();
  rec.test_hooks = active_hooks(corrupt, rank_throw);
  MpiSession mpi(true);  // MPI_THREAD_MULTIPLE: the guard's watchdog receives on rank 0
  rec.mpi = &mpi;
  int threads = 1;
  LoadResult loaded;
  Backend& b = load_dist_backend(o, mpi, threads, loaded);
  rec.backend = &b;
  rec.devices = gather_json(rank_device(b), mpi.rank(), mpi.size());
  rec.out = o.out.empty() ? fmt::format("suanli-reports/hpl-{}-{}.json", host_info().hostname,
                                        utc_compact_timestamp())
                          : o.out;
  if (mpi.rank() == 0) open_journal(rec);
  const double timeout_s = o.timeout_s > 0 ? o.timeout_s : suite.timeout_s;
  SolveGuard guard(mpi.rank(), timeout_s, rank_throw, [&rec](int rank, const std::string& reason) {
    write_on_stuck(rec, rank, reason);
  });
  bool all_ok = true;
  for (const DistWorkload& w : suite.workloads) {
    if (mpi.rank() == 0 && !o.quiet)
      fmt::print(stderr, "suanli: {} across {} ranks...\n", w.id(), mpi.size());
    const auto [p, q] = choose_grid(mpi.size(), w.p, w.q);
    const Grid g(p, q);
    {
      std::lock_guard<std::mutex> lock(rec.mu);
      rec.current = &w;
      rec.p = p;
      rec.q = q;
    }
    guard.begin_workload(w.id());
    const Result r = run_workload(b, w, g, corrupt, threads, guard);
    all_ok = all_ok && r.status == Status::ok;
    if (mpi.rank() != 0) continue;
    std::lock_guard<std::mutex> lock(rec.mu);
    rec.results.push_back(result_to_json(r));
    rec.current = nullptr;
    if (rec.journal) rec.journal->append(r);
  }
  if (mpi.rank() != 0) return all_ok ? kExitOk : kExitFailed;
  std::lock_guard<std::mutex> lock(rec.mu);
  const json report = write_report(rec, rec.results);
  print_summary(report, rec.results, rec.test_hooks, o.quiet);
  return all_ok ? kExitOk : kExitFailed;
}

#endif  // SUANLI_HAVE_MPI

}  // namespace suanli::cluster
