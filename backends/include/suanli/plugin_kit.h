// suanli plugin kit: the plumbing every backend plugin needs, written once (C++17, header only,
// needs nothing but backend.h and the standard library).
//
// A plugin derives its context from suanli_context_s (defined here) and implements the virtual
// calls below, in plain C++ that may throw; its buffers derive from suanli_buffer_s and its plans
// from suanli_plan_s. kit::make_api<Context>(name, version) then builds the suanli_backend_api
// table whose C entry points do, once for every plugin, what the contract asks of each call:
// no exception crosses the ABI (kit::Error becomes its status, std::bad_alloc OUT_OF_MEMORY,
// anything else INTERNAL, with the message kept for last_error), NULL pointers and out-of-range
// devices are refused, transfers are range-checked (overflow-safe), plan() refuses a buffer of
// another device or one too small for the op (kit::op_buffer_bytes: every op kind's table), an op
// kind the plugin does not know is UNSUPPORTED, and execute() refuses bad arguments.
//
//   struct MyContext : suanli_context_s {
//     static std::unique_ptr<MyContext> open(const suanli::kit::Options& options);
//     int32_t device_count() override;
//     ... (see suanli_context_s below)
//   };
//   extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t major) {
//     static const suanli_backend_api api = suanli::kit::make_api<MyContext>("my", "1.0");
//     return major == SUANLI_ABI_MAJOR ? &api : nullptr;
//   }
//
// The parts are usable on their own too: Error/fail, guarded, Strings and KeyValues, Options,
// check_range, validate_op / op_params, op_buffer_bytes / check_buffer_sizes, dtype_bytes and
// dtype_name.
#ifndef SUANLI_PLUGIN_KIT_H
#define SUANLI_PLUGIN_KIT_H

#include <suanli/backend.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace suanli::kit {

// ---- errors -------------------------------------------------------------------------------------

// Thrown inside a plugin; the kit's entry points turn it into its status and last_error's message.
struct Error : std::runtime_error {
  Error(suanli_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
  suanli_status status;
};

// Throws Error(s, msg): the one way a plugin refuses a call.
[[noreturn]] inline void fail(suanli_status s, const std::string& msg) {
  throw Error(s, msg);
}

// Runs f (returning a suanli_status) and turns what it throws into a status, storing the message
// in *message (when not null). For entry points the table builder does not cover.
template <typename F>
suanli_status guarded(std::string* message, F&& f) noexcept {
  auto keep = [&](const char* what) {
    if (!message) return;
    try {
      *message = what;
    } catch (...) {  // no memory for the message: keep the status
    }
  };
  try {
    return f();
  } catch (const Error& e) {
    keep(e.what());
    return e.status;
  } catch (const std::bad_alloc&) {
    keep("out of host memory");
    return SUANLI_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    keep((std::string("internal error: ") + e.what()).c_str());
    return SUANLI_INTERNAL;
  } catch (...) {
    keep("internal error: unknown exception");
    return SUANLI_INTERNAL;
  }
}

// ---- strings that live as long as their owner
// ----------------------------------------------------

// Keeps strings whose c_str() a plugin hands out (device names, derivations, plan info): they stay
// valid as long as the Strings object (a deque never moves its elements).
class Strings {
 public:
  const char* keep(std::string s) {
    kept_.push_back(std::move(s));
    return kept_.back().c_str();
  }

 private:
  std::deque<std::string> kept_;
};

// A table of key/value pairs (libraries, a device's extra identity) with its strings.
class KeyValues {
 public:
  void add(std::string key, std::string value) {
    kv_.push_back({SUANLI_KV_SIZE, strings_.keep(std::move(key)), strings_.keep(std::move(value))});
  }
  const suanli_kv* data() const { return kv_.data(); }
  size_t size() const { return kv_.size(); }
  bool empty() const { return kv_.empty(); }

