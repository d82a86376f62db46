// Error types that carry the CLI's exit status: bad input (2) versus a failed run (1).
#pragma once

#include <stdexcept>
#include <string>

namespace suanli {

// Exit statuses of the `suanli` command.
enum ExitCode : int { kExitOk = 0, kExitFailed = 1, kExitUsage = 2 };

// Bad input: a file that cannot be read or does not match its schema, a bad
// option value. The message names the file, the place in it and what was
// expected. The CLI exits with kExitUsage and writes nothing.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace suanli
