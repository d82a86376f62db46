// Internal interface of the OpenCL backend: devices, programs, buffers and prepared ops.
#pragma once

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <suanli/plugin_kit.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace suanli::ocl {

// Thrown inside the backend; the plugin kit turns it into a status + message.
using BackendError = kit::Error;

// "CL_OUT_OF_RESOURCES (-5)".
std::string cl_error_name(cl_int err);
// Throws BackendError(DEVICE_ERROR or OUT_OF_MEMORY) naming the call when err != CL_SUCCESS.
void check_cl(cl_int err, const char* what);

// One OpenCL device with its own context and in-order, profiling queue.
struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  cl_device_type type = 0;
  std::string platform_name, platform_version, name, vendor, device_version, driver_version,
      c_version, extensions, uuid;
  uint64_t global_mem = 0, max_alloc = 0, local_mem = 0, global_cache = 0;
  uint32_t compute_units = 0, clock_mhz = 0, pref_vec_float = 0, pref_vec_double = 0,
           pref_vec_half = 0, pref_vec_int = 0;
  size_t max_work_group = 0;
  bool fp64 = false, fp16 = false, int_dot = false;
  std::string extra_build_options;  // appended to every build (create option build_options)
  // Compiled programs by (file, options); built once per context.
  std::map<std::string, cl_program> programs;
  // Build options (and kernel) of the linear-algebra kernels already run once on this device.
  std::set<std::string> warmed;

  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  bool has_extension(const std::string& ext) const;
  // "cpu", "gpu", "accelerator".
  const char* kind() const;
  // platform | device | driver: what a tuning result is valid for.
  std::string cache_key() const;
  // The program of an embedded kernel file built with `options`; a build failure throws with
  // the compiler's log.
  cl_program program(const std::string& file, const std::string& options);
  // A fresh kernel object of that program (the caller releases it).
  cl_kernel kernel(const std::string& file, const std::string& options, const char* name);
};

// Every device of every platform; `notes` collects platforms or devices that failed.
std::vector<std::unique_ptr<Device>> enumerate_devices(std::vector<std::string>* notes);

// The text of an embedded kernel file (gemm.cl, peak.cl, stream.cl); throws when unknown.
const std::string& kernel_source(const std::string& file);

// bytes (suanli_buffer_s) is what the caller asked for (the cl_mem may be larger: 0 -> 1 byte).
struct Buffer : suanli_buffer_s {
  cl_mem mem = nullptr;
  ~Buffer() override {
    if (mem) clReleaseMemObject(mem);
  }
};

struct Tile {
  int mr = 8, vw = 16, nrv = 1;  // MR rows x (VW lanes x NRV vectors) columns per work-item
  bool operator==(const Tile& o) const { return mr == o.mr && vw == o.vw && nrv == o.nrv; }
};

// Settings of one backend context that the ops need.
struct Config {
  bool tune = true;         // auto-tune gemm tiles (else the default tile)
  std::string cache_path;   // tuning cache file ("" = no cache)
  bool force_tile = false;  // use `tile` for every gemm (create option gemm_tile)
  Tile tile;
};

// A prepared op: enqueue() puts one execution on the device's queue. The first and last
// command it enqueues may carry events, for device time.
class Op {
 public:
  virtual ~Op() = default;
  // first/last: where to put the events of the first and of the last command (may be null).
  virtual void enqueue(cl_event* first, cl_event* last) = 0;
  int32_t device = 0;
  std::string library = "suanli opencl";
  std::string implementation;
};

// What make_* return for "supported" when asked without buffers; never run.
struct ProbeOp : Op {
  void enqueue(cl_event*, cl_event*) override {}
};

// Enqueues a kernel on d's queue; `first`/`last` (may be null, may both be set) receive its
// event.
void enqueue_kernel(Device& d, cl_kernel k, cl_uint dims, const size_t* global, const size_t* local,
                    cl_event* first, cl_event* last);
// Sets kernel argument i (throws naming the kernel and argument on failure).
template <typename T>
void set_arg(cl_kernel k, cl_uint i, const T& v) {
  const cl_int err = clSetKernelArg(k, i, sizeof(T), &v);
  if (err != CL_SUCCESS) check_cl(err, ("clSetKernelArg " + std::to_string(i)).c_str());
}
// Sets kernel arguments 0, 1, ... to args in order.
template <typename... Args>
void set_args(cl_kernel k, const Args&... args) {
  cl_uint i = 0;
  (set_arg(k, i++, args), ...);
}
// Owns a cl_kernel.
struct Kernel {
  cl_kernel k = nullptr;
  Kernel() = default;
  explicit Kernel(cl_kernel kk) : k(kk) {}
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;
  ~Kernel() {
    if (k) clReleaseKernel(k);
  }
};

// Each returns nullptr and sets *reason when the device cannot run the op/dtype; throws
// BackendError on invalid descriptors. With bufs null it only answers "supported?".
std::unique_ptr<Op> make_gemm(Device& d, const suanli_gemm_desc& g, Buffer* const* bufs,
                              const Config& cfg, std::string* reason);
// C = alpha op(A) op(B) + beta C on column-major sub-matrices (ABI 1.2, HPL; gemm.cpp); LASWP and
// TRSM (linalg.cpp). GETRF is not implemented (the harness factors the panel on the host).
std::unique_ptr<Op> make_gemm_ex(Device& d, const suanli_gemm_ex_desc& g, Buffer* const* bufs,
                                 const Config& cfg, std::string* reason);
std::unique_ptr<Op> make_laswp(Device& d, const suanli_laswp_desc& l, Buffer* const* bufs,
                               std::string* reason);
std::unique_ptr<Op> make_trsm(Device& d, const suanli_trsm_desc& t, Buffer* const* bufs,
                              std::string* reason);
// Compiles and runs once the LASWP and TRSM kernels of type t (fp64 / fp32; nothing for others),
// once per device: the GEMM_EX probe calls it, which HPL makes before its timed solve.
void warm_linalg(Device& d, suanli_dtype t);
std::unique_ptr<Op> make_peak(Device& d, const suanli_peak_desc& p, Buffer* const* bufs,
                              std::string* reason);
std::unique_ptr<Op> make_stream(Device& d, const suanli_stream_desc& s, Buffer* const* bufs,
                                std::string* reason);

// Element size of an ABI dtype (0 when unknown).
inline uint64_t dtype_size(suanli_dtype t) {
  return suanli_dtype_name(t) ? kit::dtype_bytes(t) : 0;
}
using kit::dtype_name;

// Runs `ops` `iterations` times on their queue and returns the device time of all of it
// (profiling events: start of the first command to end of the last).
double run_timed(Device& d, const std::vector<Op*>& ops, int64_t iterations);

// ---- gemm tile tuning (tune.cpp) ---------------------------------------------------------------

std::string tile_string(const Tile& t);  // "8x16 (1 x float16)" style: "8x(1x16)"
// Candidate tiles for a device and compute-element size in bytes.
std::vector<Tile> tile_candidates(const Device& d, int elem_bytes);

// A small text cache of tuning results: one "key<TAB>mr vw nrv" line per entry. A missing,
// unreadable or corrupt file (or line) is treated as empty (or skipped); writes are atomic.
class TuneCache {
 public:
  explicit TuneCache(std::string path) : path_(std::move(path)) {}
  bool lookup(const std::string& key, Tile* out) const;
  void store(const std::string& key, const Tile& t) const;  // best effort: never throws
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};
// $XDG_CACHE_HOME/suanli/opencl-tune.txt, else ~/.cache/suanli/opencl-tune.txt, else "".
std::string default_cache_path();

}  // namespace suanli::ocl
