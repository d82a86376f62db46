// Output files that never clobber inputs, devices or each other: checks on output paths made
// before any work, unique default names, atomic writes of one file or of a set of files.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace suanli {

// Checks, before any work, that `out` can be written as a regular file: its directory exists
// (or, with create_dirs, the nearest existing ancestor is a writable directory), is writable
// and was not deleted; `out` is not a directory, device, FIFO or socket; and it is not the same
// file (device and inode) as any of `inputs`. Throws InputError naming `what` (e.g. "--out").
void check_output_path(const std::string& out, const std::vector<std::string>& inputs,
                       const std::string& what, bool create_dirs = false);

// A new file name DIR/STEM-YYYYMMDDTHHMMSS.mmmZ-XXXXXX.EXT (UTC with milliseconds, random
// suffix) that does not exist now; callers reserve it with O_EXCL (the run journal) or write it
// with no_replace.
std::string unique_output_name(const std::string& dir, const std::string& stem,
                               const std::string& ext);

struct AtomicFile {
  std::string path, text;
};

// Writes each file to a temporary beside it (fsync'd), then renames them all into place, in
// order, with SIGINT, SIGTERM, SIGHUP and SIGQUIT held back from the first temporary to the last
// rename: an interrupt leaves either the complete old set or the complete new one, and no
// temporary. A replaced file keeps its mode; a new one gets 0644. A path that exists and is not
// a regular file is refused (a device node is never replaced). With no_replace an existing
// path is an error instead (link(2), never rename over). Creates missing directories. Throws
// std::runtime_error naming the path.
void write_files_atomic(const std::vector<AtomicFile>& files, bool no_replace = false);
void write_file_atomic(const std::string& path, const std::string& text, bool no_replace = false);

// True when a command-line name is a path (it has a '/' or ends in ".json"), not the name of
// a shipped suite or profile.
bool names_a_file(const std::string& name_or_path);

// The same file (device and inode) as another path; false when either does not exist.
bool same_file(const std::string& a, const std::string& b);

}  // namespace suanli
