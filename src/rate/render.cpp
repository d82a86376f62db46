// Rating outputs other than HTML: the JSON document, the terminal tables and Markdown.
#include "rate/render.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/text.h"
#include "core/units.h"
#include "rate/render_internal.h"

namespace suanli::rate {

using nlohmann::json;

namespace {

bool is_ops(Dtype d) {
  return dtype_is_integer(d);
}

// Every figure in the JSON carries its precision, dense/sparse, basis and scope (methodology
// 6.1); an absent figure is null.
json figure_json(double value, const std::string& precision, bool ops, std::string_view basis,
                 Scope scope, const std::string& source = "", bool sparse = false) {
  if (value < 0) return nullptr;
  json j = {{"value", value},
            {"unit", ops ? "OP/s" : "FLOP/s"},
            {"precision", precision},
            {"sparsity", sparse ? "sparse" : "dense"},
            {"basis", std::string(basis)},
            {"scope", std::string(scope_name(scope))}};
  if (!source.empty()) j["source"] = source;
  return j;
}

json figure_json(const Figure& f, Dtype d, Scope scope, bool sparse = false) {
  return figure_json(f.value, std::string(dtype_name(d)), is_ops(d), basis_name(f.basis), scope,
                     f.source, sparse);
}

std::string pct(double x) {
  return x < 0 ? "-" : fmt::format("{:.1f}%", 100.0 * x);
}
std::string watts(double w) {
  if (w < 0) return "-";
  if (w >= 1e9) return fmt::format("{:.2f} GW", w / 1e9);
  if (w >= 1e6) return fmt::format("{:.2f} MW", w / 1e6);
  if (w >= 1e3) return fmt::format("{:.1f} kW", w / 1e3);
  return fmt::format("{:.0f} W", w);
}
std::string gflops_per_w(double flops_per_w, bool ops) {
  if (flops_per_w < 0) return "-";
  const double g = flops_per_w / 1e9;
  return fmt::format("{:.{}f} {}/W", g,
                     g >= 100  ? 0
                     : g >= 10 ? 1
                     : g >= 1  ? 2
                               : 3,
                     ops ? "GOPS" : "GFLOPS");
}
std::string with_basis(const Figure& f, bool ops) {
  return f.present() ? fmt::format("{} ({})", format_rate(f.value, ops), basis_name(f.basis)) : "-";
}

bool looks_numeric(const std::string& s) {
  return !s.empty() &&
         (std::isdigit(static_cast<unsigned char>(s[0])) || s == "-" ||
          (s.size() > 1 && s[0] == '-' && std::isdigit(static_cast<unsigned char>(s[1]))));
}

}  // namespace

std::string Table::text(const std::string& indent) const {
  std::vector<size_t> w(header.size(), 0);
  // Display width: count UTF-8 code points, not bytes.
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (size_t i = 0; i < header.size(); ++i) w[i] = width(header[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::vector<bool> right(header.size(), true);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < right.size(); ++i)
      right[i] = right[i] && looks_numeric(r[i]);
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out = indent;
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string c = i < cells.size() ? cells[i] : "";
      const std::string pad(w[i] - width(c), ' ');
      out += right[i] ? pad + c : c + (i + 1 < w.size() ? pad : "");
      if (i + 1 < w.size()) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  size_t total = 0;
  for (size_t x : w) total += x + 2;
  out += indent + std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string Table::markdown() const {
  std::string out = "|";
  for (const auto& h : header) out += " " + markdown_cell_escape(h) + " |";
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : r) out += " " + markdown_cell_escape(c) + " |";
    out += "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

namespace {

json null_if_negative(double v) {
  return v < 0 ? json(nullptr) : json(v);
}

json precision_json(const PrecisionRating& p) {
  json pj = {
      {"precision", std::string(dtype_name(p.dtype))},
      {"unit", is_ops(p.dtype) ? "OP/s" : "FLOP/s"},
      {"rpeak", figure_json(p.rpeak, p.dtype, Scope::device)},
      {"rpeak_sparse_note", figure_json(p.rpeak_sparse, p.dtype, Scope::device, true)},
      {"rmax", figure_json(p.rmax, p.dtype, Scope::device)},
      {"hpl_rmax", figure_json(p.hpl, p.dtype, Scope::device)},
      {"hpl_mxp", figure_json(p.hpl_mxp, p.dtype, Scope::device)},
      {"peak_kernel", figure_json(p.ceiling, p.dtype, Scope::device)},
      {"efficiency", null_if_negative(p.efficiency())},
      {"power_w", null_if_negative(p.power_w)},
      {"gflops_per_w", p.flops_per_watt() < 0 ? json(nullptr) : json(p.flops_per_watt() / 1e9)},
      {"results_not_counted", p.not_counted}};
  if (p.power_w >= 0) pj["power_tag"] = "P1";
  return pj;
}

json device_json(const NodeType& t, const DeviceRating& d) {
  json precs = json::array();
  for (const PrecisionRating& p : d.precisions) precs.push_back(precision_json(p));
  json mb = nullptr;
  if (d.memory_bandwidth.present())
    mb = {{"value", d.memory_bandwidth.value},
          {"unit", "B/s"},
          {"basis", "measured"},
          {"scope", "device"},
          {"source", d.memory_bandwidth.source}};
  return {{"report", d.report},
          {"node_type", t.name},
          {"backend", d.backend},
          {"index", d.index},
          {"name", d.name},
          {"kind", d.kind},
          {"category", std::string(category_name(d.category))},
          {"precisions", precs},
          {"memory_bandwidth", mb}};
}

json per_node_json(const NodeType& t) {
  json per_node = json::array();
  for (const PrecisionSum& s : t.per_node) {
    const std::string p(dtype_name(s.dtype));
    const bool ops = is_ops(s.dtype);
    json e = {
        {"precision", p},
        {"rpeak", figure_json(s.rpeak, p, ops, "spec/formula", Scope::node)},
        {"rmax", figure_json(s.rmax, p, ops, "measured", Scope::node)},
        {"rpeak_sparse_note", figure_json(s.rpeak_sparse, p, ops, "spec", Scope::node, "", true)}};
    if (t.nodes_per_rack > 0) {
      const double n = static_cast<double>(t.nodes_per_rack);
      e["per_rack"] = {{"rpeak", figure_json(s.rpeak < 0 ? -1 : s.rpeak * n, p, ops, "spec/formula",
                                             Scope::node_type)},
                       {"rmax", figure_json(s.rmax < 0 ? -1 : s.rmax * n, p, ops, "measured",
                                            Scope::node_type)}};
    }
    if (t.power_w > 0 && s.rmax >= 0) e["gflops_per_w"] = s.rmax / t.power_w / 1e9;
    per_node.push_back(e);
  }
  return per_node;
}

json node_type_json(const NodeType& t) {
  json cats = json::array();
  for (const CategoryFigure& f : t.node_categories)
    cats.push_back({{"category", std::string(category_name(f.category))},
                    {"precision", f.precision},
                    {"rpeak", figure_json(f.rpeak, f.precision, false, f.rpeak_basis, Scope::node)},
                    {"rmax", figure_json(f.rmax, f.precision, false, "measured", Scope::node)},
                    {"devices", f.devices}});
  json tj = {{"name", t.name},
             {"reports", json::array()},
             {"count", t.count},
             {"measured_nodes", t.measured.size()},
             {"coverage", t.coverage()},
             {"coverage_sufficient", t.coverage_sufficient()},
             {"hpc", t.hpc},
             {"extrapolated", t.extrapolated},
             {"extrapolation_reasons", t.extrapolation_reasons},
             {"per_node", per_node_json(t)},
             {"node_categories", cats}};
  for (const NodeRating& n : t.measured) tj["reports"].push_back(n.report);
  if (t.nodes_per_rack > 0) {
    tj["nodes_per_rack"] = t.nodes_per_rack;
    tj["racks"] = t.racks();
    if (t.power_w > 0) tj["power_per_rack_w"] = t.power_w * static_cast<double>(t.nodes_per_rack);
  }
  if (t.power_w > 0) {
    tj["power_per_node_w"] = t.power_w;
    tj["power_tag"] = t.power_tag;
  }
  if (t.accelerators_per_node > 0) tj["accelerators_per_node"] = t.accelerators_per_node;
  return tj;
}

json category_json(const CategoryFigure& f, double pue) {
  return {{"category", std::string(category_name(f.category))},
          {"label", std::string(category_label(f.category))},
          {"precision", f.precision},
          {"rpeak", figure_json(f.rpeak, f.precision, false, f.rpeak_basis, Scope::category)},
          {"rmax", figure_json(f.rmax, f.precision, false, "measured", Scope::category)},
          {"rpeak_sparse_note",
           figure_json(f.rpeak_sparse, f.precision, false, "spec", Scope::category, "", true)},
          {"efficiency", f.rpeak > 0 && f.rmax >= 0 ? json(f.rmax / f.rpeak) : json(nullptr)},
          {"devices", f.devices},
          {"devices_without_rmax", f.devices_without_rmax},
          {"it_power_w", null_if_negative(f.it_power_w)},
          {"gflops_per_w_it",
           f.it_power_w > 0 && f.rmax >= 0 ? json(f.rmax / f.it_power_w / 1e9) : json(nullptr)},
          {"gflops_per_w_facility", f.it_power_w > 0 && f.rmax >= 0 && pue > 0
                                        ? json(f.rmax / (f.it_power_w * pue) / 1e9)
                                        : json(nullptr)},
          {"included_in_total", f.included_in_total},
          {"extrapolated", f.extrapolated},
          {"extrapolation_reasons", f.extrapolation_reasons}};
}

json total_json(const Total& t) {
  static const char* kNames[] = {"none", "nominal", "fp32-native", "factors"};
  json tj = {{"method", kNames[t.method.kind]},
             {"label", t.label},
             {"rpeak", null_if_negative(t.rpeak)},
             {"rmax", null_if_negative(t.rmax)},
             {"terms", t.terms}};
  if (t.method.kind == TotalMethod::with_factors) {
    json f = json::object();
    for (const auto& [d, v] : t.method.factors) f[std::string(dtype_name(d))] = v;
    tj["factors"] = f;
    tj["factors_file"] = t.method.factors_file;
    if (!t.method.factors_note.empty()) tj["factors_note"] = t.method.factors_note;
  }
  return tj;
}

json target_json(const Target& target, const std::vector<TargetAnswer>& target_answers) {
  json answers = json::array();
  for (const TargetAnswer& a : target_answers) {
    auto cnt = [](long v) { return v < 0 ? json(nullptr) : json(v); };
    answers.push_back({{"node_type", a.node_type},
                       {"node_rmax", null_if_negative(a.node_rmax)},
                       {"node_rpeak", null_if_negative(a.node_rpeak)},
                       {"nodes_on_rmax", cnt(a.nodes_on_rmax)},
                       {"nodes_on_rpeak", cnt(a.nodes_on_rpeak)},
                       {"power_w_on_rmax", null_if_negative(a.power_w_on_rmax)},
                       {"power_w_on_rpeak", null_if_negative(a.power_w_on_rpeak)},
                       {"power_basis", a.power_basis},
                       {"extrapolated", a.extrapolated}});
  }
  return {{"text", target.text},
          {"value", target.value},
          {"precision", std::string(dtype_name(target.dtype))},
          {"unit", is_ops(target.dtype) ? "OP/s" : "FLOP/s"},
          {"answers", answers}};
}

// A distributed solve (scope: the MPI job): the HPL figures in the field's names.
json cluster_solve_json(const ClusterSolve& c) {
  json j = {{"report", c.report},
            {"benchmark", c.benchmark},
            {"op", c.op},
            {"workload", c.workload},
            {"factorization_precision", c.precision},
            {"status", c.status},
            {"rated", c.rated()},
            {"n", c.n},
            {"nb", c.nb},
            {"grid", {{"p", c.p}, {"q", c.q}}},
            {"ranks", c.ranks},
            {"hosts", c.hosts},
            {"backend", c.backend},
            {"rmax", c.rated() ? figure_json(c.rmax, Dtype::fp64, Scope::job) : json()},
            {"rpeak", figure_json(c.rpeak, Dtype::fp64, Scope::job)},
            {"efficiency", null_if_negative(c.efficiency())},
            {"scaled_residual", null_if_negative(c.scaled_residual)},
            {"verification", c.verification},
            {"scalapack", c.scalapack}};
  if (!c.rpeak.present()) j["rpeak_missing"] = c.rpeak.source;
  if (!c.reason.empty()) j["reason"] = c.reason;
  if (c.refinement_iterations >= 0) j["refinement_iterations"] = c.refinement_iterations;
  return j;
}

}  // namespace

json rating_to_json(const Rating& r, const std::string& tool_version) {
  json j;
  j["suanli_rating"] = 1;
  j["suanli"] = tool_version;
  j["inputs"] = {{"reports", r.inputs},
                 {"inventory", r.inventory.empty() ? json(nullptr) : json(r.inventory)},
                 {"claims", r.claims.empty() ? json(nullptr) : json(r.claims)}};
  if (!r.site.empty()) j["site"] = r.site;
  json devices = json::array();
  json types = json::array();
  for (const NodeType& t : r.node_types) {
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& d : n.devices) devices.push_back(device_json(t, d));
    types.push_back(node_type_json(t));
  }
  j["devices"] = devices;
  j["node_types"] = types;
  json cats = json::array();
  for (const CategoryFigure& f : r.categories) cats.push_back(category_json(f, r.pue));
  j["categories"] = cats;
  j["site_power"] = {{"it_power_w", null_if_negative(r.it_power_w)},
                     {"pue", null_if_negative(r.pue)},
                     {"facility_power_w", null_if_negative(r.facility_power_w)}};
  if (r.total) j["total"] = total_json(*r.total);
  if (r.target) j["target"] = target_json(*r.target, r.target_answers);
  json solves = json::array();
  for (const ClusterSolve& c : r.cluster_solves) solves.push_back(cluster_solve_json(c));
  j["cluster_solves"] = solves;
  j["notes"] = r.notes;
  return j;
}

// ---------------------------------------------------------------------------------------------
// Text and Markdown share the tables.

namespace {

std::string headline_of(const CategoryFigure& f) {
  static const std::map<Category, const char*> kShort = {
      {Category::general, "general"},
      {Category::general_hosts, "general (accelerator hosts)"},
      {Category::intelligent, "intelligent"},
      {Category::super, "super"}};
  std::string p = f.precision;
  std::transform(p.begin(), p.end(), p.begin(), ::toupper);
  return fmt::format("{} {} Rmax / {} Rpeak ({}{}){}", kShort.at(f.category),
                     format_rate(f.rmax, false), format_rate(f.rpeak, false), p,
                     f.category == Category::intelligent ? " dense" : "",
                     f.extrapolated ? " [extrapolated]" : "");
}

}  // namespace

namespace {

// The devices table, and beside it each device's figure sources and memory bandwidth (each
// report + device described once).
struct DeviceSection {
  Table table;
  std::vector<std::string> derivations, bandwidths;
};

void add_derivations(std::vector<std::string>& out, const std::string& who,
                     const std::string& report, const PrecisionRating& p) {
  if (p.rpeak.present())
    out.push_back(
        fmt::format("{} ({}) {} Rpeak: {}", who, report, dtype_name(p.dtype), p.rpeak.source));
  if (p.rmax.present())
    out.push_back(
        fmt::format("{} ({}) {} GEMM Rmax: {}", who, report, dtype_name(p.dtype), p.rmax.source));
  if (p.hpl.present())
    out.push_back(fmt::format("{} ({}) HPL Rmax: {}", who, report, p.hpl.source));
  if (p.hpl_mxp.present())
    out.push_back(fmt::format("{} ({}) HPL-MxP ({} factorization): {}", who, report,
                              dtype_name(p.dtype), p.hpl_mxp.source));
}

std::vector<std::string> device_row(const NodeType& t, const std::string& who,
                                    const DeviceRating& d, const PrecisionRating& p) {
  const bool ops = is_ops(p.dtype);
  return {t.name,
          who,
          std::string(category_name(d.category)),
          std::string(dtype_name(p.dtype)),
          with_basis(p.rpeak, ops),
          format_rate(p.rmax.value, ops),
          format_rate(p.hpl.value, ops),
          format_rate(p.hpl_mxp.value, ops),
          pct(p.efficiency()),
          format_rate(p.ceiling.value, ops),
          format_rate(p.rpeak_sparse.value, ops),
          gflops_per_w(p.flops_per_watt(), ops),
          p.not_counted ? std::to_string(p.not_counted) : "-"};
}

DeviceSection device_section(const Rating& r) {
  DeviceSection out;
  out.table.header = {"node type",     "device",   "category",   "precision",  "Rpeak (basis)",
                      "GEMM Rmax",     "HPL Rmax", "HPL-MxP",    "Rmax/Rpeak", "peak kernel",
                      "sparse (note)", "GFLOPS/W", "not counted"};
  std::vector<std::string> described;  // report + device, each described once
  for (const NodeType& t : r.node_types)
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& d : n.devices) {
        const std::string who = fmt::format("{}:{} {}", d.backend, d.index, d.name);
        const std::string key = n.report + " " + who;
        const bool describe = std::find(described.begin(), described.end(), key) == described.end();
        if (describe) described.push_back(key);
        for (const PrecisionRating& p : d.precisions) {
          out.table.rows.push_back(device_row(t, who, d, p));
          if (describe) add_derivations(out.derivations, who, n.report, p);
        }
        if (!describe) continue;
        out.bandwidths.push_back(fmt::format("{} ({}): {}", who, n.report,
                                             d.memory_bandwidth.present()
                                                 ? format_si(d.memory_bandwidth.value, "B/s") +
                                                       " (" + d.memory_bandwidth.source + ")"
                                                 : std::string("no verified stream triad")));
      }
  return out;
}

void add_node_type_tables(Sections& s, const Rating& r) {
  Table nt;
  nt.header = {"node type", "nodes",      "measured", "coverage",
               "racks",     "power/node", "kW/rack",  "node figure extrapolated"};
  Table np;
  np.header = {"node type",  "precision", "Rpeak/node",     "Rmax/node",
               "Rmax/Rpeak", "Rmax/rack", "GFLOPS/W (node)"};
  for (const NodeType& t : r.node_types) {
    nt.rows.push_back(
        {t.name, std::to_string(t.count), std::to_string(t.measured.size()),
         fmt::format("{:.3g}%{}", 100.0 * t.coverage(), t.coverage_sufficient() ? "" : " (low)"),
         t.racks() ? std::to_string(t.racks()) : "-",
         t.power_w > 0 ? watts(t.power_w) + " " + t.power_tag : "-",
         t.power_w > 0 && t.nodes_per_rack > 0
             ? fmt::format("{:.1f}", t.power_w * static_cast<double>(t.nodes_per_rack) / 1e3)
             : "-",
         t.extrapolated ? "yes" : "no"});
    for (const PrecisionSum& p : t.per_node) {
      const bool ops = is_ops(p.dtype);
      np.rows.push_back(
          {t.name, std::string(dtype_name(p.dtype)), format_rate(p.rpeak, ops),
           format_rate(p.rmax, ops), pct(p.rpeak > 0 && p.rmax >= 0 ? p.rmax / p.rpeak : -1),
           t.nodes_per_rack > 0 && p.rmax >= 0
               ? format_rate(p.rmax * static_cast<double>(t.nodes_per_rack), ops)
               : "-",
           t.power_w > 0 && p.rmax >= 0 ? gflops_per_w(p.rmax / t.power_w, ops) : "-"});
    }
  }
  s.tables.emplace_back("Node types (scope: node type)", nt);
  s.tables.emplace_back("Per node, main devices (accelerators, or the CPUs of a CPU node)", np);
}

void add_category_table(Sections& s, const Rating& r) {
  Table cat;
  cat.header = {"category",    "precision",         "Rpeak (basis)", "Rmax",
                "Rmax/Rpeak",  "sparse (note)",     "devices",       "IT power",
                "GFLOPS/W IT", "GFLOPS/W facility", "in total",      "extrapolated"};
  std::vector<std::string> reasons;
  for (const CategoryFigure& f : r.categories) {
    cat.rows.push_back(
        {std::string(category_label(f.category)), f.precision,
         f.rpeak < 0 ? "-" : format_rate(f.rpeak, false) + " (" + f.rpeak_basis + ")",
         format_rate(f.rmax, false), pct(f.rpeak > 0 && f.rmax >= 0 ? f.rmax / f.rpeak : -1),
         format_rate(f.rpeak_sparse, false),
         f.devices_without_rmax
             ? fmt::format("{} ({} without Rmax)", f.devices, f.devices_without_rmax)
             : std::to_string(f.devices),
         watts(f.it_power_w),
         gflops_per_w(f.it_power_w > 0 && f.rmax >= 0 ? f.rmax / f.it_power_w : -1, false),
         gflops_per_w(
             f.it_power_w > 0 && f.rmax >= 0 && r.pue > 0 ? f.rmax / (f.it_power_w * r.pue) : -1,
             false),
         f.included_in_total ? "yes" : "no (--include-hosts)", f.extrapolated ? "yes" : "no"});
    for (const std::string& x : f.extrapolation_reasons)
      if (std::find(reasons.begin(), reasons.end(), x) == reasons.end()) reasons.push_back(x);
  }
  s.tables.emplace_back("Categories (scope: fleet; each device in exactly one)", cat);
  if (!reasons.empty()) s.lists.emplace_back("Extrapolation", reasons);
}

void add_site_power(Sections& s, const Rating& r) {
  std::vector<std::string> site;
  if (r.it_power_w >= 0) {
    site.push_back("IT power: " + watts(r.it_power_w) + " (inventory power per node x count)");
    if (r.facility_power_w >= 0)
      site.push_back(fmt::format("facility power: {} (IT x PUE {:.2f}, PUE as given)",
                                 watts(r.facility_power_w), r.pue));
    else
      site.push_back("facility power: not shown (no PUE in the inventory)");
  }
  if (!site.empty()) s.lists.emplace_back("Site power", site);
}

void add_total(Sections& s, const Total& total) {
  std::vector<std::string> lines;
  lines.push_back(fmt::format("{}: Rpeak {} / Rmax {}", total.label,
                              format_rate(total.rpeak, false), format_rate(total.rmax, false)));
  for (const std::string& t : total.terms) lines.push_back("  " + t);
  s.lists.emplace_back("Total (--total)", lines);
}

void add_target_table(Sections& s, const Target& target, const std::vector<TargetAnswer>& answers) {
  const bool ops = is_ops(target.dtype);
  Table tg;
  tg.header = {"node type",  "Rmax/node",      "nodes on Rmax",  "power on Rmax",
               "Rpeak/node", "nodes on Rpeak", "power on Rpeak", "power basis"};
  auto cnt = [](long n) { return n < 0 ? std::string("-") : fmt::format("{}", n); };
  for (const TargetAnswer& a : answers)
    tg.rows.push_back({a.node_type + (a.extrapolated ? " (extrapolated)" : ""),
                       format_rate(a.node_rmax, ops), cnt(a.nodes_on_rmax),
                       watts(a.power_w_on_rmax), format_rate(a.node_rpeak, ops),
                       cnt(a.nodes_on_rpeak), watts(a.power_w_on_rpeak),
                       a.power_basis.empty() ? "no power figure" : a.power_basis});
  s.tables.emplace_back(
      fmt::format("Target {} = {} {} (nodes = ceil(target / node figure))", target.text,
                  format_rate(target.value, ops), dtype_name(target.dtype)),
      tg);
}

// "cluster HPL Rmax 1.2 TFLOPS / 1.5 TFLOPS Rpeak (FP64, 80.0%), 4 ranks 2 x 2, n=..."
std::string cluster_headline(const ClusterSolve& c) {
  const std::string what =
      c.benchmark == "HPL" ? "cluster HPL Rmax" : "cluster HPL-MxP (" + c.precision + " LU)";
  return fmt::format("{} {} / {} Rpeak (FP64{}), {} ranks on {} host{}, grid {} x {}, n={} nb={}",
                     what, format_rate(c.rmax.value, false), format_rate(c.rpeak.value, false),
                     c.efficiency() < 0 ? "" : ", Rmax/Rpeak " + pct(c.efficiency()), c.ranks,
                     c.hosts, c.hosts == 1 ? "" : "s", c.p, c.q, c.n, c.nb);
}

// The distributed HPL / HPL-MxP solves of cluster reports: verified ones rated (a table and a
// headline line each), the others listed with their reason.
void add_cluster_solves(Sections& s, const Rating& r) {
  if (r.cluster_solves.empty()) return;
  Table t;
  t.header = {
      "report", "benchmark",    "LU precision", "grid P x Q",      "ranks/hosts", "n",        "nb",
      "Rmax",   "Rpeak (FP64)", "Rmax/Rpeak",   "scaled residual", "refinement",  "ScaLAPACK"};
  std::vector<std::string> sources, not_rated;
  for (const ClusterSolve& c : r.cluster_solves) {
    if (!c.rated()) {
      not_rated.push_back(fmt::format("{} ({}): {} {} {}x{} n={}: {}{}", c.report, c.benchmark,
                                      c.workload, c.status, c.p, c.q, c.n,
                                      c.reason.empty() ? c.verification : c.reason,
                                      c.scalapack.empty() ? "" : "; " + c.scalapack));
      continue;
    }
    s.headline.push_back(cluster_headline(c));
    t.rows.push_back(
        {c.report, c.benchmark, c.precision, fmt::format("{} x {}", c.p, c.q),
         fmt::format("{}/{}", c.ranks, c.hosts), std::to_string(c.n), std::to_string(c.nb),
         format_rate(c.rmax.value, false), format_rate(c.rpeak.value, false), pct(c.efficiency()),
         fmt::format("{:.3g}", c.scaled_residual),
         c.refinement_iterations < 0 ? "-" : fmt::format("{} GMRES it.", c.refinement_iterations),
         c.scalapack_verdict.empty() ? "-" : c.scalapack_verdict});
    sources.push_back(
        fmt::format("{} ({}) {} Rmax: {}", c.report, c.workload, c.benchmark, c.rmax.source));
    sources.push_back(fmt::format("{} ({}) Rpeak: {}", c.report, c.workload, c.rpeak.source));
    if (!c.scalapack.empty())
      sources.push_back(fmt::format("{} ({}) {}", c.report, c.workload, c.scalapack));
  }
  s.tables.emplace_back(
      "Distributed HPL (scope: the MPI job; one solve across all its ranks; HPL Rmax = verified "
      "HPL, FP64; HPL-MxP = verified HPL-MxP, rate on HPL's FP64 operation count; Rpeak = FP64 "
      "peak of the ranks' devices)",
      t);
  s.lists.emplace_back("Distributed HPL figure sources", sources);
  if (!not_rated.empty())
    s.lists.emplace_back("Distributed HPL not rated (failed, error, unsupported)", not_rated);
}

}  // namespace

Sections build_sections(const Rating& r) {
  Sections s;
  s.title = r.site.empty() ? "suanli capacity rating" : "suanli capacity rating: " + r.site;
  std::string reps;
  std::vector<std::string> inputs = r.inputs;
  for (const ClusterSolve& c : r.cluster_solves)  // a distributed report: rated as one job
    if (std::find(inputs.begin(), inputs.end(), c.report) == inputs.end())
      inputs.push_back(c.report);
  for (const std::string& p : inputs) reps += (reps.empty() ? "" : ", ") + p;
  s.intro.emplace_back("reports", reps);
  s.intro.emplace_back("inventory",
                       r.inventory.empty() ? "none (each report is one node)" : r.inventory);
  s.intro.emplace_back("claims",
                       r.claims.empty() ? "none (Rpeak from the reports' device peaks)" : r.claims);

  // Headline: one figure per category, each at its own precision; no cross-precision sum.
  for (const CategoryFigure& f : r.categories) s.headline.push_back(headline_of(f));
  add_cluster_solves(s, r);

  DeviceSection devices = device_section(r);
  if (r.node_types.empty() && !r.cluster_solves.empty()) {  // only distributed solves
    s.lists.emplace_back("Notes", r.notes);
    return s;
  }
  s.tables.emplace_back(
      "Devices (scope: device, dense; GEMM Rmax = best verified GEMM, median time; HPL Rmax = "
      "verified HPL, FP64; HPL-MxP = verified HPL-MxP in that factorization precision, rate on "
      "HPL's FP64 operation count; Rmax/Rpeak uses HPL Rmax where measured)",
      devices.table);
  s.lists.emplace_back("Memory bandwidth (measured, stream triad)", devices.bandwidths);
  add_node_type_tables(s, r);
  add_category_table(s, r);
  add_site_power(s, r);
  if (r.total) add_total(s, *r.total);
  if (r.target) add_target_table(s, *r.target, r.target_answers);
  s.lists.emplace_back("Figure sources", devices.derivations);
  s.lists.emplace_back("Notes", r.notes);
  return s;
}

std::string render_text(const Rating& r) {
  const Sections s = build_sections(r);
  std::string out = s.title + "\n";
  for (const auto& [k, v] : s.intro) out += fmt::format("  {}: {}\n", k, v);
  out += "\nHeadline (each category at its own precision; no cross-precision sum):\n";
  for (const std::string& h : s.headline) out += "  " + h + "\n";
  for (const auto& [h, t] : s.tables) out += "\n" + h + "\n" + t.text("  ");
  for (const auto& [h, lines] : s.lists) {
    out += "\n" + h + ":\n";
    for (const std::string& l : lines) out += "  " + l + "\n";
  }
  return out;
}

std::string render_markdown(const Rating& r) {
  const Sections s = build_sections(r);
  std::string out = "# " + s.title + "\n\n";
  for (const auto& [k, v] : s.intro) out += fmt::format("- **{}**: {}\n", k, v);
  out += "\n## Headline\n\nEach category at its own precision; no cross-precision sum.\n\n";
  for (const std::string& h : s.headline) out += "- " + h + "\n";
  for (const auto& [h, t] : s.tables) out += "\n## " + h + "\n\n" + t.markdown();
  for (const auto& [h, lines] : s.lists) {
    out += "\n## " + h + "\n\n";
    for (const std::string& l : lines) out += "- " + l + "\n";
  }
  return out;
}

}  // namespace suanli::rate
