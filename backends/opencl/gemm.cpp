// GEMM on OpenCL: our packing + register-tile kernels (kernels/gemm.cl), the tile auto-tuned per
// device and dtype on a short budget, the choice cached per platform + device + driver; GEMM_EX
// (column-major sub-matrices, alpha and beta: HPL's trailing update) on the same micro-kernel.
#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>

#include "ocl.h"

namespace suanli::ocl {
namespace {

// What the kernels are built with for one gemm type combination.
struct GemmTypes {
  std::string ta, tb, p;  // OpenCL C types of A, B and the compute type (= C's type)
  int p_bytes = 4;
  bool integer = false;
  std::string label;  // "fp32", "fp16 -> fp32", "u8 x s8 -> s32"
  std::string extension_defines;
};

// Checks the descriptor (INVALID_ARGUMENT on nonsense) and picks the types; nullopt-like false
// with *reason when the device cannot run the combination.
bool gemm_types(const Device& d, const suanli_gemm_desc& g, GemmTypes* t, std::string* reason) {
  if (g.struct_size < SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm descriptor: struct_size too small");
  if (g.m < 1 || g.n < 1 || g.k < 1 || g.batch < 1)
    throw BackendError(SUANLI_INVALID_ARGUMENT,
                       "gemm: m, n, k and batch must be >= 1 (got m " + std::to_string(g.m) +
                           " n " + std::to_string(g.n) + " k " + std::to_string(g.k) + " batch " +
                           std::to_string(g.batch) + ")");
  constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max() / 2;
  if (g.m > kIntMax || g.n > kIntMax || g.k > kIntMax)
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm: m, n and k must be below 2^30");
  if ((g.trans_a != 0 && g.trans_a != 1) || (g.trans_b != 0 && g.trans_b != 1))
    throw BackendError(SUANLI_INVALID_ARGUMENT, "gemm: trans_a and trans_b must be 0 or 1");
  for (suanli_dtype x : {g.a_type, g.b_type, g.c_type, g.compute_type})
    if (dtype_size(x) == 0)
      throw BackendError(SUANLI_INVALID_ARGUMENT,
                         "gemm: invalid dtype " + std::to_string(static_cast<int>(x)));
  const auto combo = [&] {
    return std::string(dtype_name(g.a_type)) + " x " + dtype_name(g.b_type) + " -> " +
           dtype_name(g.c_type) + " (compute " + dtype_name(g.compute_type) + ")";
  };
  const suanli_dtype a = g.a_type;
  if (a == SUANLI_DTYPE_FP32 && g.b_type == a && g.c_type == a && g.compute_type == a) {
    *t = {"float", "float", "float", 4, false, "fp32", ""};
    return true;
  }
  if (a == SUANLI_DTYPE_FP64 && g.b_type == a && g.c_type == a && g.compute_type == a) {
    if (!d.fp64) {
      *reason = "gemm fp64: the device lacks cl_khr_fp64";
      return false;
    }
    *t = {"double", "double", "double", 8, false, "fp64", "-DSUANLI_FP64"};
    return true;
  }
  if (a == SUANLI_DTYPE_FP16 && g.b_type == a) {
    const bool f32 = g.c_type == SUANLI_DTYPE_FP32 && g.compute_type == SUANLI_DTYPE_FP32;
    const bool f16 = g.c_type == SUANLI_DTYPE_FP16 && g.compute_type == SUANLI_DTYPE_FP16;
    if (f32 || f16) {
      if (!d.fp16) {
        *reason = "gemm " + combo() + ": the device lacks cl_khr_fp16 (no native half arithmetic)";
        return false;
      }
      *t = f32 ? GemmTypes{"half", "half", "float", 4, false, "fp16 -> fp32", "-DSUANLI_FP16"}
               : GemmTypes{"half", "half", "half", 2, false, "fp16", "-DSUANLI_FP16"};
      return true;
    }
  }
  if ((a == SUANLI_DTYPE_UINT8 || a == SUANLI_DTYPE_INT8) && g.b_type == SUANLI_DTYPE_INT8 &&
      g.c_type == SUANLI_DTYPE_INT32 && g.compute_type == SUANLI_DTYPE_INT32) {
    const bool u = a == SUANLI_DTYPE_UINT8;
    *t = {u ? "uchar" : "char", "char", "int", 4, true, u ? "u8 x s8 -> s32" : "s8 x s8 -> s32",
          "-DSUANLI_INT"};
    return true;
  }
  if (a == SUANLI_DTYPE_TF32)
    *reason = "gemm tf32: OpenCL has no TF32 arithmetic";
  else if (a == SUANLI_DTYPE_BF16)
    *reason = "gemm bf16: OpenCL C has no bf16 arithmetic (no standard extension)";
  else if (a == SUANLI_DTYPE_FP8_E4M3 || a == SUANLI_DTYPE_FP8_E5M2)
    *reason = std::string("gemm ") + dtype_name(a) + ": OpenCL C has no fp8 arithmetic";
  else
    *reason =
        "gemm " + combo() + ": this type combination is not implemented by the opencl backend";
  return false;
}

std::string build_options(const GemmTypes& t, const Tile& tile) {
  return "-cl-std=CL1.2 -DTA=" + t.ta + " -DTB=" + t.tb + " -DP=" + t.p +
         " -DMR=" + std::to_string(tile.mr) + " -DVW=" + std::to_string(tile.vw) +
         " -DNRV=" + std::to_string(tile.nrv) + (t.extension_defines.empty() ? "" : " ") +
         t.extension_defines;
}

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

class GemmOp : public Op {
 public:
  GemmOp(Device& d, const suanli_gemm_desc& g, const GemmTypes& t, const Tile& tile, cl_mem a,
         cl_mem b, cl_mem c)
      : d_(d), g_(g), tile_(tile) {
    const std::string opts = build_options(t, tile);
    pack_a_.k = d.kernel("gemm.cl", opts, "pack_a");
    pack_b_.k = d.kernel("gemm.cl", opts, "pack_b");
    tile_k_.k = d.kernel("gemm.cl", opts, "gemm_tile");
    const int64_t nr = int64_t{tile.vw} * tile.nrv;
    mp_ = round_up(g.m, tile.mr);
    np_ = round_up(g.n, nr);
    const cl_long ap_batch = mp_ * g.k, bp_batch = np_ * g.k, c_batch = g.m * g.n;
    const cl_long a_batch = g.m * g.k, b_batch = g.k * g.n;
    cl_int err = CL_SUCCESS;
    ap_ = clCreateBuffer(d.context, CL_MEM_READ_WRITE,
                         static_cast<size_t>(ap_batch * g.batch * t.p_bytes), nullptr, &err);
    check_cl(err, "clCreateBuffer (packed A)");
    bp_ = clCreateBuffer(d.context, CL_MEM_READ_WRITE,
                         static_cast<size_t>(bp_batch * g.batch * t.p_bytes), nullptr, &err);
    check_cl(err, "clCreateBuffer (packed B)");
    const cl_int m = static_cast<cl_int>(g.m), n = static_cast<cl_int>(g.n),
                 k = static_cast<cl_int>(g.k), ta = g.trans_a, tb = g.trans_b;
    set_arg(pack_a_.k, 0, a);
    set_arg(pack_a_.k, 1, ap_);
    set_arg(pack_a_.k, 2, m);
    set_arg(pack_a_.k, 3, k);
    set_arg(pack_a_.k, 4, ta);
    set_arg(pack_a_.k, 5, a_batch);
    set_arg(pack_a_.k, 6, ap_batch);
    set_arg(pack_b_.k, 0, b);
    set_arg(pack_b_.k, 1, bp_);
    set_arg(pack_b_.k, 2, n);
    set_arg(pack_b_.k, 3, k);
    set_arg(pack_b_.k, 4, tb);
    set_arg(pack_b_.k, 5, b_batch);
    set_arg(pack_b_.k, 6, bp_batch);
    set_arg(tile_k_.k, 0, ap_);
    set_arg(tile_k_.k, 1, bp_);
    set_arg(tile_k_.k, 2, c);
    set_arg(tile_k_.k, 3, m);
    set_arg(tile_k_.k, 4, n);
    set_arg(tile_k_.k, 5, k);
    set_arg(tile_k_.k, 6, ap_batch);
    set_arg(tile_k_.k, 7, bp_batch);
    set_arg(tile_k_.k, 8, c_batch);
  }
  ~GemmOp() override {
    if (ap_) clReleaseMemObject(ap_);
    if (bp_) clReleaseMemObject(bp_);
  }
  void enqueue(cl_event* first, cl_event* last) override {
    const size_t batch = static_cast<size_t>(g_.batch);
    const size_t ga[3] = {static_cast<size_t>(g_.k), static_cast<size_t>(mp_), batch};
    enqueue_kernel(d_, pack_a_.k, 3, ga, nullptr, first, nullptr);
    const size_t gb[3] = {static_cast<size_t>(np_), static_cast<size_t>(g_.k), batch};
    enqueue_kernel(d_, pack_b_.k, 3, gb, nullptr, nullptr, nullptr);
    const size_t gt[3] = {static_cast<size_t>(mp_ / tile_.mr),
                          static_cast<size_t>(np_ / (tile_.vw * tile_.nrv)), batch};
    enqueue_kernel(d_, tile_k_.k, 3, gt, nullptr, nullptr, last);
  }

 private:
  Device& d_;
  suanli_gemm_desc g_;
  Tile tile_;
  Kernel pack_a_, pack_b_, tile_k_;
  cl_mem ap_ = nullptr, bp_ = nullptr;
  int64_t mp_ = 0, np_ = 0;
};

// Owns a scratch cl_mem filled with zeros.
struct Scratch {
  cl_mem m = nullptr;
  Scratch(Device& d, size_t bytes) {
    cl_int err = CL_SUCCESS;
    m = clCreateBuffer(d.context, CL_MEM_READ_WRITE, bytes, nullptr, &err);
    check_cl(err, "clCreateBuffer (tuning)");
    const cl_uchar zero = 0;
    check_cl(clEnqueueFillBuffer(d.queue, m, &zero, 1, 0, bytes, 0, nullptr, nullptr),
             "clEnqueueFillBuffer");
  }
  ~Scratch() {
    if (m) clReleaseMemObject(m);
  }
};

// Times every candidate tile on a fixed square problem (best of 3 after a warm-up) until the
// budget is spent, and returns the fastest. A candidate that fails to build or run is skipped.
Tile tune(Device& d, const GemmTypes& t, std::string* note) {
  const std::vector<Tile> cands = tile_candidates(d, t.p_bytes);
  const int64_t s = (d.type & CL_DEVICE_TYPE_CPU) ? 384 : 1024;
  suanli_gemm_desc g{};
  g.struct_size = sizeof g;
  g.m = g.n = g.k = s;
  g.batch = 1;
  const size_t in_bytes = static_cast<size_t>(s * s) * 8;
  Scratch a(d, in_bytes), b(d, in_bytes), c(d, static_cast<size_t>(s * s) * 8);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  constexpr double kBudget = 3.0;  // seconds, builds included
  Tile best = cands.front();
  double best_s = std::numeric_limits<double>::infinity();
  int tried = 0;
  for (const Tile& tile : cands) {
    if (tried > 0 && std::chrono::duration<double>(Clock::now() - t0).count() > kBudget) break;
    try {
      GemmOp op(d, g, t, tile, a.m, b.m, c.m);
      std::vector<Op*> ops{&op};
      run_timed(d, ops, 1);
      double secs = std::numeric_limits<double>::infinity();
      for (int r = 0; r < 3; ++r) secs = std::min(secs, run_timed(d, ops, 1));
      ++tried;
      if (secs < best_s) best_s = secs, best = tile;
    } catch (const BackendError&) {
      // A tile the device cannot build or run (registers, work-group limits) is not a choice.
    }
  }
  if (tried == 0) throw BackendError(SUANLI_DEVICE_ERROR, "opencl: no gemm tile candidate ran");
  *note = "tuned over " + std::to_string(tried) + " of " + std::to_string(cands.size()) +
          " tiles at " + std::to_string(s) + "^3";
  return best;
}

std::string source_tag() {
  return std::to_string(std::hash<std::string>{}(kernel_source("gemm.cl")) & 0xffffffffu);
}

// The tile for a type combination: set by the gemm_tile option, from the tuning cache, else tuned
// now and stored; *how says which.
Tile choose_tile(Device& d, const GemmTypes& t, const Config& cfg, std::string* how) {
  *how = "default tile";
  if (cfg.force_tile) {
    *how = "tile set by the gemm_tile option";
    return cfg.tile;
  }
  Tile tile = tile_candidates(d, t.p_bytes).front();
  if (!cfg.tune) return tile;
  TuneCache cache(cfg.cache_path);
  const std::string key = d.cache_key() + " | gemm " + t.label + " | src " + source_tag();
  if (cache.lookup(key, &tile)) {
    *how = "tile from the tuning cache";
    return tile;
  }
  tile = tune(d, t, how);
  cache.store(key, tile);
  return tile;
}

// GEMM_EX: C = alpha op(A) op(B) + beta C on column-major sub-matrices (kernels/gemm.cl, *_ex).
class GemmExOp : public Op {
 public:
  GemmExOp(Device& d, const suanli_gemm_ex_desc& g, const GemmTypes& t, const Tile& tile, cl_mem a,
           cl_mem b, cl_mem c)
      : d_(d), tile_(tile) {
    const std::string opts = build_options(t, tile);
    pack_a_.k = d.kernel("gemm.cl", opts, "pack_a_ex");
    pack_b_.k = d.kernel("gemm.cl", opts, "pack_b_ex");
    tile_k_.k = d.kernel("gemm.cl", opts, "gemm_tile_ex");
    m_ = g.m, n_ = g.n, k_ = g.k;
    mp_ = round_up(g.m, tile.mr);
    np_ = round_up(g.n, int64_t{tile.vw} * tile.nrv);
    cl_int err = CL_SUCCESS;
    ap_ = clCreateBuffer(d.context, CL_MEM_READ_WRITE, static_cast<size_t>(mp_ * g.k * t.p_bytes),
                         nullptr, &err);
    check_cl(err, "clCreateBuffer (packed A)");
    bp_ = clCreateBuffer(d.context, CL_MEM_READ_WRITE, static_cast<size_t>(np_ * g.k * t.p_bytes),
                         nullptr, &err);
    check_cl(err, "clCreateBuffer (packed B)");
    const cl_int m = static_cast<cl_int>(g.m), n = static_cast<cl_int>(g.n),
                 k = static_cast<cl_int>(g.k);
    set_args(pack_a_.k, a, ap_, m, k, cl_int{g.trans_a}, cl_long{g.a_offset},
             static_cast<cl_int>(g.lda));
    set_args(pack_b_.k, b, bp_, n, k, cl_int{g.trans_b}, cl_long{g.b_offset},
             static_cast<cl_int>(g.ldb));
    set_args(tile_k_.k, ap_, bp_, c, m, n, k, cl_long{g.c_offset}, static_cast<cl_int>(g.ldc));
    if (t.p_bytes == 8) {
      set_arg(tile_k_.k, 8, g.alpha);
      set_arg(tile_k_.k, 9, g.beta);
    } else {
      set_arg(tile_k_.k, 8, static_cast<cl_float>(g.alpha));
      set_arg(tile_k_.k, 9, static_cast<cl_float>(g.beta));
    }
  }
  ~GemmExOp() override {
    if (ap_) clReleaseMemObject(ap_);
    if (bp_) clReleaseMemObject(bp_);
  }
  // Fixed work-group sizes, global sizes rounded up to them (see kernels/gemm.cl).
  void enqueue(cl_event* first, cl_event* last) override {
    static constexpr size_t kPackLocal[2] = {16, 4}, kTileLocal[2] = {4, 4};
    auto up = [](int64_t x, size_t l) { return static_cast<size_t>(round_up(x, int64_t(l))); };
    const size_t ga[2] = {up(mp_, kPackLocal[0]), up(k_, kPackLocal[1])};
    enqueue_kernel(d_, pack_a_.k, 2, ga, kPackLocal, first, nullptr);
    const size_t gb[2] = {up(k_, kPackLocal[0]), up(np_, kPackLocal[1])};
    enqueue_kernel(d_, pack_b_.k, 2, gb, kPackLocal, nullptr, nullptr);
    const size_t gt[2] = {up(mp_ / tile_.mr, kTileLocal[0]),
                          up(np_ / (tile_.vw * tile_.nrv), kTileLocal[1])};
    enqueue_kernel(d_, tile_k_.k, 2, gt, kTileLocal, nullptr, last);
  }

 private:
  Device& d_;
  Tile tile_;
  Kernel pack_a_, pack_b_, tile_k_;
  cl_mem ap_ = nullptr, bp_ = nullptr;
  int64_t m_ = 0, n_ = 0, k_ = 0, mp_ = 0, np_ = 0;
};

// The types of a GEMM_EX, through the row-major GEMM's table (the same kernels' types): fp64,
// fp32, fp16 x fp16 -> fp32; bf16 refused as there (OpenCL C has no bf16 arithmetic).
bool gemm_ex_types(const Device& d, const suanli_gemm_ex_desc& e, GemmTypes* t,
                   std::string* reason) {
  const bool half = e.a_type == SUANLI_DTYPE_FP16 || e.a_type == SUANLI_DTYPE_BF16;
  if (half && !(e.b_type == e.a_type && e.c_type == SUANLI_DTYPE_FP32)) {
    *reason = "gemm_ex: bf16 / fp16 inputs need fp32 c (backend.h)";
    return false;
  }
  if (e.a_type == SUANLI_DTYPE_UINT8 || e.a_type == SUANLI_DTYPE_INT8) {
    *reason = "gemm_ex: types are fp64, fp32, bf16 / fp16 -> fp32 (backend.h)";
    return false;
  }
  suanli_gemm_desc g{};
  g.struct_size = SUANLI_GEMM_DESC_SIZE;
  g.m = g.n = g.k = g.batch = 1;
  g.a_type = e.a_type;
  g.b_type = e.b_type;
  g.c_type = e.c_type;
  g.compute_type = e.compute_type;
  if (!gemm_types(d, g, t, reason)) {
    if (reason->rfind("gemm ", 0) == 0) *reason = "gemm_ex" + reason->substr(4);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Op> make_gemm(Device& d, const suanli_gemm_desc& g, Buffer* const* bufs,
                              const Config& cfg, std::string* reason) {
  GemmTypes t;
  if (!gemm_types(d, g, &t, reason)) return nullptr;
  if (!bufs) return std::make_unique<ProbeOp>();  // buffer sizes: checked by the plugin kit
  std::string how;
  const Tile tile = choose_tile(d, t, cfg, &how);
  auto op = std::make_unique<GemmOp>(d, g, t, tile, bufs[0]->mem, bufs[1]->mem, bufs[2]->mem);
  op->implementation = "suanli gemm.cl " + t.label + ": packed panels, " + tile_string(tile) +
                       " register tile per work-item, " +
                       (t.integer ? std::string("int32 mul + add on widened int8 (") +
                                        (d.int_dot ? "cl_khr_integer_dot_product present, not "
                                                     "used by this kernel"
                                                   : "no cl_khr_integer_dot_product") +
                                        ")"
                                  : std::string("fma")) +
                       "; " + how;
  return op;
}

std::unique_ptr<Op> make_gemm_ex(Device& d, const suanli_gemm_ex_desc& g, Buffer* const* bufs,
                                 const Config& cfg, std::string* reason) {
  kit::check_linalg_shape(g);  // operands inside their buffers: the kit's plan checked that
  GemmTypes t;
  if (!gemm_ex_types(d, g, &t, reason)) return nullptr;
  if (g.m == 0 || g.n == 0 || g.k == 0) {
    *reason = "gemm_ex: empty shapes are not planned (the caller skips them)";
    return nullptr;
  }
  std::string how;
  const Tile tile = choose_tile(d, t, cfg, &how);
  if (!bufs) {
    // HPL asks once before its timed solve, then plans per step inside it: the tile is tuned, the
    // programs (this one and linalg.cl's) compiled and their kernels run once (an implementation
    // may compile a kernel at its first launch) here, so that no step pays for any of it.
    const std::string opts = build_options(t, tile);
    if (d.warmed.insert(opts).second) {
      Scratch a(d, 64), b(d, 64), c(d, 64);
      suanli_gemm_ex_desc w = g;
      w.m = w.n = w.k = w.lda = w.ldb = w.ldc = 1;
      w.a_offset = w.b_offset = w.c_offset = 0;
      GemmExOp op(d, w, t, tile, a.m, b.m, c.m);
      run_timed(d, {&op}, 1);
    }
    // HPL's panel solves run in fp64 (HPL) or fp32 (HPL-MxP, whatever its update type).
    warm_linalg(d, g.c_type);
    return std::make_unique<ProbeOp>();
  }
  auto op = std::make_unique<GemmExOp>(d, g, t, tile, bufs[0]->mem, bufs[1]->mem, bufs[2]->mem);
  op->implementation = "suanli gemm.cl " + t.label + " column-major sub-matrices: packed panels, " +
                       tile_string(tile) + " register tile per work-item, fma, alpha/beta; " + how;
  return op;
}

}  // namespace suanli::ocl
