// Capacity ratings (`suanli rate`): per device, node, node type, category and site, from
// verified report results, following ../shared/research/rating-methodology.md section 6.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "report/claims.h"

namespace suanli {
struct ReportResult;
}

namespace suanli::rate {

// Where a figure comes from (methodology 6.1): a vendor table or claims file, a
// cores x clock x ops/cycle formula with the clock named, or a verified measurement.
enum class Basis { spec, formula, measured };
std::string_view basis_name(Basis b);

// What a figure covers.
// job: one solve across the ranks of an MPI job (distributed HPL).
enum class Scope { device, node, node_type, category, site, job };
std::string_view scope_name(Scope s);

// Categories as national statistics count them (methodology 6.2). Host CPUs of accelerator
// nodes have their own line, outside the general total unless asked for.
enum class Category { general, general_hosts, intelligent, super };
std::string_view category_name(Category c);   // "general", "general_hosts", ...
std::string_view category_label(Category c);  // "general computing (CPUs)", ...

// One rated number. value < 0: absent (not measured, no claim, no formula).
struct Figure {
  double value = -1;
  Basis basis = Basis::measured;
  std::string source;  // the derivation, the claim's source, or the workload that measured it
  bool present() const { return value >= 0; }
};

// A device's figures at one precision. Dense throughout; the sparse claim is only a note.
struct PrecisionRating {
  Dtype dtype = Dtype::invalid;
  Figure rpeak;         // dense theoretical peak: claims file, else the report's device peak
  Figure rpeak_sparse;  // 2:4 sparsity claim, a note that never enters a total
  Figure rmax;          // "GEMM Rmax": best verified sustained GEMM throughput (median-time FLOP/s)
  Figure ceiling;       // the measured `peak` kernel (verified)
  // HPL figures (src/hpl), on HPL's FP64 operation count over the whole time to solution:
  Figure hpl;      // fp64: best verified HPL (op hpl), the Rmax of the TOP500 list
  Figure hpl_mxp;  // best verified HPL-MxP factored in this precision (op hpl_mxp); never FP64
  // The Rmax that Rmax/Rpeak uses: HPL where measured, else the GEMM Rmax.
  const Figure& rmax_for_efficiency() const { return hpl.present() ? hpl : rmax; }
  double power_w = -1;  // mean device power during the Rmax workload (telemetry), < 0: none
  int not_counted = 0;  // GEMM results of this dtype that did not count (not ok or unverified)
  int marked = 0;       // GEMM and peak results left out for a mark (noisy, slowdown, timing, ...)
  // The peak self-check: the theoretical figure the report declared when the measured ceiling
  // was outside [kPeakCheckLow, kPeakCheckHigh] of it (rpeak is then the measured ceiling).
  bool peak_suspect = false;
  double rpeak_theoretical = -1;
  double efficiency() const {
    const Figure& r = rmax_for_efficiency();
    return rpeak.present() && r.present() && rpeak.value > 0 ? r.value / rpeak.value : -1;
  }
  double flops_per_watt() const {
    return rmax.present() && power_w > 0 ? rmax.value / power_w : -1;
  }
};

// A verified measured point for the charts: arithmetic intensity and throughput.
struct Point {
  std::string op;  // gemm, conv2d
  Dtype dtype = Dtype::invalid;
  std::string shape;
  double flops = 0;      // per call
  double intensity = 0;  // FLOP (OP) per byte of compulsory traffic
  double rate = 0;       // FLOP/s (OP/s) at the median time
};

// Sets pr.hpl (fp64) and pr.hpl_mxp from the verified op hpl / hpl_mxp results of one device
// (src/rate/hpl_rating.cpp).
void add_hpl_figures(PrecisionRating& pr, const std::vector<ReportResult>& results,
                     const std::string& backend, int device);

struct DeviceRating {
  std::string report;  // the report file it came from
  std::string backend;
  int index = 0;
  std::string name, kind;  // kind: cpu, gpu, accelerator
  bool accelerator() const { return kind != "cpu"; }
  Category category = Category::general;
  std::vector<PrecisionRating> precisions;  // in dtype order, only dtypes with any figure
  Figure memory_bandwidth;                  // best verified stream triad, B/s
  std::vector<Point> points;                // verified gemm and conv2d results