 private:
  Strings strings_;
  std::vector<suanli_kv> kv_;
};

// ---- create options
// ------------------------------------------------------------------------------

// The key/value options of create, with typed getters. A bad value of a known key throws
// Error(INVALID_ARGUMENT, "option KEY='VALUE': expected ..."); unknown keys are ignored, as the
// contract asks.
class Options {
 public:
  explicit Options(const suanli_create_args* args) {
    if (!args || !args->options) return;
    for (size_t i = 0; i < args->option_count; ++i) {
      const suanli_kv& kv = args->options[i];
      if (kv.key && kv.value) pairs_.emplace_back(kv.key, kv.value);
    }
  }
  // The last value given for key, or nullptr.
  const std::string* find(const std::string& key) const {
    const std::string* v = nullptr;
    for (const auto& [k, value] : pairs_)
      if (k == key) v = &value;
    return v;
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    const std::string* v = find(key);
    return v ? *v : fallback;
  }
  // A whole number in [lo, hi].
  long integer(const std::string& key, long fallback, long lo, long hi,
               const std::string& expected) const {
    const std::string* v = find(key);
    if (!v) return fallback;
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || !end || *end || n < lo || n > hi) refuse(key, *v, expected);
    return n;
  }
  // One of the listed words ("auto", "openblas", ...).
  std::string choice(const std::string& key, const std::string& fallback,
                     std::initializer_list<const char*> allowed) const {
    const std::string* v = find(key);
    if (!v) return fallback;
    std::string expected;
    size_t i = 0;
    for (const char* a : allowed) {
      if (*v == a) return *v;
      expected += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + std::string(a);
      ++i;
    }
    refuse(key, *v, expected);
  }
  // "0" or "1".
  bool flag(const std::string& key, bool fallback) const {
    return choice(key, fallback ? "1" : "0", {"0", "1"}) == "1";
  }
  [[noreturn]] static void refuse(const std::string& key, const std::string& value,
                                  const std::string& expected) {
    fail(SUANLI_INVALID_ARGUMENT, "option " + key + "='" + value + "': expected " + expected);
  }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// ---- dtypes
// --------------------------------------------------------------------------------------

// Bytes of one element as stored (tf32 in fp32 storage); 1 for an unknown type.
inline uint64_t dtype_bytes(suanli_dtype t) {
  switch (t) {
    case SUANLI_DTYPE_FP64:
      return 8;
    case SUANLI_DTYPE_FP32:
    case SUANLI_DTYPE_TF32:
    case SUANLI_DTYPE_INT32:
      return 4;
    case SUANLI_DTYPE_FP16:
    case SUANLI_DTYPE_BF16:
      return 2;
    default:
      return 1;
  }
}

// The report name of a dtype ("fp32"), "invalid" for a value outside the enum.
inline const char* dtype_name(suanli_dtype t) {
  const char* n = suanli_dtype_name(t);
  return n ? n : "invalid";
}

// ---- ranges and descriptors
// ----------------------------------------------------------------------

// Refuses [offset, offset + bytes) unless it lies inside a buffer of `size` bytes (overflow-safe).
inline void check_range(uint64_t size, uint64_t offset, uint64_t bytes) {
  if (offset > size || bytes > size - offset)
    fail(SUANLI_INVALID_ARGUMENT, "range [" + std::to_string(offset) + ", +" +
                                      std::to_string(bytes) + ") outside a buffer of " +
                                      std::to_string(size) + " bytes");
}

// The parameters of op's kind (op->gemm for GEMM, ...), or nullptr for a kind this header does not
// know (one appended in a later ABI minor: UNSUPPORTED, not an error). Throws INVALID_ARGUMENT
// when the descriptor is missing, too short, or lacks the parameters of a known kind.
inline const void* op_params(const suanli_op_desc* op) {
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream))
    fail(SUANLI_INVALID_ARGUMENT, "op descriptor missing or struct_size too small");
  auto field = [&](size_t end, const void* p) -> const void* {
    if (op->struct_size < end || !p)
      fail(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
    return p;
  };
#define SUANLI_KIT_KIND(KIND, member) \
  case KIND:                          \
    return field(SUANLI_STRUCT_SIZE(suanli_op_desc, member), op->member);
  switch (op->kind) {
    SUANLI_KIT_KIND(SUANLI_OP_GEMM, gemm)
    SUANLI_KIT_KIND(SUANLI_OP_CONV2D, conv2d)
    SUANLI_KIT_KIND(SUANLI_OP_PEAK, peak)
    SUANLI_KIT_KIND(SUANLI_OP_STREAM, stream)
    SUANLI_KIT_KIND(SUANLI_OP_MATMUL, matmul)
    SUANLI_KIT_KIND(SUANLI_OP_CONV2D_LAYER, conv2d_layer)
    SUANLI_KIT_KIND(SUANLI_OP_POOL, pool)
    SUANLI_KIT_KIND(SUANLI_OP_NORM, norm)
    SUANLI_KIT_KIND(SUANLI_OP_SOFTMAX, softmax)
    SUANLI_KIT_KIND(SUANLI_OP_ELTWISE, eltwise)
    SUANLI_KIT_KIND(SUANLI_OP_GEMM_EX, gemm_ex)
    SUANLI_KIT_KIND(SUANLI_OP_GETRF, getrf)
    SUANLI_KIT_KIND(SUANLI_OP_LASWP, laswp)
    SUANLI_KIT_KIND(SUANLI_OP_TRSM, trsm)
    default:
      return nullptr;
  }
#undef SUANLI_KIT_KIND
}

// Checks the descriptor as op_params does; true when its kind is known to this header.
inline bool validate_op(const suanli_op_desc* op) {
  return op_params(op) != nullptr;
}

// Calls f with the parameters of op's kind (f(const suanli_gemm_desc&), ...,
// f(const suanli_trsm_desc&): one overload set per plugin, a template for the kinds it handles
// alike) and returns what f returns; a kind this header does not know gets f(op) itself.
// INVALID_ARGUMENT for a descriptor without the parameters of its kind.
template <class F>
auto visit_op(const suanli_op_desc& op, F&& f) -> decltype(f(op)) {
  op_params(&op);
#define SUANLI_KIT_VISIT(KIND, member) \
  case KIND:                           \
    return f(*op.member);
  switch (op.kind) {
    SUANLI_KIT_VISIT(SUANLI_OP_GEMM, gemm)
    SUANLI_KIT_VISIT(SUANLI_OP_CONV2D, conv2d)
    SUANLI_KIT_VISIT(SUANLI_OP_PEAK, peak)
    SUANLI_KIT_VISIT(SUANLI_OP_STREAM, stream)
    SUANLI_KIT_VISIT(SUANLI_OP_MATMUL, matmul)
    SUANLI_KIT_VISIT(SUANLI_OP_CONV2D_LAYER, conv2d_layer)
    SUANLI_KIT_VISIT(SUANLI_OP_POOL, pool)
    SUANLI_KIT_VISIT(SUANLI_OP_NORM, norm)
    SUANLI_KIT_VISIT(SUANLI_OP_SOFTMAX, softmax)
    SUANLI_KIT_VISIT(SUANLI_OP_ELTWISE, eltwise)
    SUANLI_KIT_VISIT(SUANLI_OP_GEMM_EX, gemm_ex)
    SUANLI_KIT_VISIT(SUANLI_OP_GETRF, getrf)
    SUANLI_KIT_VISIT(SUANLI_OP_LASWP, laswp)
    SUANLI_KIT_VISIT(SUANLI_OP_TRSM, trsm)
    default:
      return f(op);
  }
#undef SUANLI_KIT_VISIT
}

// Per-kind checks that every backend makes: each refuses with INVALID_ARGUMENT "what: ...".

