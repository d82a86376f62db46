// The run journal: append-only JSON lines, fsync'd after each.
#include "harness/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "report/json_schema.h"

namespace suanli {

using nlohmann::json;

namespace {

void write_line(int fd, const std::string& path, const json& j) {
  const std::string line = j.dump() + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw std::runtime_error(
          fmt::format("{}: journal write failed: {}", path, std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  if (fdatasync(fd) != 0)
    throw std::runtime_error(
        fmt::format("{}: journal sync failed: {}", path, std::strerror(errno)));
}

}  // namespace

std::string journal_path_for(const std::string& report_path) {
  return report_path + ".journal";
}

Journal Journal::create(const std::string& path, const json& header) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw InputError(fmt::format("{}: cannot create the run journal: {}{}", path,
                                 std::strerror(errno),
                                 errno == EEXIST ? " (an interrupted run left it: finish it with "
                                                   "--resume, or remove it)"
                                                 : ""));
  Journal j(path, fd);
  j.header_ = header;
  write_line(fd, path, {{"suanli_journal", 1}, {"header", header}});
  return j;
}

Journal Journal::resume(const std::string& path) {
  const std::string text = read_text_file(path, "run journal");
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  json header;
  std::vector<Result> recorded, probes;
  while (std::getline(in, line)) {
    ++n;
    const bool last = in.peek() == EOF;
    json j;
    try {
      j = parse_json_text(line, fmt::format("{}:{}", path, n));
    } catch (const InputError&) {
      if (last && n > 1) break;  // a write torn by a crash: that result runs again
      throw;
    }
    if (n == 1) {
      if (j.value("suanli_journal", 0) != 1 || !j.contains("header"))
        throw InputError(fmt::format("{}:1: not a suanli run journal", path));
      header = j["header"];
      continue;
    }
    if (j.contains("peak_probe")) {
      probes.push_back(result_from_json(j["peak_probe"]));
      continue;
    }
    if (!j.contains("result"))
      throw InputError(fmt::format("{}:{}: expected a \"result\" or \"peak_probe\" line", path, n));
    recorded.push_back(result_from_json(j["result"]));
  }
  if (n == 0) throw InputError(fmt::format("{}: empty file, not a suanli run journal", path));
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0)
    throw InputError(
        fmt::format("{}: cannot append to the run journal: {}", path, std::strerror(errno)));
  Journal j(path, fd);
  j.header_ = std::move(header);
  j.recorded_ = std::move(recorded);
  j.probes_ = std::move(probes);
  return j;
}

Journal::Journal(Journal&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(o.fd_),
      header_(std::move(o.header_)),
      recorded_(std::move(o.recorded_)),
      probes_(std::move(o.probes_)),
      appended_(o.appended_) {
  o.fd_ = -1;
}

Journal::~Journal() {
  if (fd_ >= 0) close(fd_);
}

void Journal::append(const Result& r) {
  write_line(fd_, path_, {{"result", result_to_json(r)}});
  ++appended_;
}

void Journal::append_probe(const Result& r) {
  write_line(fd_, path_, {{"peak_probe", result_to_json(r)}});
}

void Journal::remove() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  unlink(path_.c_str());
}

}  // namespace suanli