  const PrecisionRating* at(Dtype d) const;
};

// One measured node: one report.
struct NodeRating {
  std::string report, hostname, sha256;
  std::vector<DeviceRating> devices;
  bool concurrent = false;  // all devices measured at once (the runner measures one at a time)
  bool has_accelerators() const;
};

// One line of a node or fleet table: a category at its reference precision.
struct CategoryFigure {
  Category category = Category::general;
  std::string precision;         // reference precision used: fp32, fp64, fp16, bf16 or "fp16/bf16"
  double rpeak = -1, rmax = -1;  // < 0: none of the devices had one
  double rpeak_sparse = -1;      // note only
  int devices = 0;               // devices counted (per node, or in the fleet)
  int devices_without_rmax = 0;
  bool extrapolated = false;
  bool included_in_total = true;
  std::string rpeak_basis;  // "spec", "formula", "spec+formula"
  std::vector<std::string> extrapolation_reasons;
  double it_power_w = -1;  // fleet: inventory power of the node types in this category
};

// Per-precision sums over a node's main devices (accelerators, or the CPUs of a CPU node).
struct PrecisionSum {
  Dtype dtype = Dtype::invalid;
  double rpeak = -1, rmax = -1, ceiling = -1, rpeak_sparse = -1;
  double power_w = -1;  // sum of the devices' telemetry power during Rmax, when every one had it
};

// A node type of the fleet: what the inventory says and what its reports measured.
struct NodeType {
  std::string name;
  std::vector<NodeRating> measured;  // one per report
  long count = 1;                    // nodes of this type in the fleet
  long nodes_per_rack = 0;           // 0: racks not given
  double power_w = -1;               // per node, from the inventory
  std::string power_tag;             // P0 nameplate/TDP .. P3 whole-system meter
  bool hpc = false;                  // tagged for super computing
  int accelerators_per_node = 0;     // 0: as measured

  // Derived by rate():
  std::vector<PrecisionSum> per_node;           // main devices, per precision, per node
  std::vector<CategoryFigure> node_categories;  // per node
  bool extrapolated = false;                    // per-node figures not measured as a whole
  std::vector<std::string> extrapolation_reasons;
  double coverage() const {
    return count > 0 ? static_cast<double>(measured.size()) / static_cast<double>(count) : 0;
  }
  bool coverage_sufficient() const;  // >= max(10 % of nodes, 1 node)
  long racks() const {
    return nodes_per_rack > 0 ? (count + nodes_per_rack - 1) / nodes_per_rack : 0;
  }
  const PrecisionSum* node_at(Dtype d) const;
  double node_power_w() const;  // inventory figure, else telemetry at the fp32/fp16 Rmax, else < 0
};

struct Inventory {
  std::string origin;
  std::string site;
  double pue = -1;  // < 0: not given; facility power is then not shown
  struct Entry {
    std::string name;
    std::vector<std::string> reports;  // resolved paths
    long count = 1;
    long nodes_per_rack = 0;
    double power_w = -1;
    std::string power_tag = "P0";
    bool hpc = false;
    int accelerators_per_node = 0;
  };
  std::vector<Entry> node_types;
};

// Reads and validates an inventory (reports/schema/inventory.schema.json); report paths are
// resolved against the inventory's folder. Throws InputError naming the file and JSON pointer.
Inventory load_inventory(const std::string& path);

// Cross-precision totals (methodology 6.3). Default none.
struct TotalMethod {
  enum Kind { none, nominal, fp32_native, with_factors } kind = none;
  std::string factors_file;
  std::vector<std::pair<Dtype, double>> factors;  // to fp32
  std::string factors_note;
};
// Parses "nominal", "fp32-native" or "factors:FILE" (reads FILE). Throws InputError.
TotalMethod parse_total(const std::string& spec);

struct Total {
  TotalMethod method;
  std::string label;
  double rpeak = -1, rmax = -1;
  std::vector<std::string> terms;  // how it was summed, one line per term, factors named
};

// "45EFLOPS:fp16", "2.5 PFLOPS:fp64", "100POPS:int8", "1e18:fp32".
struct Target {
  double value = 0;
  Dtype dtype = Dtype::invalid;
  std::string text;
};
Target parse_target(const std::string& spec);

struct TargetAnswer {
  std::string node_type;
  std::string power_basis;  // "inventory (P0)", "device telemetry (P1), devices only", ""

