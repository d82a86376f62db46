// `suanli rate --format csv`: one row per device and precision (see export.h, docs/formats.md).
#include <fmt/format.h>

#include "export/export.h"
#include "export/rows.h"
#include "rate/rating.h"

namespace suanli::exports {

namespace {

std::string figure_value(const rate::Figure& f) {
  return f.present() ? number_text(f.value) : "";
}
std::string figure_basis(const rate::Figure& f) {
  return f.present() ? std::string(rate::basis_name(f.basis)) : "";
}

// clang-format off
const std::vector<std::string> kRatingColumns = {
    "node_type", "nodes", "report", "host", "backend", "device", "device_name", "kind",
    "category", "dtype", "unit", "rpeak", "rpeak_basis", "rpeak_source", "rmax", "rmax_source",
    "efficiency", "ceiling", "power_w", "per_watt", "memory_bandwidth_bytes_per_second"};
// clang-format on

std::vector<std::string> rating_row(const rate::NodeType& t, const rate::NodeRating& n,
                                    const rate::DeviceRating& d, const rate::PrecisionRating& p) {
  // clang-format off
  return {t.name, std::to_string(t.count), n.report, n.hostname, d.backend,
          fmt::format("{}:{}", d.backend, d.index), d.name, d.kind,
          std::string(rate::category_name(d.category)), std::string(dtype_name(p.dtype)),
          std::string(rate::rate_unit(p.dtype)), figure_value(p.rpeak), figure_basis(p.rpeak),
          p.rpeak.source, figure_value(p.rmax), p.rmax.source, number_text(p.efficiency()),
          figure_value(p.ceiling), number_text(p.power_w), number_text(p.flops_per_watt()),
          figure_value(d.memory_bandwidth)};
  // clang-format on
}

// A distributed HPL / HPL-MxP solve (one MPI job): kind "mpi_job", device the grid, device_name
// the benchmark; rmax empty unless verified.
std::vector<std::string> cluster_solve_row(const rate::ClusterSolve& c) {
  // clang-format off
  return {"mpi job", std::to_string(c.ranks), c.report, fmt::format("{} hosts", c.hosts), c.backend,
          fmt::format("{}x{} grid", c.p, c.q),
          fmt::format("{} n={} nb={} ({} LU){}", c.benchmark, c.n, c.nb, c.precision,
                      c.rated() ? "" : " not rated: " + c.status),
          "mpi_job", "", "fp64", "FLOP/s", figure_value(c.rpeak), figure_basis(c.rpeak),
          c.rpeak.source, c.rated() ? figure_value(c.rmax) : "", c.rated() ? c.rmax.source : c.reason,
          number_text(c.efficiency()), "", "", "", ""};
  // clang-format on
}

}  // namespace

std::string rating_to_csv(const rate::Rating& rating) {
  std::string out = csv_line(kRatingColumns);
  for (const rate::NodeType& t : rating.node_types)
    for (const rate::NodeRating& n : t.measured)
      for (const rate::DeviceRating& d : n.devices)
        for (const rate::PrecisionRating& p : d.precisions) out += csv_line(rating_row(t, n, d, p));
  for (const rate::ClusterSolve& c : rating.cluster_solves) out += csv_line(cluster_solve_row(c));
  return out;
}

}  // namespace suanli::exports