// A convolution every size of which is positive (padding >= 0) and whose groups divide c and k.
inline void check_conv2d_shape(const suanli_conv2d_desc& d, const char* what) {
  if (d.n < 1 || d.c < 1 || d.h < 1 || d.w < 1 || d.k < 1 || d.r < 1 || d.s < 1 || d.stride_h < 1 ||
      d.stride_w < 1 || d.pad_h < 0 || d.pad_w < 0 || d.dil_h < 1 || d.dil_w < 1 || d.groups < 1 ||
      d.c % d.groups || d.k % d.groups)
    fail(SUANLI_INVALID_ARGUMENT, std::string(what) + ": bad shape");
}

// The epilogue of a convolution layer: no mask, alpha 1.
inline void check_conv_epilogue(const suanli_epilogue& e, const char* what) {
  if (e.mask) fail(SUANLI_INVALID_ARGUMENT, std::string(what) + ": a convolution has no mask");
  if (e.alpha != 1.0)
    fail(SUANLI_INVALID_ARGUMENT,
         std::string(what) + ": epilogue.alpha must be 1 for a convolution");
}

// True for the parameter structs of the model ops of ABI 1.1.
template <class Desc>
constexpr bool is_model_desc =
    std::is_same_v<Desc, suanli_matmul_desc> || std::is_same_v<Desc, suanli_conv2d_layer_desc> ||
    std::is_same_v<Desc, suanli_pool_desc> || std::is_same_v<Desc, suanli_norm_desc> ||
    std::is_same_v<Desc, suanli_softmax_desc> || std::is_same_v<Desc, suanli_eltwise_desc>;

// visit_op for the model ops of ABI 1.1 only: f(const suanli_matmul_desc&), ...,
// f(const suanli_eltwise_desc&); INVALID_ARGUMENT for another kind.
template <class F>
auto visit_model_op(const suanli_op_desc& op, F&& f) -> decltype(f(*op.matmul)) {
  using Result = decltype(f(*op.matmul));
  return visit_op(op, [&](const auto& d) -> Result {
    if constexpr (is_model_desc<std::decay_t<decltype(d)>>)
      return f(d);
    else
      fail(SUANLI_INVALID_ARGUMENT, "op descriptor lacks the parameters of its kind");
  });
}

// The reason a plugin gives for a kind it does not implement.
inline std::string unknown_kind_reason(const suanli_op_desc& op, const char* backend) {
  return "op kind " + std::to_string(static_cast<int>(op.kind)) + " is not known to the " +
         backend + " backend";
}

// ---- the bytes each buffer of an op needs
// --------------------------------------------------------

namespace detail {

constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();

// Product of factors, saturating at kHuge; a factor <= 0 gives 0 (the factory refuses it).
inline uint64_t product(std::initializer_list<int64_t> factors) {
  uint64_t p = 1;
  for (int64_t f : factors) {
    if (f <= 0) return 0;
    uint64_t next = 0;
    if (__builtin_mul_overflow(p, static_cast<uint64_t>(f), &next)) return kHuge;
    p = next;
  }
  return p;
}

inline uint64_t sum(uint64_t a, uint64_t b) {
  uint64_t s = 0;
  return __builtin_add_overflow(a, b, &s) ? kHuge : s;
}

inline uint64_t times(uint64_t elements, uint64_t bytes) {
  uint64_t r = 0;
  return __builtin_mul_overflow(elements, bytes, &r) ? kHuge : r;
}

// Elements a strided tensor spans: offset of its last element + 1 (0 if any extent is < 1).
inline uint64_t strided_elements(std::initializer_list<int64_t> extents,
                                 std::initializer_list<int64_t> strides) {
  uint64_t last = 0;
  auto s = strides.begin();
  for (int64_t e : extents) {
    const int64_t st = *s++;
    if (e < 1 || st < 0) return 0;
    last = sum(last, product({e - 1, st}));  // 0 when e == 1 or st == 0
  }
  return sum(last, 1);
}

inline int64_t conv_out(int64_t in, int64_t pad, int64_t dil, int64_t taps, int64_t stride) {
  if (stride < 1 || dil < 1) return 0;
  return (in + 2 * pad - dil * (taps - 1) - 1) / stride + 1;
}

using Sizes = std::vector<uint64_t>;

inline Sizes gemm_bytes(const suanli_gemm_desc& g) {
  if (g.struct_size < SUANLI_GEMM_DESC_SIZE) return {};
  return {times(product({g.batch, g.m, g.k}), dtype_bytes(g.a_type)),
          times(product({g.batch, g.k, g.n}), dtype_bytes(g.b_type)),
          times(product({g.batch, g.m, g.n}), dtype_bytes(g.c_type))};
}

// Elements of src (n,h,w,c), weights (k,c/g,r,s) and dst (n,p,q,k) of a convolution.
struct ConvElements {
  uint64_t src = 0, wei = 0, dst = 0;
};

inline bool conv_elements(const suanli_conv2d_desc& d, ConvElements* out) {
  if (d.groups < 1 || d.c % d.groups != 0) return false;
  const int64_t p = conv_out(d.h, d.pad_h, d.dil_h, d.r, d.stride_h);
  const int64_t q = conv_out(d.w, d.pad_w, d.dil_w, d.s, d.stride_w);
  *out = {product({d.n, d.h, d.w, d.c}), product({d.k, d.c / d.groups, d.r, d.s}),
          product({d.n, p, q, d.k})};
  return true;
}

inline Sizes conv_bytes(const suanli_conv2d_desc& d) {
  ConvElements e;
  if (d.struct_size < SUANLI_CONV2D_DESC_SIZE || !conv_elements(d, &e)) return {};
  return {times(e.src, dtype_bytes(d.src_type)), times(e.wei, dtype_bytes(d.weight_type)),
          times(e.dst, dtype_bytes(d.dst_type))};
}

inline Sizes conv_layer_bytes(const suanli_conv2d_layer_desc& layer) {
  if (layer.struct_size < SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, epilogue)) return {};
  const suanli_conv2d_desc& d = layer.conv;
  ConvElements e;
  if (!conv_elements(d, &e)) return {};
  const uint64_t src = times(e.src, dtype_bytes(d.src_type));
  const uint64_t wei = times(e.wei, dtype_bytes(d.weight_type));
  const uint64_t dst = times(e.dst, dtype_bytes(d.dst_type));
  Sizes v;
  switch (layer.prop) {
    case SUANLI_PROP_FORWARD_INFERENCE:
    case SUANLI_PROP_FORWARD_TRAINING:
      v = {src, wei, dst};
      break;
    case SUANLI_PROP_BACKWARD_DATA:  // diff_dst, weights, diff_src
      return {dst, wei, src};
    case SUANLI_PROP_BACKWARD_WEIGHTS:  // src, diff_dst, diff_weights (fp32 for bf16), [diff_bias]
      v = {src, dst,
           times(e.wei, d.weight_type == SUANLI_DTYPE_BF16 ? 4 : dtype_bytes(d.weight_type))};
      break;
    default:
      return {};
  }
  if (layer.epilogue.bias) v.push_back(times(product({d.k}), 4));
  return v;
}

