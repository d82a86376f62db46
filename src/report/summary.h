// Text summary of a report: one table row per result (shape, time, throughput, % of peak,
// verified).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace suanli {

// The table printed at the end of `suanli run` (and by scripts/run.sh). max_width > 0: the
// library / reason column is shortened ("...") so lines fit that many columns where the other
// columns allow; the report keeps the full text. 0: no limit.
std::string summary_table(const nlohmann::json& report, size_t max_width = 0);

}  // namespace suanli
