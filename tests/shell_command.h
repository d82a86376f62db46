// Runs a shell command for the end-to-end tests: its exit status and its output (stdout and
// stderr together), under the names the mpirun tests use (test_support.h runs it).
#pragma once

#include <string>

#include "test_support.h"

namespace suanli::test {

struct Out {
  int rc = -1;
  std::string text;
};

inline Out sh(const std::string& cmd) {
  const CommandResult r = run_shell(cmd);
  return {r.status, r.out};
}

}  // namespace suanli::test
