// NVML loaded with dlopen (libnvidia-ml.so.1 comes with the driver, not the toolkit): device
// telemetry and identity where the driver has it; every reading is optional.
#pragma once

#include <cstdint>
#include <string>

namespace suanli::cuda {

struct NvmlReading {
  double power_w;   // NaN when unavailable
  double energy_j;  // total energy counter since driver load; NaN when unavailable
  double temperature_c;
  double sm_clock_mhz;
  uint64_t throttle_reasons;  // nvmlClocksEventReasons bit mask; 0 when unavailable
  bool throttle_known;
};

class Nvml {
 public:
  // Loads and initialises NVML; on failure available() is false and error() says why.
  Nvml();
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  bool available() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string driver_version() const;  // "" when unknown

  // Handle of the GPU at this PCI bus id ("0000:3B:00.0"); nullptr when NVML cannot find it.
  void* device_by_pci(const std::string& bus_id) const;
  // Max SM clock in MHz (0 when unknown), current power limit in W (0 when unknown).
  double max_sm_clock_mhz(void* dev) const;
  double power_limit_w(void* dev) const;
  NvmlReading read(void* dev) const;

 private:
  void* lib_ = nullptr;
  bool ok_ = false;
  std::string error_;
  // NVML entry points (C ABI), resolved with dlsym.
  int (*init_)() = nullptr;
  int (*shutdown_)() = nullptr;
  const char* (*error_string_)(int) = nullptr;
  int (*driver_version_)(char*, unsigned) = nullptr;
  int (*by_pci_)(const char*, void**) = nullptr;
  int (*power_)(void*, unsigned*) = nullptr;
  int (*energy_)(void*, unsigned long long*) = nullptr;
  int (*temperature_)(void*, int, unsigned*) = nullptr;
  int (*clock_)(void*, int, unsigned*) = nullptr;
  int (*max_clock_)(void*, int, unsigned*) = nullptr;
  int (*throttle_)(void*, unsigned long long*) = nullptr;
  int (*power_limit_)(void*, unsigned*) = nullptr;
};

// "sw_power_cap hw_slowdown ..." for an nvmlClocksEventReasons mask ("none" for 0).
std::string throttle_reason_names(uint64_t mask);

}  // namespace suanli::cuda
