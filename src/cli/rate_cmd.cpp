// `suanli rate`: reports (and optionally an inventory and vendor claims) into a capacity rating.
#include <iostream>

#include <fmt/format.h>

#include "certify/report_sign.h"
#include "cli/commands.h"
#include "cluster/cluster_rate.h"
#include "core/error.h"
#include "export/export.h"
#include "rate/rating.h"
#include "rate/render.h"
#include "report/json_schema.h"
#include "report/report.h"

namespace suanli::cli {

namespace {

std::string format_for(const RateOptionsCli& o) {
  if (!o.format.empty()) return o.format;
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return o.out.size() >= e.size() && o.out.compare(o.out.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".json")) return "json";
  if (ends(".md")) return "md";
  if (ends(".html") || ends(".htm")) return "html";
  if (ends(".csv")) return "csv";
  return "text";
}

// The output may not be any of the inputs, nor a directory or device (checked before any work).
void check_rate_output(const RateOptionsCli& o) {
  if (o.out.empty()) return;
  std::vector<std::string> inputs = o.reports;
  for (const std::string& f : {o.inventory, o.claims, o.require_signed}) inputs.push_back(f);
  if (o.total.rfind("factors:", 0) == 0) inputs.push_back(o.total.substr(8));
  if (!o.inventory.empty()) {
    const rate::Inventory inv = rate::load_inventory(o.inventory);
    for (const auto& t : inv.node_types)
      inputs.insert(inputs.end(), t.reports.begin(), t.reports.end());
  }
  check_output_path(o.out, inputs, "--out");
}

}  // namespace

int cmd_rate(const RateOptionsCli& o) {
  if (o.reports.empty() && o.inventory.empty())
    throw InputError("rate: give at least one report, or --inventory FILE");
  rate::RateOptions ro;
  check_rate_output(o);
  if (!o.require_signed.empty()) {
    const certify::PublicKey pk = certify::load_public_key(o.require_signed);
    ro.check_report = [pk, key = o.require_signed](const nlohmann::json& doc,
                                                   const std::string& origin) {
      const std::string why = certify::report_signature_problem(doc, pk);
      if (!why.empty())
        throw InputError(fmt::format("{}: {} (--require-signed {}): refused", origin, why, key));
    };
  }
  if (!o.claims.empty()) ro.claims = load_claims(o.claims);
  ro.total = rate::parse_total(o.total);
  if (!o.target.empty()) ro.target = rate::parse_target(o.target);
  ro.include_hosts = o.include_hosts;
  ro.include_marked = o.include_marked;
  std::optional<rate::Inventory> inv;
  if (!o.inventory.empty()) inv = rate::load_inventory(o.inventory);
  // A cluster report (src/cluster) counts as its measured nodes, with their distribution and the
  // fabric figures as notes.
  cluster::ExpandedReports expanded;
  cluster::expand_cluster_reports(o.reports, expanded, o.include_marked);
  rate::Rating r = rate::rate(expanded.reports, inv, ro);
  r.notes.insert(r.notes.end(), expanded.notes.begin(), expanded.notes.end());
  r.cluster_solves = expanded.solves;

  const std::string format = format_for(o);
  std::string text;
  if (format == "json") {
    const nlohmann::json j = rate::rating_to_json(r, version_string());
    const auto errors = validate_against_schema(j, "rating.schema.json");
    if (!errors.empty())  // our own output must follow our own schema; a bug, not bad input
      throw std::runtime_error(
          fmt::format("rating JSON does not match rating.schema.json: at {}: {}",
                      errors.front().path, errors.front().message));
    text = j.dump(2) + "\n";
  } else if (format == "md") {
    text = rate::render_markdown(r);
  } else if (format == "csv") {
    text = exports::rating_to_csv(r);
  } else if (format == "html") {
    text = rate::render_html(r, version_string());
  } else {
    text = rate::render_text(r);
  }
  if (o.out.empty()) {
    std::cout << text;
  } else {
    write_file_atomic(o.out, text);
    if (format != "text") std::cout << rate::render_text(r);
    std::cout << "\nrating: " << o.out << " (" << format << ")\n";
  }
  return kExitOk;
}

}  // namespace suanli::cli
