// Runs a shell command for the end-to-end tests: its exit status and its output (stdout and
// stderr together).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace suanli::test {

struct Out {
  int rc = -1;
  std::string text;
};

inline Out sh(const std::string& cmd) {
  Out o;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.text.append(buf, n);
  const int st = pclose(p);
  o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

}  // namespace suanli::test
