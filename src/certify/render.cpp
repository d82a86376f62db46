// Human-readable certificates: a terminal summary, Markdown and a self-contained HTML page.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "certify/certificate.h"
#include "certify/criteria.h"
#include "core/text.h"

namespace suanli::certify {
namespace {

using nlohmann::json;

std::string value_text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    return std::fabs(x) >= 1e4 || (x != 0 && std::fabs(x) < 1e-3) ? fmt::format("{:.3e}", x)
                                                                  : fmt::format("{:.4g}", x);
  }
  return v.dump();
}

std::string headline(const json& c) {
  return fmt::format("{}{}", c["verdict"].get<std::string>(),
                     c["official"].get<bool>() ? "" : " (UNOFFICIAL)");
}

std::string device_list(const json& c) {
  std::string s;
  for (const json& d : c["devices"])
    s += fmt::format("{}{}:{} {}", s.empty() ? "" : "; ", d["backend"].get<std::string>(),
                     d["index"].get<int>(), d["name"].get<std::string>());
  return s;
}

// Rows of (label, value) that head every form.
std::vector<std::pair<std::string, std::string>> facts(const json& c) {
  const json& s = c["suanli"];
  std::vector<std::pair<std::string, std::string>> f = {
      {"Verdict", headline(c)},
      {"Devices", device_list(c)},
      {"Host", fmt::format("{} ({}, {})", c["host"].value("hostname", "?"),
                           c["host"].value("cpu_model", "?"), c["host"].value("os", "?"))},
      {"Profile", fmt::format("{} (sha256 {}{})", c["profile"]["name"].get<std::string>(),
                              c["profile"]["sha256"].get<std::string>(),
                              c["profile"]["shipped"].get<bool>() ? ", shipped" : ", MODIFIED")},
      {"Claims", c["claims"].is_null()
                     ? std::string("none given: criteria against vendor claims NOT EVALUATED")
                     : fmt::format("{} (sha256 {})", c["claims"].value("origin", "?"),
                                   c["claims"]["sha256"].get<std::string>())},
      {"suanli", fmt::format("{} git {}{} binary sha256 {}", s["version"].get<std::string>(),
                             s["git_revision"].get<std::string>(),
                             s["git_dirty"].get<bool>() ? " (uncommitted changes)" : "",
                             s["binary_sha256"].get<std::string>())},
      {"Input seed", fmt::format("{} (drawn at run time)", c["seed"].dump())},
      {"Report sha256", c["report"]["sha256"].get<std::string>()},
      {"Issued", c["issued_utc"].get<std::string>()},
      {"Certificate id", c["certificate_id"].get<std::string>()},
      {"Signed by", fmt::format("Ed25519 key {} ({})", c["signer"].value("key_id", "?"),
                                c["signer"].value("public_key", "?"))}};
  for (const json& b : c["backends"])
    f.emplace_back(
        "Plugin " + b["name"].get<std::string>(),
        fmt::format("{} sha256 {}", b["path"].get<std::string>(), b["sha256"].get<std::string>()));
  if (!c["official"].get<bool>()) {
    std::string r;
    for (const json& x : c["unofficial_reasons"])
      r += (r.empty() ? "" : "; ") + x.get<std::string>();
    f.emplace_back("Unofficial because", r);
  }
  return f;
}

// "12 criteria: 10 pass, 1 fail, 1 not evaluated".
std::string counts_text(const json& c) {
  const json& s = c["summary"];
  return fmt::format("{} criteria: {} pass, {} fail, {} not evaluated", s["criteria"].get<int>(),
                     s["pass"].get<int>(), s["fail"].get<int>(), s["not_evaluated"].get<int>());
}

// The criteria with failures first, then those not evaluated, then passes; in certificate order
// within each.
std::vector<const json*> criteria_failures_first(const json& c) {
  std::vector<const json*> out;
  for (const char* verdict : {"FAIL", "NOT_EVALUATED", "PASS"})
    for (const json& x : c["criteria"])
      if (x["verdict"] == verdict) out.push_back(&x);
  for (const json& x : c["criteria"]) {
    const std::string v = x["verdict"].get<std::string>();
    if (v != "FAIL" && v != "NOT_EVALUATED" && v != "PASS") out.push_back(&x);
  }
  return out;
}

// The peak self-check, one line per device and dtype (none for certificates issued before it),
// each suspect one with what it means for the certificate's figures.
std::vector<std::string> peak_check_lines(const json& c) {
  std::vector<std::string> out;
  for (const json& x : c.value("peak_checks", json::array())) {
    const PeakCheck p = peak_check_from_json(x);
    std::string line = peak_check_line(p);
    if (x.value("status", "") == "suspect")
      line += fmt::format(
          ". Every % of peak of {} on this device rests on a theoretical peak the measurement "
          "contradicts: criterion peak_theory FAILs, and suanli rate uses the measured ceiling",
          dtype_name(p.dtype));
    out.push_back(line);
  }
  return out;
}

const char* kPeakCheckIntro =
    "Peak self-check (peak kernel / theoretical peak, expected within 85%..103%; source suite: "
    "the profile's own peak workload, probe: the built-in peak probe)";

}  // namespace

