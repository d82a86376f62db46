// Loading backend plugins (dlopen) and a C++ face over their C ABI: errors become exceptions here.
#pragma once

#include <suanli/backend.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/op.h"
#include "core/op_traits.h"  // AbiOp, kPeakAlpha, kPeakBeta, kStreamScalar

namespace suanli {

// A failed backend call: status plus the backend's own message.
struct BackendCallError : std::runtime_error {
  BackendCallError(suanli_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
  suanli_status status;
};

std::string_view status_name(suanli_status s);

struct PeakInfo {
  Dtype dtype = Dtype::invalid;
  double ops_per_second = 0;
  std::string derivation;
};

// A copy of suanli_device_info that outlives the plugin's strings.
struct DeviceInfo {
  int index = 0;
  std::string name, vendor, kind, uuid, driver, features;
  uint64_t memory_bytes = 0;
  int compute_units = 0, threads = 0;
  double clock_mhz = 0, max_clock_mhz = 0;
  std::vector<PeakInfo> peaks;
  std::vector<std::pair<std::string, std::string>> extra;

  const PeakInfo* peak(Dtype d) const;
};

class Backend;

// RAII device buffer.
class DeviceBuffer {
 public:
  DeviceBuffer(Backend* b, suanli_buffer h, uint64_t bytes)
      : backend_(b), handle_(h), bytes_(bytes) {}
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  suanli_buffer handle() const { return handle_; }
  uint64_t bytes() const { return bytes_; }
  void upload(const void* src);
  void download(void* dst);

 private:
  Backend* backend_;
  suanli_buffer handle_;
  uint64_t bytes_;
};

// RAII plan with what the backend said runs it.
class DevicePlan {
 public:
  DevicePlan(Backend* b, suanli_plan h, std::string lib, std::string impl)
      : backend_(b), handle_(h), library(std::move(lib)), implementation(std::move(impl)) {}
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;
  suanli_plan handle() const { return handle_; }

 private:
  Backend* backend_;
  suanli_plan handle_;

 public:
  std::string library, implementation;
};

// One loaded and created backend. Destroys its context and unloads on destruction.
class Backend {
 public:
  Backend(std::string path, void* dl, const suanli_backend_api* api, suanli_context ctx);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& path() const { return path_; }
  const std::vector<DeviceInfo>& devices() const { return devices_; }
  const std::vector<std::pair<std::string, std::string>>& libraries() const { return libraries_; }
  const suanli_backend_api* api() const { return api_; }
  suanli_context context() const { return ctx_; }

  // nullopt when supported; the reason when the device answers unsupported.
  std::optional<std::string> unsupported_reason(int device, const OpDesc& op);
  std::unique_ptr<DeviceBuffer> alloc(int device, uint64_t bytes);
  // Throws BackendCallError; status SUANLI_UNSUPPORTED when the op cannot run.
  std::unique_ptr<DevicePlan> plan(int device, const OpDesc& op,
                                   const std::vector<DeviceBuffer*>& buffers);
  // Device seconds for `iterations` runs of the plans in order.
  double execute(const std::vector<DevicePlan*>& plans, int64_t iterations);
  // Telemetry now (NaN fields when unknown); never throws.
  suanli_telemetry telemetry(int device);

  // Throws BackendCallError with the backend's message when s != OK.
  void check(suanli_status s, const char* what);

 private:
  std::string path_, name_, version_;
  void* dl_;
  const suanli_backend_api* api_;
  suanli_context ctx_;
  std::vector<DeviceInfo> devices_;
  std::vector<std::pair<std::string, std::string>> libraries_;
};

// Test hook for cluster runs (SUANLI_TEST_SLOW_RANK, src/cluster): every Backend::execute takes
// `factor` times as long (the call, then a sleep of (factor - 1) x its wall time; the device time
// returned is scaled alike). 1 = off. Inherited by forked children.
void set_execute_slowdown(double factor);
double execute_slowdown();

// A plugin that could not be used, and why; shown by `suanli info`, never fatal.
struct LoadIssue {
  std::string path;
  std::string reason;
};

struct LoadOptions {
  std::vector<std::string> search;  // dirs or .so files; empty = default_backend_search_path()
  std::vector<std::string> only;    // backend names to keep; empty = all
  std::vector<std::pair<std::string, std::string>> create_options;  // e.g. {"threads", "2"}
};

struct LoadResult {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<LoadIssue> issues;
};

// SUANLI_BACKEND_PATH (':'-separated dirs or files) first, then the
// directory of the running executable's build (backends/) and install
// (../lib/suanli/backends) layouts, then the build tree this binary came from.
std::vector<std::string> default_backend_search_path();

// Loads every libsuanli_backend_*.so found; a plugin that fails is recorded
// in issues with its reason and the others go on. The first backend of a
// given name wins; later ones are recorded as duplicates.
LoadResult load_backends(const LoadOptions& opts);

// The plugin files load_backends would open, in order (search path, duplicates of one real file
// dropped, --backend's file-name filter applied); nothing is opened.
std::vector<std::string> backend_files(const LoadOptions& opts);

// Whether a loaded backend is kept: its name is wanted and not taken already (a duplicate is
// recorded in issues), a backend without devices is kept with a note.
bool admit_backend(const std::string& path, const std::string& name, size_t devices,
                   const LoadOptions& opts, std::set<std::string>& names,
                   std::vector<LoadIssue>& issues);

// Loads one plugin file; throws std::runtime_error with the reason.
std::unique_ptr<Backend> load_backend_file(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& create_options);

}  // namespace suanli
