// suanli-direct-gemm: a user's minimal GEMM on OpenBLAS or oneDNN, to check suanli's numbers.
//
// It calls the libraries the plainest way (linked OpenBLAS, which honours OPENBLAS_CORETYPE from
// the environment; a default oneDNN matmul on row-major A and C, with B row-major too
// (--b-layout plain) or in the layout oneDNN prefers (--b-layout packed: format_tag::any, B
// reordered once before timing, as an inference engine pre-packs its weights)), times one warm-up
// and R runs with steady_clock, and prints one JSON line. If suanli reports less than this program
// for the same library, core type, dtype, size and threads, the harness is in the way.
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

// OpenBLAS's own entry points, declared here because the cblas.h on a system may be netlib's.
extern "C" {
void cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                 const double* a, int lda, const double* b, int ldb, double beta, double* c,
                 int ldc);
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
void openblas_set_num_threads(int threads);
char* openblas_get_corename(void);
}

namespace {

// cblas_sbgemm exists only in OpenBLAS builds with BUILD_BFLOAT16, so it is looked up, not linked.
using SbgemmFn = void (*)(int, int, int, int, int, int, float, const uint16_t*, int,
                          const uint16_t*, int, float, float*, int);

constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;

struct Args {
  std::string lib, dtype, b_layout = "plain";
  int n = 0;
  int reps = 10;
  int threads = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "suanli-direct-gemm: %s\n"
               "usage: suanli-direct-gemm --lib openblas|onednn --dtype fp64|fp32|bf16|int8 "
               "--size N [--reps R] [--threads T] [--b-layout plain|packed]\n",
               why);
  std::exit(2);
}

[[noreturn]] void cannot(const std::string& why) {
  std::fprintf(stderr, "suanli-direct-gemm: %s\n", why.c_str());
  std::exit(3);
}

int parse_int(const char* s, const char* name, int min) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (!end || *end || v < min || v > 1000000) usage((std::string("bad ") + name).c_str());
  return static_cast<int>(v);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + key).c_str());
    const char* value = argv[++i];
    if (key == "--lib")
      a.lib = value;
    else if (key == "--dtype")
      a.dtype = value;
    else if (key == "--size")
      a.n = parse_int(value, "--size", 1);
    else if (key == "--reps")
      a.reps = parse_int(value, "--reps", 1);
    else if (key == "--threads")
      a.threads = parse_int(value, "--threads", 1);
    else if (key == "--b-layout")
      a.b_layout = value;
    else
      usage(("unknown option " + key).c_str());
  }
  if (a.lib != "openblas" && a.lib != "onednn") usage("--lib must be openblas or onednn");
  if (a.dtype != "fp64" && a.dtype != "fp32" && a.dtype != "bf16" && a.dtype != "int8")
    usage("--dtype must be fp64, fp32, bf16 or int8");
  if (a.n == 0) usage("--size is required");
  if (a.b_layout != "plain" && a.b_layout != "packed") usage("--b-layout must be plain or packed");
  if (a.threads == 0)
    a.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return a;
}

// Page-aligned, like suanli's CPU buffers.
struct Buffer {
  explicit Buffer(size_t bytes) {
    if (posix_memalign(&p, 4096, (bytes + 4095) / 4096 * 4096) != 0) cannot("out of memory");
  }
  ~Buffer() { std::free(p); }
  void* p = nullptr;
};

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

