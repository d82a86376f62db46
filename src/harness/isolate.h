// Backends isolated from the harness: plugins are loaded, created and run only in worker
// processes (this program re-executed as `suanli __worker`), so a crash, abort, exit or hang in a
// plugin becomes an `error` result of one workload and the run goes on.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend_host.h"
#include "harness/runner.h"
#include "suite/suite.h"

namespace suanli::isolate {

// What the harness knows of a backend without loading it: from an enumeration worker.
struct BackendDesc {
  std::string name, version, path;
  std::vector<std::pair<std::string, std::string>> libraries;
  std::vector<DeviceInfo> devices;
  nlohmann::json json;  // backend_json() as the worker wrote it (the report's form)
};

struct Enumeration {
  std::vector<BackendDesc> backends;
  std::vector<LoadIssue> issues;
};

// Loads and creates every plugin load_backends would, in worker processes: a plugin that crashes,
// exits or hangs (timeout_s) while loading or creating is recorded as a LoadIssue with the reason
// and the others are still enumerated.
Enumeration enumerate_backends(const LoadOptions& opts, double timeout_s = 120);

// Where the workers find the suite and how they run it.
struct RunSpec {
  std::string suite;                // name or path, as given
  std::string suite_sha256;         // the harness's copy; a worker refuses another
  std::vector<std::string> dtypes;  // the --dtype filter
  std::vector<std::pair<std::string, std::string>> create_options;
  std::optional<double> min_time, max_time, timeout_s;
  std::optional<int> repetitions;
};

// The seconds a workload may take before its worker is killed: the suite's timeout_s, else
// a default from its time settings and FLOPs (documented in README.md, "Isolation").
double workload_timeout_s(const Workload& w, const RunSpec& spec);

// Runs the suite's jobs on the enumerated backends, one worker process per backend (a new one
// after a crash or a timeout), with the outer loop's hooks of `opts`.
std::vector<Result> run_isolated(const Suite& suite, const std::vector<BackendDesc>& backends,
                                 const RunSpec& spec, const RunOptions& opts);

// What a worker runs for a command other than `run` (certify registers one): the suite it builds
// from its init message (the harness builds the same one), and its answer to one request for a
// workload of that suite on the loaded backend: {"result": ...} and anything else the command
// needs. Registered by name (in every process, before worker_main runs: a static initializer).
struct WorkerKind {
  std::function<Suite(const nlohmann::json& init)> suite;
  std::function<nlohmann::json(Backend& backend, int device, const Workload& w,
                               const nlohmann::json& init, const nlohmann::json& request)>
      run;
};
bool register_worker_kind(const std::string& name, WorkerKind kind);

// One backend's worker on the harness's side: started on demand (loading and creating the
// plugin), replaced after it crashes, exits or hangs. run_isolated uses one per backend; other
// commands (certify) use it with their own worker kind.
class WorkerProcess;
class IsolatedBackend {
 public:
  // init: the worker's first message beyond the plugin's identity: {"kind": NAME, ...} for a
  // registered kind (no "kind": a `run` suite, run_init's fields).
  IsolatedBackend(const BackendDesc& b,
                  std::vector<std::pair<std::string, std::string>> create_options,
                  nlohmann::json init);
  ~IsolatedBackend();
  IsolatedBackend(const IsolatedBackend&) = delete;
  IsolatedBackend& operator=(const IsolatedBackend&) = delete;

  struct Answer {
    Result result;         // the workload's result; an error naming how the worker ended
    nlohmann::json extra;  // the rest of the worker's answer (null after an error)
  };
  // Sends `request` (with the job's workload index, id and device added) and waits at most
  // timeout_s for the answer.
  Answer run(const Job& j, nlohmann::json request, double timeout_s);

 private:
  std::string start();
  Answer exchange(const Job& j, nlohmann::json request, double timeout_s);
  const BackendDesc& desc_;
  nlohmann::json init_;
  std::unique_ptr<WorkerProcess> worker_;
  std::string dead_;
};

// Kills the worker running now (if any) and makes run_isolated return at once; async-signal-safe
// (for SIGINT/SIGTERM handlers).
void interrupt_from_signal();
bool interrupted();

// While alive, SIGINT, SIGTERM and SIGHUP call interrupt_from_signal (the run stops between or
// in the middle of workloads; the command says what it kept); the old handlers come back after.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  // The signal that interrupted (0: none).
  static int received();

 private:
  std::array<struct sigaction, 3> old_{};
};

// `suanli __worker`: the worker's side; reads its requests on fd 3, answers on fd 4.
int worker_main();

// "signal 11 (SIGSEGV, Segmentation fault)" / "exit status 0": how a worker ended.
std::string describe_wait_status(int status);

}  // namespace suanli::isolate
