// Backends isolated from the harness: worker processes (this program re-executed as
// `suanli __worker`) load, create and run the plugins; the harness talks to them in JSON lines
// over two pipes and survives whatever a plugin does to its own process.
#include "harness/isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"
#include "harness/run_report.h"
#include "report/report.h"
#include "report/system_info.h"
#include "suite/hpl_entry.h"

namespace suanli::isolate {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kRequestFd = 3;   // the worker reads its requests here ...
constexpr int kResponseFd = 4;  // ... and answers here
constexpr double kStartTimeout = 120;

std::atomic<pid_t> g_worker_pgid{0};
volatile sig_atomic_t g_interrupted = 0;

// SIGPIPE ignored while the harness writes to workers that may have died.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &old_, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  struct sigaction old_ {};
};

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

// One worker process in its own process group; killed (the whole group) when dropped.
class WorkerProcess {
 public:
  WorkerProcess() = default;
  ~WorkerProcess() { kill_now(); }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  void start() {
    int req[2], resp[2];
    if (pipe2(req, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + errno_text());
    if (pipe2(resp, O_CLOEXEC) != 0) {
      close(req[0]), close(req[1]);
      throw std::runtime_error("pipe: " + errno_text());
    }
    const pid_t pid = fork();
    if (pid < 0) {
      close(req[0]), close(req[1]), close(resp[0]), close(resp[1]);
      throw std::runtime_error("fork: " + errno_text());
    }
    if (pid == 0) exec_worker(req[0], resp[1]);  // never returns
    setpgid(pid, pid);
    close(req[0]);
    close(resp[1]);
    pid_ = pid;
    to_ = req[1];
    from_ = resp[0];
  }

  bool send(const json& msg) { return to_ >= 0 && write_all(to_, msg.dump() + "\n"); }

  // The worker's next message; nullopt when it ended, hung past timeout_s or was interrupted,
  // with how in *why. The worker is gone afterwards in that case.
  std::optional<json> receive(double timeout_s, std::string* why) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    g_worker_pgid = pid_;
    while (true) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        try {
          g_worker_pgid = 0;
          return json::parse(line);
        } catch (const json::exception&) {
          *why = "wrote a malformed answer";
          kill_now();
          return std::nullopt;
        }
      }
      const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
      if (g_interrupted) return gone("was interrupted", why);
      if (left <= 0)
        return gone(fmt::format("timed out after {:g} s and was killed", timeout_s), why);
      pollfd p{from_, POLLIN, 0};
      const int n = poll(&p, 1, static_cast<int>(std::min(left * 1000 + 1, 200.0)));
      if (n <= 0) continue;  // timeout slice or EINTR: check the deadline and the interrupt
      char chunk[65536];
      const ssize_t got = read(from_, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return gone(ended(), why);
      buf_.append(chunk, static_cast<size_t>(got));
    }
  }

  void kill_now() {
    g_worker_pgid = 0;
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    close_fds();
  }

 private:
  static std::string errno_text() { return std::strerror(errno); }

  [[noreturn]] static void exec_worker(int req, int resp) {
    // Async-signal-safe calls only: the parent may have threads.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the harness gone: its workers go too
    const int r = fcntl(req, F_DUPFD, 10), w = fcntl(resp, F_DUPFD, 10);
    if (r < 0 || w < 0 || dup2(r, kRequestFd) < 0 || dup2(w, kResponseFd) < 0) _exit(127);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execl("/proc/self/exe", "suanli", "__worker", static_cast<char*>(nullptr));
    _exit(127);
  }

  // How the worker ended after closing its answer pipe (reaped; killed after 2 s if it lingers).
  std::string ended() {
    int status = 0;
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (true) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) return "closed its pipe";
      if (Clock::now() > until) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      usleep(2000);
    }
    kill(-pid_, SIGKILL);  // anything it left behind in its group
    pid_ = -1;
    close_fds();
    return "ended with " + describe_wait_status(status);
  }

  std::optional<json> gone(const std::string& how, std::string* why) {
    *why = how;
    kill_now();
    return std::nullopt;
  }

  void close_fds() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    to_ = from_ = -1;
    pid_ = -1;
    buf_.clear();
  }

  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

