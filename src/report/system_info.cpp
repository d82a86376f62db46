// Host identity for reports: name, OS, kernel, CPU model, cores, memory.
#include "report/system_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <string>

namespace suanli {
namespace {

std::string os_pretty_name() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "unknown";
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        const auto b = v.find_first_not_of(" \t");
        return b == std::string::npos ? "" : v.substr(b);
      }
    }
  }
  return "unknown";
}

std::string format_time(const char* fmt) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), fmt, &tm);
  return buf;
}

}  // namespace

HostInfo host_info() {
  HostInfo h;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) h.hostname = name;
  utsname u{};
  if (uname(&u) == 0) {
    h.kernel = std::string(u.sysname) + " " + u.release;
    h.arch = u.machine;
  }
  h.os = os_pretty_name();
  h.cpu_model = cpu_model_name();
  h.logical_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  h.memory_bytes = static_cast<unsigned long long>(sysconf(_SC_PHYS_PAGES)) *
                   static_cast<unsigned long long>(sysconf(_SC_PAGE_SIZE));
  return h;
}

nlohmann::json host_info_json(const HostInfo& h) {
  return {{"hostname", h.hostname},
          {"os", h.os},
          {"kernel", h.kernel},
          {"arch", h.arch},
          {"cpu_model", h.cpu_model},
          {"logical_cpus", h.logical_cpus},
          {"memory_bytes", h.memory_bytes}};
}

std::string utc_timestamp() {
  return format_time("%Y-%m-%dT%H:%M:%SZ");
}
std::string utc_compact_timestamp() {
  return format_time("%Y%m%dT%H%M%SZ");
}

}  // namespace suanli
