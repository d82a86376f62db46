// A scratch folder per test program run, and JSON files written into it (shared by the report
// readers' tests: rate, compare).
#pragma once

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "report/file_io.h"

namespace suanli::test_files {

// "/tmp/<prefix>.XXXXXX", made once per program run.
inline std::string scratch_dir(const char* prefix) {
  static const std::string dir = [prefix] {
    std::string tmpl = std::string("/tmp/") + prefix + ".XXXXXX";
    const char* d = mkdtemp(tmpl.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

// Writes `j` to DIR/name and returns the path.
inline std::string write_json(const std::string& dir, const std::string& name,
                              const nlohmann::json& j) {
  const std::string p = dir + "/" + name;
  write_file_atomic(p, j.dump(1));
  return p;
}

}  // namespace suanli::test_files