void fill(const std::string& type, void* p, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  for (size_t i = 0; i < count; ++i) {
    if (type == "fp64")
      static_cast<double*>(p)[i] = real(rng);
    else if (type == "fp32")
      static_cast<float*>(p)[i] = real(rng);
    else if (type == "bf16")
      static_cast<uint16_t*>(p)[i] = to_bf16(real(rng));
    else if (type == "u8")
      static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(rng() & 0xff);
    else if (type == "s8")
      static_cast<int8_t*>(p)[i] = static_cast<int8_t>(rng() & 0xff);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const int n = args.n;
  const size_t nn = static_cast<size_t>(n) * n;
  const std::string& dt = args.dtype;
  const std::string a_type = dt == "int8" ? "u8" : dt, b_type = dt == "int8" ? "s8" : dt;
  const size_t in_size = dt == "fp64" ? 8 : dt == "fp32" ? 4 : dt == "bf16" ? 2 : 1;
  const size_t out_size = dt == "fp64" ? 8 : 4;
  Buffer a(nn * in_size), b(nn * in_size), c(nn * out_size);
  fill(a_type, a.p, nn, 1);
  fill(b_type, b.p, nn, 2);
  std::memset(c.p, 0, nn * out_size);

  std::string corename, impl;
  std::function<void()> run;
  // Kept alive for the runs: oneDNN objects.
  dnnl::engine eng;
  dnnl::stream strm;
  dnnl::matmul prim;
  dnnl::memory ma, mb, mc;

  if (args.lib == "openblas") {
    openblas_set_num_threads(args.threads);
    corename = openblas_get_corename();
    if (dt == "fp64") {
      impl = "cblas_dgemm";
      run = [&] {
        cblas_dgemm(kRowMajor, kNoTrans, kNoTrans, n, n, n, 1.0, static_cast<double*>(a.p), n,
                    static_cast<double*>(b.p), n, 0.0, static_cast<double*>(c.p), n);
      };
    } else if (dt == "fp32") {
      impl = "cblas_sgemm";
      run = [&] {
        cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, n, n, n, 1.0f, static_cast<float*>(a.p), n,
                    static_cast<float*>(b.p), n, 0.0f, static_cast<float*>(c.p), n);
      };
    } else if (dt == "bf16") {
      const auto sbgemm = reinterpret_cast<SbgemmFn>(dlsym(RTLD_DEFAULT, "cblas_sbgemm"));
      if (!sbgemm) cannot("this OpenBLAS exports no cblas_sbgemm (built without BUILD_BFLOAT16)");
      impl = "cblas_sbgemm";
      run = [&, sbgemm] {
        sbgemm(kRowMajor, kNoTrans, kNoTrans, n, n, n, 1.0f, static_cast<uint16_t*>(a.p), n,
               static_cast<uint16_t*>(b.p), n, 0.0f, static_cast<float*>(c.p), n);
      };
    } else {
      cannot("OpenBLAS has no int8 GEMM");
    }
  } else {
    using mdt = dnnl::memory::data_type;
    if (dt == "fp64") cannot("oneDNN " + std::to_string(DNNL_VERSION_MAJOR) + ".x has no fp64");
    const mdt ta = dt == "fp32" ? mdt::f32 : dt == "bf16" ? mdt::bf16 : mdt::u8;
    const mdt tb = dt == "fp32" ? mdt::f32 : dt == "bf16" ? mdt::bf16 : mdt::s8;
    const mdt tc = dt == "int8" ? mdt::s32 : mdt::f32;
    omp_set_num_threads(args.threads);
    eng = dnnl::engine(dnnl::engine::kind::cpu, 0);
    strm = dnnl::stream(eng);
    const auto ab = dnnl::memory::format_tag::ab;
    const dnnl::memory::desc a_md({n, n}, ta, ab), b_md({n, n}, tb, ab), c_md({n, n}, tc, ab);
    const dnnl::memory::desc b_any({n, n}, tb, dnnl::memory::format_tag::any);
    const bool packed = args.b_layout == "packed";
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, packed ? b_any : b_md, c_md), eng);
      impl = pd.impl_info_str();
      prim = dnnl::matmul(pd);
    } catch (const dnnl::error& e) {
      cannot(std::string("oneDNN: ") + e.what());
    }
    ma = dnnl::memory(a_md, eng, a.p);
    mc = dnnl::memory(c_md, eng, c.p);
    dnnl::memory user_b(b_md, eng, b.p);
    if (pd.weights_desc() == b_md) {
      mb = user_b;
    } else {  // once, before any timed run
      mb = dnnl::memory(pd.weights_desc(), eng);
      dnnl::reorder(user_b, mb).execute(strm, user_b, mb);
      strm.wait();
      impl += " (B packed once)";
    }
    run = [&] {
      prim.execute(strm, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
      strm.wait();
    };
  }

  using Clock = std::chrono::steady_clock;
  run();  // warm-up: first touch, JIT, packing buffers
  std::vector<double> t;
  for (int i = 0; i < args.reps; ++i) {
    const auto t0 = Clock::now();
    run();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  const double median =
      t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
  const double flops = 2.0 * n * static_cast<double>(n) * n;
  std::printf(
      "{\"lib\":\"%s\",\"b_layout\":\"%s\",\"dtype\":\"%s\",\"n\":%d,\"threads\":%d,\"corename\":%"
      "s,\"impl\":\"%s\","
      "\"reps\":%d,\"min_s\":%.6g,\"median_s\":%.6g,\"gflops_best\":%.1f,\"gflops_median\":%.1f}\n",
      args.lib.c_str(), args.b_layout.c_str(), dt.c_str(), n, args.threads,
      corename.empty() ? "null" : ("\"" + corename + "\"").c_str(), impl.c_str(), args.reps, t[0],
      median, flops / t[0] * 1e-9, flops / median * 1e-9);
  return 0;
}
