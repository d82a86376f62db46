// NVML through dlopen: the few entry points suanli needs, declared here (nvml.h is not part of
// every toolkit install), with the constants of NVML's stable C API.
#include "nvml.h"

#include <dlfcn.h>

#include <limits>

namespace suanli::cuda {
namespace {

constexpr int kNvmlSuccess = 0;
constexpr int kTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr int kClockSm = 1;         // NVML_CLOCK_SM

template <typename F>
void resolve(void* lib, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
}

}  // namespace

Nvml::Nvml() {
  lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib_) {
    const char* e = dlerror();
    error_ = std::string("NVML not loaded (libnvidia-ml.so.1 comes with the NVIDIA driver): ") +
             (e ? e : "unknown dlopen error");
    return;
  }
  resolve(lib_, init_, "nvmlInit_v2");
  resolve(lib_, shutdown_, "nvmlShutdown");
  resolve(lib_, error_string_, "nvmlErrorString");
  resolve(lib_, driver_version_, "nvmlSystemGetDriverVersion");
  resolve(lib_, by_pci_, "nvmlDeviceGetHandleByPciBusId_v2");
  resolve(lib_, power_, "nvmlDeviceGetPowerUsage");
  resolve(lib_, energy_, "nvmlDeviceGetTotalEnergyConsumption");
  resolve(lib_, temperature_, "nvmlDeviceGetTemperature");
  resolve(lib_, clock_, "nvmlDeviceGetClockInfo");
  resolve(lib_, max_clock_, "nvmlDeviceGetMaxClockInfo");
  resolve(lib_, throttle_, "nvmlDeviceGetCurrentClocksEventReasons");
  if (!throttle_) resolve(lib_, throttle_, "nvmlDeviceGetCurrentClocksThrottleReasons");
  resolve(lib_, power_limit_, "nvmlDeviceGetEnforcedPowerLimit");
  if (!init_ || !by_pci_) {
    error_ = "NVML lacks nvmlInit_v2 / nvmlDeviceGetHandleByPciBusId_v2 (driver too old)";
    return;
  }
  const int rc = init_();
  if (rc != kNvmlSuccess) {
    error_ = std::string("nvmlInit_v2 failed: ") +
             (error_string_ ? error_string_(rc) : std::to_string(rc).c_str());
    return;
  }
  ok_ = true;
}

Nvml::~Nvml() {
  if (ok_ && shutdown_) shutdown_();
  // The library stays mapped: NVML may keep threads, and unloading at exit gains nothing.
}

std::string Nvml::driver_version() const {
  if (!ok_ || !driver_version_) return "";
  char buf[96] = {};
  return driver_version_(buf, sizeof buf) == kNvmlSuccess ? std::string(buf) : std::string();
}

void* Nvml::device_by_pci(const std::string& bus_id) const {
  if (!ok_) return nullptr;
  void* dev = nullptr;
  return by_pci_(bus_id.c_str(), &dev) == kNvmlSuccess ? dev : nullptr;
}

double Nvml::max_sm_clock_mhz(void* dev) const {
  unsigned mhz = 0;
  if (!dev || !max_clock_ || max_clock_(dev, kClockSm, &mhz) != kNvmlSuccess) return 0;
  return mhz;
}

double Nvml::power_limit_w(void* dev) const {
  unsigned mw = 0;
  if (!dev || !power_limit_ || power_limit_(dev, &mw) != kNvmlSuccess) return 0;
  return mw / 1000.0;
}

NvmlReading Nvml::read(void* dev) const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  NvmlReading r{nan, nan, nan, nan, 0, false};
  if (!dev) return r;
  unsigned u = 0;
  unsigned long long ull = 0;
  if (power_ && power_(dev, &u) == kNvmlSuccess) r.power_w = u / 1000.0;  // milliwatts
  if (energy_ && energy_(dev, &ull) == kNvmlSuccess)
    r.energy_j = static_cast<double>(ull) / 1000.0;  // millijoules
  if (temperature_ && temperature_(dev, kTemperatureGpu, &u) == kNvmlSuccess) r.temperature_c = u;
  if (clock_ && clock_(dev, kClockSm, &u) == kNvmlSuccess) r.sm_clock_mhz = u;
  if (throttle_ && throttle_(dev, &ull) == kNvmlSuccess) {
    r.throttle_reasons = ull;
    r.throttle_known = true;
  }
  return r;
}

std::string throttle_reason_names(uint64_t mask) {
  static const struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {{0x1, "gpu_idle"},
                {0x2, "applications_clocks"},
                {0x4, "sw_power_cap"},
                {0x8, "hw_slowdown"},
                {0x10, "sync_boost"},
                {0x20, "sw_thermal_slowdown"},
                {0x40, "hw_thermal_slowdown"},
                {0x80, "hw_power_brake"},
                {0x100, "display_clocks"}};
  std::string out;
  uint64_t known = 0;
  for (const auto& n : kNames) {
    known |= n.bit;
    if (mask & n.bit) out += (out.empty() ? "" : " ") + std::string(n.name);
  }
  if (mask & ~known) out += (out.empty() ? "" : " ") + std::string("other");
  return out.empty() ? "none" : out;
}

}  // namespace suanli::cuda