inline Sizes matmul_bytes(const suanli_matmul_desc& d) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_matmul_desc, epilogue)) return {};
  const int64_t *a = d.a_stride, *b = d.b_stride, *c = d.c_stride;
  Sizes v = {times(strided_elements({d.batch0, d.batch1, d.m, d.k}, {a[0], a[1], a[2], a[3]}),
                   dtype_bytes(d.a_type)),
             times(strided_elements({d.batch0, d.batch1, d.k, d.n}, {b[0], b[1], b[2], b[3]}),
                   dtype_bytes(d.b_type)),
             times(strided_elements({d.batch0, d.batch1, d.m, d.n}, {c[0], c[1], c[2], c[3]}),
                   dtype_bytes(d.c_type))};
  if (d.epilogue.bias) v.push_back(times(product({d.n}), 4));
  if (d.epilogue.mask) v.push_back(times(product({d.m, d.n}), 4));
  return v;
}

inline Sizes pool_bytes(const suanli_pool_desc& d) {
  if (d.struct_size < SUANLI_POOL_DESC_SIZE) return {};
  const int64_t p = conv_out(d.h, d.pad_h, 1, d.r, d.stride_h);
  const int64_t q = conv_out(d.w, d.pad_w, 1, d.s, d.stride_w);
  const uint64_t in = times(product({d.n, d.h, d.w, d.c}), dtype_bytes(d.type));
  const uint64_t out = times(product({d.n, p, q, d.c}), dtype_bytes(d.type));
  if (d.prop == SUANLI_PROP_BACKWARD_DATA) return {out, in, in};  // diff_dst, src, diff_src
  return {in, out};
}

inline Sizes norm_bytes(const suanli_norm_desc& d) {
  if (d.struct_size < SUANLI_STRUCT_SIZE(suanli_norm_desc, prop)) return {};
  const uint64_t data = times(product({d.rows, d.channels}), dtype_bytes(d.type));
  const uint64_t per_channel = times(product({d.channels}), 4);
  const bool rms = d.kind == SUANLI_NORM_RMS, batch = d.kind == SUANLI_NORM_BATCH;
  if (d.prop == SUANLI_PROP_BACKWARD_DATA)  // src, diff_dst, gamma, mean, var, diff_src, dg, db
    return {data, data, per_channel, per_channel, per_channel, data, per_channel, per_channel};
  Sizes v = {data, data, per_channel};
  if (!rms) v.push_back(per_channel);
  if (d.prop == SUANLI_PROP_FORWARD_TRAINING && !rms) {
    const uint64_t stats = batch ? per_channel : times(product({d.rows}), 4);
    v.insert(v.end(), {stats, stats});
  } else if (batch) {
    v.insert(v.end(), {per_channel, per_channel});
  }
  return v;
}

inline Sizes stream_bytes(const suanli_stream_desc& s) {
  if (s.struct_size < SUANLI_STREAM_DESC_SIZE) return {};
  const uint64_t n = times(product({s.n}), dtype_bytes(s.type));
  const bool reads_b = s.kind == SUANLI_STREAM_ADD || s.kind == SUANLI_STREAM_TRIAD;
  return {n, reads_b ? n : 0, n};
}

inline Sizes peak_bytes(const suanli_peak_desc& p) {
  if (p.struct_size < SUANLI_STRUCT_SIZE(suanli_peak_desc, acc_type)) return {};
  const uint64_t b = times(product({p.elements}), dtype_bytes(p.acc_type));
  return {b, b};
}

inline Sizes softmax_bytes(const suanli_softmax_desc& s) {
  if (s.struct_size < SUANLI_SOFTMAX_DESC_SIZE) return {};
  const uint64_t b = times(product({s.rows, s.cols}), dtype_bytes(s.type));
  return {b, b};
}

inline Sizes eltwise_bytes(const suanli_eltwise_desc& e) {
  if (e.struct_size < SUANLI_ELTWISE_DESC_SIZE) return {};
  const uint64_t b = times(product({e.n}), dtype_bytes(e.type));
  if (e.kind == SUANLI_ELTWISE_ACTIVATION) return {b, b};
  return {b, b, b};
}

}  // namespace detail

// ---- the sub-matrices of the dense linear-algebra ops (ABI 1.2)
// ---------------------------------

// One column-major operand of GEMM_EX / GETRF / LASWP / TRSM: element (i, j) at element index
// offset + i + j * ld of its buffer (backend.h's common rules).
struct SubMatrix {
  const char* name;  // "gemm_ex A"
  int64_t offset, ld, rows, cols;
  suanli_dtype type;
};