namespace {

DeviceInfo device_from_json(const json& j) {
  DeviceInfo d;
  d.index = j.at("index").get<int>();
  d.name = j.value("name", "");
  d.vendor = j.value("vendor", "");
  d.kind = j.value("kind", "");
  d.uuid = j.value("uuid", "");
  d.driver = j.value("driver", "");
  d.features = j.value("features", "");
  d.memory_bytes = j.value("memory_bytes", uint64_t{0});
  d.compute_units = j.value("compute_units", 0);
  d.threads = j.value("threads", 0);
  d.clock_mhz = j.value("clock_mhz", 0.0);
  d.max_clock_mhz = j.value("max_clock_mhz", 0.0);
  for (const json& p : j.value("peaks", json::array()))
    d.peaks.push_back({dtype_from_name(p.at("dtype").get<std::string>()).value_or(Dtype::invalid),
                       p.at("ops_per_second").get<double>(), p.value("derivation", "")});
  const json extra = j.value("extra", json::object());  // named: items() of a temporary dangles
  for (const auto& [k, v] : extra.items()) d.extra.emplace_back(k, v.get<std::string>());
  return d;
}

BackendDesc backend_from_json(const json& j) {
  BackendDesc b;
  b.name = j.at("name").get<std::string>();
  b.version = j.value("version", "");
  b.path = j.value("path", "");
  const json libraries = j.value("libraries", json::object());
  for (const auto& [k, v] : libraries.items()) b.libraries.emplace_back(k, v.get<std::string>());
  for (const json& d : j.value("devices", json::array())) b.devices.push_back(device_from_json(d));
  b.json = j;
  return b;
}

json options_json(const std::vector<std::pair<std::string, std::string>>& kv) {
  json a = json::array();
  for (const auto& [k, v] : kv) a.push_back({k, v});
  return a;
}

std::vector<std::pair<std::string, std::string>> options_from_json(const json& a) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (const json& p : a) kv.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
  return kv;
}

// --- the worker's side -------------------------------------------------------------------

class WorkerChannel {
 public:
  std::optional<json> next() {
    while (true) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        json j = json::parse(buf_.substr(0, nl));
        buf_.erase(0, nl + 1);
        return j;
      }
      char chunk[4096];
      const ssize_t n = read(kRequestFd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  static void answer(const json& j) {
    if (!write_all(kResponseFd, j.dump() + "\n")) _exit(3);
  }

 private:
  std::string buf_;
};

void worker_enumerate(const json& init) {
  const auto create = options_from_json(init.at("create_options"));
  for (const json& f : init.at("files")) {
    try {
      const std::unique_ptr<Backend> b = load_backend_file(f.get<std::string>(), create);
      WorkerChannel::answer({{"backend", backend_json(*b)}});
    } catch (const std::exception& e) {
      WorkerChannel::answer({{"error", e.what()}});
    }
  }
}

RunOptions worker_run_options(const json& init) {
  RunOptions ro;
  if (init.contains("min_time")) ro.min_time = init["min_time"].get<double>();
  if (init.contains("max_time")) ro.max_time = init["max_time"].get<double>();
  if (init.contains("repetitions")) ro.repetitions = init["repetitions"].get<int>();
  return ro;
}

// The `run` kind: the suite by name or path, filtered as the harness filtered it, and the same
// file as the harness's.
Suite suite_from_init(const json& init) {
  Suite suite = load_suite(init.at("suite").get<std::string>());
  std::vector<Dtype> keep;
  for (const json& d : init.at("dtypes"))
    if (auto t = dtype_from_name(d.get<std::string>())) keep.push_back(*t);
  filter_dtypes(suite, keep);
  if (suite.sha256 != init.at("suite_sha256").get<std::string>())
    throw std::runtime_error(fmt::format("suite {} changed since the run began", suite.origin));
  return suite;
}

json run_answer(Backend& backend, int device, const Workload& w, const json& init,
                const json& request) {
  RunOptions ro = worker_run_options(init);
  // The host probe's reference is the parent's (the fastest probe since the run began).
  ro.host_probe = request.value("host_probe", true);
  if (request.contains("probe_reference"))
    ro.probe_reference = request["probe_reference"].get<double>();
  return {{"result", result_to_json(run_job(backend, device, w, ro))}};
}

std::map<std::string, WorkerKind>& worker_kinds() {
  static std::map<std::string, WorkerKind> kinds = {{"suite", {suite_from_init, run_answer}}};
  return kinds;
}

void worker_run(WorkerChannel& ch, const json& init) {
  std::unique_ptr<Backend> backend;
  Suite suite;
  const WorkerKind* kind = nullptr;
  try {
    const std::string kind_name = init.value("kind", "suite");
    const auto it = worker_kinds().find(kind_name);
    if (it == worker_kinds().end())
      throw std::runtime_error(fmt::format("no worker kind '{}' in this program", kind_name));
    kind = &it->second;
    backend = load_backend_file(init.at("path").get<std::string>(),
                                options_from_json(init.at("create_options")));
    if (backend->name() != init.at("name").get<std::string>())
      throw std::runtime_error(fmt::format("the plugin now calls itself '{}'", backend->name()));
    suite = kind->suite(init);
  } catch (const std::exception& e) {
    WorkerChannel::answer({{"error", e.what()}});
    return;
  }
  WorkerChannel::answer({{"ready", true}});
  while (std::optional<json> req = ch.next()) {
    const size_t i = req->at("workload").get<size_t>();
    if (i >= suite.workloads.size() || suite.workloads[i].id != req->at("id").get<std::string>()) {
      WorkerChannel::answer({{"error", "the worker's suite does not have this workload"}});
      continue;
    }
    WorkerChannel::answer(
        kind->run(*backend, req->at("device").get<int>(), suite.workloads[i], init, *req));
  }
}

// A `run` worker's init beyond the plugin's identity.
json run_init(const RunSpec& spec) {
  json init = {{"suite", spec.suite}, {"suite_sha256", spec.suite_sha256}, {"dtypes", spec.dtypes}};
  if (spec.min_time) init["min_time"] = *spec.min_time;
  if (spec.max_time) init["max_time"] = *spec.max_time;
  if (spec.repetitions) init["repetitions"] = *spec.repetitions;
  return init;
}

}  // namespace

