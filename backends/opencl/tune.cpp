// GEMM tile candidates per device and the tuning cache: one line per (device, dtype).
#include <unistd.h>

#include <sys/stat.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ocl.h"

namespace suanli::ocl {

std::string tile_string(const Tile& t) {
  return std::to_string(t.mr) + "x" + std::to_string(t.vw * t.nrv) + " (" + std::to_string(t.mr) +
         " rows x " + std::to_string(t.nrv) + " vector" + (t.nrv > 1 ? "s" : "") + " of " +
         std::to_string(t.vw) + ")";
}

std::vector<Tile> tile_candidates(const Device& d, int elem_bytes) {
  std::vector<Tile> c;
  if (d.type & CL_DEVICE_TYPE_CPU) {
    // SIMD registers of 64 bytes (AVX-512) or 32 (AVX2): VW lanes fill one register; 8-16
    // accumulator registers cover the FMA latency x pipes.
    const int vw = 64 / elem_bytes;
    c = {{8, vw, 1}, {12, vw, 1}, {6, vw, 2}, {4, vw, 2}, {8, vw / 2, 2}, {4, vw, 1}};
  } else {
    // GPUs and accelerators: small register tiles per work-item, many work-items.
    const int vw = elem_bytes >= 8 ? 2 : 4;
    c = {{4, vw, 1}, {8, vw, 1}, {4, vw, 2}, {8, vw, 2}, {2, vw, 1}};
  }
  return c;
}

namespace {

bool valid_tile(const Tile& t) {
  const bool vw_ok = t.vw == 1 || t.vw == 2 || t.vw == 4 || t.vw == 8 || t.vw == 16;
  return vw_ok && t.mr >= 1 && t.mr <= 32 && t.nrv >= 1 && t.nrv <= 4;
}

}  // namespace

bool TuneCache::lookup(const std::string& key, Tile* out) const {
  if (path_.empty()) return false;
  std::ifstream f(path_);
  if (!f) return false;
  std::string line;
  bool found = false;
  while (std::getline(f, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || line.compare(0, tab, key) != 0 || tab != key.size()) continue;
    std::istringstream in(line.substr(tab + 1));
    Tile t;
    std::string rest;
    // A damaged line (wrong count, junk, values out of range) is ignored, not trusted.
    if (!(in >> t.mr >> t.vw >> t.nrv) || (in >> rest) || !valid_tile(t)) continue;
    *out = t;
    found = true;  // the last good line of a key wins
  }
  return found;
}

void TuneCache::store(const std::string& key, const Tile& t) const {
  if (path_.empty() || key.find('\n') != std::string::npos || key.find('\t') != std::string::npos)
    return;
  // mkdir -p of the directory.
  for (size_t i = 1; i < path_.size(); ++i)
    if (path_[i] == '/') ::mkdir(path_.substr(0, i).c_str(), 0755);
  std::string keep;
  {
    std::ifstream f(path_);
    std::string line;
    while (f && std::getline(f, line)) {
      const size_t tab = line.find('\t');
      if (tab == std::string::npos || line.compare(0, tab, key) == 0) continue;
      keep += line + "\n";
    }
  }
  keep += key + "\t" + std::to_string(t.mr) + " " + std::to_string(t.vw) + " " +
          std::to_string(t.nrv) + "\n";
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream o(tmp, std::ios::trunc);
    if (!o) return;
    o << keep;
    if (!o.flush()) {
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) std::remove(tmp.c_str());
}

std::string default_cache_path() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/suanli/opencl-tune.txt";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/suanli/opencl-tune.txt";
  return "";
}

}  // namespace suanli::ocl
