// Shared by the libFuzzer targets: the input as a file (for readers that take a path), and the
// rule every target follows: bad input is an InputError (exit 2 in the CLI), anything else that
// escapes (another exception, a crash, a hang, runaway memory) is a finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/error.h"

namespace suanli::fuzz {

// The bytes as a file: /proc/self/fd/N of an anonymous memory file (closed on destruction).
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("suanli-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

// Runs `body`; an InputError is the expected answer to bad input, anything else aborts.
template <typename F>
void expect_input_error_only(F&& body) {
  try {
    body();
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: an exception other than InputError escaped: %s\n", e.what());
    std::abort();
  }
}

}  // namespace suanli::fuzz
