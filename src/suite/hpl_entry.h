// Suite entries of the linear-system workloads ("op": "hpl" / "hpl_mxp"): the suite layer
// parses them; src/hpl (above the harness) runs them.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "suite/suite.h"

namespace suanli {

// HPL's panel width when the suite gives none.
constexpr int64_t kHplDefaultNb = 256;

// Operations HPL and HPL-MxP credit for solving an n x n system: 2/3 n^3 + 3/2 n^2 (FP64 count,
// whatever precision factored it). Here, below the harness, so that timeouts can be sized from it.
inline double hpl_operation_count(int64_t n) {
  const double d = static_cast<double>(n);
  return 2.0 / 3.0 * d * d * d + 1.5 * d * d;
}

// A suite entry with "op" hpl or hpl_mxp (one expanded axis combination). Throws InputError
// naming `where` for a dtype HPL cannot take (hpl: fp64 only; hpl_mxp: fp32, bf16 or fp16 —
// never below 16 bits, as the HPL-MxP rules require) or a missing n / memory_fraction.
Workload hpl_workload(const nlohmann::json& entry, const std::string& where);

}  // namespace suanli
