// Output files: path checks before any work, unique names, atomic writes.
#include "report/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "core/error.h"

namespace suanli {
namespace {

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void mkdir_p(const std::string& path, const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      const std::string part = dir.substr(0, pos);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
        throw std::runtime_error(
            fmt::format("{}: cannot create directory {}: {}", path, part, std::strerror(errno)));
    }
  }
}

// The interrupting signals held back while a set of files is replaced.
class HoldSignals {
 public:
  HoldSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, &old_);
  }
  ~HoldSignals() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  HoldSignals(const HoldSignals&) = delete;
  HoldSignals& operator=(const HoldSignals&) = delete;

 private:
  sigset_t old_;
};

// A temporary beside `path` holding `text`, fsync'd, with the mode `path` should get.
std::string write_temporary(const std::string& path, const std::string& text) {
  struct stat st {};
  mode_t mode = 0644;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      throw std::runtime_error(
          fmt::format("{}: exists and is not a regular file (a directory, device, FIFO or socket); "
                      "not replaced",
                      path));
    mode = st.st_mode & 07777;  // a replaced file keeps its mode (a 0600 report stays 0600)
  }
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0)
    throw std::runtime_error(
        fmt::format("{}: cannot create a temporary file: {}", path, std::strerror(errno)));
  size_t done = 0;
  int err = 0;
  while (done < text.size() && !err) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (!err && (fchmod(fd, mode) != 0 || fsync(fd) != 0)) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  if (err) {
    unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("{}: write failed: {}", path, std::strerror(err)));
  }
  return tmp;
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

void check_output_path(const std::string& out, const std::vector<std::string>& inputs,
                       const std::string& what, bool create_dirs) {
  if (out.empty()) throw InputError(what + ": empty path");
  if (out.back() == '/')
    throw InputError(fmt::format("{} {}: names a directory; expected a file name", what, out));
  struct stat st {};
  if (stat(out.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw InputError(fmt::format("{} {}: is a directory; expected a file name", what, out));
    if (!S_ISREG(st.st_mode))
      throw InputError(fmt::format(
          "{} {}: is not a regular file (a device, FIFO or socket); refused", what, out));
    for (const std::string& in : inputs)
      if (!in.empty() && same_file(in, out))
        throw InputError(fmt::format(
            "{} {}: is the same file as the input {}; refused (the input would be lost)", what, out,
            in));
  }
  std::string dir = dir_of(out);
  if (create_dirs)
    while (stat(dir.c_str(), &st) != 0 && errno == ENOENT && dir != "." && dir != "/")
      dir = dir_of(dir);
  if (stat(dir.c_str(), &st) != 0)
    throw InputError(fmt::format("{} {}: directory {} {}", what, out, dir,
                                 errno == ENOENT ? "does not exist" : std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    throw InputError(fmt::format("{} {}: {} is not a directory", what, out, dir));
  if (st.st_nlink == 0)
    throw InputError(fmt::format("{} {}: directory {} was deleted", what, out, dir));
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError(fmt::format("{} {}: directory {} is not writable: {}", what, out, dir,
                                 std::strerror(errno)));
}

std::string unique_output_name(const std::string& dir, const std::string& stem,
                               const std::string& ext) {
  for (int attempt = 0;; ++attempt) {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    unsigned int rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
      rnd = static_cast<unsigned>(getpid()) * 2654435761u + static_cast<unsigned>(attempt);
    const std::string path = fmt::format("{}/{}-{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{:06x}{}",
                                         dir, stem, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                         tm.tm_hour, tm.tm_min, tm.tm_sec, ms, rnd & 0xffffff, ext);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || attempt > 100) return path;
  }
}

void write_files_atomic(const std::vector<AtomicFile>& files, bool no_replace) {
  const HoldSignals hold;
  std::vector<std::string> temps;
  auto discard = [&temps] {
    for (const std::string& t : temps) unlink(t.c_str());
  };
  try {
    for (const AtomicFile& f : files) {
      mkdir_p(f.path, dir_of(f.path));
      temps.push_back(write_temporary(f.path, f.text));
    }
  } catch (...) {
    discard();
    throw;
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i].path;
    const bool ok = no_replace ? link(temps[i].c_str(), path.c_str()) == 0
                               : rename(temps[i].c_str(), path.c_str()) == 0;
    if (!ok) {
      const int err = errno;
      discard();
      throw std::runtime_error(fmt::format("{}: cannot {}: {}", path,
                                           no_replace ? "create (no replace)" : "rename into place",
                                           std::strerror(err)));
    }
    if (no_replace) unlink(temps[i].c_str());
  }
  // The directory entries themselves, to disk.
  for (const AtomicFile& f : files) {
    const int d = open(dir_of(f.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) fsync(d), close(d);
  }
}

void write_file_atomic(const std::string& path, const std::string& text, bool no_replace) {
  write_files_atomic({{path, text}}, no_replace);
}

bool names_a_file(const std::string& name_or_path) {
  return name_or_path.find('/') != std::string::npos ||
         (name_or_path.size() > 5 &&
          name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
}

}  // namespace suanli
