// Text summary of a report: one table row per result (shape, time, throughput, % of peak,
// verified).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace suanli {

// The table printed at the end of `suanli run` (and by scripts/run.sh).
std::string summary_table(const nlohmann::json& report);

}  // namespace suanli
