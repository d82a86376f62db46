// The run journal: an append-only file beside the report (REPORT.journal), one JSON line per
// finished workload, fsync'd, so that an interrupted or crashed run keeps what it measured and
// `suanli run --resume JOURNAL` finishes it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/report.h"

namespace suanli {

class Journal {
 public:
  // Creates PATH (refused when it exists: O_EXCL) and writes the header line: what the run is
  // (suite, options, host and backend identity) so that a resume can check it is the same run.
  static Journal create(const std::string& path, const nlohmann::json& header);
  // Reads PATH (its header and the results recorded so far; a torn last line, from a crash in
  // the middle of a write, is dropped) and opens it for appending. Throws InputError.
  static Journal resume(const std::string& path);

  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) = delete;
  Journal(const Journal&) = delete;
  ~Journal();

  // Appends one result (with its finish time) and fsyncs.
  void append(const Result& r);
  // Appends one result of the built-in peak probe (harness/peak_probe.h) and fsyncs.
  void append_probe(const Result& r);
  // Removes the file (after the report was written).
  void remove();

  const std::string& path() const { return path_; }
  const nlohmann::json& header() const { return header_; }
  const std::vector<Result>& recorded() const { return recorded_; }
  const std::vector<Result>& recorded_probes() const { return probes_; }
  size_t appended() const { return appended_; }

 private:
  Journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
  nlohmann::json header_;
  std::vector<Result> recorded_, probes_;
  size_t appended_ = 0;
};

// The journal of a report path: REPORT.journal.
std::string journal_path_for(const std::string& report_path);

}  // namespace suanli
