// `suanli conformance --backend PATH.so`: checks a plugin against the ABI contract.
#include <sys/stat.h>

#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "conformance/conformance.h"
#include "core/error.h"
#include "harness/backend_host.h"

namespace suanli::cli {
namespace {

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A path as given, or a backend name ("opencl") looked up where `suanli run` looks.
std::string resolve_plugin(const std::string& what) {
  if (what.find('/') != std::string::npos || is_file(what)) return what;
  const std::string file = "libsuanli_backend_" + what + ".so";
  for (const std::string& dir : default_backend_search_path()) {
    if (is_file(dir) && dir.size() >= file.size() &&
        dir.compare(dir.size() - file.size(), file.size(), file) == 0)
      return dir;
    if (is_file(dir + "/" + file)) return dir + "/" + file;
  }
  throw InputError(
      fmt::format("--backend {}: no such file, and no {} in the backend search path", what, file));
}

}  // namespace

int cmd_conformance(const ConformanceOptionsCli& o) {
  conformance::Options opts;
  opts.plugin = resolve_plugin(o.backend);
  opts.isolate = !o.no_fork;
  opts.check_timeout_s = o.timeout_s;
  for (const std::string& kv : o.backend_options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("--backend-option '{}': expected KEY=VALUE", kv));
    opts.create_options.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  std::cout << "plugin: " << opts.plugin << "\n";
  const std::vector<conformance::Check> checks = conformance::run(opts);
  size_t width = 0;
  for (const auto& c : checks) width = std::max(width, c.name.size());
  bool failed = false;
  for (const auto& c : checks) {
    failed = failed || !c.passed;
    std::string reason = c.reason;
    // Multi-line reasons (build logs) are indented under their check.
    for (size_t p = 0; (p = reason.find('\n', p)) != std::string::npos; p += 1)
      reason.insert(p + 1, std::string(width + 8, ' '));
    std::cout << fmt::format("{}  {:<{}}  {}\n", c.passed ? "pass" : "FAIL", c.name, width, reason);
  }
  std::cout << "\n" << conformance::tally(checks) << "\n";
  return failed ? kExitFailed : kExitOk;
}

}  // namespace suanli::cli
