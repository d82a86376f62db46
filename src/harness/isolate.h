// Backends isolated from the harness: plugins are loaded, created and run only in worker
// processes (this program re-executed as `suanli __worker`), so a crash, abort, exit or hang in a
// plugin becomes an `error` result of one workload and the run goes on.
#pragma once

#include <sys/types.h>

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

// Kills the worker running now (if any) and makes run_isolated return at once; async-signal-safe
// (for SIGINT/SIGTERM handlers).
void interrupt_from_signal();
bool interrupted();

// `suanli __worker`: the worker's side; reads its requests on fd 3, answers on fd 4.
int worker_main();

// "signal 11 (SIGSEGV, Segmentation fault)" / "exit status 0": how a worker ended.
std::string describe_wait_status(int status);

}  // namespace suanli::isolate