std::string certificate_text(const json& c) {
  std::string out = fmt::format("suanli certificate: {}\n", headline(c));
  for (const auto& [k, v] : facts(c))
    if (k != "Verdict") out += fmt::format("  {:<15} {}\n", k, v);
  const json& s = c["summary"];
  out += fmt::format("  criteria: {}  pass: {}  fail: {}  not evaluated: {}\n",
                     s["criteria"].get<int>(), s["pass"].get<int>(), s["fail"].get<int>(),
                     s["not_evaluated"].get<int>());
  for (const json& x : c["criteria"])
    if (x["verdict"] == "FAIL")
      out += fmt::format("  FAIL {}:{} {} {}: measured {} {} limit {} ({})\n",
                         x["backend"].get<std::string>(), x["device"].get<int>(),
                         x["workload"].get<std::string>(), x["criterion"].get<std::string>(),
                         value_text(x["measured"]), shown_comparison(x), value_text(x["limit"]),
                         x["detail"].get<std::string>());
  const std::vector<std::string> peaks = peak_check_lines(c);
  if (!peaks.empty()) out += fmt::format("  {}:\n", kPeakCheckIntro);
  for (const std::string& l : peaks) out += "    " + l + "\n";
  return out;
}

std::string certificate_markdown(const json& c) {
  std::string out = fmt::format("# suanli certificate: {}\n\n", headline(c));
  out += fmt::format("**{}**\n\n", counts_text(c));
  out += "| | |\n|---|---|\n";
  for (const auto& [k, v] : facts(c))
    out += fmt::format("| {} | {} |\n", k, markdown_cell_escape(v));
  out += fmt::format(
      "\n## Criteria ({}; failures first)\n\n| device | workload | criterion | measured | limit "
      "| verdict | detail |\n|---|---|---|---|---|---|---|\n",
      counts_text(c));
  for (const json* xp : criteria_failures_first(c)) {
    const json& x = *xp;
    out += fmt::format(
        "| {}:{} | {} | {} | {} | {} {} | **{}** | {} |\n", x["backend"].get<std::string>(),
        x["device"].get<int>(), x["workload"].get<std::string>(), x["criterion"].get<std::string>(),
        markdown_cell_escape(value_text(x["measured"])), shown_comparison(x),
        markdown_cell_escape(value_text(x["limit"])), x["verdict"].get<std::string>(),
        markdown_cell_escape(x["detail"].get<std::string>()));
  }
  const std::vector<std::string> peaks = peak_check_lines(c);
  if (!peaks.empty()) out += fmt::format("\n## {}\n\n", kPeakCheckIntro);
  for (const std::string& l : peaks) out += "- " + markdown_cell_escape(l) + "\n";
  out +=
      "\nCheck it with `suanli verify CERT.json --pubkey KEY.pub [--report REPORT.json]`: the "
      "signature covers the canonical JSON of the certificate, and verify re-derives every "
      "verdict from the measured values and the profile's limits.\n";
  return out;
}

std::string certificate_html(const json& c) {
  const std::string v = c["verdict"].get<std::string>();
  const std::string colour = v == "PASS" ? "#1a7f37" : "#cf222e";
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>suanli certificate: {}</title>\n<style>"
      "body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1f2328}}"
      "h1 span{{color:{}}}table{{border-collapse:collapse;margin:1em 0}}"
      "td,th{{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top;"
      "font-size:.9em}}th{{background:#f6f8fa}}.PASS{{color:#1a7f37;font-weight:bold}}"
      ".FAIL{{color:#cf222e;font-weight:bold}}.NOT_EVALUATED{{color:#6e7781}}"
      ".counts{{font-size:1.2em}}td:nth-child(5){{white-space:nowrap}}"
      "code{{word-break:break-all}}</style></head><body>\n",
      html_escape(headline(c)), colour);
  const json& sum = c["summary"];
  out += fmt::format(
      "<h1>suanli certificate: <span>{}</span></h1>\n<p class=\"counts\">{} criteria: "
      "<span class=\"PASS\">{} pass</span> &middot; <span class=\"FAIL\">{} fail</span> "
      "&middot; <span class=\"NOT_EVALUATED\">{} not evaluated</span></p>\n<table>\n",
      html_escape(headline(c)), sum["criteria"].get<int>(), sum["pass"].get<int>(),
      sum["fail"].get<int>(), sum["not_evaluated"].get<int>());
  for (const auto& [k, val] : facts(c))
    out += fmt::format("<tr><th>{}</th><td><code>{}</code></td></tr>\n", html_escape(k),
                       html_escape(val));
  out +=
      "</table>\n<h2>Criteria (failures first)</h2>\n<table>\n<tr><th>device</th><th>workload</th>"
      "<th>criterion</th><th>measured</th><th>limit</th><th>verdict</th><th>detail</th></tr>\n";
  for (const json* xp : criteria_failures_first(c)) {
    const json& x = *xp;
    const std::string vd = x["verdict"].get<std::string>();
    out += fmt::format(
        "<tr><td>{}:{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td>"
        "<td class=\"{}\">{}</td><td>{}</td></tr>\n",
        html_escape(x["backend"].get<std::string>()), x["device"].get<int>(),
        html_escape(x["workload"].get<std::string>()),
        html_escape(x["criterion"].get<std::string>()), html_escape(value_text(x["measured"])),
        html_escape(shown_comparison(x)), html_escape(value_text(x["limit"])), vd, vd,
        html_escape(x["detail"].get<std::string>()));
  }
  out += "</table>\n";
  const std::vector<std::string> peaks = peak_check_lines(c);
  if (!peaks.empty()) out += fmt::format("<h2>{}</h2>\n<ul>\n", html_escape(kPeakCheckIntro));
  for (const std::string& l : peaks)
    out += fmt::format("<li{}>{}</li>\n",
                       l.find("SUSPECT") != std::string::npos ? " class=\"FAIL\"" : "",
                       html_escape(l));
  if (!peaks.empty()) out += "</ul>\n";
  out +=
      "<p>Check it with <code>suanli verify CERT.json --pubkey KEY.pub [--report "
      "REPORT.json]</code>: the Ed25519 signature covers the canonical JSON of the certificate, "
      "and verify re-derives every verdict from the measured values and the profile's "
      "limits.</p>\n</body></html>\n";
  return out;
}

}  // namespace suanli::certify
