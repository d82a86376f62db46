// Loads OpenBLAS with dlopen and steers its kernel choice: AVX-512 kernels on AVX-512 CPUs.
//
// Why: OpenBLAS built with DYNAMIC_ARCH picks its kernels once, when it initialises, from CPUID
// (or from OPENBLAS_CORETYPE). A release that predates a CPU may pick AVX2 kernels on an AVX-512
// machine and leave half of each core's vector width idle, and a rating would then under-report
// the CPU. So the backend never links OpenBLAS: it loads it here, looks at OpenBLAS's own choice,
// and when that choice leaves AVX-512 unused it unloads it and loads it again with
// OPENBLAS_CORETYPE set. A user who set OPENBLAS_CORETYPE gets exactly what they asked for.
// It also shortens how long OpenBLAS's idle workers spin (OPENBLAS_THREAD_TIMEOUT, unless the
// user set it), so they do not steal cores from whatever suanli measures next.
// Every decision is written into OpenBlas::library / openblas_version(), which reports carry.
#include "openblas.h"

#include <dlfcn.h>

#include <cctype>
#include <cstdlib>
#include <string>

#include "cpu_op.h"

namespace suanli::cpu {
namespace {

constexpr const char* kLibraryNames[] = {"libopenblas.so.0", "libopenblas.so"};
constexpr const char* kThreadTimeout = "20";  // log2 of TSC ticks an idle worker spins

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// OpenBLAS 0.3.x core names whose GEMM kernels use AVX-512.
bool is_avx512_core(const std::string& core) {
  const std::string c = lower(core);
  return c == "skylakex" || c == "cooperlake" || c == "sapphirerapids";
}

// Cores whose sbgemm kernels use vdpbf16ps; elsewhere sbgemm converts bf16 to fp32 in C code.
bool has_bf16_kernels(const std::string& core) {
  const std::string c = lower(core);
  return c == "cooperlake" || c == "sapphirerapids";
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  // OpenBLAS's SkylakeX kernels need AVX-512 F and BW (its own support_avx512() tests BW).
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}

void* open_library(std::string* error) {
  std::string errors;
  for (const char* name : kLibraryNames) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return h;
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e ? e : name);
  }
  *error = "cannot load OpenBLAS: " + errors;
  return nullptr;
}

// True when OpenBLAS is already mapped into the process (by someone else, or still by us).
bool library_resident() {
  for (const char* name : kLibraryNames) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_NOLOAD)) {
      dlclose(h);  // drops only the reference RTLD_NOLOAD just took
      return true;
    }
  }
  return false;
}

std::string call_string(void* h, const char* symbol) {
  auto fn = reinterpret_cast<char* (*)()>(dlsym(h, symbol));
  const char* s = fn ? fn() : nullptr;
  return s ? s : "";
}

// Sets an environment variable for the life of this object when the user has not set it, and
// removes it again, so that child processes see the environment as the user left it.
// (setenv/unsetenv are not safe against getenv on other threads; they run once per process,
// while the backend first loads OpenBLAS.)
class EnvDefault {
 public:
  EnvDefault(const char* name, const char* value) : name_(name) {
    const char* v = std::getenv(name);
    if (v && *v) {
      user_value_ = v;
    } else {
      setenv(name, value, 1);
      set_ = true;
    }
  }
  ~EnvDefault() {
    if (set_) unsetenv(name_);
  }
  EnvDefault(const EnvDefault&) = delete;
  EnvDefault& operator=(const EnvDefault&) = delete;
  bool set_by_us() const { return set_; }
  const std::string& user_value() const { return user_value_; }

 private:
  const char* name_;
  std::string user_value_;
  bool set_ = false;
};

