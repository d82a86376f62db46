// Report comparison: match workloads by backend, device and workload id; a change counts as a
// regression only when it is beyond both the threshold and the noise the two runs measured.
#include "rate/compare.h"

#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "core/units.h"
#include "rate/render.h"
#include "report/enum_names.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/report_reader.h"

namespace suanli::rate {

using nlohmann::json;

namespace {

using Key = std::tuple<std::string, int, std::string>;  // backend, device, workload

std::map<std::pair<std::string, int>, std::string> device_names(const ReportDocument& report) {
  std::map<std::pair<std::string, int>, std::string> out;
  for (const ReportBackend& b : report.backends)
    for (const ReportDevice& d : b.devices) out[{b.name, d.index}] = d.name;
  return out;
}

double rate_of(const ReportResult& r) {
  if (r.op == "stream") return r.bytes_per_second.value_or(-1.0);
  return r.flops_per_second.value_or(-1.0);
}

double cv_of(const ReportResult& r) {
  if (r.noise_reached_cv) return *r.noise_reached_cv;
  if (r.time) return r.time->cv;
  return 0;
}

std::string unit_of(const ReportResult& r) {
  if (r.throughput_unit) return *r.throughput_unit;
  return r.op == "stream" ? "B/s" : "FLOP/s";
}

// Results by backend, device and workload (the first of each), in `order` as first seen.
void index_results(const ReportDocument& report, std::map<Key, const ReportResult*>& by,
                   std::vector<Key>& order, const std::map<Key, const ReportResult*>* seen) {
  for (const ReportResult& r : report.results) {
    Key k{r.backend, r.device, r.workload};
    if (by.emplace(k, &r).second && (!seen || !seen->count(k))) order.push_back(k);
  }
}

// The verdict of one row whose figures and statuses are set.
Verdict row_verdict(const CompareRow& row, bool in_old, bool in_new, bool ok_a, bool ok_b,
                    const CompareOptions& options) {
  if (!in_old) return Verdict::only_new;
  if (!in_new) return Verdict::only_old;
  if (ok_a && ok_b && row.old_rate > 0 && row.new_rate > 0) {
    const double change = row.ratio - 1;
    if (std::fabs(change) <= row.noise) return Verdict::within_noise;
    if (change < 0) return -change > options.threshold ? Verdict::regression : Verdict::slower;
    return change > options.threshold ? Verdict::improvement : Verdict::faster;
  }
  if (ok_a)
    // A workload that verified before and now fails or breaks is a regression; one that the
    // new run did not measure (unsupported, skipped) is shown but does not fail the check.
    return row.status_new == "failed" || row.status_new == "error" ||
                   row.status_new == "ok"  // ok but unverified
               ? Verdict::regression
               : Verdict::not_measured_now;
  return ok_b ? Verdict::now_ok : Verdict::not_ok_both;
}

std::string fmt_rate(double v, const std::string& unit) {
  return v < 0 ? "-" : format_si(v, unit);
}

}  // namespace

namespace {

// In the order of Verdict's values (compare.h).
constexpr std::string_view kVerdictNames[] = {"within noise",
                                              "faster (below threshold)",
                                              "slower (below threshold)",
                                              "improvement",
                                              "REGRESSION",
                                              "not measured now",
                                              "now ok",
                                              "not ok in either",
                                              "only in old",
                                              "only in new"};
static_assert(std::size(kVerdictNames) == static_cast<size_t>(Verdict::only_new) + 1);

}  // namespace

std::string_view verdict_name(Verdict v) {
  return enum_name(kVerdictNames, v);
}

int Comparison::regressions() const {
  int n = 0;
  for (const CompareRow& r : rows) n += r.verdict == Verdict::regression;
  return n;
}

std::string Comparison::tally() const {
  std::map<Verdict, int> n;
  int compared = 0;
  for (const CompareRow& r : rows) {
    ++n[r.verdict];
    compared += r.ratio > 0;
  }
  return fmt::format(
      "compared: {}  regressions: {}  improvements: {}  within noise: {}  slower/faster below "
      "threshold: {}/{}  not measured now: {}  only in old/new: {}/{}",
      compared, n[Verdict::regression], n[Verdict::improvement], n[Verdict::within_noise],
      n[Verdict::slower], n[Verdict::faster], n[Verdict::not_measured_now], n[Verdict::only_old],
      n[Verdict::only_new]);
}

Comparison compare_reports(const json& a, const std::string& a_path, const json& b,
                           const std::string& b_path, const CompareOptions& options) {
  check_report(a, a_path);
  check_report(b, b_path);
  Comparison c;
  c.old_path = a_path;
  c.new_path = b_path;
  c.options = options;
  const ReportDocument doc_a = read_report(a, a_path), doc_b = read_report(b, b_path);
  const auto names_a = device_names(doc_a), names_b = device_names(doc_b);
  std::map<Key, const ReportResult*> old_by, new_by;
  std::vector<Key> order;
  index_results(doc_a, old_by, order, nullptr);
  index_results(doc_b, new_by, order, &old_by);
  for (const Key& k : order) {
    CompareRow row;
    std::tie(row.backend, row.device, row.workload) = k;
    const auto ia = old_by.find(k), ib = new_by.find(k);
    const ReportResult* ra = ia == old_by.end() ? nullptr : ia->second;
    const ReportResult* rb = ib == new_by.end() ? nullptr : ib->second;
    const ReportResult& any = ra ? *ra : *rb;
    row.op = any.op;
    row.dtype = any.dtype;
    row.shape = any.shape_text;
    row.unit = unit_of(any);
    if (auto it = names_a.find({row.backend, row.device}); it != names_a.end())
      row.device_old = it->second;
    if (auto it = names_b.find({row.backend, row.device}); it != names_b.end())
      row.device_new = it->second;
    if (ra) row.status_old = ra->status;
    if (rb) row.status_new = rb->status;
    const bool ok_a = ra && ra->counts(), ok_b = rb && rb->counts();
    if (ok_a) {
      row.old_rate = rate_of(*ra);
      row.old_cv = cv_of(*ra);
    }
    if (ok_b) {
      row.new_rate = rate_of(*rb);
      row.new_cv = cv_of(*rb);
    }
    if (ra && rb && ok_a && ok_b && row.old_rate > 0 && row.new_rate > 0) {
      row.ratio = row.new_rate / row.old_rate;
      row.noise = options.noise_sigmas * std::hypot(row.old_cv, row.new_cv);
    }
    row.verdict = row_verdict(row, ra != nullptr, rb != nullptr, ok_a, ok_b, options);
    c.rows.push_back(std::move(row));
  }
  return c;
}

Comparison compare_files(const std::string& old_path, const std::string& new_path,
                         const CompareOptions& options) {
  return compare_reports(read_json_file(old_path), old_path, read_json_file(new_path), new_path,
                         options);
}

namespace {

Table comparison_table(const Comparison& c) {
  Table t;
  t.header = {"device", "workload", "old", "new", "new/old", "noise (+/-)", "verdict"};
  for (const CompareRow& r : c.rows) {
    if (r.verdict == Verdict::not_ok_both && r.status_old == r.status_new) continue;
    std::string dev = fmt::format("{}:{}", r.backend, r.device);
    std::string old_s = r.old_rate >= 0 ? fmt_rate(r.old_rate, r.unit) : r.status_old;
    std::string new_s = r.new_rate >= 0 ? fmt_rate(r.new_rate, r.unit) : r.status_new;
    if (old_s.empty()) old_s = "-";
    if (new_s.empty()) new_s = "-";
    t.rows.push_back({dev, r.workload, old_s, new_s,
                      r.ratio > 0 ? fmt::format("{:.3f}", r.ratio) : "-",
                      r.noise >= 0 ? fmt::format("{:.1f}%", 100 * r.noise) : "-",
                      std::string(verdict_name(r.verdict))});
  }
  return t;
}

std::string device_line(const Comparison& c) {
  std::string out;
  std::map<std::string, std::pair<std::string, std::string>> devs;
  for (const CompareRow& r : c.rows)
    devs[fmt::format("{}:{}", r.backend, r.device)] = {r.device_old, r.device_new};
  for (const auto& [k, v] : devs)
    out += fmt::format("  {}: old {} / new {}{}\n", k, v.first.empty() ? "-" : v.first,
                       v.second.empty() ? "-" : v.second,
                       v.first != v.second ? "  (different devices)" : "");
  return out;
}

}  // namespace

std::string render_comparison_text(const Comparison& c) {
  std::string out = fmt::format(
      "old: {}\nnew: {}\nregression: slower by more than {:.1f}% and beyond {:g} x the combined "
      "CV of both runs (or a verified result that now fails)\n",
      c.old_path, c.new_path, 100 * c.options.threshold, c.options.noise_sigmas);
  out += device_line(c) + "\n";
  out += comparison_table(c).text();
  out += "\n" + c.tally() + "\n";
  return out;
}

std::string render_comparison_markdown(const Comparison& c) {
  std::string out = fmt::format(
      "# suanli compare\n\n- old: {}\n- new: {}\n- regression: slower by more than {:.1f}% and "
      "beyond {:g} x the combined CV\n\n",
      c.old_path, c.new_path, 100 * c.options.threshold, c.options.noise_sigmas);
  out += comparison_table(c).markdown();
  out += "\n" + c.tally() + "\n";
  return out;
}

json comparison_to_json(const Comparison& c) {
  json rows = json::array();
  auto num = [](double v) { return v < 0 ? json(nullptr) : json(v); };
  for (const CompareRow& r : c.rows)
    rows.push_back({{"backend", r.backend},
                    {"device", r.device},
                    {"device_old", r.device_old},
                    {"device_new", r.device_new},
                    {"workload", r.workload},
                    {"op", r.op},
                    {"dtype", r.dtype},
                    {"shape", r.shape},
                    {"unit", r.unit},
                    {"status_old", r.status_old},
                    {"status_new", r.status_new},
                    {"old", num(r.old_rate)},
                    {"new", num(r.new_rate)},
                    {"cv_old", num(r.old_cv)},
                    {"cv_new", num(r.new_cv)},
                    {"ratio", num(r.ratio)},
                    {"noise", num(r.noise)},
                    {"verdict", std::string(verdict_name(r.verdict))}});
  return {{"suanli_compare", 1},
          {"old", c.old_path},
          {"new", c.new_path},
          {"threshold", c.options.threshold},
          {"noise_sigmas", c.options.noise_sigmas},
          {"regressions", c.regressions()},
          {"tally", c.tally()},
          {"rows", rows}};
}

}  // namespace suanli::rate
