// A scratch folder per test program run, /tmp/suanli_PROGRAM.XXXXXX, and JSON files written
// into it (shared by the report readers' tests: rate, compare).
#pragma once

#include <errno.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "report/file_io.h"

namespace suanli::test_files {

inline std::string scratch() {
  static const std::string dir = [] {
    std::string tmpl = std::string("/tmp/suanli_") + program_invocation_short_name + ".XXXXXX";
    const char* d = mkdtemp(tmpl.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

// Writes `j` to the scratch folder as `name` and returns the path.
inline std::string write(const std::string& name, const nlohmann::json& j) {
  const std::string p = scratch() + "/" + name;
  write_file_atomic(p, j.dump(1));
  return p;
}

}  // namespace suanli::test_files
