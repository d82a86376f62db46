// `suanli compare`: two reports side by side; exit 1 on a regression beyond the threshold.
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "rate/compare.h"
#include "report/report.h"

namespace suanli::cli {

int cmd_compare(const CompareOptionsCli& o) {
  rate::CompareOptions co;
  co.threshold = o.threshold;
  co.noise_sigmas = o.noise_sigmas;
  if (!o.out.empty()) check_output_path(o.out, {o.old_report, o.new_report}, "--out");
  const rate::Comparison c = rate::compare_files(o.old_report, o.new_report, co);
  const bool shared = std::any_of(c.rows.begin(), c.rows.end(), [](const rate::CompareRow& r) {
    return r.verdict != rate::Verdict::only_old && r.verdict != rate::Verdict::only_new;
  });
  std::string text;
  if (o.format == "json")
    text = rate::comparison_to_json(c).dump(2) + "\n";
  else if (o.format == "md")
    text = rate::render_comparison_markdown(c);
  else
    text = rate::render_comparison_text(c);
  if (o.out.empty()) {
    std::cout << text;
  } else {
    write_file_atomic(o.out, text);
    std::cout << c.tally() << "\ncomparison: " << o.out << "\n";
  }
  if (!shared) {
    std::cerr << "suanli: error: " << o.old_report << " and " << o.new_report
              << " share no workload (same backend, device and workload id): nothing was "
                 "compared\n";
    return kExitUsage;
  }
  return c.regressions() > 0 ? kExitFailed : kExitOk;
}

}  // namespace suanli::cli
