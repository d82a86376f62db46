// HPL and HPL-MxP in ratings: the HPL Rmax (FP64) and the HPL-MxP rate, kept apart from the
// GEMM-based figure so that neither is mistaken for the other.
#include <fmt/format.h>

#include "core/dtype.h"
#include "rate/rating.h"

namespace suanli::rate {

void add_hpl_figures(PrecisionRating& pr, const nlohmann::json& results, const std::string& backend,
                     int device) {
  const std::string dn(dtype_name(pr.dtype));
  for (const nlohmann::json& r : results) {
    const std::string op = r.value("op", "");
    if ((op != "hpl" && op != "hpl_mxp") || r.value("backend", "") != backend ||
        r.value("device", -1) != device || r.value("dtype", "") != dn)
      continue;
    if (r.value("status", "") != "ok" || !r.contains("verification") ||
        !r["verification"].value("passed", false))
      continue;
    const double v = r.value("flops_per_second", -1.0);
    Figure& f = op == "hpl" ? pr.hpl : pr.hpl_mxp;
    if (v <= f.value) continue;
    const nlohmann::json& h = r.contains("hpl") ? r["hpl"] : nlohmann::json::object();
    std::string how =
        fmt::format("{} n={} nb={}, scaled residual {:.3g} < 16", r.value("workload", ""),
                    h.value("n", 0), h.value("nb", 0), r["verification"].value("error", 0.0));
    if (op == "hpl_mxp" && h.contains("refinement"))
      how += fmt::format(", {} GMRES iterations", h["refinement"].value("iterations", 0));
    f = {v, Basis::measured, how};
  }
}

}  // namespace suanli::rate
