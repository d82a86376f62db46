// Human-readable numbers: SI-scaled rates (GFLOP/s .. EFLOP/s), durations, byte sizes.
#pragma once

#include <string>

namespace suanli {

// "1.23 TFLOP/s", "845 GB/s": scales by 1000 from the unit up to E (exa).
std::string format_si(double value, const std::string& unit, int precision = 3);
// "812 us", "4.10 ms", "1.52 s".
std::string format_duration(double seconds);
// "1.5 GiB"
std::string format_bytes(double bytes);
// "01:23" or "1:02:03"
std::string format_clock(double seconds);

}  // namespace suanli
