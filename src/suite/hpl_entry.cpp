// Suite entries of the linear-system workloads ("op": "hpl" / "hpl_mxp"): parsed here, in the
// suite layer; src/hpl runs them.
#include "suite/hpl_entry.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"

namespace suanli {

using nlohmann::json;

Workload hpl_workload(const json& one, const std::string& where) {
  Workload w;
  w.source = where;
  w.hpl = one["op"].get<std::string>();
  w.name = one.value("name", w.hpl);
  const bool mxp = w.hpl == "hpl_mxp";
  const std::string dt = one.value("dtype", mxp ? "fp32" : "fp64");
  w.op.dtype = *dtype_from_name(dt);
  if (!mxp && w.op.dtype != Dtype::fp64)
    throw InputError(fmt::format(
        "{}: hpl solves in fp64 (dtype '{}' given); for a lower-precision factorization use "
        "op hpl_mxp",
        where, dt));
  if (mxp && w.op.dtype != Dtype::fp32 && w.op.dtype != Dtype::bf16 && w.op.dtype != Dtype::fp16)
    throw InputError(fmt::format(
        "{}: hpl_mxp factors in fp32, bf16 or fp16 (dtype '{}' given; the HPL-MxP rules allow "
        "no precision below 16-bit floating point)",
        where, dt));
  w.hpl_n = one.value("n", int64_t{0});
  w.hpl_memory_fraction = one.value("memory_fraction", 0.0);
  if (w.hpl_n <= 0 && w.hpl_memory_fraction <= 0)
    throw InputError(
        fmt::format("{}: {} workload needs 'n' (the matrix order) or 'memory_fraction' (e.g. 0.8)",
                    where, w.hpl));
  w.hpl_nb = one.value("nb", kHplDefaultNb);
  w.hpl_max_iterations = one.value("max_iterations", 0);
  w.op.kind = OpKind::gemm;  // for the table's sake; the report writes op hpl / hpl_mxp
  w.op.shape = GemmShape{std::max<int64_t>(w.hpl_n, 1), std::max<int64_t>(w.hpl_n, 1), 1, 1};
  w.id = w.hpl_n > 0 ? fmt::format("{}.{}.n{}", w.name, dt, w.hpl_n)
                     : fmt::format("{}.{}.mem{}", w.name, dt, w.hpl_memory_fraction);
  return w;
}

}  // namespace suanli
