// OpenCL devices: enumeration of every platform and device, identity, program builds (with the
// compiler's log on failure) and device time from profiling events.
#include <cstdio>
#include <string_view>
#include <utility>

#include "ocl.h"

namespace suanli {
// Generated from kernels/*.cl by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& opencl_kernel_sources();
}  // namespace suanli

namespace suanli::ocl {

std::string cl_error_name(cl_int err) {
  const char* n = "CL error";
  switch (err) {
#define E(x) \
  case x:    \
    n = #x;  \
    break;
    // clang-format off
    E(CL_DEVICE_NOT_FOUND)
    E(CL_DEVICE_NOT_AVAILABLE)
    E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E(CL_OUT_OF_RESOURCES)
    E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE)
    E(CL_BUILD_PROGRAM_FAILURE)
    E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT)
    E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_MEM_OBJECT)
    E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM)
    E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL)
    E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE)
    E(CL_INVALID_ARG_SIZE)
    E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION)
    E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET)
    E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION)
    E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_GLOBAL_WORK_SIZE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    // clang-format on
#undef E
    case -1001:
      n = "CL_PLATFORM_NOT_FOUND_KHR";
      break;
    default:
      break;
  }
  return std::string(n) + " (" + std::to_string(err) + ")";
}

void check_cl(cl_int err, const char* what) {
  if (err == CL_SUCCESS) return;
  const suanli_status s = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                           err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE)
                              ? SUANLI_OUT_OF_MEMORY
                              : SUANLI_DEVICE_ERROR;
  throw BackendError(s, std::string("opencl: ") + what + " failed: " + cl_error_name(err));
}

