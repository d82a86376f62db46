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

// A suite entry with "op" hpl or hpl_mxp (one expanded axis combination). Throws InputError
// naming `where` for a dtype HPL cannot take (hpl: fp64 only; hpl_mxp: fp32, bf16 or fp16 —
// never below 16 bits, as the HPL-MxP rules require) or a missing n / memory_fraction.
Workload hpl_workload(const nlohmann::json& entry, const std::string& where);

}  // namespace suanli
