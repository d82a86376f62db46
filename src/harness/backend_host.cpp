// Loading backend plugins (dlopen) and a C++ face over their C ABI.
#include "harness/backend_host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/names.h"
#include "core/text.h"

namespace suanli {

static_assert(static_cast<int>(Dtype::fp64) == SUANLI_DTYPE_FP64 &&
                  static_cast<int>(Dtype::fp32) == SUANLI_DTYPE_FP32 &&
                  static_cast<int>(Dtype::tf32) == SUANLI_DTYPE_TF32 &&
                  static_cast<int>(Dtype::fp16) == SUANLI_DTYPE_FP16 &&
                  static_cast<int>(Dtype::bf16) == SUANLI_DTYPE_BF16 &&
                  static_cast<int>(Dtype::fp8_e4m3) == SUANLI_DTYPE_FP8_E4M3 &&
                  static_cast<int>(Dtype::fp8_e5m2) == SUANLI_DTYPE_FP8_E5M2 &&
                  static_cast<int>(Dtype::int8) == SUANLI_DTYPE_INT8 &&
                  static_cast<int>(Dtype::uint8) == SUANLI_DTYPE_UINT8 &&
                  static_cast<int>(Dtype::int32) == SUANLI_DTYPE_INT32,
              "core Dtype must mirror suanli_dtype");

namespace {

// Text from a plugin reaches terminals and reports: control characters (escape sequences, CR)
// are replaced.
std::string str_or_empty(const char* s) {
  return s ? strip_control(std::string(s)) : std::string();
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

bool is_plugin_name(const std::string& f) {
  const std::string prefix = "libsuanli_backend_";
  return f.size() > prefix.size() + 3 && f.compare(0, prefix.size(), prefix) == 0 &&
         f.compare(f.size() - 3, 3, ".so") == 0;
}

std::vector<std::string> plugins_in(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const std::string f = e->d_name;
    if (is_plugin_name(f)) out.push_back(dir + "/" + f);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string_view status_name(suanli_status s) {
  static constexpr NameRow<suanli_status> kStatusNames[] = {
      {SUANLI_OK, "ok"},
      {SUANLI_UNSUPPORTED, "unsupported"},
      {SUANLI_INVALID_ARGUMENT, "invalid argument"},
      {SUANLI_OUT_OF_MEMORY, "out of memory"},
      {SUANLI_DEVICE_ERROR, "device error"},
      {SUANLI_NO_DEVICE, "no device"},
      {SUANLI_INTERNAL, "internal error"}};
  return name_of(s, kStatusNames, "unknown status");
}

const PeakInfo* DeviceInfo::peak(Dtype d) const {
  for (const auto& p : peaks)
    if (p.dtype == d) return &p;
  return nullptr;
}

DeviceBuffer::~DeviceBuffer() {
  backend_->api()->buffer_free(backend_->context(), handle_);
}

void DeviceBuffer::upload(const void* src) {
  backend_->check(backend_->api()->buffer_upload(backend_->context(), handle_, 0, src, bytes_),
                  "buffer upload");
}

void DeviceBuffer::download(void* dst) {
  backend_->check(backend_->api()->buffer_download(backend_->context(), handle_, 0, dst, bytes_),
                  "buffer download");
}

DevicePlan::~DevicePlan() {
  backend_->api()->plan_destroy(backend_->context(), handle_);
}

Backend::Backend(std::string path, void* dl, const suanli_backend_api* api, suanli_context ctx)
    : path_(std::move(path)),
      name_(str_or_empty(api->name)),
      version_(str_or_empty(api->version)),
      dl_(dl),
      api_(api),
      ctx_(ctx) {
  const suanli_kv* libs = nullptr;
  size_t nlibs = 0;
  check(api_->libraries(ctx_, &libs, &nlibs), "libraries");
  for (size_t i = 0; i < nlibs; ++i)
    libraries_.emplace_back(str_or_empty(libs[i].key), str_or_empty(libs[i].value));
  int32_t n = 0;
  check(api_->device_count(ctx_, &n), "device_count");
  if (n < 0 || n > 65536)
    throw BackendCallError(SUANLI_INVALID_ARGUMENT,
                           fmt::format("device_count returned {} (expected 0 to 65536)", n));
  for (int32_t d = 0; d < n; ++d) {
    suanli_device_info di{};
    di.struct_size = SUANLI_DEVICE_INFO_SIZE;
    check(api_->device_info(ctx_, d, &di), "device_info");
    DeviceInfo info;
    info.index = d;
    info.name = str_or_empty(di.name);
    info.vendor = str_or_empty(di.vendor);
    info.kind = str_or_empty(di.kind);
    info.uuid = str_or_empty(di.uuid);
    info.driver = str_or_empty(di.driver);
    info.features = str_or_empty(di.features);
    info.memory_bytes = di.memory_bytes;
    info.compute_units = di.compute_units;
    info.threads = di.threads;
    info.clock_mhz = di.clock_mhz;
    info.max_clock_mhz = di.max_clock_mhz;
    for (size_t i = 0; di.peaks && i < di.peak_count; ++i)
      info.peaks.push_back({static_cast<Dtype>(di.peaks[i].dtype), di.peaks[i].ops_per_second,
                            str_or_empty(di.peaks[i].derivation)});
    for (size_t i = 0; di.extra && i < di.extra_count; ++i)
      info.extra.emplace_back(str_or_empty(di.extra[i].key), str_or_empty(di.extra[i].value));
    devices_.push_back(std::move(info));
  }
}

Backend::~Backend() {
  if (ctx_) api_->destroy(ctx_);
  // Plugins stay mapped: libraries such as OpenMP runtimes keep threads that
  // would crash if their code were unmapped at exit.
  (void)dl_;
}

void Backend::check(suanli_status s, const char* what) {
  if (s == SUANLI_OK) return;
  const char* msg = api_->last_error(ctx_);
  throw BackendCallError(s, fmt::format("{} backend: {} failed ({}): {}", name_, what,
                                        status_name(s), msg && *msg ? msg : "no message"));
}

std::optional<std::string> Backend::unsupported_reason(int device, const OpDesc& op) {
  AbiOp a(op);
  const char* reason = nullptr;
  const suanli_status s = api_->supports(ctx_, device, &a.desc, &reason);
  if (s == SUANLI_OK) return std::nullopt;
  if (s == SUANLI_UNSUPPORTED) return reason && *reason ? std::string(reason) : "unsupported";
  check(s, "supports");
  return std::nullopt;
}

std::unique_ptr<DeviceBuffer> Backend::alloc(int device, uint64_t bytes) {
  suanli_buffer h = nullptr;
  check(api_->buffer_alloc(ctx_, device, bytes, &h), "buffer alloc");
  return std::make_unique<DeviceBuffer>(this, h, bytes);
}

std::unique_ptr<DevicePlan> Backend::plan(int device, const OpDesc& op,
                                          const std::vector<DeviceBuffer*>& buffers) {
  AbiOp a(op);
  std::vector<suanli_buffer> handles;
  for (DeviceBuffer* b : buffers) handles.push_back(b->handle());
  suanli_plan h = nullptr;
  suanli_plan_info info{};
  info.struct_size = SUANLI_PLAN_INFO_SIZE;
  check(api_->plan(ctx_, device, &a.desc, handles.data(), handles.size(), &h, &info), "plan");
  return std::make_unique<DevicePlan>(this, h, str_or_empty(info.library),
                                      str_or_empty(info.implementation));
}

namespace {
// The slow-rank test hook (src/cluster): armed in the harness, it must reach the worker processes
// that run the workloads (src/harness/isolate), so it travels in their environment.
constexpr const char* kSlowdownEnv = "SUANLI_WORKER_EXECUTE_SLOWDOWN";
double initial_slowdown() {
  const char* v = std::getenv(kSlowdownEnv);
  const double f = v ? std::strtod(v, nullptr) : 1;
  return f > 1 ? f : 1;
}
double g_execute_slowdown = initial_slowdown();
}  // namespace

void set_execute_slowdown(double factor) {
  g_execute_slowdown = factor > 1 ? factor : 1;
  if (g_execute_slowdown > 1)
    setenv(kSlowdownEnv, std::to_string(g_execute_slowdown).c_str(), 1);
  else
    unsetenv(kSlowdownEnv);
}
double execute_slowdown() {
  return g_execute_slowdown;
}

double Backend::execute(const std::vector<DevicePlan*>& plans, int64_t iterations) {
  const auto wall0 = std::chrono::steady_clock::now();
  std::vector<suanli_plan> handles;
  for (DevicePlan* p : plans) handles.push_back(p->handle());
  double seconds = 0;
  check(api_->execute(ctx_, handles.data(), handles.size(), iterations, &seconds), "execute");
  if (!(seconds > 0) || !std::isfinite(seconds))
    throw BackendCallError(
        SUANLI_INTERNAL,
        fmt::format("{} backend: execute reported a device time of {} s", name_, seconds));
  if (g_execute_slowdown > 1) {
    const auto wall = std::chrono::steady_clock::now() - wall0;
    std::this_thread::sleep_for(wall * (g_execute_slowdown - 1));
    seconds *= g_execute_slowdown;
  }
  return seconds;
}

suanli_telemetry Backend::telemetry(int device) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  suanli_telemetry t{SUANLI_TELEMETRY_SIZE, nan, nan, nan, nan};
  if (api_->telemetry && api_->telemetry(ctx_, device, &t) != SUANLI_OK)
    t = {t.struct_size, nan, nan, nan, nan};
  return t;
}

std::vector<std::string> default_backend_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("SUANLI_BACKEND_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t colon = s.find(':', start);
      const std::string item = s.substr(start, colon == std::string::npos ? colon : colon - start);
      if (!item.empty()) dirs.push_back(item);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  const std::string exe = exe_dir();
  dirs.push_back(exe + "/backends");
  dirs.push_back(exe + "/../lib/suanli/backends");
#if defined(SUANLI_BACKEND_BUILD_DIR) && defined(SUANLI_BUILD_TREE_DIR)
  // Programs inside the build tree (the tests under build/tests) also look in the build's plugin
  // folder; an installed suanli never searches the build tree.
  const std::string tree = SUANLI_BUILD_TREE_DIR, build_plugins = SUANLI_BACKEND_BUILD_DIR;
  const bool in_tree = exe.compare(0, tree.size(), tree) == 0 &&
                       (exe.size() == tree.size() || exe[tree.size()] == '/');
  if (in_tree && exe + "/backends" != build_plugins) dirs.push_back(build_plugins);
#endif
  return dirs;
}

std::unique_ptr<Backend> load_backend_file(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& options) {
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl) throw std::runtime_error(fmt::format("cannot load: {}", dlerror()));
  auto get = reinterpret_cast<suanli_backend_get_fn>(dlsym(dl, SUANLI_BACKEND_ENTRY));
  if (!get) {
    dlclose(dl);
    throw std::runtime_error(
        fmt::format("not a suanli backend: no exported symbol '{}'", SUANLI_BACKEND_ENTRY));
  }
  const suanli_backend_api* api = get(SUANLI_ABI_MAJOR);
  if (!api) {
    dlclose(dl);
    throw std::runtime_error(fmt::format(
        "the plugin does not serve ABI major version {} (it returned no function table)",
        SUANLI_ABI_MAJOR));
  }
  if (api->abi_major != SUANLI_ABI_MAJOR) {
    const uint32_t major = api->abi_major;
    dlclose(dl);
    throw std::runtime_error(
        fmt::format("ABI version mismatch: plugin built for ABI {}, this suanli speaks ABI {}",
                    major, SUANLI_ABI_MAJOR));
  }
  if (api->struct_size < SUANLI_STRUCT_SIZE(suanli_backend_api, execute) || !api->create ||
      !api->destroy || !api->last_error || !api->libraries || !api->device_count ||
      !api->device_info || !api->supports || !api->buffer_alloc || !api->buffer_free ||
      !api->buffer_upload || !api->buffer_download || !api->plan || !api->plan_destroy ||
      !api->execute) {
    dlclose(dl);
    throw std::runtime_error("the plugin's function table is incomplete");
  }
  std::vector<suanli_kv> kvs;
  for (const auto& [k, v] : options) kvs.push_back({sizeof(suanli_kv), k.c_str(), v.c_str()});
  const suanli_create_args args{SUANLI_CREATE_ARGS_SIZE, kvs.data(), kvs.size()};
  suanli_context ctx = nullptr;
  const suanli_status s = api->create(&args, &ctx);
  if (s != SUANLI_OK) {
    const char* msg = api->last_error(nullptr);
    throw std::runtime_error(fmt::format("backend '{}' create failed ({}): {}",
                                         str_or_empty(api->name), status_name(s),
                                         msg && *msg ? msg : "no message"));
  }
  // Backend's constructor queries devices; a failure there is a load failure too.
  try {
    return std::make_unique<Backend>(path, dl, api, ctx);
  } catch (const BackendCallError& e) {
    api->destroy(ctx);
    throw std::runtime_error(e.what());
  }
}

std::vector<std::string> backend_files(const LoadOptions& opts) {
  const std::vector<std::string> search =
      opts.search.empty() ? default_backend_search_path() : opts.search;
  std::vector<std::string> files;
  std::set<std::string> seen_real;
  for (const std::string& item : search) {
    std::vector<std::string> found;
    if (is_dir(item))
      found = plugins_in(item);
    else if (is_file(item))
      found = {item};
    for (const std::string& f : found) {
      // With --backend, a plugin whose file name (libsuanli_backend_NAME.so) names another
      // backend is not even opened: its library initialisation (a GPU runtime, an OpenCL
      // platform) costs time and its failures are not the user's concern. Other file names are
      // opened and their reported name decides.
      if (!opts.only.empty()) {
        const std::string base = f.substr(f.find_last_of('/') + 1);
        const std::string prefix = "libsuanli_backend_", suffix = ".so";
        if (base.size() > prefix.size() + suffix.size() && base.rfind(prefix, 0) == 0 &&
            base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
          const std::string name =
              base.substr(prefix.size(), base.size() - prefix.size() - suffix.size());
          if (std::find(opts.only.begin(), opts.only.end(), name) == opts.only.end()) continue;
        }
      }
      char* real = realpath(f.c_str(), nullptr);
      const std::string key = real ? real : f;
      std::free(real);
      if (seen_real.insert(key).second) files.push_back(f);
    }
  }
  return files;
}

bool admit_backend(const std::string& path, const std::string& name, size_t devices,
                   const LoadOptions& opts, std::set<std::string>& names,
                   std::vector<LoadIssue>& issues) {
  if (!opts.only.empty() && std::find(opts.only.begin(), opts.only.end(), name) == opts.only.end())
    return false;
  if (!names.insert(name).second) {
    issues.push_back(
        {path,
         fmt::format("duplicate backend '{}': an earlier one on the search path is used", name)});
    return false;
  }
  if (devices == 0)
    issues.push_back({path, fmt::format("backend '{}' loaded but reports no devices", name)});
  return true;
}

LoadResult load_backends(const LoadOptions& opts) {
  LoadResult r;
  std::set<std::string> names;
  for (const std::string& f : backend_files(opts)) {
    try {
      std::unique_ptr<Backend> b = load_backend_file(f, opts.create_options);
      if (admit_backend(f, b->name(), b->devices().size(), opts, names, r.issues))
        r.backends.push_back(std::move(b));
    } catch (const std::exception& e) {
      r.issues.push_back({f, e.what()});
    }
  }
  return r;
}

}  // namespace suanli