namespace {

std::string platform_str(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetPlatformInfo(p, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string device_str(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetDeviceInfo(d, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename T>
T device_num(cl_device_id d, cl_device_info what) {
  T v{};
  if (clGetDeviceInfo(d, what, sizeof(T), &v, nullptr) != CL_SUCCESS) return T{};
  return v;
}

// Collapses runs of spaces (PoCL's extension list has double spaces).
std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

Device::~Device() {
  for (auto& [k, p] : programs) clReleaseProgram(p);
  if (queue) clReleaseCommandQueue(queue);
  if (context) clReleaseContext(context);
}

bool Device::has_extension(const std::string& ext) const {
  const std::string padded = " " + extensions + " ";
  return padded.find(" " + ext + " ") != std::string::npos;
}

const char* Device::kind() const {
  if (type & CL_DEVICE_TYPE_GPU) return "gpu";
  if (type & CL_DEVICE_TYPE_CPU) return "cpu";
  return "accelerator";
}

std::string Device::cache_key() const {
  return platform_name + " " + platform_version + " | " + name + " | " + driver_version;
}

const std::string& kernel_source(const std::string& file) {
  static const std::map<std::string, std::string> table = [] {
    std::map<std::string, std::string> t;
    for (const auto& [name, text] : opencl_kernel_sources())
      t.emplace(std::string(name), std::string(text));
    return t;
  }();
  auto it = table.find(file);
  if (it == table.end())
    throw BackendError(SUANLI_INTERNAL, "opencl: no embedded kernel file " + file);
  return it->second;
}

cl_program Device::program(const std::string& file, const std::string& options) {
  const std::string all =
      extra_build_options.empty() ? options : options + " " + extra_build_options;
  const std::string key = file + "\n" + all;
  if (auto it = programs.find(key); it != programs.end()) return it->second;
  // Every program is common.cl (extensions, token pasting) followed by the file's own text.
  const std::string& common = kernel_source("common.cl");
  const std::string& src = kernel_source(file);
  const char* texts[] = {common.c_str(), src.c_str()};
  const size_t lens[] = {common.size(), src.size()};
  cl_int err = CL_SUCCESS;
  cl_program p = clCreateProgramWithSource(context, 2, texts, lens, &err);
  check_cl(err, "clCreateProgramWithSource");
  err = clBuildProgram(p, 1, &id, all.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    size_t n = 0;
    clGetProgramBuildInfo(p, id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::string log(n, '\0');
    if (n) clGetProgramBuildInfo(p, id, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
    clReleaseProgram(p);
    throw BackendError(SUANLI_DEVICE_ERROR,
                       "opencl: building " + file + " for " + name + " with '" + all +
                           "' failed: " + cl_error_name(err) + "; build log:\n" + log);
  }
  programs.emplace(key, p);
  return p;
}

cl_kernel Device::kernel(const std::string& file, const std::string& options, const char* kname) {
  cl_int err = CL_SUCCESS;
  cl_kernel k = clCreateKernel(program(file, options), kname, &err);
  check_cl(err, "clCreateKernel");
  return k;
}

std::vector<std::unique_ptr<Device>> enumerate_devices(std::vector<std::string>* notes) {
  std::vector<std::unique_ptr<Device>> out;
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &np);
  if (err != CL_SUCCESS || np == 0) {
    if (notes)
      notes->push_back(err == CL_SUCCESS ? "no OpenCL platform installed"
                                         : "clGetPlatformIDs: " + cl_error_name(err) +
                                               " (no OpenCL platform installed?)");
    return out;
  }
  std::vector<cl_platform_id> platforms(np);
  clGetPlatformIDs(np, platforms.data(), nullptr);
  for (cl_platform_id p : platforms) {
    const std::string pname = platform_str(p, CL_PLATFORM_NAME);
    cl_uint nd = 0;
    err = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd);
    if (err != CL_SUCCESS || nd == 0) {
      if (notes) notes->push_back("platform '" + pname + "': no devices");
      continue;
    }
    std::vector<cl_device_id> ids(nd);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ids.data(), nullptr);
    for (cl_device_id id : ids) {
      auto d = std::make_unique<Device>();
      d->platform = p;
      d->id = id;
      d->platform_name = pname;
      d->platform_version = platform_str(p, CL_PLATFORM_VERSION);
      d->name = device_str(id, CL_DEVICE_NAME);
      d->vendor = device_str(id, CL_DEVICE_VENDOR);
      d->device_version = device_str(id, CL_DEVICE_VERSION);
      d->driver_version = device_str(id, CL_DRIVER_VERSION);
      d->c_version = device_str(id, CL_DEVICE_OPENCL_C_VERSION);
      d->extensions = squeeze(device_str(id, CL_DEVICE_EXTENSIONS));
      d->type = device_num<cl_device_type>(id, CL_DEVICE_TYPE);
      d->global_mem = device_num<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_SIZE);
      d->max_alloc = device_num<cl_ulong>(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
      d->local_mem = device_num<cl_ulong>(id, CL_DEVICE_LOCAL_MEM_SIZE);
      d->global_cache = device_num<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE);
      d->compute_units = device_num<cl_uint>(id, CL_DEVICE_MAX_COMPUTE_UNITS);
      d->clock_mhz = device_num<cl_uint>(id, CL_DEVICE_MAX_CLOCK_FREQUENCY);
      d->pref_vec_float = device_num<cl_uint>(id, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT);
      d->pref_vec_double = device_num<cl_uint>(id, CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE);
      d->pref_vec_half = device_num<cl_uint>(id, CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF);
      d->pref_vec_int = device_num<cl_uint>(id, CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT);
      d->max_work_group = device_num<size_t>(id, CL_DEVICE_MAX_WORK_GROUP_SIZE);
      d->fp64 = d->has_extension("cl_khr_fp64") ||
                device_num<cl_device_fp_config>(id, CL_DEVICE_DOUBLE_FP_CONFIG) != 0;
      d->fp16 = d->has_extension("cl_khr_fp16");
      d->int_dot = d->has_extension("cl_khr_integer_dot_product");
      if (d->has_extension("cl_khr_device_uuid")) {
        unsigned char u[16] = {};
        if (clGetDeviceInfo(id, 0x106A /* CL_DEVICE_UUID_KHR */, 16, u, nullptr) == CL_SUCCESS) {
          char hex[40];
          std::snprintf(hex, sizeof hex,
                        "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                        u[12], u[13], u[14], u[15]);
          d->uuid = hex;
        }
      }
      d->context = clCreateContext(nullptr, 1, &id, nullptr, nullptr, &err);
      if (err != CL_SUCCESS) {
        if (notes)
          notes->push_back("device '" + d->name + "': clCreateContext: " + cl_error_name(err));
        continue;
      }
      d->queue = clCreateCommandQueue(d->context, id, CL_QUEUE_PROFILING_ENABLE, &err);
      if (err != CL_SUCCESS) {
        if (notes)
          notes->push_back("device '" + d->name + "': clCreateCommandQueue: " + cl_error_name(err));
        continue;
      }
      out.push_back(std::move(d));
    }
  }
  return out;
}

void enqueue_kernel(Device& d, cl_kernel k, cl_uint dims, const size_t* global, const size_t* local,
                    cl_event* first, cl_event* last) {
  cl_event ev = nullptr;
  const bool want = first || last;
  check_cl(clEnqueueNDRangeKernel(d.queue, k, dims, nullptr, global, local, 0, nullptr,
                                  want ? &ev : nullptr),
           "clEnqueueNDRangeKernel");
  if (!want) return;
  if (first && last) clRetainEvent(ev);
  if (first) *first = ev;
  if (last) *last = ev;
}

namespace {

// Releases events on scope exit.
struct EventGuard {
  cl_event e = nullptr;
  ~EventGuard() {
    if (e) clReleaseEvent(e);
  }
};

}  // namespace

double run_timed(Device& d, const std::vector<Op*>& ops, int64_t iterations) {
  EventGuard first, last;
  for (int64_t it = 0; it < iterations; ++it) {
    for (size_t i = 0; i < ops.size(); ++i) {
      const bool is_first = it == 0 && i == 0;
      const bool is_last = it == iterations - 1 && i + 1 == ops.size();
      if (is_last && last.e == nullptr) {
        // A fresh event for the last command; the first may coincide with it.
        ops[i]->enqueue(is_first ? &first.e : nullptr, &last.e);
      } else {
        ops[i]->enqueue(is_first ? &first.e : nullptr, nullptr);
      }
    }
    // Keep the device fed without letting the host run far ahead of it.
    if ((it & 63) == 63) check_cl(clFlush(d.queue), "clFlush");
  }
  check_cl(clFinish(d.queue), "clFinish");
  cl_ulong t0 = 0, t1 = 0;
  check_cl(clGetEventProfilingInfo(first.e, CL_PROFILING_COMMAND_START, sizeof t0, &t0, nullptr),
           "clGetEventProfilingInfo(START)");
  check_cl(clGetEventProfilingInfo(last.e, CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr),
           "clGetEventProfilingInfo(END)");
  if (t1 < t0)
    throw BackendError(SUANLI_DEVICE_ERROR, "opencl: profiling events out of order (end " +
                                                std::to_string(t1) + " ns < start " +
                                                std::to_string(t0) + " ns)");
  return static_cast<double>(t1 - t0) * 1e-9;
}

}  // namespace suanli::ocl
