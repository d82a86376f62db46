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
#include "harness/peak_probe.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/summary.h"
#include "report/system_info.h"
#include "suite/suite.h"

namespace suanli::cli {
namespace {

using nlohmann::json;

// The options a resumed run needs to be the same run.
json cli_json(const RunOptionsCli& o, const std::string& out) {
  // A suite file by its absolute path: a resume may run from another directory.
  const std::string suite =
      looks_like_path(o.suite) ? std::filesystem::absolute(o.suite).string() : o.suite;
  return {{"suite", suite},
          {"backends", o.backends},
          {"dtypes", o.dtypes},
          {"out", out},
          {"threads", o.threads},
          {"min_time", o.min_time},
          {"max_time", o.max_time},
          {"repetitions", o.repetitions},
          {"timeout_s", o.timeout_s},
          {"backend_options", o.backend_options},
          {"no_peak_probe", o.no_peak_probe}};
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
    o.no_peak_probe = j.value("no_peak_probe", false);  // absent in journals before the probe
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

// What one `suanli run` has gathered, step by step, before and while it runs.
struct RunState {
  RunOptionsCli o;                               // the options (a resume's: the journal's)
  std::unique_ptr<cluster::ClusterRun> cluster;  // under mpirun/srun: this rank
  std::optional<Journal> journal;
  Suite suite;
  std::string out;            // the report file
  bool default_name = false;  // out was drawn, not given
  std::optional<certify::SecretKey> sign_key;
  LoadOptions lo;
  isolate::Enumeration loaded;
  size_t device_count = 0;
  json identity;
  RunMeta meta;
  std::map<std::string, Result> done;  // results of the journal being resumed, by job_key
};

// --resume: the journal, and the options it recorded (the report goes beside the journal,
// REPORT.journal -> REPORT, wherever the resume runs, unless --out says otherwise).
void resume_from_journal(RunState& s, const RunOptionsCli& given) {
  s.o = given;
  if (given.resume.empty()) return;
  s.journal.emplace(Journal::resume(given.resume));
  s.o = cli_from_json(s.journal->header().value("cli", json::object()), given, given.resume);
  const std::string suffix = ".journal";
  const std::string& j = given.resume;
  if (!given.out.empty())
    s.o.out = given.out;
  else if (j.size() > suffix.size() &&
           j.compare(j.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.o.out = j.substr(0, j.size() - suffix.size());
}

// The suite, filtered by --dtype; a resumed run's suite must not have changed.
void load_run_suite(RunState& s, const std::string& resume) {
  s.suite = load_suite(s.o.suite);
  filter_dtypes(s.suite, parse_dtypes(s.o.dtypes));
  if (s.suite.workloads.empty())
    throw InputError(
        fmt::format("suite {}: no workload left after --dtype filtering", s.suite.name));
  if (s.journal && s.journal->header().value("suite_sha256", "") != s.suite.sha256)
    throw InputError(fmt::format("{}: suite {} changed since the journal was written; refused",
                                 resume, s.suite.origin));
  // The files a workload reads (model descriptions) are read now, before any backend starts: a
  // bad one is refused in a fraction of a second and without a worker process.
  for (const Workload& w : s.suite.workloads)
    if (const WorkloadHandler* h = workload_handler(w); h && h->device_bytes) h->device_bytes(w);
}

// The report's file (given, or drawn), checked against the inputs; the signing key.
void choose_output(RunState& s, const std::string& resume) {
  s.default_name = s.o.out.empty();
  s.out = s.default_name ? unique_output_name("suanli-reports", host_info().hostname, ".json")
                         : s.o.out;
  std::vector<std::string> inputs = {resume, s.o.sign_key};
  if (looks_like_path(s.o.suite)) inputs.push_back(s.o.suite);
  check_output_path(s.out, inputs, "--out", s.default_name);
  if (!s.o.sign_key.empty()) s.sign_key = certify::load_secret_key(s.o.sign_key);
}

// The backends and their devices, which must hold the suite (and, resumed, be the same ones).
void load_run_backends(RunState& s, const std::string& resume) {
  s.lo = load_options(s.o.backends, s.cluster ? s.cluster->threads_for(s.o.threads) : s.o.threads,
                      s.o.backend_options);
  s.loaded = enumerate(s.lo);
  if (s.loaded.backends.empty())
    throw InputError("no backend could be loaded (see `suanli info` for the reasons)");
  std::vector<std::pair<std::string, const std::vector<DeviceInfo>*>> devices;
  for (const auto& b : s.loaded.backends) {
    devices.emplace_back(b.name, &b.devices);
    s.device_count += b.devices.size();
  }
  if (s.device_count == 0)
    throw InputError("the backends loaded report no device to run on (see `suanli info`)");
  check_suite_fits(s.suite, devices);
  s.identity = run_identity(s.loaded);
  if (s.journal && s.journal->header().value("identity", json()) != s.identity)
    throw InputError(fmt::format(
        "{}: written on another machine or with other backends (first difference at {}); "
        "refused",
        resume, first_difference(s.journal->header().value("identity", json()), s.identity)));
}

// The journal of a new run (a cluster rank's beside the cluster report) and the run's metadata.
void start_journal(RunState& s, const std::string& resume) {
  s.meta.command = s.o.argv;
  s.meta.started_utc = s.journal ? s.journal->header().value("started_utc", "") : utc_timestamp();
  const json header = {{"cli", cli_json(s.o, s.out)},
                       {"suite_sha256", s.suite.sha256},
                       {"identity", s.identity},
                       {"started_utc", s.meta.started_utc}};
  if (!s.journal && s.cluster) {
    // Each rank journals its own results beside the cluster report.
    std::string rank_out = fmt::format("{}.rank{}", s.out, s.cluster->rank());
    s.journal.emplace(open_journal(rank_out, false, header));
  }
  if (!s.journal) s.journal.emplace(open_journal(s.out, s.default_name, header));
  s.meta.options = {{"suite", s.o.suite}, {"out", s.out}};
  if (s.o.threads) s.meta.options.emplace_back("threads", std::to_string(s.o.threads));
  for (const std::string& kv : s.o.backend_options)
    s.meta.options.emplace_back("backend_option", kv);
  if (!resume.empty()) s.meta.options.emplace_back("resumed_from", resume);
  // Cluster ranks share the nodes' cores while they run: a probe there measures the crowd.
  if (s.o.no_peak_probe || s.cluster) s.meta.options.emplace_back("peak_probe", "off");
}

// The harness's options: results already in the journal are not run again, new ones are
// journaled as they complete.
RunOptions journaled_options(RunState& s, bool tty) {
  RunOptions ro = harness_options(s.o, tty);
  for (const Result& r : s.journal->recorded())
    s.done.emplace(job_key(r.backend, r.device, r.workload), r);
  if (!s.done.empty())
    fmt::print(stderr, "resuming {}: {} results recorded, not run again\n", s.journal->path(),
               s.done.size());
  ro.completed = [&done = s.done](const Job& j) -> std::optional<Result> {
    auto it = done.find(job_key(j.backend, j.device, j.workload->id));
    if (it == done.end()) return std::nullopt;
    return it->second;
  };
  ro.on_result = [&journal = s.journal](const Result& r) { journal->append(r); };
  return ro;
}

// The built-in peak probe after the suite (harness/peak_probe.h): for every device peak of a
// dtype the suite measures without a verified, unmarked peak workload of its own. Journaled
// like the results (a resume keeps what the probe measured).
void run_probes(RunState& s, const std::vector<Result>& results) {
  if (s.o.no_peak_probe || s.cluster || isolate::interrupted()) return;
  const std::vector<PeakProbeTarget> targets =
      peak_probe_targets(s.loaded.backends, suite_dtypes(s.suite), results);
  if (targets.empty()) return;
  std::map<std::string, Result> done;
  for (const Result& r : s.journal->recorded_probes())
    done.emplace(job_key(r.backend, r.device, r.workload), r);
  RunOptions ro;
  ro.completed = [&done](const Job& j) -> std::optional<Result> {
    auto it = done.find(job_key(j.backend, j.device, j.workload->id));
    if (it == done.end()) return std::nullopt;
    return it->second;
  };
  ro.on_result = [&journal = s.journal](const Result& r) { journal->append_probe(r); };
  s.meta.peak_probes = run_peak_probes(s.loaded.backends, targets, s.lo.create_options, ro);
}

// Every workload on every device, each in a worker process, then the peak probe; an interrupt
// ends it early.
std::vector<Result> run_workloads(RunState& s, const RunOptions& ro, bool tty) {
  std::vector<Result> results;
  {
    const isolate::InterruptScope handlers;
    results = isolate::run_isolated(s.suite, s.loaded.backends, run_spec(s.o, s.suite, s.lo), ro);
    run_probes(s, results);
  }
  if (tty) fmt::print(stderr, "\r\033[K");
  return results;
}

json run_report(RunState& s, const std::vector<Result>& results) {
  s.meta.finished_utc = utc_timestamp();
  json backends = json::array();
  for (const auto& b : s.loaded.backends) backends.push_back(b.json);
  return make_run_report(s.suite, backends, s.loaded.issues, results, s.meta);
}

// One rank of a cluster run: the cluster gathers the ranks' reports into one.
int run_cluster_rank(RunState& s, RunOptions& ro, bool tty) {
  s.cluster->prepare(ro);
  const int status =
      s.cluster->finish([&] { return run_report(s, run_workloads(s, ro, tty)); }, s.out);
  s.journal->remove();
  return status;
}

// A run on this machine: the report written (signed if asked), the journal removed, the
// summary printed.
int run_here(RunState& s, const RunOptions& ro, bool tty) {
  const std::vector<Result> results = run_workloads(s, ro, tty);
  const size_t jobs = s.suite.workloads.size() * s.device_count;
  if (const int sig = isolate::InterruptScope::received()) {
    fmt::print(stderr,
               "suanli: interrupted by {}: {} of {} results kept in {} (no report written); "
               "finish with: suanli run --resume {}\n",
               sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : "a signal",
               results.size(), jobs, s.journal->path(), s.journal->path());
    return 128 + sig;
  }
  json report = run_report(s, results);
  if (s.sign_key) certify::sign_report(report, *s.sign_key);
  try {
    write_file_atomic(s.out, report.dump(2) + "\n", s.default_name);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("{}; the results are kept in {} (finish with: suanli "
                    "run --resume {} --out OTHER)",
                    e.what(), s.journal->path(), s.journal->path()));
  }
  s.journal->remove();  // the report has everything the journal had
  const Tally t = tally(results);
  print_run_output(report, s.out, t, s.o.format, s.o.wide, s.o.quiet);
  if (t.results == 0) {
    fmt::print(stderr, "suanli: error: the run produced no results\n");
    return kExitFailed;
  }
  return (t.failed || t.error) ? kExitFailed : kExitOk;
}

}  // namespace

int cmd_run(const RunOptionsCli& given) {
  // Under mpirun/srun: one rank of a cluster run (src/cluster, cluster_cmd.cpp).
  if (is_fabric_suite(given.suite)) return cmd_run_fabric(given);
  if (is_hpl_dist_suite(given.suite)) return cmd_run_hpl_dist(given);
  RunState s;
  s.cluster = begin_cluster_run(given);
  if (s.cluster && !given.resume.empty())
    throw InputError("--resume: a cluster run cannot be resumed; run the suite again");
  // Everything that can be wrong with the input or the output is checked before anything runs.
  resume_from_journal(s, given);
  load_run_suite(s, given.resume);
  choose_output(s, given.resume);
  load_run_backends(s, given.resume);
  start_journal(s, given.resume);

  const bool tty = isatty(STDERR_FILENO) && !s.o.quiet;
  print_issues(s.loaded.issues, stderr);
  RunOptions ro = journaled_options(s, tty);
  return s.cluster ? run_cluster_rank(s, ro, tty) : run_here(s, ro, tty);
}

}  // namespace suanli::cli