// The operands of a linear-algebra op, in the order plan() receives its buffers (GETRF without
// pivoting has no ipiv buffer). LASWP's A spans the rows k1..k2 (the rows its pivots name are
// data: a backend checks them when it reads them).
inline std::vector<SubMatrix> operands(const suanli_gemm_ex_desc& d) {
  return {{"gemm_ex A", d.a_offset, d.lda, d.trans_a ? d.k : d.m, d.trans_a ? d.m : d.k, d.a_type},
          {"gemm_ex B", d.b_offset, d.ldb, d.trans_b ? d.n : d.k, d.trans_b ? d.k : d.n, d.b_type},
          {"gemm_ex C", d.c_offset, d.ldc, d.m, d.n, d.c_type}};
}
inline std::vector<SubMatrix> operands(const suanli_getrf_desc& d) {
  std::vector<SubMatrix> v{{"getrf A", d.a_offset, d.lda, d.m, d.n, d.type}};
  if (d.pivoting)
    v.push_back({"getrf ipiv", d.ipiv_offset, d.n > 0 ? d.n : 1, d.n, 1, SUANLI_DTYPE_INT32});
  return v;
}
inline std::vector<SubMatrix> operands(const suanli_laswp_desc& d) {
  return {{"laswp A", d.a_offset, d.lda, d.k2, d.n, d.type},
          {"laswp ipiv", d.ipiv_offset, d.k2 > 0 ? d.k2 : 1, d.k2, 1, SUANLI_DTYPE_INT32}};
}
inline std::vector<SubMatrix> operands(const suanli_trsm_desc& d) {
  const int64_t na = d.side ? d.n : d.m;
  return {{"trsm A", d.a_offset, d.lda, na, na, d.type},
          {"trsm B", d.b_offset, d.ldb, d.m, d.n, d.type}};
}

// The struct_size a descriptor written at this ABI version has.
inline size_t abi_size(const suanli_gemm_ex_desc&) {
  return SUANLI_GEMM_EX_DESC_SIZE;
}
inline size_t abi_size(const suanli_getrf_desc&) {
  return SUANLI_GETRF_DESC_SIZE;
}
inline size_t abi_size(const suanli_laswp_desc&) {
  return SUANLI_LASWP_DESC_SIZE;
}
inline size_t abi_size(const suanli_trsm_desc&) {
  return SUANLI_TRSM_DESC_SIZE;
}

// Elements a sub-matrix spans from its buffer's start: offset + (cols - 1) * ld + rows (0 when
// empty), saturating; in bytes, times its element size.
inline uint64_t sub_matrix_bytes(const SubMatrix& s) {
  if (s.rows <= 0 || s.cols <= 0) return 0;
  using namespace detail;
  return times(sum(sum(static_cast<uint64_t>(s.offset), product({s.cols - 1, s.ld})),
                   static_cast<uint64_t>(s.rows)),
               dtype_bytes(s.type));
}

// What is wrong with a linear-algebra descriptor's shape, or "": struct_size, flags 0 or 1, sizes
// and offsets >= 0, ld >= max(1, rows), every size and ld below 2^31 (the int of BLAS, cuBLAS and
// the OpenCL kernels), GETRF's m >= n, LASWP's 0 <= k1 <= k2. Buffer sizes: op_buffer_bytes.
template <class Desc>
std::string linalg_shape_error(const Desc& d) {
  if (d.struct_size < abi_size(d)) return "linear-algebra descriptor: struct_size too small";
  auto flag = [](int32_t f) { return f == 0 || f == 1; };
  if constexpr (std::is_same_v<Desc, suanli_gemm_ex_desc>) {
    if (!flag(d.trans_a) || !flag(d.trans_b)) return "gemm_ex: trans_a and trans_b must be 0 or 1";
    if (!(d.k >= 0 && d.k <= INT32_MAX)) return "gemm_ex: k must lie in [0, 2^31)";
  } else if constexpr (std::is_same_v<Desc, suanli_getrf_desc>) {
    if (d.m < d.n) return "getrf: needs m >= n";
    if (!flag(d.pivoting)) return "getrf: pivoting must be 0 or 1";
  } else if constexpr (std::is_same_v<Desc, suanli_laswp_desc>) {
    if (d.k1 < 0 || d.k2 < d.k1) return "laswp: needs 0 <= k1 <= k2";
  } else {
    if (!flag(d.side) || !flag(d.lower) || !flag(d.trans) || !flag(d.unit_diag))
      return "trsm: side, lower, trans and unit_diag must be 0 or 1";
  }
  for (const SubMatrix& s : operands(d)) {
    const std::string what = std::string(s.name) + ": ";
    if (s.rows < 0 || s.cols < 0 || s.offset < 0 || s.ld < std::max<int64_t>(1, s.rows))
      return what + "needs rows, cols, offset >= 0 and ld >= max(1, rows) (rows " +
             std::to_string(s.rows) + ", ld " + std::to_string(s.ld) + ")";
    if (s.ld > INT32_MAX || s.rows > INT32_MAX || s.cols > INT32_MAX)
      return what + "dimension beyond 2^31 - 1";
  }
  return "";
}

// Throws INVALID_ARGUMENT with linalg_shape_error's message when it has one.
template <class Desc>
void check_linalg_shape(const Desc& d) {
  const std::string e = linalg_shape_error(d);
  if (!e.empty()) fail(SUANLI_INVALID_ARGUMENT, e);
}

namespace detail {

// The bytes each operand's buffer needs; empty for a malformed descriptor.
template <class Desc>
Sizes linalg_bytes(const Desc& d) {
  if (!linalg_shape_error(d).empty()) return {};
  Sizes v;
  for (const SubMatrix& s : operands(d)) v.push_back(sub_matrix_bytes(s));
  return v;
}

}  // namespace detail

