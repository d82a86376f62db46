// Helpers the test programs share: running the suanli binary (or any command) and capturing what
// it prints, scratch folders, files in and out, and where the built plugins are. Header-only;
// SUANLI_BINARY and SUANLI_BACKEND_DIR come from tests/CMakeLists.txt (suanli_test).
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace suanli::test {

// A finished command: its exit status (-1 when it did not exit normally or could not start) and
// its stdout and stderr together.
struct CommandResult {
  int status = -1;
  std::string out;
};

// Runs a shell command line, capturing stdout and stderr.
inline CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

#ifdef SUANLI_BINARY
// Runs the suanli binary of this build with `args`; `env` (VAR=value ...) goes before it.
inline CommandResult run_suanli(const std::string& args, const std::string& env = "") {
  return run_shell(env + " " + SUANLI_BINARY + " " + args);
}
#endif

#ifdef SUANLI_BACKEND_DIR
// The built plugin of backend `name` (cpu, opencl, cuda).
inline std::string plugin_path(const std::string& name) {
  return std::string(SUANLI_BACKEND_DIR) + "/libsuanli_backend_" + name + ".so";
}
#endif

#ifdef SUANLI_SOURCE_DIR
// A file of the source tree: source_path("reports/examples/report-cpu-quick.json").
inline std::string source_path(const std::string& relative) {
  return std::string(SUANLI_SOURCE_DIR) + "/" + relative;
}
#endif

// An empty folder <tmp>/<name>, emptied first if a previous run left it.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path d = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A folder of its own for this test program's run (mkdtemp under /tmp, made once).
inline const std::string& program_scratch_dir(const std::string& prefix) {
  static const std::string dir = [&prefix] {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    const char* d = mkdtemp(tmpl.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// Writes text to <dir>/<name>; returns that path.
inline std::string write_in(const std::string& dir, const std::string& name,
                            const std::string& text) {
  const std::string path = dir + "/" + name;
  write_text(path, text);
  return path;
}

}  // namespace suanli::test