bool register_worker_kind(const std::string& name, WorkerKind kind) {
  return worker_kinds().emplace(name, std::move(kind)).second;
}

IsolatedBackend::IsolatedBackend(const BackendDesc& b,
                                 std::vector<std::pair<std::string, std::string>> create_options,
                                 json init)
    : desc_(b), init_(std::move(init)) {
  init_["mode"] = "run";
  init_["name"] = b.name;
  init_["path"] = b.path;
  init_["create_options"] = options_json(create_options);
}

IsolatedBackend::~IsolatedBackend() = default;

IsolatedBackend::Answer IsolatedBackend::run(const Job& j, json request, double timeout_s) {
  Answer a = exchange(j, std::move(request), timeout_s);
  // When the harness received it (or gave up on it): every result has a finish time.
  if (a.result.recorded.is_null()) a.result.recorded = result_to_json(a.result);
  a.result.recorded["finished_utc"] = utc_timestamp();
  return a;
}

IsolatedBackend::Answer IsolatedBackend::exchange(const Job& j, json request, double timeout_s) {
  const IgnoreSigpipe quiet;  // the worker may be gone
  if (!dead_.empty()) return {job_error(j, dead_), nullptr};
  if (!worker_) {
    const std::string why = start();
    if (!why.empty()) {
      dead_ =
          fmt::format("backend {} could not be started in a worker process: {}", desc_.name, why);
      return {job_error(j, dead_), nullptr};
    }
  }
  request["workload"] = j.workload_index;
  request["id"] = j.workload->id;
  request["device"] = j.device;
  std::string why;
  std::optional<json> msg;
  if (worker_->send(request))
    msg = worker_->receive(timeout_s, &why);
  else
    why = "closed its request pipe";
  if (!msg) {
    worker_.reset();
    return {job_error(j, fmt::format("the backend's worker process {} while running {} on {}:{} "
                                     "(the run went on in a new worker)",
                                     why, j.workload->id, j.backend, j.device)),
            nullptr};
  }
  if (msg->contains("error")) return {job_error(j, (*msg)["error"].get<std::string>()), nullptr};
  try {
    Result r = result_from_json(msg->at("result"));
    msg->erase("result");
    return {std::move(r), std::move(*msg)};
  } catch (const std::exception& e) {
    worker_.reset();
    return {job_error(j, std::string("the backend's worker answered nonsense: ") + e.what()),
            nullptr};
  }
}

std::string IsolatedBackend::start() {
  worker_ = std::make_unique<WorkerProcess>();
  worker_->start();
  std::string why;
  std::optional<json> hello;
  if (worker_->send(init_)) hello = worker_->receive(kStartTimeout, &why);
  if (hello && hello->value("ready", false)) return {};
  worker_.reset();
  if (hello) return hello->value("error", std::string("it did not say ready"));
  return why.empty() ? "closed its request pipe" : why;
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return fmt::format("signal {} (SIG{}: {}){}", sig, abbrev ? abbrev : "?", strsignal(sig),
                       WCOREDUMP(status) ? ", core dumped" : "");
  }
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  return fmt::format("wait status {}", status);
}

void interrupt_from_signal() {
  g_interrupted = 1;
  const pid_t pg = g_worker_pgid.load();
  if (pg > 0) kill(-pg, SIGKILL);
}

bool interrupted() {
  return g_interrupted != 0;
}

namespace {
volatile sig_atomic_t g_signal = 0;
constexpr std::array<int, 3> kInterruptSignals = {SIGINT, SIGTERM, SIGHUP};
extern "C" void on_interrupt(int sig) {
  g_signal = sig;
  interrupt_from_signal();
}
}  // namespace

InterruptScope::InterruptScope() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < kInterruptSignals.size(); ++i)
    sigaction(kInterruptSignals[i], &sa, &old_[i]);
}

