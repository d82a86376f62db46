// Conformance of a backend plugin to the ABI contract (backends/include/suanli/backend.h and
// backends/README.md): each check passes or fails with a reason.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace suanli::conformance {

struct Check {
  std::string name;  // "abi.version", "op.gemm.fp32.64x48x80", "errors.small_buffer", ...
  bool passed = false;
  std::string reason;  // why it failed, or what was seen when it passed
};

struct Options {
  std::string plugin;  // path of the .so
  std::vector<std::pair<std::string, std::string>> create_options;
  // Run the checks in forked children, so a plugin that crashes or hangs fails the check it
  // crashed in and the others still run. Off only for debugging.
  bool isolate = true;
  double check_timeout_s = 120;  // per check, when isolated
  int max_devices = 4;           // devices checked op by op
};

// Loads the plugin and runs every check. Never throws for plugin misbehaviour (that is a
// failed check); throws InputError when the plugin file does not exist.
std::vector<Check> run(const Options& opts);

// "conformance: 31 checks  passed: 30  failed: 1"
std::string tally(const std::vector<Check>& checks);

}  // namespace suanli::conformance