  double node_rmax = -1, node_rpeak = -1;
  long nodes_on_rmax = -1, nodes_on_rpeak = -1;  // ceil(target / node figure); < 0: no figure
  double power_w_on_rmax = -1, power_w_on_rpeak = -1;
  bool extrapolated = false;
};

struct RateOptions {
  std::optional<Claims> claims;
  TotalMethod total;
  std::optional<Target> target;
  bool include_hosts = false;   // count accelerator hosts in the general total
  bool include_marked = false;  // count results marked noisy, slowdown, timing or above_peak
  // Called with every report document before it is rated (e.g. `--require-signed`); throws
  // InputError to refuse it.
  std::function<void(const nlohmann::json& report, const std::string& origin)> check_report;
};

// One solve across the ranks of an MPI job (a cluster report's `distributed.results`,
// src/cluster/cluster_rate.cpp): the job's HPL Rmax (FP64) or HPL-MxP, beside the FP64 Rpeak of
// the ranks that took part. Only a verified result (`ok`) is rated; the others are listed.
struct ClusterSolve {
  std::string report;                                   // the cluster report
  std::string benchmark;                                // "HPL" or "HPL-MxP"
  std::string op, precision, workload, status, reason;  // precision: the factorization's
  int64_t n = 0, nb = 0;
  int p = 0, q = 0, ranks = 0, hosts = 0;
  std::string backend;
  Figure rmax;   // the job's rate on HPL's FP64 count (measured); absent when not rated
  Figure rpeak;  // FP64: the ranks' devices, a host's cores counted once (formula / spec)
  double scaled_residual = -1;     // HPL's scaled residual (HPL-MxP: its backward error)
  std::string verification;        // what was verified, or why it failed
  std::string scalapack;           // the ScaLAPACK pdgesv cross-check, one line; empty: none
  std::string scalapack_verdict;   // "agrees (1.5e-13 apart)", "DISAGREES", "unavailable", ""
  int refinement_iterations = -1;  // HPL-MxP: GMRES iterations
  bool rated() const { return status == "ok" && rmax.present(); }
  double efficiency() const {
    return rated() && rpeak.present() && rpeak.value > 0 ? rmax.value / rpeak.value : -1;
  }
};

struct Rating {
  std::vector<std::string> inputs;  // report paths
  std::string inventory;            // path or empty
  std::string claims;               // path or empty
  std::string site;
  std::vector<NodeType> node_types;
  std::vector<CategoryFigure> categories;  // fleet, by category
  double it_power_w = -1, pue = -1, facility_power_w = -1;
  std::optional<Total> total;
  std::optional<Target> target;
  std::vector<TargetAnswer> target_answers;
  std::vector<std::string> notes;
  std::vector<ClusterSolve> cluster_solves;  // distributed HPL / HPL-MxP of cluster reports
};

// Reads one report (schema major version, schema, hash checked; InputError otherwise) and rates
// its devices: Rpeak from the claims when they match, else the report's device peaks.
// Results with a mark (report.h's ResultMark) do not count unless include_marked. Where the
// report's theoretical peak fails the peak self-check against the verified peak kernel, Rpeak is
// the measured ceiling, and the figure's source says so with both numbers.
NodeRating rate_report(const nlohmann::json& report, const std::string& origin,
                       const std::optional<Claims>& claims, bool include_marked = false);
NodeRating load_and_rate_report(const std::string& path, const std::optional<Claims>& claims,
                                bool include_marked = false);

// Rates a fleet: without an inventory each report is a node type of one node.
Rating rate(const std::vector<std::string>& reports, const std::optional<Inventory>& inventory,
            const RateOptions& options);

// Scales a rate to GFLOPS .. EFLOPS (GOPS .. EOPS for int8): "45.0 EFLOPS".
std::string format_rate(double per_second, bool ops);
// "FLOPS" or "OPS"
std::string_view rate_unit(Dtype d);

}  // namespace suanli::rate