InterruptScope::~InterruptScope() {
  for (size_t i = 0; i < kInterruptSignals.size(); ++i)
    sigaction(kInterruptSignals[i], &old_[i], nullptr);
}

int InterruptScope::received() {
  return g_signal;
}

Enumeration enumerate_backends(const LoadOptions& opts, double timeout_s) {
  const IgnoreSigpipe quiet;
  const std::vector<std::string> files = backend_files(opts);
  std::vector<json> outcome(files.size());
  size_t next = 0;
  while (next < files.size()) {
    WorkerProcess w;
    w.start();
    const std::vector<std::string> rest(files.begin() + static_cast<std::ptrdiff_t>(next),
                                        files.end());
    std::string why = "closed its request pipe";
    bool alive = w.send({{"mode", "enumerate"},
                         {"files", rest},
                         {"create_options", options_json(opts.create_options)}});
    while (alive && next < files.size()) {
      std::optional<json> msg = w.receive(timeout_s, &why);
      if (!msg) break;
      outcome[next++] = std::move(*msg);
    }
    if (next < files.size() && (!alive || outcome[next].is_null())) {
      // This plugin took its process down: recorded, and the next worker starts after it.
      outcome[next++] = {{"error", fmt::format("loading or creating the backend: its process {} "
                                               "(isolated; the other backends go on)",
                                               why)}};
    }
    if (g_interrupted) break;
  }
  Enumeration e;
  std::set<std::string> names;
  for (size_t i = 0; i < files.size(); ++i) {
    if (outcome[i].contains("error")) {
      e.issues.push_back({files[i], outcome[i]["error"].get<std::string>()});
      continue;
    }
    if (!outcome[i].contains("backend")) continue;
    BackendDesc b = backend_from_json(outcome[i]["backend"]);
    if (admit_backend(files[i], b.name, b.devices.size(), opts, names, e.issues))
      e.backends.push_back(std::move(b));
  }
  return e;
}

double workload_timeout_s(const Workload& w, const RunSpec& spec) {
  if (spec.timeout_s) return *spec.timeout_s;
  const MeasureSettings& s = w.settings;
  if (s.timeout_s > 0) return s.timeout_s;
  const double max_time = spec.max_time.value_or(s.max_time);
  const double round =
      spec.repetitions.value_or(s.repetitions) * spec.min_time.value_or(s.min_time);
  // Sampling stops at max_time but a round may overrun it; the calls outside the timed rounds
  // (planning, the first run, the warm-up, the verification's host reference) and the calls of
  // the first round each cost the work at 1 GFLOP/s and 100 MB/s (a loaded host, a slow device).
  const double t = 60 + 3 * (max_time + round + s.warmup_time);
  if (!w.model.empty()) return t + 1200;
  if (!w.hpl.empty())  // one solve and its residual; n = 0: sized from the device's memory
    return t + (w.hpl_n > 0 ? 2 * hpl_operation_count(w.hpl_n) / 1e9 : 3600);
  const int calls = spec.repetitions.value_or(s.repetitions) + 3;
  return t + calls * (op_flops(w.op) / 1e9 + op_bytes(w.op) / 1e8);
}

std::vector<Result> run_isolated(const Suite& suite, const std::vector<BackendDesc>& backends,
                                 const RunSpec& spec, const RunOptions& opts) {
  const IgnoreSigpipe quiet;
  std::vector<std::pair<std::string, std::vector<int>>> devices;
  std::map<std::string, std::unique_ptr<IsolatedBackend>> runners;
  for (const BackendDesc& b : backends) {
    std::vector<int> indices;
    for (const DeviceInfo& d : b.devices) indices.push_back(d.index);
    devices.emplace_back(b.name, indices);
    runners[b.name] = std::make_unique<IsolatedBackend>(b, spec.create_options, run_init(spec));
  }
  RunOptions o = opts;
  o.stop_requested = [&opts] {
    return interrupted() || (opts.stop_requested && opts.stop_requested());
  };
  return dispatch_jobs(suite_jobs(suite, devices), o, [&](const Job& j, const RunOptions& jo) {
    json request = {{"host_probe", jo.host_probe}};
    if (jo.probe_reference) request["probe_reference"] = *jo.probe_reference;
    return runners.at(j.backend)->run(j, request, workload_timeout_s(*j.workload, spec)).result;
  });
}

int worker_main() {
  try {
    WorkerChannel ch;
    const std::optional<json> init = ch.next();
    if (!init) return 2;
    if (init->at("mode") == "enumerate")
      worker_enumerate(*init);
    else
      worker_run(ch, *init);
  } catch (const std::exception& e) {
    WorkerChannel::answer({{"error", std::string("worker: ") + e.what()}});
    return 1;
  }
  return 0;
}

}  // namespace suanli::isolate
