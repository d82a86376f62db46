// Capacity ratings: device figures from verified results, node and fleet sums, categories,
// cross-precision totals and capacity targets (methodology section 6).
#include "rate/rating.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "core/error.h"
#include "core/text.h"
#include "report/enum_names.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/report_reader.h"

namespace suanli::rate {

using nlohmann::json;

namespace {

// The precisions a rating shows, in order.
constexpr Dtype kDtypes[] = {Dtype::fp64, Dtype::fp32,     Dtype::tf32,     Dtype::fp16,
                             Dtype::bf16, Dtype::fp8_e4m3, Dtype::fp8_e5m2, Dtype::int8};

// A measured throughput may exceed the theoretical peak only by this factor (peaks from measured
// clocks are estimates); beyond it the report is refused: its timing cannot be right.
constexpr double kPeakTolerance = 1.10;
// Node counts beyond any real fleet are input errors, not arithmetic overflows later.
constexpr long kMaxNodesPerType = 100000000;

void check_below_peak(const ReportResult& r, double v, const Figure& rpeak,
                      const std::string& origin, const std::string& dtype) {
  if (!std::isfinite(v) || v < 0)
    throw InputError(fmt::format("{}: result {}: flops_per_second {} is not a finite number >= 0",
                                 origin, r.workload, v));
  if (!rpeak.present() || rpeak.value <= 0 || v <= kPeakTolerance * rpeak.value) return;
  throw InputError(fmt::format(
      "{}: result {} claims {:.4g} {}/s, {:.0f}% of the device's {} peak {:.4g} ({}); more than "
      "{:.0f}% cannot be measured honestly: refused (a plugin that misreports its time, or an "
      "edited report)",
      origin, r.workload, v, dtype == "int8" ? "OP" : "FLOP", 100 * v / rpeak.value, dtype,
      rpeak.value, rpeak.source, 100 * kPeakTolerance));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A device peak's derivation names where it came from: the CUDA backend's table says "spec",
// the CPU backend and the CUDA fallback give cores x clock x ops/cycle.
Basis peak_basis(const std::string& derivation) {
  const std::string d = lower(derivation);
  if (d.find("formula") != std::string::npos) return Basis::formula;
  if (d.find("spec") != std::string::npos || d.find("datasheet") != std::string::npos)
    return Basis::spec;
  return Basis::formula;
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// The category's reference precision for one device (methodology 6.2).
Dtype reference_dtype(const DeviceRating& d, Category c) {
  switch (c) {
    case Category::general:
    case Category::general_hosts:
      return Dtype::fp32;
    case Category::super:
      return Dtype::fp64;
    case Category::intelligent: {
      // FP16 or BF16 dense, whichever verified higher; without a verified Rmax, the higher Rpeak.
      const PrecisionRating* f16 = d.at(Dtype::fp16);
      const PrecisionRating* b16 = d.at(Dtype::bf16);
      const double m16 = f16 ? f16->rmax.value : -1, mb16 = b16 ? b16->rmax.value : -1;
      if (m16 >= 0 || mb16 >= 0) return m16 >= mb16 ? Dtype::fp16 : Dtype::bf16;
      const double p16 = f16 ? f16->rpeak.value : -1, pb16 = b16 ? b16->rpeak.value : -1;
      return p16 >= pb16 ? Dtype::fp16 : Dtype::bf16;
    }
  }
  return Dtype::fp32;
}

// A device's share of the fleet: node type, category, and how many of it stand behind one
// measured instance (per node, and in the fleet).
struct Contribution {
  size_t type = 0;
  const DeviceRating* device = nullptr;
  Category category = Category::general;
  Dtype dtype = Dtype::invalid;  // its category's reference precision
  double per_node = 1;           // devices per node this measured device stands for
  double fleet = 1;              // devices in the fleet it stands for
};

double add_or_start(double acc, double v) {
  return v < 0 ? acc : (acc < 0 ? v : acc + v);
}

}  // namespace

namespace {

// In the order of the enums' values (rating.h).
constexpr std::string_view kBasisNames[] = {"spec", "formula", "measured"};
static_assert(std::size(kBasisNames) == static_cast<size_t>(Basis::measured) + 1);
constexpr std::string_view kScopeNames[] = {"device",   "node", "node_type",
                                            "category", "site", "job"};
static_assert(std::size(kScopeNames) == static_cast<size_t>(Scope::job) + 1);
constexpr std::string_view kCategoryNames[] = {"general", "general_hosts", "intelligent", "super"};
constexpr std::string_view kCategoryLabels[] = {
    "general computing (CPU nodes)", "general computing (accelerator hosts)",
    "intelligent computing (accelerators)", "super computing (hpc-tagged)"};
static_assert(std::size(kCategoryNames) == static_cast<size_t>(Category::super) + 1 &&
              std::size(kCategoryLabels) == std::size(kCategoryNames));

}  // namespace

std::string_view basis_name(Basis b) {
  return enum_name(kBasisNames, b, "measured");
}

std::string_view scope_name(Scope s) {
  return enum_name(kScopeNames, s, "device");
}

std::string_view category_name(Category c) {
  return enum_name(kCategoryNames, c, "general");
}

std::string_view category_label(Category c) {
  return enum_name(kCategoryLabels, c);
}

std::string_view rate_unit(Dtype d) {
  return dtype_is_integer(d) ? "OPS" : "FLOPS";
}

std::string format_rate(double v, bool ops) {
  static const char* kPrefixes[] = {"G", "T", "P", "E"};
  const char* unit = ops ? "OPS" : "FLOPS";
  if (v < 0) return "-";
  double x = v / 1e9;
  int p = 0;
  while (x >= 1000.0 && p < 3) {
    x /= 1000.0;
    ++p;
  }
  const int decimals = x >= 100 ? 0 : x >= 10 ? 1 : x >= 1 ? 2 : 3;
  return fmt::format("{:.{}f} {}{}", x, decimals, kPrefixes[p], unit);
}

const PrecisionRating* DeviceRating::at(Dtype d) const {
  for (const PrecisionRating& p : precisions)
    if (p.dtype == d) return &p;
  return nullptr;
}

bool NodeRating::has_accelerators() const {
  return std::any_of(devices.begin(), devices.end(),
                     [](const DeviceRating& d) { return d.accelerator(); });
}

bool NodeType::coverage_sufficient() const {
  const long needed = std::max<long>(1, (count + 9) / 10);
  return static_cast<long>(measured.size()) >= needed;
}

const PrecisionSum* NodeType::node_at(Dtype d) const {
  for (const PrecisionSum& p : per_node)
    if (p.dtype == d) return &p;
  return nullptr;
}

double NodeType::node_power_w() const {
  return power_w;
}

// ---------------------------------------------------------------------------------------------
// Reports

namespace {

// The peak self-check (report.h): a theoretical Rpeak from the report that the verified peak
// kernel contradicts gives way to the measured ceiling, and the source keeps both figures.
void apply_peak_check(PrecisionRating& pr, bool from_claims) {
  if (from_claims || !pr.rpeak.present() || !pr.ceiling.present() || pr.rpeak.value <= 0) return;
  const double ratio = pr.ceiling.value / pr.rpeak.value;
  if (ratio >= kPeakCheckLow && ratio <= kPeakCheckHigh) return;
  const bool ops = dtype_is_integer(pr.dtype);
  pr.peak_suspect = true;
  pr.rpeak_theoretical = pr.rpeak.value;
  pr.rpeak = {
      pr.ceiling.value, Basis::measured,
      fmt::format("measured ceiling {} ({}), used because the theoretical {} ({}) is "
                  "SUSPECT: the peak kernel reached {:.1f}% of it, outside {:.0f}%..{:.0f}%",
                  format_rate(pr.ceiling.value, ops), pr.ceiling.source,
                  format_rate(pr.rpeak_theoretical, ops), pr.rpeak.source, 100 * ratio,
                  100 * kPeakCheckLow, 100 * kPeakCheckHigh)};
}

}  // namespace

namespace {

// Rpeak of one device and precision: the claims file when it has the device, else the report's
// device peak; the sparse claim as a note.
bool set_rpeak(PrecisionRating& pr, const ReportDevice& d, const std::string& name,
               const std::optional<Claims>& claims) {
  const std::string dn(dtype_name(pr.dtype));
  const std::optional<Claim> claim = claims ? claims->find(name, pr.dtype, false) : std::nullopt;
  if (claim) {
    pr.rpeak = {claim->flops_per_second, Basis::spec,
                fmt::format("claims {}: {}", claims->origin, claim->source)};
  } else {
    for (const ReportPeak& p : d.peaks)
      if (p.dtype == dn) pr.rpeak = {p.ops_per_second, peak_basis(p.derivation), p.derivation};
  }
  if (const auto sparse = claims ? claims->find(name, pr.dtype, true) : std::nullopt)
    pr.rpeak_sparse = {sparse->flops_per_second, Basis::spec,
                       fmt::format("claims {}: {}", claims->origin, sparse->source)};
  return claim.has_value();
}

// GEMM Rmax and the peak-kernel ceiling of one device and precision, from its counted results.
void add_gemm_and_peak(PrecisionRating& pr, const ReportDocument& report, const DeviceRating& dev,
                       const std::string& origin, bool include_marked) {
  const std::string dn(dtype_name(pr.dtype));
  for (const ReportResult& r : report.results) {
    if (r.backend != dev.backend || r.device != dev.index || r.dtype != dn) continue;
    if (r.op != "gemm" && r.op != "peak") continue;
    if (!r.counts()) {
      if (r.op == "gemm" && r.status != "unsupported" && r.status != "skipped") ++pr.not_counted;
      continue;
    }
    // A figure above the peak is refused whether or not it is marked: the report is wrong.
    const double v = r.flops_per_second.value_or(-1.0);
    check_below_peak(r, v, pr.rpeak, origin, dn);
    if (!include_marked && r.marked) {
      ++pr.marked;
      continue;
    }
    Figure& f = r.op == "gemm" ? pr.rmax : pr.ceiling;
    if (v > f.value) {
      f = {v, Basis::measured,
           fmt::format("{} (median of {} samples, verified by {})", r.workload,
                       r.time ? r.time->samples : 0, r.verification->method)};
      if (r.op == "gemm") pr.power_w = r.power_w();
    }
  }
  // The built-in peak probe's, where the suite ran no peak kernel or a slower one (a shallow one;
  // report.h PeakCheck takes the faster figure too; a marked probe says nothing about the theory).
  for (const ReportResult& r : report.peak_probes) {
    if (r.backend != dev.backend || r.device != dev.index || r.dtype != dn || r.op != "peak" ||
        !r.counts() || r.marked || r.flops_per_second.value_or(-1.0) <= pr.ceiling.value)
      continue;
    pr.ceiling = {*r.flops_per_second, Basis::measured,
                  fmt::format("{} (the built-in peak probe, median of {} samples)", r.workload,
                              r.time ? r.time->samples : 0)};
  }
}

// Memory bandwidth (best verified stream triad) and the chart points of one device.
void add_bandwidth_and_points(DeviceRating& dev, const ReportDocument& report,
                              bool include_marked) {
  for (const ReportResult& r : report.results) {
    if (r.backend != dev.backend || r.device != dev.index || !r.counts()) continue;
    if (!include_marked && r.marked) continue;
    if (r.op == "stream") {
      if (r.shape_kind != "triad") continue;
      const double v = r.bytes_per_second.value_or(-1.0);
      if (v > dev.memory_bandwidth.value)
        dev.memory_bandwidth = {v, Basis::measured,
                                fmt::format("{} (stream triad, median)", r.workload)};
    } else if (r.op == "gemm" || r.op == "conv2d") {
      Point p;
      p.op = r.op;
      p.dtype = *dtype_from_name(r.dtype);
      p.shape = r.shape_text;
      p.flops = r.flops;
      p.intensity = r.bytes > 0 ? p.flops / r.bytes : 0;
      p.rate = r.flops_per_second.value_or(0.0);
      if (p.rate > 0 && p.intensity > 0) dev.points.push_back(p);
    }
  }
}

DeviceRating rate_device(const ReportDocument& report, const ReportBackend& b,
                         const ReportDevice& d, const std::string& origin,
                         const std::optional<Claims>& claims, bool include_marked) {
  DeviceRating dev;
  dev.report = origin;
  dev.backend = b.name;
  dev.index = d.index;
  dev.name = strip_control(d.name);
  dev.kind = d.kind;
  dev.category = dev.accelerator() ? Category::intelligent : Category::general;
  for (Dtype dt : kDtypes) {
    PrecisionRating pr;
    pr.dtype = dt;
    const bool from_claims = set_rpeak(pr, d, dev.name, claims);
    add_gemm_and_peak(pr, report, dev, origin, include_marked);
    apply_peak_check(pr, from_claims);
    add_hpl_figures(pr, report.results, dev.backend, dev.index);
    if (pr.rpeak.present() || pr.rmax.present() || pr.ceiling.present() ||
        pr.rpeak_sparse.present() || pr.not_counted > 0 || pr.marked > 0 || pr.hpl.present() ||
        pr.hpl_mxp.present())
      dev.precisions.push_back(std::move(pr));
  }
  add_bandwidth_and_points(dev, report, include_marked);
  return dev;
}

}  // namespace

NodeRating rate_report(const json& report, const std::string& origin,
                       const std::optional<Claims>& claims, bool include_marked) {
  check_report(report, origin);
  const ReportDocument doc = read_report(report, origin);
  NodeRating node;
  node.report = origin;
  node.hostname = strip_control(doc.hostname);
  node.sha256 = doc.sha256;
  for (const ReportBackend& b : doc.backends)
    for (const ReportDevice& d : b.devices)
      node.devices.push_back(rate_device(doc, b, d, origin, claims, include_marked));
  // The runner measures devices one after another; a report may say otherwise in its options.
  node.concurrent = doc.concurrent_devices;
  return node;
}

NodeRating load_and_rate_report(const std::string& path, const std::optional<Claims>& claims,
                                bool include_marked) {
  return rate_report(read_json_file(path), path, claims, include_marked);
}

namespace {

NodeRating load_checked_report(const std::string& path, const RateOptions& options) {
  const json doc = read_json_file(path);
  if (options.check_report) options.check_report(doc, path);
  return rate_report(doc, path, options.claims, options.include_marked);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Inventory, totals, targets

Inventory load_inventory(const std::string& path) {
  const json doc = read_json_file(path);
  require_valid(doc, "inventory.schema.json", path, "inventory", "inventories");
  Inventory inv;
  inv.origin = path;
  inv.site = strip_control(doc.value("site", ""));  // names reach terminals: no escape codes
  inv.pue = doc.value("pue", -1.0);
  const std::string base = dirname_of(path);
  std::map<std::string, size_t> names;
  size_t i = 0;
  for (const json& t : doc["node_types"]) {
    Inventory::Entry e;
    e.name = strip_control(t["name"].get<std::string>());
    if (!names.emplace(e.name, i).second)
      throw InputError(fmt::format("{}: at /node_types/{}/name: node type '{}' is listed twice",
                                   path, i, e.name));
    for (const json& r : t["reports"]) {
      const std::string p = r.get<std::string>();
      e.reports.push_back(!p.empty() && p[0] == '/' ? p : base + p);
    }
    e.count = t["count"].get<long>();
    if (e.count < 1 || e.count > kMaxNodesPerType)
      throw InputError(
          fmt::format("{}: at /node_types/{}/count: {} nodes (expected 1 to {} per node type)",
                      path, i, e.count, kMaxNodesPerType));
    if (static_cast<long>(e.reports.size()) > e.count)
      throw InputError(fmt::format(
          "{}: at /node_types/{}/count: {} nodes, but {} reports measured this type (each "
          "report is one measured node)",
          path, i, e.count, e.reports.size()));
    e.nodes_per_rack = t.value("nodes_per_rack", 0L);
    e.power_w = t.value("power_per_node_w", -1.0);
    e.power_tag = t.value("power_tag", std::string("P0"));
    e.hpc = t.value("category", "") == "hpc";
    e.accelerators_per_node = t.value("accelerators_per_node", 0);
    inv.node_types.push_back(std::move(e));
    ++i;
  }
  return inv;
}

TotalMethod parse_total(const std::string& spec) {
  TotalMethod m;
  if (spec.empty() || spec == "none") return m;
  if (spec == "nominal") {
    m.kind = TotalMethod::nominal;
    return m;
  }
  if (spec == "fp32-native") {
    m.kind = TotalMethod::fp32_native;
    return m;
  }
  if (spec.rfind("factors:", 0) != 0)
    throw InputError(
        fmt::format("--total {}: expected nominal, fp32-native or factors:FILE", spec));
  m.kind = TotalMethod::with_factors;
  m.factors_file = spec.substr(8);
  const json doc = read_json_file(m.factors_file);
  const std::string& f = m.factors_file;
  if (!doc.is_object() || doc.value("suanli_factors", 0) != 1)
    throw InputError(fmt::format(
        "{}: at /suanli_factors: expected 1 (a factors file is "
        "{{\"suanli_factors\": 1, \"to\": \"fp32\", \"factors\": {{\"fp16\": 0.5, ...}}, "
        "\"note\": \"...\"}})",
        f));
  if (doc.value("to", "") != "fp32")
    throw InputError(fmt::format("{}: at /to: expected \"fp32\" (factors convert to FP32)", f));
  if (!doc.contains("factors") || !doc["factors"].is_object() || doc["factors"].empty())
    throw InputError(
        fmt::format("{}: at /factors: expected an object of dtype -> number, e.g. "
                    "{{\"fp16\": 0.5, \"fp64\": 2}}",
                    f));
  for (const auto& [k, v] : doc["factors"].items()) {
    const auto d = dtype_from_name(k);
    if (!d || *d == Dtype::uint8 || *d == Dtype::int32)
      throw InputError(
          fmt::format("{}: at /factors/{}: unknown dtype (expected fp64, fp32, "
                      "tf32, fp16, bf16, fp8_e4m3, fp8_e5m2)",
                      f, k));
    if (dtype_is_integer(*d))
      throw InputError(fmt::format(
          "{}: at /factors/{}: INT8 is counted in OPS and is never converted to FLOPS", f, k));
    if (!v.is_number() || v.get<double>() <= 0)
      throw InputError(fmt::format("{}: at /factors/{}: expected a number > 0", f, k));
    m.factors.emplace_back(*d, v.get<double>());
  }
  if (doc.contains("note") && !doc["note"].is_string())
    throw InputError(fmt::format("{}: at /note: expected a string", f));
  m.factors_note = doc.value("note", "");
  return m;
}

Target parse_target(const std::string& spec) {
  static const std::regex re(
      R"(^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGTPE]?)\s*(FLOPS|FLOP/s|OPS|OP/s)?\s*:\s*([a-z0-9_]+)\s*$)");
  std::smatch m;
  if (!std::regex_match(spec, m, re))
    throw InputError(
        fmt::format("--target {}: expected VALUE[UNIT]:DTYPE, e.g. 45EFLOPS:fp16, 2.5PFLOPS:fp64, "
                    "100POPS:int8 or 1e18:fp32",
                    spec));
  Target t;
  t.text = spec;
  t.value = std::stod(m[1]);
  static const std::map<std::string, double> kScale = {{"", 1},     {"k", 1e3}, {"K", 1e3},
                                                       {"M", 1e6},  {"G", 1e9}, {"T", 1e12},
                                                       {"P", 1e15}, {"E", 1e18}};
  t.value *= kScale.at(m[2]);
  const auto d = dtype_from_name(m[4].str());
  if (!d || *d == Dtype::uint8 || *d == Dtype::int32)
    throw InputError(fmt::format("--target {}: unknown dtype '{}'", spec, m[4].str()));
  t.dtype = *d;
  const std::string unit = m[3];
  const bool ops_unit = unit.rfind("OP", 0) == 0;
  if (!unit.empty() && ops_unit != dtype_is_integer(t.dtype))
    throw InputError(fmt::format("--target {}: {} is counted in {}, not {}", spec, m[4].str(),
                                 rate_unit(t.dtype), unit));
  if (t.value <= 0) throw InputError(fmt::format("--target {}: expected a value > 0", spec));
  return t;
}

// ---------------------------------------------------------------------------------------------
// The fleet: node types, categories (step 1), node sums (2), category sums (3), power (4),
// cross-precision total (5), targets (6), notes.

namespace {

// Two names of one report (canonical paths; the names themselves where either cannot be
// resolved).
bool same_path(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(a, ea),
             cb = std::filesystem::weakly_canonical(b, eb);
  return ea || eb ? a == b : ca == cb;
}

// Node types: from the inventory, then one per report the inventory does not place, one node
// each.
std::vector<Inventory::Entry> node_type_entries(const std::vector<std::string>& reports,
                                                const std::optional<Inventory>& inventory) {
  std::vector<Inventory::Entry> entries;
  if (inventory) entries = inventory->node_types;
  for (const std::string& r : reports) {
    // A report the inventory already places in a node type is not a node of its own as well.
    const bool in_inventory = std::any_of(entries.begin(), entries.end(), [&](const auto& e) {
      return std::any_of(e.reports.begin(), e.reports.end(),
                         [&](const std::string& x) { return same_path(x, r); });
    });
    if (in_inventory) continue;
    Inventory::Entry e;
    e.reports = {r};
    e.name = r.substr(r.rfind('/') == std::string::npos ? 0 : r.rfind('/') + 1);
    if (e.name.size() > 5 && e.name.substr(e.name.size() - 5) == ".json")
      e.name.resize(e.name.size() - 5);
    e.power_tag.clear();
    entries.push_back(std::move(e));
  }
  return entries;
}

// Reads and rates every node type's reports; a report is one measured node, counted once.
void measure_node_types(Rating& out, const std::vector<Inventory::Entry>& entries,
                        const RateOptions& options) {
  std::map<std::string, NodeRating> cache;     // a report used by several node types is read once
  std::map<std::string, std::string> by_hash;  // a report's sha256 -> the file that had it
  for (const Inventory::Entry& e : entries) {
    NodeType t;
    t.name = e.name;
    t.count = e.count;
    t.nodes_per_rack = e.nodes_per_rack;
    t.power_w = e.power_w;
    t.power_tag = e.power_w >= 0 ? e.power_tag : "";
    t.hpc = e.hpc;
    t.accelerators_per_node = e.accelerators_per_node;
    for (size_t i = 0; i < e.reports.size(); ++i) {
      const std::string& path = e.reports[i];
      for (size_t j = 0; j < i; ++j)
        if (same_path(e.reports[j], path))
          throw InputError(fmt::format(
              "node type '{}': report {} is listed twice (each report is one measured node): "
              "refused",
              e.name, path));
      auto it = cache.find(path);
      if (it == cache.end()) it = cache.emplace(path, load_checked_report(path, options)).first;
      const auto [seen, fresh] = by_hash.emplace(it->second.sha256, path);
      if (!fresh && !it->second.sha256.empty() && !same_path(seen->second, path))
        throw InputError(fmt::format(
            "{} and {} are the same report (sha256 {}): a report is one measured node and is "
            "counted once; refused",
            seen->second, path, it->second.sha256.substr(0, 16)));
      out.inputs.push_back(path);
      t.measured.push_back(it->second);
    }
    out.node_types.push_back(std::move(t));
  }
  std::sort(out.inputs.begin(), out.inputs.end());
  out.inputs.erase(std::unique(out.inputs.begin(), out.inputs.end()), out.inputs.end());
}

// Step 1: each measured device's category, and how many devices it stands for (per node and in
// the fleet); a node type whose node figure is not measured as a whole is marked extrapolated.
std::vector<Contribution> assign_categories(Rating& out) {
  std::vector<Contribution> contributions;
  for (size_t ti = 0; ti < out.node_types.size(); ++ti) {
    NodeType& t = out.node_types[ti];
    const double k = static_cast<double>(t.measured.size());
    for (NodeRating& n : t.measured) {
      const bool accel_node = n.has_accelerators();
      int accels = 0, mains = 0;
      for (const DeviceRating& d : n.devices) accels += d.accelerator() ? 1 : 0;
      for (DeviceRating& d : n.devices) {
        if (accel_node && !d.accelerator())
          d.category = Category::general_hosts;
        else
          d.category = t.hpc        ? Category::super
                       : accel_node ? Category::intelligent
                                    : Category::general;
        mains += d.category != Category::general_hosts ? 1 : 0;
      }
      double scale = 1;
      if (accel_node && t.accelerators_per_node > 0 && t.accelerators_per_node != accels) {
        scale = static_cast<double>(t.accelerators_per_node) / accels;
        t.extrapolated = true;
        t.extrapolation_reasons.push_back(fmt::format(
            "{}: {} of {} accelerators per node measured; the node figure scales their mean",
            n.report, accels, t.accelerators_per_node));
      } else if (mains > 1 && !n.concurrent) {
        t.extrapolated = true;
        t.extrapolation_reasons.push_back(
            fmt::format("{}: {} devices measured one at a time, not concurrently "
                        "(extrapolated_from_single_device); the node figure is their sum",
                        n.report, mains));
      }
      for (const DeviceRating& d : n.devices) {
        Contribution c;
        c.type = ti;
        c.device = &d;
        c.category = d.category;
        c.dtype = reference_dtype(d, d.category);
        c.per_node = (d.accelerator() ? scale : 1.0) / k;
        c.fleet = c.per_node * static_cast<double>(t.count);
        contributions.push_back(c);
      }
    }
  }
  return contributions;
}

// Step 2: per-precision sums over each node type's main devices, per node.
void sum_node_precisions(Rating& out, const std::vector<Contribution>& contributions) {
  for (size_t ti = 0; ti < out.node_types.size(); ++ti)
    for (Dtype dt : kDtypes) {
      PrecisionSum s;
      s.dtype = dt;
      bool all_power = true;
      int with_rmax = 0;
      for (const Contribution& c : contributions) {
        if (c.type != ti || c.category == Category::general_hosts) continue;
        const PrecisionRating* p = c.device->at(dt);
        if (!p) {
          all_power = false;
          continue;
        }
        s.rpeak = add_or_start(s.rpeak, p->rpeak.present() ? p->rpeak.value * c.per_node : -1);
        s.rmax = add_or_start(s.rmax, p->rmax.present() ? p->rmax.value * c.per_node : -1);
        s.ceiling =
            add_or_start(s.ceiling, p->ceiling.present() ? p->ceiling.value * c.per_node : -1);
        s.rpeak_sparse = add_or_start(
            s.rpeak_sparse, p->rpeak_sparse.present() ? p->rpeak_sparse.value * c.per_node : -1);
        if (p->rmax.present()) ++with_rmax;
        if (p->power_w > 0)
          s.power_w = add_or_start(s.power_w, p->power_w * c.per_node);
        else
          all_power = false;
      }
      if (!all_power || with_rmax == 0) s.power_w = -1;
      if (s.rpeak >= 0 || s.rmax >= 0 || s.ceiling >= 0 || s.rpeak_sparse >= 0)
        out.node_types[ti].per_node.push_back(s);
    }
}

constexpr Category kCategoryOrder[] = {Category::general, Category::intelligent, Category::super,
                                       Category::general_hosts};

// One category's figure over the contributions of one node type (per node) or of the fleet.
CategoryFigure sum_category(const Rating& out, const std::vector<Contribution>& contributions,
                            Category cat, std::optional<size_t> type, bool fleet,
                            bool include_hosts) {
  CategoryFigure f;
  f.category = cat;
  f.included_in_total = cat != Category::general_hosts || include_hosts;
  bool spec = false, formula = false, f16 = false, b16 = false;
  for (const Contribution& c : contributions) {
    if (c.category != cat || (type && c.type != *type)) continue;
    const double w = fleet ? c.fleet : c.per_node;
    const PrecisionRating* p = c.device->at(c.dtype);
    f.devices += static_cast<int>(std::lround(w));
    (c.dtype == Dtype::fp16 ? f16 : b16) |= cat == Category::intelligent;
    if (!p || !p->rmax.present()) f.devices_without_rmax += static_cast<int>(std::lround(w));
    if (!p) continue;
    if (p->rpeak.present()) {
      f.rpeak = add_or_start(f.rpeak, p->rpeak.value * w);
      (p->rpeak.basis == Basis::spec ? spec : formula) = true;
    }
    if (p->rmax.present()) f.rmax = add_or_start(f.rmax, p->rmax.value * w);
    if (p->rpeak_sparse.present())
      f.rpeak_sparse = add_or_start(f.rpeak_sparse, p->rpeak_sparse.value * w);
    const NodeType& t = out.node_types[c.type];
    if (t.extrapolated) f.extrapolated = true;
    if (fleet && !t.coverage_sufficient()) f.extrapolated = true;
  }
  f.precision = cat == Category::super         ? "fp64"
                : cat != Category::intelligent ? "fp32"
                : f16 && b16                   ? "fp16/bf16"
                : b16                          ? "bf16"
                                               : "fp16";
  f.rpeak_basis = spec && formula ? "spec+formula" : spec ? "spec" : formula ? "formula" : "";
  return f;
}

// Step 3: category figures, per node type (per node) and for the fleet, with the reasons a
// fleet figure is extrapolated.
void sum_categories(Rating& out, const std::vector<Contribution>& contributions,
                    bool include_hosts) {
  for (size_t ti = 0; ti < out.node_types.size(); ++ti)
    for (Category cat : kCategoryOrder) {
      CategoryFigure f = sum_category(out, contributions, cat, ti, false, include_hosts);
      if (f.devices > 0) out.node_types[ti].node_categories.push_back(f);
    }
  for (Category cat : kCategoryOrder) {
    CategoryFigure f = sum_category(out, contributions, cat, std::nullopt, true, include_hosts);
    if (f.devices == 0) continue;
    for (const NodeType& t : out.node_types) {
      bool in = false;
      for (const CategoryFigure& nf : t.node_categories) in = in || nf.category == cat;
      if (!in) continue;
      for (const std::string& r : t.extrapolation_reasons) f.extrapolation_reasons.push_back(r);
      if (!t.coverage_sufficient())
        f.extrapolation_reasons.push_back(
            fmt::format("{}: {} of {} nodes measured ({:.2g} %), below max(10 %, 1 node)", t.name,
                        t.measured.size(), t.count, 100.0 * t.coverage()));
    }
    out.categories.push_back(f);
  }
}

// Step 4: power per category (the node types whose main devices are in it; hosts share their
// node's) and for the site.
void site_power(Rating& out) {
  for (CategoryFigure& f : out.categories) {
    if (f.category == Category::general_hosts) continue;
    double w = 0;
    bool all = true;
    for (const NodeType& t : out.node_types)
      for (const CategoryFigure& nf : t.node_categories)
        if (nf.category == f.category) {
          if (t.power_w < 0) all = false;
          w += t.power_w * static_cast<double>(t.count);
        }
    if (all) f.it_power_w = w;
  }
  bool all_power = !out.node_types.empty();
  double it = 0;
  for (const NodeType& t : out.node_types) {
    if (t.power_w < 0) all_power = false;
    it += t.power_w * static_cast<double>(t.count);
  }
  if (all_power) {
    out.it_power_w = it;
    if (out.pue > 0) out.facility_power_w = it * out.pue;
  }
}

void nominal_total(Total& tot, const Rating& out) {
  tot.label = "mixed-precision sum (CAICT-style headline): each category at its own precision";
  for (const CategoryFigure& f : out.categories) {
    if (!f.included_in_total) {
      tot.terms.push_back(
          fmt::format("{} ({}): not included", category_label(f.category), f.precision));
      continue;
    }
    tot.rpeak = add_or_start(tot.rpeak, f.rpeak);
    tot.rmax = add_or_start(tot.rmax, f.rmax);
    tot.terms.push_back(fmt::format("+ {} {} Rpeak {} / Rmax {}", category_label(f.category),
                                    f.precision, format_rate(f.rpeak, false),
                                    format_rate(f.rmax, false)));
  }
}

void fp32_native_total(Total& tot, const Rating& out,
                       const std::vector<Contribution>& contributions) {
  tot.label =
      "FP32-native: every device's own FP32 figure, accelerator hosts included (no "
      "conversion factor)";
  for (const Contribution& c : contributions) {
    const PrecisionRating* p = c.device->at(Dtype::fp32);
    const std::string who =
        fmt::format("{} x {} ({})", c.fleet, c.device->name, out.node_types[c.type].name);
    if (!p || !p->rpeak.present() || !p->rmax.present())
      tot.terms.push_back(fmt::format("{}: no {} FP32 figure, left out", who,
                                      !p || !p->rpeak.present() ? "Rpeak" : "verified Rmax"));
    if (!p) continue;
    if (p->rpeak.present()) tot.rpeak = add_or_start(tot.rpeak, p->rpeak.value * c.fleet);
    if (p->rmax.present()) tot.rmax = add_or_start(tot.rmax, p->rmax.value * c.fleet);
    if (p->rpeak.present() && p->rmax.present())
      tot.terms.push_back(fmt::format("+ {}: Rpeak {} / Rmax {} each", who,
                                      format_rate(p->rpeak.value, false),
                                      format_rate(p->rmax.value, false)));
  }
}

void factors_total(Total& tot, const Rating& out, const std::vector<Contribution>& contributions,
                   const TotalMethod& method) {
  tot.label =
      fmt::format("FP32-equivalent with user-supplied factors from {}", method.factors_file);
  auto factor = [&](Dtype d) -> double {
    for (const auto& [dt, v] : method.factors)
      if (dt == d) return v;
    if (d == Dtype::fp32) return 1.0;
    throw InputError(fmt::format(
        "{}: at /factors/{}: no factor for {}, which the {} figures use (every precision "
        "summed needs a stated factor)",
        method.factors_file, dtype_name(d), dtype_name(d), "category"));
  };
  for (const Contribution& c : contributions) {
    const CategoryFigure* cf = nullptr;
    for (const CategoryFigure& f : out.categories)
      if (f.category == c.category) cf = &f;
    if (!cf || !cf->included_in_total) continue;
    const PrecisionRating* p = c.device->at(c.dtype);
    if (!p) continue;
    const double fac = factor(c.dtype);
    if (p->rpeak.present()) tot.rpeak = add_or_start(tot.rpeak, p->rpeak.value * c.fleet * fac);
    if (p->rmax.present()) tot.rmax = add_or_start(tot.rmax, p->rmax.value * c.fleet * fac);
    tot.terms.push_back(fmt::format("+ {} x {} ({}, {}) {} x factor {} -> FP32", c.fleet,
                                    c.device->name, category_name(c.category),
                                    out.node_types[c.type].name, dtype_name(c.dtype), fac));
  }
  for (const auto& [d, v] : method.factors)
    tot.terms.push_back(fmt::format("factor {} -> fp32: {}", dtype_name(d), v));
  if (!method.factors_note.empty()) tot.terms.push_back("factors note: " + method.factors_note);
}

// Step 5: the cross-precision total, only on request, each term labelled.
Total cross_precision_total(const Rating& out, const std::vector<Contribution>& contributions,
                            const TotalMethod& method) {
  Total tot;
  tot.method = method;
  if (method.kind == TotalMethod::nominal)
    nominal_total(tot, out);
  else if (method.kind == TotalMethod::fp32_native)
    fp32_native_total(tot, out, contributions);
  else
    factors_total(tot, out, contributions, method);
  return tot;
}

// Step 6: a capacity target: nodes of each measured type, on Rmax and on Rpeak.
TargetAnswer answer_target(const NodeType& t, const Target& tg) {
  TargetAnswer a;
  a.node_type = t.name;
  a.extrapolated = t.extrapolated;
  const PrecisionSum* s = t.node_at(tg.dtype);
  if (s) {
    a.node_rmax = s->rmax;
    a.node_rpeak = s->rpeak;
  }
  if (a.node_rmax > 0) a.nodes_on_rmax = static_cast<long>(std::ceil(tg.value / a.node_rmax));
  if (a.node_rpeak > 0) a.nodes_on_rpeak = static_cast<long>(std::ceil(tg.value / a.node_rpeak));
  double pw = -1;
  if (t.power_w >= 0) {
    pw = t.power_w;
    a.power_basis = fmt::format("inventory power per node ({})", t.power_tag);
  } else if (s && s->power_w > 0) {
    pw = s->power_w;
    a.power_basis = "device telemetry during Rmax (P1), devices only, not the whole node";
  }
  if (pw > 0 && a.nodes_on_rmax > 0) a.power_w_on_rmax = pw * a.nodes_on_rmax;
  if (pw > 0 && a.nodes_on_rpeak > 0) a.power_w_on_rpeak = pw * a.nodes_on_rpeak;
  return a;
}

// Notes that keep the figures honest.
void add_notes(Rating& out) {
  for (const NodeType& t : out.node_types)
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& d : n.devices)
        for (const PrecisionRating& p : d.precisions)
          if (p.not_counted > 0)
            out.notes.push_back(fmt::format(
                "{} {} {}: {} GEMM result(s) not counted (status not ok or verification not "
                "passed)",
                n.report, d.name, dtype_name(p.dtype), p.not_counted));
  for (const NodeType& t : out.node_types)
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& d : n.devices)
        for (const PrecisionRating& p : d.precisions) {
          if (p.marked > 0)
            out.notes.push_back(fmt::format(
                "{} {} {}: {} GEMM/peak result(s) left out for a mark (noisy, slowdown, timing "
                "or above_peak; `rate --include-marked` counts them)",
                n.report, d.name, dtype_name(p.dtype), p.marked));
          if (p.peak_suspect)
            out.notes.push_back(fmt::format(
                "{} {} {}: theoretical peak {} SUSPECT (peak kernel {}, {:.1f}%); Rpeak is the "
                "measured ceiling",
                n.report, d.name, dtype_name(p.dtype),
                format_rate(p.rpeak_theoretical, dtype_is_integer(p.dtype)),
                format_rate(p.ceiling.value, dtype_is_integer(p.dtype)),
                100 * p.ceiling.value / p.rpeak_theoretical));
        }
  out.notes.push_back(
      "INT8 is counted in OPS and never summed with FLOPS; FP8 and TF32 are shown per device "
      "and enter no category.");
  out.notes.push_back("Sparse (2:4) peaks are notes only and never enter Rpeak or a total.");
}

}  // namespace

Rating rate(const std::vector<std::string>& reports, const std::optional<Inventory>& inventory,
            const RateOptions& options) {
  Rating out;
  out.claims = options.claims ? options.claims->origin : "";
  out.target = options.target;
  if (inventory) {
    out.inventory = inventory->origin;
    out.site = inventory->site;
    out.pue = inventory->pue;
  }
  measure_node_types(out, node_type_entries(reports, inventory), options);
  const std::vector<Contribution> contributions = assign_categories(out);
  sum_node_precisions(out, contributions);
  sum_categories(out, contributions, options.include_hosts);
  site_power(out);
  if (options.total.kind != TotalMethod::none)
    out.total = cross_precision_total(out, contributions, options.total);
  if (options.target)
    for (const NodeType& t : out.node_types)
      out.target_answers.push_back(answer_target(t, *options.target));
  add_notes(out);
  return out;
}

}  // namespace suanli::rate
