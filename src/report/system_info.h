// Host identity for reports: name, OS, kernel, CPU model, cores, memory.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace suanli {

struct HostInfo {
  std::string hostname, os, kernel, arch, cpu_model;
  int logical_cpus = 0;
  unsigned long long memory_bytes = 0;
};

HostInfo host_info();
nlohmann::json host_info_json(const HostInfo& h);
// "2026-11-23T10:15:00Z"
std::string utc_timestamp();
// "20261123T101500Z", for file names.
std::string utc_compact_timestamp();

}  // namespace suanli
