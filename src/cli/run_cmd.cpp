// `suanli run`: outputs checked before any work, plugins isolated in worker processes, results
// journaled as they complete, interrupts that keep what was measured, --resume.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "certify/report_sign.h"
#include "cli/cluster_cmd.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cluster/cluster_run.h"
#include "core/error.h"
#include "core/units.h"
#include "harness/isolate.h"
#include "harness/journal.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/summary.h"
#include "report/system_info.h"
#include "suite/suite.h"

namespace suanli::cli {
namespace {

using nlohmann::json;

bool is_path(const std::string& suite) {
  return suite.find('/') != std::string::npos ||
         (suite.size() > 5 && suite.compare(suite.size() - 5, 5, ".json") == 0);
}

// The options a resumed run needs to be the same run.
json cli_json(const RunOptionsCli& o, const std::string& out) {
  // A suite file by its absolute path: a resume may run from another directory.
  const std::string suite =
      is_path(o.suite) ? std::filesystem::absolute(o.suite).string() : o.suite;
  return {{"suite", suite},           {"backends", o.backends},
          {"dtypes", o.dtypes},       {"out", out},
          {"threads", o.threads},     {"min_time", o.min_time},
          {"max_time", o.max_time},   {"repetitions", o.repetitions},
          {"timeout_s", o.timeout_s}, {"backend_options", o.backend_options}};
}

RunOptionsCli cli_from_json(const json& j, const RunOptionsCli& given, const std::string& origin) {
  RunOptionsCli o = given;
  try {
    o.suite = j.at("suite").get<std::string>();
    o.backends = j.at("backends").get<std::vector<std::string>>();
    o.dtypes = j.at("dtypes").get<std::vector<std::string>>();
    o.out = j.at("out").get<std::string>();
    o.threads = j.at("threads").get<int>();
    o.min_time = j.at("min_time").get<double>();
    o.max_time = j.at("max_time").get<double>();
    o.repetitions = j.at("repetitions").get<int>();
    o.timeout_s = j.at("timeout_s").get<double>();
    o.backend_options = j.at("backend_options").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: the journal's header is malformed: {}", origin, e.what()));
  }
  return o;
}

// What must not change between a run and its resume: the host and the backends' identity.
json run_identity(const isolate::Enumeration& e) {
  const HostInfo h = host_info();
  json backends = json::array();
  for (const isolate::BackendDesc& b : e.backends) {
    json devices = json::array();
    for (const DeviceInfo& d : b.devices)
      devices.push_back(fmt::format("{} {} {}", d.index, d.name, d.uuid));
    backends.push_back({{"name", b.name},
                        {"version", b.version},
                        {"sha256", b.json.value("sha256", "")},
                        {"devices", devices}});
  }
  return {{"host", {{"hostname", h.hostname}, {"cpu_model", h.cpu_model}, {"arch", h.arch}}},
          {"backends", backends}};
}

std::string first_difference(const json& a, const json& b) {
  const json patch = json::diff(a, b);
  return patch.empty() ? "" : patch[0].value("path", "/");
}

std::string job_key(const std::string& backend, int device, const std::string& workload) {
  return fmt::format("{}\n{}\n{}", backend, device, workload);
}

// The journal of this run: a new one (its O_EXCL creation also reserves a default report name:
// another run that drew the same name draws again), or the one being resumed.
Journal open_journal(std::string& out, bool default_name, const json& header) {
  for (int attempt = 0;; ++attempt) {
    std::filesystem::create_directories(std::filesystem::path(out).parent_path().empty()
                                            ? std::filesystem::path(".")
                                            : std::filesystem::path(out).parent_path());
    try {
      json h = header;
      h["cli"]["out"] = out;
      return Journal::create(journal_path_for(out), h);
    } catch (const InputError&) {
      if (!default_name || attempt > 20) throw;
      out = unique_output_name("suanli-reports", host_info().hostname, ".json");
    }
  }
}

RunOptions harness_options(const RunOptionsCli& o, bool tty) {
  RunOptions ro;
  if (o.min_time > 0) ro.min_time = o.min_time;
  if (o.repetitions > 0) ro.repetitions = o.repetitions;
  if (o.max_time >= 0) ro.max_time = o.max_time;
  if (tty) ro.on_progress = progress_bar();
  return ro;
}

isolate::RunSpec run_spec(const RunOptionsCli& o, const Suite& suite, const LoadOptions& lo) {
  isolate::RunSpec spec;
  spec.suite = o.suite;
  spec.suite_sha256 = suite.sha256;
  spec.dtypes = o.dtypes;
  spec.create_options = lo.create_options;
  if (o.min_time > 0) spec.min_time = o.min_time;
  if (o.repetitions > 0) spec.repetitions = o.repetitions;
  if (o.max_time >= 0) spec.max_time = o.max_time;
  if (o.timeout_s > 0) spec.timeout_s = o.timeout_s;
  return spec;
}

}  // namespace

int cmd_run(const RunOptionsCli& given) {
  // Under mpirun/srun: one rank of a cluster run (src/cluster, cluster_cmd.cpp).
  if (is_fabric_suite(given.suite)) return cmd_run_fabric(given);
  if (is_hpl_dist_suite(given.suite)) return cmd_run_hpl_dist(given);
  std::unique_ptr<cluster::ClusterRun> cluster = begin_cluster_run(given);
  if (cluster && !given.resume.empty())
    throw InputError("--resume: a cluster run cannot be resumed; run the suite again");
  // Everything that can be wrong with the input or the output is checked before anything runs.
  std::optional<Journal> journal;
  RunOptionsCli o = given;
  if (!given.resume.empty()) {
    journal.emplace(Journal::resume(given.resume));
    o = cli_from_json(journal->header().value("cli", json::object()), given, given.resume);
    // The report goes beside the journal (REPORT.journal -> REPORT), wherever the resume runs.
    const std::string suffix = ".journal";
    const std::string& j = given.resume;
    if (!given.out.empty())
      o.out = given.out;
    else if (j.size() > suffix.size() &&
             j.compare(j.size() - suffix.size(), suffix.size(), suffix) == 0)
      o.out = j.substr(0, j.size() - suffix.size());
  }
  Suite suite = load_suite(o.suite);
  filter_dtypes(suite, parse_dtypes(o.dtypes));
  if (suite.workloads.empty())
    throw InputError(fmt::format("suite {}: no workload left after --dtype filtering", suite.name));
  if (journal && journal->header().value("suite_sha256", "") != suite.sha256)
    throw InputError(fmt::format("{}: suite {} changed since the journal was written; refused",
                                 given.resume, suite.origin));
  const bool default_name = o.out.empty();
  std::string out =
      default_name ? unique_output_name("suanli-reports", host_info().hostname, ".json") : o.out;
  std::vector<std::string> inputs = {given.resume, o.sign_key};
  if (is_path(o.suite)) inputs.push_back(o.suite);
  check_output_path(out, inputs, "--out", default_name);
  std::optional<certify::SecretKey> sign_key;
  if (!o.sign_key.empty()) sign_key = certify::load_secret_key(o.sign_key);

  const LoadOptions lo = load_options(
      o.backends, cluster ? cluster->threads_for(o.threads) : o.threads, o.backend_options);
  const isolate::Enumeration loaded = enumerate(lo);
  if (loaded.backends.empty())
    throw InputError("no backend could be loaded (see `suanli info` for the reasons)");
  std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>> devices;
  size_t device_count = 0;
  for (const auto& b : loaded.backends) {
    devices.emplace_back(b.name, &b.devices);
    device_count += b.devices.size();
  }
  if (device_count == 0)
    throw InputError("the backends loaded report no device to run on (see `suanli info`)");
  check_suite_fits(suite, devices);
  const json identity = run_identity(loaded);
  if (journal && journal->header().value("identity", json()) != identity)
    throw InputError(fmt::format(
        "{}: written on another machine or with other backends (first difference at {}); "
        "refused",
        given.resume, first_difference(journal->header().value("identity", json()), identity)));

  RunMeta meta;
  meta.command = o.argv;
  meta.started_utc = journal ? journal->header().value("started_utc", "") : utc_timestamp();
  if (!journal && cluster) {
    // Each rank journals its own results beside the cluster report.
    std::string rank_out = fmt::format("{}.rank{}", out, cluster->rank());
    journal.emplace(open_journal(rank_out, false,
                                 {{"cli", cli_json(o, out)},
                                  {"suite_sha256", suite.sha256},
                                  {"identity", identity},
                                  {"started_utc", meta.started_utc}}));
  }
  if (!journal)
    journal.emplace(open_journal(out, default_name,
                                 {{"cli", cli_json(o, out)},
                                  {"suite_sha256", suite.sha256},
                                  {"identity", identity},
                                  {"started_utc", meta.started_utc}}));
  meta.options = {{"suite", o.suite}, {"out", out}};
  if (o.threads) meta.options.emplace_back("threads", std::to_string(o.threads));
  for (const std::string& kv : o.backend_options) meta.options.emplace_back("backend_option", kv);
  if (!given.resume.empty()) meta.options.emplace_back("resumed_from", given.resume);

  const bool tty = isatty(STDERR_FILENO) && !o.quiet;
  print_issues(loaded.issues, stderr);
  RunOptions ro = harness_options(o, tty);
  std::map<std::string, Result> done;
  for (const Result& r : journal->recorded())
    done.emplace(job_key(r.backend, r.device, r.workload), r);
  if (!done.empty())
    fmt::print(stderr, "resuming {}: {} results recorded, not run again\n", journal->path(),
               done.size());
  ro.completed = [&done](const Job& j) -> std::optional<Result> {
    auto it = done.find(job_key(j.backend, j.device, j.workload->id));
    if (it == done.end()) return std::nullopt;
    return it->second;
  };
  ro.on_result = [&journal](const Result& r) { journal->append(r); };
  if (cluster) {
    cluster->prepare(ro);
    const int status = cluster->finish(
        [&] {
          std::vector<Result> results;
          {
            const isolate::InterruptScope handlers;
            results = isolate::run_isolated(suite, loaded.backends, run_spec(o, suite, lo), ro);
          }
          if (tty) fmt::print(stderr, "\r\033[K");
          meta.finished_utc = utc_timestamp();
          json backends = json::array();
          for (const auto& b : loaded.backends) backends.push_back(b.json);
          return make_run_report(suite, backends, loaded.issues, results, meta);
        },
        out);
    journal->remove();
    return status;
  }

  std::vector<Result> results;
  {
    const isolate::InterruptScope handlers;
    results = isolate::run_isolated(suite, loaded.backends, run_spec(o, suite, lo), ro);
  }
  if (tty) fmt::print(stderr, "\r\033[K");
  const size_t jobs = suite.workloads.size() * device_count;
  if (const int sig = isolate::InterruptScope::received()) {
    fmt::print(stderr,
               "suanli: interrupted by {}: {} of {} results kept in {} (no report written); "
               "finish with: suanli run --resume {}\n",
               sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : "a signal",
               results.size(), jobs, journal->path(), journal->path());
    return 128 + sig;
  }
  meta.finished_utc = utc_timestamp();
  json backends = json::array();
  for (const auto& b : loaded.backends) backends.push_back(b.json);
  json report = make_run_report(suite, backends, loaded.issues, results, meta);
  if (sign_key) certify::sign_report(report, *sign_key);
  try {
    write_file_atomic(out, report.dump(2) + "\n", default_name);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("{}; the results are kept in {} (finish with: suanli "
                    "run --resume {} --out OTHER)",
                    e.what(), journal->path(), journal->path()));
  }
  journal->remove();  // the report has everything the journal had
  const Tally t = tally(results);
  print_run_output(report, out, t, o.format, o.wide, o.quiet);
  if (t.results == 0) {
    fmt::print(stderr, "suanli: error: the run produced no results\n");
    return kExitFailed;
  }
  return (t.failed || t.error) ? kExitFailed : kExitOk;
}

}  // namespace suanli::cli
