// HPL and HPL-MxP in ratings: the HPL Rmax (FP64) and the HPL-MxP rate, kept apart from the
// GEMM-based figure so that neither is mistaken for the other.
#include <fmt/format.h>

#include "core/dtype.h"
#include "rate/rating.h"
#include "report/report_reader.h"

namespace suanli::rate {

void add_hpl_figures(PrecisionRating& pr, const std::vector<ReportResult>& results,
                     const std::string& backend, int device) {
  const std::string dn(dtype_name(pr.dtype));
  for (const ReportResult& r : results) {
    if ((r.op != "hpl" && r.op != "hpl_mxp") || r.backend != backend || r.device != device ||
        r.dtype != dn)
      continue;
    if (!r.counts()) continue;
    const double v = r.flops_per_second.value_or(-1.0);
    Figure& f = r.op == "hpl" ? pr.hpl : pr.hpl_mxp;
    if (v <= f.value) continue;
    const ReportHpl h = r.hpl.value_or(ReportHpl{});
    std::string how = fmt::format("{} n={} nb={}, scaled residual {:.3g} < 16", r.workload, h.n,
                                  h.nb, r.verification->error);
    if (r.op == "hpl_mxp" && h.refinement_iterations)
      how += fmt::format(", {} GMRES iterations", *h.refinement_iterations);
    f = {v, Basis::measured, how};
  }
}

}  // namespace suanli::rate