// Output height and width (p, q) of a convolution (backend.h's formula).
inline std::pair<int64_t, int64_t> conv2d_output(const suanli_conv2d_desc& d) {
  return {detail::conv_out(d.h, d.pad_h, d.dil_h, d.r, d.stride_h),
          detail::conv_out(d.w, d.pad_w, d.dil_w, d.s, d.stride_w)};
}

// Minimum bytes of each buffer, in the order plan() receives them, for every op kind (the dense
// linear-algebra ops of ABI 1.2: where each sub-matrix ends, kit::operands). Empty when the
// descriptor is malformed (the op's factory refuses malformed ones with its own message:
// check_linalg_shape for the linear-algebra ops); a size that overflows 64
// bits is UINT64_MAX, which no buffer satisfies. Strided matmul operands need the offset of their
// last element plus one element.
inline std::vector<uint64_t> op_buffer_bytes(const suanli_op_desc* op) {
  using namespace detail;
  if (!op || op->struct_size < SUANLI_STRUCT_SIZE(suanli_op_desc, stream)) return {};
  auto has = [&](size_t end, const void* p) { return op->struct_size >= end && p; };
#define SUANLI_KIT_BYTES(KIND, member, fn)                                                   \
  case KIND:                                                                                 \
    if (has(SUANLI_STRUCT_SIZE(suanli_op_desc, member), op->member)) return fn(*op->member); \
    return {};
  switch (op->kind) {
    SUANLI_KIT_BYTES(SUANLI_OP_GEMM, gemm, gemm_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_CONV2D, conv2d, conv_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_PEAK, peak, peak_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_STREAM, stream, stream_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_MATMUL, matmul, matmul_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_CONV2D_LAYER, conv2d_layer, conv_layer_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_POOL, pool, pool_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_NORM, norm, norm_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_SOFTMAX, softmax, softmax_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_ELTWISE, eltwise, eltwise_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_GEMM_EX, gemm_ex, linalg_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_GETRF, getrf, linalg_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_LASWP, laswp, linalg_bytes)
    SUANLI_KIT_BYTES(SUANLI_OP_TRSM, trsm, linalg_bytes)
    default:
      return {};
  }
#undef SUANLI_KIT_BYTES
}

// "" when every buffer is large enough, else "buffer I holds B bytes; the op needs N". Buffers
// beyond the op's list are not checked here (check_buffer_count does).
inline std::string check_buffer_sizes(const suanli_op_desc* op, const uint64_t* sizes,
                                      size_t count) {
  const std::vector<uint64_t> need = op_buffer_bytes(op);
  for (size_t i = 0; i < count && i < need.size(); ++i)
    if (sizes[i] < need[i])
      return "buffer " + std::to_string(i) + " holds " + std::to_string(sizes[i]) +
             " bytes; the op needs " +
             (need[i] == detail::kHuge ? std::string("more than 2^64") : std::to_string(need[i]));
  return "";
}

// Refuses fewer buffers than the op's table lists ("op needs 3 buffers, got 2").
inline void check_buffer_count(const suanli_op_desc* op, size_t count) {
  const size_t need = op_buffer_bytes(op).size();
  if (count < need)
    fail(SUANLI_INVALID_ARGUMENT,
         "op needs " + std::to_string(need) + " buffers, got " + std::to_string(count));
}

}  // namespace suanli::kit

// ---- the handles of the ABI, as the kit's entry points see them
// ----------------------------------

// Device memory. A plugin derives its buffer from this; the kit sets bytes and device.
struct suanli_buffer_s {
  virtual ~suanli_buffer_s() = default;
  uint64_t bytes = 0;  // what the harness asked for
  int32_t device = 0;
};

// One prepared op. A plugin derives its plan from this and points library/implementation at
// strings that live with the plan (plan_info hands them out).
struct suanli_plan_s {
  virtual ~suanli_plan_s() = default;
  int32_t device = 0;
  const char* library = "";
  const char* implementation = "";
};

// One created backend. A plugin derives its context from this, adds a static factory
//   static std::unique_ptr<Derived> open(const suanli::kit::Options&);
// (throw kit::Error to refuse: SUANLI_NO_DEVICE with the reason, INVALID_ARGUMENT for a bad
// option) and implements the calls below. The kit has checked what each comment says before it
// calls; every call may throw.
struct suanli_context_s {
  virtual ~suanli_context_s() = default;

  // The libraries and versions reports show; called once, the kit keeps the table.
  virtual void libraries(suanli::kit::KeyValues& out) = 0;
  virtual int32_t device_count() = 0;
  // device in range, out->struct_size covers every field of this ABI's suanli_device_info.
  virtual void device_info(int32_t device, suanli_device_info& out) = 0;
  // device in range, op valid and of a kind this header knows. False: UNSUPPORTED with reason.
  virtual bool supports(int32_t device, const suanli_op_desc& op, std::string& reason) = 0;
  // device in range. Return the buffer; the kit fills bytes and device. Throw OUT_OF_MEMORY.
  virtual std::unique_ptr<suanli_buffer_s> buffer_alloc(int32_t device, uint64_t bytes) = 0;
  // The range lies inside the buffer, bytes > 0, the host pointer is not null.
  virtual void buffer_upload(suanli_buffer_s& dst, uint64_t offset, const void* src,
                             uint64_t bytes) = 0;
  virtual void buffer_download(suanli_buffer_s& src, uint64_t offset, void* dst,
                               uint64_t bytes) = 0;
  // Before the buffer is deleted (a plugin that tracks which plans use a buffer forgets it here).
  virtual void buffer_free(suanli_buffer_s& buffer) { (void)buffer; }
  // device in range, op valid and of a known kind, every buffer non-null, on `device`, as many as
  // the op's table lists and each large enough (kit::op_buffer_bytes). nullptr: UNSUPPORTED with
  // reason. The kit sets the plan's device and fills plan_info from library/implementation.
  virtual std::unique_ptr<suanli_plan_s> plan(int32_t device, const suanli_op_desc& op,
                                              const std::vector<suanli_buffer_s*>& buffers,
                                              std::string& reason) = 0;
  // Before the plan is deleted.
  virtual void plan_destroy(suanli_plan_s& plan) { (void)plan; }
  // At least one plan, none null, all of one device; iterations >= 1. Returns device seconds.
  virtual double execute(const std::vector<suanli_plan_s*>& plans, int64_t iterations) = 0;
  // device in range. Called from the harness's sampling thread while execute runs: touch nothing
  // execute writes (the kit stores no message for telemetry's failures, for the same reason).
  virtual void telemetry(int32_t device, suanli_telemetry& out) = 0;