OpenBlas load() {
  OpenBlas ob;
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  const std::string user_core = env ? env : "";
  const bool resident_before = library_resident();
  // OpenBLAS's idle workers spin for 2^28 TSC ticks (about 0.1 s) after each call before they
  // sleep. In that window they take cores from the next thing measured (oneDNN's OpenMP threads
  // ran 5x slower here right after an sgemm). 2^20 ticks (about 0.5 ms at 2 GHz) still keeps
  // them awake across back-to-back calls of a timed loop.
  const EnvDefault timeout("OPENBLAS_THREAD_TIMEOUT", kThreadTimeout);
  ob.thread_timeout =
      resident_before ? "OpenBLAS's own (loaded before suanli)"
      : timeout.set_by_us()
          ? std::string("2^") + kThreadTimeout +
                " TSC ticks (OPENBLAS_THREAD_TIMEOUT=" + kThreadTimeout + ", set by suanli)"
          : "OPENBLAS_THREAD_TIMEOUT=" + timeout.user_value() + " from the environment";

  void* h = open_library(&ob.error);
  if (!h) return ob;
  const std::string own_choice = call_string(h, "openblas_get_corename");
  const bool avx512 = cpu_has_avx512();
  const bool bf16 = avx512 && cpu_has_avx512_bf16();
  const bool has_sbgemm = dlsym(h, "cblas_sbgemm") != nullptr;
  // Steer only when OpenBLAS's choice wastes the hardware: no AVX-512 kernels on an AVX-512 CPU,
  // or no bf16 kernels for an exported sbgemm on a CPU with AVX512_BF16.
  const bool wasteful = avx512 && (!is_avx512_core(own_choice) ||
                                   (bf16 && has_sbgemm && !has_bf16_kernels(own_choice)));
  const char* target = bf16 ? "Cooperlake" : "SkylakeX";

  if (!user_core.empty()) {
    ob.core_source = "OPENBLAS_CORETYPE=" + user_core + " set in the environment, respected";
  } else if (!wasteful) {
    ob.core_source = "OpenBLAS's own choice for this CPU";
  } else if (resident_before) {
    ob.core_source = "OpenBLAS's own choice; it was loaded before suanli, so suanli could not " +
                     std::string("select ") + target;
  } else {
    // OpenBLAS reads OPENBLAS_CORETYPE only while it initialises: unload, set, load again.
    dlclose(h);
    if (library_resident()) {
      h = open_library(&ob.error);
      if (!h) return ob;
      ob.core_source = "OpenBLAS's own choice; it did not unload, so suanli could not select " +
                       std::string(target);
    } else {
      const EnvDefault core("OPENBLAS_CORETYPE", target);
      h = open_library(&ob.error);
      if (!h) return ob;
      ob.core_source = std::string("set by suanli via OPENBLAS_CORETYPE=") + target +
                       " because this CPU has AVX-512" + (bf16 ? " with BF16" : "") +
                       "; OpenBLAS's own choice was " + own_choice;
    }
  }

  ob.corename = call_string(h, "openblas_get_corename");
  ob.config = call_string(h, "openblas_get_config");
  if (!user_core.empty() && lower(user_core) != lower(ob.corename))
    ob.core_source = "OPENBLAS_CORETYPE=" + user_core +
                     " set in the environment, which OpenBLAS did not take: it chose itself";
  if (avx512 && !is_avx512_core(ob.corename))
    ob.core_source += "; this CPU has AVX-512, which " + ob.corename + " kernels leave unused";

  ob.dgemm = reinterpret_cast<CblasDgemmFn>(dlsym(h, "cblas_dgemm"));
  ob.sgemm = reinterpret_cast<CblasSgemmFn>(dlsym(h, "cblas_sgemm"));
  ob.sbgemm = reinterpret_cast<CblasSbgemmFn>(dlsym(h, "cblas_sbgemm"));
  ob.set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
  ob.get_num_threads = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
  ob.native_sbgemm = ob.sbgemm && has_bf16_kernels(ob.corename);
  if (!ob.dgemm || !ob.sgemm || !ob.set_num_threads || !ob.get_num_threads) {
    ob.error = "the loaded libopenblas lacks cblas_dgemm, cblas_sgemm or openblas_*_num_threads";
    return ob;  // the handle stays open: unloading a half-used OpenBLAS gains nothing
  }
  // Our function types use 32-bit integers; an INTERFACE64 build would misread them.
  if (ob.config.find("USE64BITINT") != std::string::npos) {
    ob.error = "the loaded libopenblas uses 64-bit integers (" + ob.config +
               "); suanli calls it with 32-bit ones";
    return ob;
  }
  // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": the second word is the version.
  const size_t sp = ob.config.find(' ');
  ob.version = sp == std::string::npos
                   ? "unknown"
                   : ob.config.substr(sp + 1, ob.config.find(' ', sp + 1) - sp - 1);
  ob.library = "openblas " + ob.version + " (core " + ob.corename + ", " + ob.core_source + ")";
  ob.handle = h;
  ob.loaded = true;
  return ob;  // the handle is never closed: OpenBLAS stays for the life of the process
}

}  // namespace

void OpenBlas::set_threads(int threads) const {
  if (threads < 1) threads = 1;
  if (get_num_threads() != threads) set_num_threads(threads);
}

const OpenBlas& openblas() {
  static const OpenBlas instance = load();
  return instance;
}

std::string openblas_core_isa(const std::string& corename) {
  if (is_avx512_core(corename)) return "AVX-512";
  const std::string c = lower(corename);
  if (c == "haswell" || c == "zen" || c == "excavator") return "AVX2";
  return "";
}

std::string openblas_version() {
  const OpenBlas& ob = openblas();
  if (!ob.loaded) return "";
  return ob.version + " (core " + ob.corename + ", " + ob.core_source + "; idle worker spin " +
         ob.thread_timeout + "; " + ob.config + ")";
}

}  // namespace suanli::cpu