  // Kept by the kit's entry points.
  std::string error;   // last_error(ctx)
  std::string reason;  // supports' reason, valid until the next call
  suanli::kit::KeyValues library_table;
  const char* backend_name = "";
};

namespace suanli::kit {

namespace detail {

// Runs an entry point's body on a context, keeping the message of a failure for last_error.
template <class F>
suanli_status call(suanli_context ctx, F&& f) noexcept {
  if (!ctx) return SUANLI_INVALID_ARGUMENT;
  return guarded(&ctx->error, std::forward<F>(f));
}

inline void check_device(suanli_context ctx, int32_t device) {
  const int32_t n = ctx->device_count();
  if (device < 0 || device >= n)
    fail(SUANLI_INVALID_ARGUMENT, "device " + std::to_string(device) + " out of range (the " +
                                      ctx->backend_name + " backend has " + std::to_string(n) +
                                      ")");
}

inline void require(bool ok, const char* what) {
  if (!ok) fail(SUANLI_INVALID_ARGUMENT, what);
}

inline suanli_buffer_s* checked_transfer(suanli_buffer buf, uint64_t offset, const void* host,
                                         uint64_t bytes) {
  require(buf != nullptr, "null buffer");
  require(host != nullptr || bytes == 0, "null host pointer");
  check_range(buf->bytes, offset, bytes);
  return buf;
}

inline std::vector<suanli_buffer_s*> checked_buffers(int32_t device, const suanli_op_desc* op,
                                                     const suanli_buffer* buffers, size_t count) {
  require(count > 0 && buffers != nullptr, "plan: no buffers given");
  std::vector<suanli_buffer_s*> bufs(buffers, buffers + count);
  std::vector<uint64_t> sizes(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string which = "buffer " + std::to_string(i);
    if (!bufs[i]) fail(SUANLI_INVALID_ARGUMENT, which + " is null");
    if (bufs[i]->device != device)
      fail(SUANLI_INVALID_ARGUMENT, which + " lives on device " + std::to_string(bufs[i]->device) +
                                        ", not " + std::to_string(device));
    sizes[i] = bufs[i]->bytes;
  }
  check_buffer_count(op, count);
  const std::string small = check_buffer_sizes(op, sizes.data(), count);
  if (!small.empty()) fail(SUANLI_INVALID_ARGUMENT, "plan: " + small);
  return bufs;
}

inline std::vector<suanli_plan_s*> checked_plans(const suanli_plan* plans, size_t count,
                                                 int64_t iterations, const double* seconds) {
  require(seconds != nullptr, "execute: seconds is null");
  require(iterations >= 1, "iterations must be >= 1");
  require(count > 0 && plans != nullptr, "execute: no plans");
  std::vector<suanli_plan_s*> ps(plans, plans + count);
  for (size_t i = 0; i < count; ++i) {
    if (!ps[i]) fail(SUANLI_INVALID_ARGUMENT, "plan " + std::to_string(i) + " is null");
    require(ps[i]->device == ps[0]->device, "execute: plans of one call must share a device");
  }
  return ps;
}

}  // namespace detail

// The C entry points over a Context (derived from suanli_context_s), written once for every
// plugin; make_api puts them in a table.
template <class Context>
struct Entry {
  static std::string& create_error() {
    static thread_local std::string e;  // last_error(NULL): failures of create
    return e;
  }
  static const char*& backend() {
    static const char* n = "";
    return n;
  }
  static suanli_status create(const suanli_create_args* args, suanli_context* out) noexcept {
    return guarded(&create_error(), [&] {
      detail::require(out != nullptr, "create: out is null");
      std::unique_ptr<suanli_context_s> ctx;
      try {
        ctx = Context::open(Options(args));
      } catch (const Error&) {
        throw;
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        fail(SUANLI_INTERNAL, std::string(backend()) + " backend: create failed: " + e.what());
      }
      ctx->backend_name = backend();
      *out = ctx.release();
      return SUANLI_OK;
    });
  }
  static void destroy(suanli_context ctx) noexcept { delete ctx; }
  static const char* last_error(suanli_context ctx) noexcept {
    return ctx ? ctx->error.c_str() : create_error().c_str();
  }
  static suanli_status libraries(suanli_context ctx, const suanli_kv** out,
                                 size_t* count) noexcept {
    return detail::call(ctx, [&] {
      detail::require(out && count, "libraries: null output");
      if (ctx->library_table.empty()) ctx->libraries(ctx->library_table);
      *out = ctx->library_table.data();
      *count = ctx->library_table.size();
      return SUANLI_OK;
    });
  }
  static suanli_status device_count(suanli_context ctx, int32_t* count) noexcept {
    return detail::call(ctx, [&] {
      detail::require(count != nullptr, "device_count: null output");
      *count = ctx->device_count();
      return SUANLI_OK;
    });
  }
  static suanli_status device_info(suanli_context ctx, int32_t device,
                                   suanli_device_info* out) noexcept {
    return detail::call(ctx, [&] {
      detail::check_device(ctx, device);
      detail::require(out && out->struct_size >= SUANLI_DEVICE_INFO_SIZE,
                      "device_info: out missing or struct_size too small");
      ctx->device_info(device, *out);
      return SUANLI_OK;
    });
  }
  static suanli_status supports(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                                const char** reason) noexcept {
    return detail::call(ctx, [&] {
      ctx->reason.clear();
      detail::check_device(ctx, device);
      bool ok = false;
      if (validate_op(op))
        ok = ctx->supports(device, *op, ctx->reason);
      else
        ctx->reason = unknown_kind_reason(*op, backend());
      if (reason) *reason = ctx->reason.c_str();
      return ok ? SUANLI_OK : SUANLI_UNSUPPORTED;
    });
  }
  static suanli_status buffer_alloc(suanli_context ctx, int32_t device, uint64_t bytes,
                                    suanli_buffer* out) noexcept {
    return detail::call(ctx, [&] {
      detail::check_device(ctx, device);
      detail::require(out != nullptr, "buffer_alloc: out is null");
      std::unique_ptr<suanli_buffer_s> b = ctx->buffer_alloc(device, bytes);
      b->bytes = bytes;
      b->device = device;
      *out = b.release();
      return SUANLI_OK;
    });
  }
  static void buffer_free(suanli_context ctx, suanli_buffer buf) noexcept {
    if (!buf) return;
    if (ctx)
      detail::call(ctx, [&] {
        ctx->buffer_free(*buf);
        return SUANLI_OK;
      });
    delete buf;
  }
  static suanli_status buffer_upload(suanli_context ctx, suanli_buffer dst, uint64_t offset,
                                     const void* src, uint64_t bytes) noexcept {
    return detail::call(ctx, [&] {
      suanli_buffer_s* b = detail::checked_transfer(dst, offset, src, bytes);
      if (bytes) ctx->buffer_upload(*b, offset, src, bytes);
      return SUANLI_OK;
    });
  }
  static suanli_status buffer_download(suanli_context ctx, suanli_buffer src, uint64_t offset,
                                       void* dst, uint64_t bytes) noexcept {
    return detail::call(ctx, [&] {
      suanli_buffer_s* b = detail::checked_transfer(src, offset, dst, bytes);
      if (bytes) ctx->buffer_download(*b, offset, dst, bytes);
      return SUANLI_OK;
    });
  }
  static suanli_status plan(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                            const suanli_buffer* buffers, size_t count, suanli_plan* out,
                            suanli_plan_info* info) noexcept {
    return detail::call(ctx, [&] {
      ctx->reason.clear();
      detail::check_device(ctx, device);
      detail::require(out != nullptr, "plan: out is null");
      if (!validate_op(op)) fail(SUANLI_UNSUPPORTED, unknown_kind_reason(*op, backend()));
      const std::vector<suanli_buffer_s*> bufs =
          detail::checked_buffers(device, op, buffers, count);
      std::unique_ptr<suanli_plan_s> p = ctx->plan(device, *op, bufs, ctx->reason);
      if (!p) fail(SUANLI_UNSUPPORTED, ctx->reason);
      p->device = device;
      if (info && SUANLI_HAS_FIELD(info, suanli_plan_info, implementation)) {
        info->library = p->library;
        info->implementation = p->implementation;
      }
      *out = p.release();
      return SUANLI_OK;
    });
  }
  static void plan_destroy(suanli_context ctx, suanli_plan plan) noexcept {
    if (!plan) return;
    if (ctx)
      detail::call(ctx, [&] {
        ctx->plan_destroy(*plan);
        return SUANLI_OK;
      });
    delete plan;
  }
  static suanli_status execute(suanli_context ctx, const suanli_plan* plans, size_t count,
                               int64_t iterations, double* seconds) noexcept {
    return detail::call(ctx, [&] {
      const std::vector<suanli_plan_s*> ps =
          detail::checked_plans(plans, count, iterations, seconds);
      *seconds = ctx->execute(ps, iterations);
      return SUANLI_OK;
    });
  }
  static suanli_status telemetry(suanli_context ctx, int32_t device,
                                 suanli_telemetry* out) noexcept {
    return guarded(nullptr, [&] {  // the sampling thread: no shared message
      detail::require(ctx && out, "telemetry: null argument");
      detail::check_device(ctx, device);
      ctx->telemetry(device, *out);
      return SUANLI_OK;
    });
  }
};

// Builds the function table of a plugin whose context is Context (see suanli_context_s): one
// implementation of every C entry point, as PJRT's wrapper builds each plugin's table.
template <class Context>
suanli_backend_api make_api(const char* name, const char* version) {
  Entry<Context>::backend() = name;
  return {SUANLI_BACKEND_API_SIZE,
          SUANLI_ABI_MAJOR,
          SUANLI_ABI_MINOR,
          name,
          version,
          Entry<Context>::create,
          Entry<Context>::destroy,
          Entry<Context>::last_error,
          Entry<Context>::libraries,
          Entry<Context>::device_count,
          Entry<Context>::device_info,
          Entry<Context>::supports,
          Entry<Context>::buffer_alloc,
          Entry<Context>::buffer_free,
          Entry<Context>::buffer_upload,
          Entry<Context>::buffer_download,
          Entry<Context>::plan,
          Entry<Context>::plan_destroy,
          Entry<Context>::execute,
          Entry<Context>::telemetry};
}

}  // namespace suanli::kit

// Defines the one exported symbol of a plugin whose context is Context (outside any namespace):
//   SUANLI_KIT_EXPORT(my::Context, "my", "1.0")
#define SUANLI_KIT_EXPORT(Context, name, version)                                             \
  extern "C" SUANLI_EXPORT const suanli_backend_api* suanli_backend_get(uint32_t abi_major) { \
    static const suanli_backend_api api = ::suanli::kit::make_api<Context>(name, version);    \
    return abi_major == SUANLI_ABI_MAJOR ? &api : nullptr;                                    \
  }

#endif  // SUANLI_PLUGIN_KIT_H
