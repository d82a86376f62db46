/* suanli backend plugin ABI: the only header a backend (built-in or vendor) needs.
 *
 * A backend is a shared library that exports one symbol, `suanli_backend_get`,
 * returning a table of plain C functions. The harness owns policy (what to
 * run, how long, statistics, verification); the backend owns the device
 * (memory, kernels, device-side timing).
 *
 * Versioning (after PJRT's C API): SUANLI_ABI_MAJOR changes break the ABI;
 * SUANLI_ABI_MINOR grows when fields are appended to structs. Every struct
 * opens with `size_t struct_size`, which the writer sets to
 * SUANLI_STRUCT_SIZE(type, last_field known to it); a reader checks it before
 * touching a field that may lie beyond it (SUANLI_HAS_FIELD).
 *
 * Errors: every call returns a suanli_status. On failure the backend keeps a
 * message that `last_error` returns; it stays valid until the next call on
 * the same backend context from the same thread. No C++ exception may cross
 * this boundary.
 *
 * Threading: the harness calls one context from one thread at a time. A
 * backend may use as many threads internally as it likes.
 *
 * Strings: `const char*` fields returned by a backend are UTF-8, NUL
 * terminated, owned by the backend, and live as long as the object they
 * describe (the context, device or plan) unless a field says otherwise.
 */
#ifndef SUANLI_BACKEND_H
#define SUANLI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SUANLI_ABI_MAJOR 1
#define SUANLI_ABI_MINOR 2

/* Size of `type` up to and including `last_field`: what a writer that knows
 * fields up to `last_field` puts in struct_size. */
#define SUANLI_STRUCT_SIZE(type, last_field) \
  (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* True when a struct written by the other side carries `field`. */
#define SUANLI_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= SUANLI_STRUCT_SIZE(type, field))

#if defined(_WIN32)
#define SUANLI_EXPORT __declspec(dllexport)
#else
#define SUANLI_EXPORT __attribute__((visibility("default")))
#endif

typedef enum suanli_status {
  SUANLI_OK = 0,
  SUANLI_UNSUPPORTED = 1,      /* the device cannot do this op/dtype: an honest answer */
  SUANLI_INVALID_ARGUMENT = 2, /* a descriptor or handle the backend refuses */
  SUANLI_OUT_OF_MEMORY = 3,
  SUANLI_DEVICE_ERROR = 4,     /* the device or its driver failed */
  SUANLI_NO_DEVICE = 5,        /* the backend found no usable device (create may still succeed) */
  SUANLI_INTERNAL = 6          /* a bug or an unexpected exception inside the backend */
} suanli_status;

/* Element types. Names in reports: fp64 fp32 tf32 fp16 bf16 fp8_e4m3 fp8_e5m2
 * int8 uint8 int32. tf32 is fp32 storage computed on TF32 units. */
typedef enum suanli_dtype {
  SUANLI_DTYPE_INVALID = 0,
  SUANLI_DTYPE_FP64 = 1,
  SUANLI_DTYPE_FP32 = 2,
  SUANLI_DTYPE_TF32 = 3,
  SUANLI_DTYPE_FP16 = 4,
  SUANLI_DTYPE_BF16 = 5,
  SUANLI_DTYPE_FP8_E4M3 = 6,
  SUANLI_DTYPE_FP8_E5M2 = 7,
  SUANLI_DTYPE_INT8 = 8,
  SUANLI_DTYPE_UINT8 = 9,
  SUANLI_DTYPE_INT32 = 10
} suanli_dtype;

/* The name reports give a dtype ("fp64", "fp32", ..., "int32"); NULL for a value outside the
 * enum (a descriptor may carry garbage). A helper for plugins, not in the function table. */
static inline const char* suanli_dtype_name(int32_t t) {
  switch (t) {
    case SUANLI_DTYPE_FP64:
      return "fp64";
    case SUANLI_DTYPE_FP32:
      return "fp32";
    case SUANLI_DTYPE_TF32:
      return "tf32";
    case SUANLI_DTYPE_FP16:
      return "fp16";
    case SUANLI_DTYPE_BF16:
      return "bf16";
    case SUANLI_DTYPE_FP8_E4M3:
      return "fp8_e4m3";
    case SUANLI_DTYPE_FP8_E5M2:
      return "fp8_e5m2";
    case SUANLI_DTYPE_INT8:
      return "int8";
    case SUANLI_DTYPE_UINT8:
      return "uint8";
    case SUANLI_DTYPE_INT32:
      return "int32";
    default:
      return NULL;
  }
}

typedef enum suanli_op_kind {
  SUANLI_OP_INVALID = 0,
  SUANLI_OP_GEMM = 1,
  SUANLI_OP_CONV2D = 2,
  SUANLI_OP_PEAK = 3,
  SUANLI_OP_STREAM = 4,
  /* ABI minor 1: the ops of whole models (suites/models/ files). A model is a
   * list of plans over shared buffers: one layer's dst buffer is the next
   * layer's src buffer. Descriptors below. */
  SUANLI_OP_MATMUL = 5,       /* suanli_matmul_desc: strided batched matmul + epilogue */
  SUANLI_OP_CONV2D_LAYER = 6, /* suanli_conv2d_layer_desc: conv + epilogue, and its backward */
  SUANLI_OP_POOL = 7,         /* suanli_pool_desc: max / average pooling, and backward */
  SUANLI_OP_NORM = 8,         /* suanli_norm_desc: batch / layer / RMS normalization */
  SUANLI_OP_SOFTMAX = 9,      /* suanli_softmax_desc: softmax over the last dimension */
  SUANLI_OP_ELTWISE = 10,     /* suanli_eltwise_desc: relu/gelu/silu/add/mul, relu backward */
  /* ABI minor 2: dense linear algebra on sub-matrices, for HPL and HPL-MxP (src/hpl). GEMM_EX is
   * what a backend needs to run HPL; the other three are optional (the harness does them on the
   * host, with transfers, when a backend answers UNSUPPORTED). Descriptors below. */
  SUANLI_OP_GEMM_EX = 11, /* suanli_gemm_ex_desc: C = alpha op(A) op(B) + beta C on sub-matrices */
  SUANLI_OP_GETRF = 12,   /* suanli_getrf_desc: LU of a panel, partial pivoting or none */
  SUANLI_OP_LASWP = 13,   /* suanli_laswp_desc: row interchanges from GETRF's pivots */
  SUANLI_OP_TRSM = 14     /* suanli_trsm_desc: triangular solve with many right-hand sides */
} suanli_op_kind;

/* ---- op descriptors ------------------------------------------------------
 * All matrices and tensors are dense and packed, in the layouts stated. The
 * harness fills inputs, the backend must leave inputs unchanged. */

/* C[b] (m x n) = op(A[b]) (m x k) * op(B[b]) (k x n), row-major, for b < batch.
 * A is m x k (k x m when trans_a), B is k x n (n x k when trans_b); batches
 * are stored one after another. alpha = 1, beta = 0.
 * Types: fp64/fp32/tf32: a=b=c=that type (tf32: fp32 storage).
 * fp16/bf16: a=b=fp16/bf16, c=fp32 (compute fp32) or c=fp16/bf16 (compute_type
 * says which accumulation). int8: a=uint8 (x86 VNNI's form) or a=int8 (GPU
 * tensor cores' form), b=int8, c=int32, compute int32; the harness asks for
 * uint8 first and, when supports() says UNSUPPORTED, for int8. */
typedef struct suanli_gemm_desc {
  size_t struct_size;
  int64_t m, n, k;
  int64_t batch;          /* >= 1 */
  int32_t trans_a;        /* 0 or 1 */
  int32_t trans_b;        /* 0 or 1 */
  suanli_dtype a_type;
  suanli_dtype b_type;
  suanli_dtype c_type;
  suanli_dtype compute_type; /* accumulation type */
} suanli_gemm_desc;
/* struct_size of a suanli_gemm_desc written at this ABI version. */
#define SUANLI_GEMM_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_gemm_desc, compute_type)

/* Direct 2-D convolution (cross-correlation, like every DL framework).
 * src: NHWC (n, h, w, c) in src_type; weights: KCRS (k, c/groups, r, s) in
 * weight_type; dst: NHWC (n, p, q, k) in dst_type with
 *   p = (h + 2*pad_h - dil_h*(r-1) - 1) / stride_h + 1 (q likewise).
 * fp32: all fp32. bf16: src/weights bf16, dst fp32. int8: src uint8 (or int8,
 * as for gemm), weights int8, dst int32, no scales. No bias. */
typedef struct suanli_conv2d_desc {
  size_t struct_size;
  int64_t n, c, h, w;     /* input */
  int64_t k, r, s;        /* output channels, filter height, width */
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dil_h, dil_w;   /* 1 = dense */
  int64_t groups;         /* 1 = ordinary convolution */
  suanli_dtype src_type;
  suanli_dtype weight_type;
  suanli_dtype dst_type;
} suanli_conv2d_desc;
/* struct_size of a suanli_conv2d_desc written at this ABI version. */
#define SUANLI_CONV2D_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_conv2d_desc, dst_type)

/* Peak: the arithmetic ceiling. For each of `elements` outputs e:
 *   x = A[e] (acc_type); repeat `depth` times: x = x + alpha * beta
 * where each step is one multiply-accumulate whose multiply inputs are of
 * in_type (alpha and beta converted to in_type) and whose accumulator is of
 * acc_type; then C[e] = x (acc_type). The steps of one element are a
 * dependent chain; a backend spreads elements over its units and must execute
 * every step as real multiply-accumulates (FMA / dot-product instructions).
 * Dot-product instructions that fold g products into one accumulator lane
 * (vdpbf16ps g=2, vpdpbusd g=4) count as g steps: depth is a multiple of 4.
 * Types: fp64->fp64, fp32->fp32, fp16->fp16, bf16->fp32, int8: in uint8 x
 * int8 -> int32. FLOPs (or OPS) = 2 * elements * depth. */
typedef struct suanli_peak_desc {
  size_t struct_size;
  int64_t elements;       /* multiple of 4096 */
  int64_t depth;          /* multiple of 64 */
  suanli_dtype in_type;
  suanli_dtype acc_type;
  double alpha, beta;
} suanli_peak_desc;
/* struct_size of a suanli_peak_desc written at this ABI version. */
#define SUANLI_PEAK_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_peak_desc, beta)

typedef enum suanli_stream_kind {
  SUANLI_STREAM_COPY = 0,  /* C = A          */
  SUANLI_STREAM_SCALE = 1, /* C = s * A      */
  SUANLI_STREAM_ADD = 2,   /* C = A + B      */
  SUANLI_STREAM_TRIAD = 3  /* C = A + s * B  */
} suanli_stream_kind;

/* Stream: memory bandwidth over arrays of `n` elements of `type`. */
typedef struct suanli_stream_desc {
  size_t struct_size;
  suanli_stream_kind kind;
  int64_t n;
  suanli_dtype type;      /* fp64 for the classic STREAM */
  double scalar;          /* s */
} suanli_stream_desc;
/* struct_size of a suanli_stream_desc written at this ABI version. */
#define SUANLI_STREAM_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_stream_desc, scalar)

/* ---- model ops (ABI minor 1) ----------------------------------------------
 * Common rules:
 * - fp32: every tensor fp32. bf16 / fp16: activations and weights bf16 / fp16,
 *   accumulation fp32; dst as dst_type says (bf16/fp16 or fp32). int8: see
 *   suanli_quant below. Bias, normalization parameters and statistics are fp32
 *   in every dtype.
 * - Buffers are passed to plan() in the order each descriptor lists; an
 *   optional buffer that the descriptor does not use is left out of the list
 *   (no NULL placeholders).
 * - A backend must leave its inputs unchanged and may not read dst before
 *   writing it, except for an epilogue's in-place residual.
 * - supports() answers per descriptor; a backend that lacks an op kind answers
 *   SUANLI_UNSUPPORTED for it, which the harness records for the whole model. */

/* Activation applied by an epilogue or by eltwise. */
typedef enum suanli_activation {
  SUANLI_ACT_NONE = 0,
  SUANLI_ACT_RELU = 1,      /* max(x, 0) */
  SUANLI_ACT_GELU_TANH = 2, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
  SUANLI_ACT_GELU_ERF = 3,  /* 0.5 x (1 + erf(x / sqrt(2))) */
  SUANLI_ACT_SILU = 4       /* x / (1 + exp(-x)) */
} suanli_activation;

/* Quantization of int8 tensors, per tensor: real value = scale * stored
 * integer (zero point 0). Ignored (all 1) unless a tensor is int8/uint8.
 * Output: stored = saturate(round_nearest_even(real / dst_scale)) in dst_type;
 * for a float or int32 dst, dst_scale must be 1 and dst holds the real value
 * (int32: the raw accumulator, no bias/epilogue allowed). */
typedef struct suanli_quant {
  size_t struct_size;
  float src_scale;      /* A / src */
  float wei_scale;      /* B / weights */
  float dst_scale;      /* dst */
  float residual_scale; /* the residual that dst holds on entry (epilogue.residual) */
} suanli_quant;
/* struct_size of a suanli_quant written at this ABI version. */
#define SUANLI_QUANT_SIZE SUANLI_STRUCT_SIZE(suanli_quant, residual_scale)

/* Epilogue applied to the accumulator (real values), in this order:
 *   y = acc * alpha + bias[col] + mask(i,j) + residual; y = act(y); dst = convert(y)
 * bias: fp32 buffer, one per output column / output channel (n for matmul, k
 *   for conv).
 * mask (matmul only): fp32 buffer, one dense row-major m x n tensor added to
 *   every batch (attention masks: 0 or -1e30 for causal attention).
 * residual: accumulated IN PLACE: on entry dst already holds the residual
 *   (same type and layout as dst; real value = quant.residual_scale * stored
 *   for int8), and the op adds it before the activation (oneDNN's sum
 *   post-op, cuDNN's z/beta). This is the only case in which an op reads dst.
 *   A residual convolution or matmul therefore writes into the buffer of its
 *   shortcut tensor. */
typedef struct suanli_epilogue {
  size_t struct_size;
  double alpha;                  /* 1 = none (matmul: e.g. 1/sqrt(d_head)); conv: must be 1 */
  int32_t bias;                  /* 1: a bias buffer follows the op's tensors */
  int32_t mask;                  /* 1: a mask buffer follows (after bias if any); matmul only */
  int32_t residual;              /* 1: dst holds a residual on entry, added in place */
  suanli_activation activation;
} suanli_epilogue;
/* struct_size of a suanli_epilogue written at this ABI version. */
#define SUANLI_EPILOGUE_SIZE SUANLI_STRUCT_SIZE(suanli_epilogue, activation)

/* Strided batched matmul, for linear layers and attention:
 *   for b0 < batch0, b1 < batch1, i < m, j < n:
 *     C[b0,b1](i,j) = epilogue(sum_l A[b0,b1](i,l) * B[b0,b1](l,j))
 * Element (i,l) of A[b0,b1] lies at element offset
 *   b0*a_stride[0] + b1*a_stride[1] + i*a_stride[2] + l*a_stride[3]
 * of the A buffer (B: (l,j) with b_stride; C: (i,j) with c_stride), in
 * elements of the tensor's type. So a plain row-major linear layer (tokens x
 * in) x (in x out) is batch0=batch1=1, a_stride={0,0,k,1},
 * b_stride={0,0,n,1}, c_stride={0,0,n,1}; B^T (weights stored out x in) is
 * b_stride={0,0,1,k}; attention heads read Q/K/V in place from [tokens, heads,
 * d_head] with batch1 = heads and stride d_head. A stride may be 0 on a batch
 * dimension (broadcast). C's strides must not make two (b0,b1,i,j) alias.
 * Types: fp32: all fp32; bf16/fp16: a=b=bf16/fp16, c bf16/fp16 or fp32;
 * int8: a uint8 or int8, b int8, c int8/uint8/fp32 with quant (or int32 with
 * no epilogue). Buffers: A, B, C, [bias], [mask]. */
typedef struct suanli_matmul_desc {
  size_t struct_size;
  int64_t batch0, batch1;   /* >= 1 */
  int64_t m, n, k;
  int64_t a_stride[4];      /* b0, b1, row, column */
  int64_t b_stride[4];
  int64_t c_stride[4];
  suanli_dtype a_type;
  suanli_dtype b_type;
  suanli_dtype c_type;
  suanli_epilogue epilogue;
  suanli_quant quant;
} suanli_matmul_desc;
/* struct_size of a suanli_matmul_desc written at this ABI version. */
#define SUANLI_MATMUL_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_matmul_desc, quant)

/* Propagation of a layer: inference, training forward (which may keep what
 * backward needs; for norm: batch statistics), or a backward pass. */
typedef enum suanli_prop {
  SUANLI_PROP_FORWARD_INFERENCE = 0,
  SUANLI_PROP_FORWARD_TRAINING = 1,
  SUANLI_PROP_BACKWARD_DATA = 2,    /* diff_src from diff_dst (and weights / forward tensors) */
  SUANLI_PROP_BACKWARD_WEIGHTS = 3  /* diff_weights (and diff_bias) from src and diff_dst */
} suanli_prop;

/* A convolution layer: conv2d's shape and layouts (src/dst NHWC, weights
 * KCRS) with an epilogue and int8 quantization. fp32: all fp32; bf16: src and
 * weights bf16, dst bf16 or fp32; int8: src uint8 or int8, weights int8, dst
 * uint8/int8/fp32 with quant.
 * Buffers by prop:
 *   FORWARD_*:         src, weights, dst, [bias]  (residual: in dst on entry)
 *   BACKWARD_DATA:     diff_dst (NHWC n,p,q,k), weights, diff_src (NHWC n,h,w,c); no epilogue
 *   BACKWARD_WEIGHTS:  src, diff_dst, diff_weights (KCRS), [diff_bias (fp32, k) when
 *                      epilogue.bias]; fp32/bf16 only (bf16: diff_weights fp32) */
typedef struct suanli_conv2d_layer_desc {
  size_t struct_size;
  suanli_conv2d_desc conv;  /* shape and types (dst_type may be any allowed above) */
  suanli_prop prop;
  suanli_epilogue epilogue; /* forward only; activation NONE or RELU for int8 */
  suanli_quant quant;
} suanli_conv2d_layer_desc;
/* struct_size of a suanli_conv2d_layer_desc written at this ABI version. */
#define SUANLI_CONV2D_LAYER_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_conv2d_layer_desc, quant)

typedef enum suanli_pool_kind {
  SUANLI_POOL_MAX = 0,
  SUANLI_POOL_AVG = 1   /* average over the taps inside the input (padding excluded) */
} suanli_pool_kind;

/* Pooling, NHWC: src (n,h,w,c) -> dst (n,p,q,c), p and q as for conv2d
 * (dilation 1). Types: fp32, bf16, uint8, int8 (same type in and out; int8
 * average rounds to nearest). Buffers: FORWARD_*: src, dst.
 * BACKWARD_DATA: diff_dst, src (the forward input, for max: the argmax is
 * recomputed from it), diff_src; fp32/bf16. */
typedef struct suanli_pool_desc {
  size_t struct_size;
  suanli_pool_kind kind;
  int64_t n, c, h, w;
  int64_t r, s;                 /* window */
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  suanli_dtype type;
  suanli_prop prop;             /* FORWARD_INFERENCE, FORWARD_TRAINING or BACKWARD_DATA */
} suanli_pool_desc;
/* struct_size of a suanli_pool_desc written at this ABI version. */
#define SUANLI_POOL_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_pool_desc, prop)

typedef enum suanli_norm_kind {
  SUANLI_NORM_BATCH = 0,  /* per channel over rows: y = gamma (x - mean) / sqrt(var + eps) + beta */
  SUANLI_NORM_LAYER = 1,  /* per row over channels, gamma/beta per channel */
  SUANLI_NORM_RMS = 2     /* per row: y = gamma x / sqrt(mean(x^2) + eps); no beta */
} suanli_norm_kind;

/* Normalization of a rows x channels tensor, dense row-major (NHWC
 * activations are rows = n*h*w). Types: src/dst fp32, or bf16 (statistics in
 * fp32). Buffers:
 *   FORWARD_INFERENCE:  src, dst, gamma, [beta (not RMS)], [mean, var (BATCH: given)]
 *   FORWARD_TRAINING:   src, dst, gamma, [beta], mean, var (BATCH/LAYER: computed,
 *                       per channel for BATCH, per row for LAYER; RMS: not allowed)
 *   BACKWARD_DATA:      BATCH only: src, diff_dst, gamma, mean, var, diff_src,
 *                       diff_gamma, diff_beta (all computed: oneDNN's backward)
 * Optional fused activation: epilogue-like relu after the normalization
 * (FORWARD_* only; used by batch norm + relu in training). */
typedef struct suanli_norm_desc {
  size_t struct_size;
  suanli_norm_kind kind;
  int64_t rows, channels;
  double epsilon;
  suanli_dtype type;
  suanli_prop prop;
  suanli_activation activation; /* NONE or RELU */
} suanli_norm_desc;
/* struct_size of a suanli_norm_desc written at this ABI version. */
#define SUANLI_NORM_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_norm_desc, activation)

/* Softmax over the last dimension of a rows x cols tensor, dense row-major:
 * dst(i,j) = exp(src(i,j) - max_j src(i,.)) / sum_j exp(...). src/dst fp32 or
 * bf16. Buffers: src, dst. */
typedef struct suanli_softmax_desc {
  size_t struct_size;
  int64_t rows, cols;
  suanli_dtype type;
} suanli_softmax_desc;
/* struct_size of a suanli_softmax_desc written at this ABI version. */
#define SUANLI_SOFTMAX_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_softmax_desc, type)

typedef enum suanli_eltwise_kind {
  SUANLI_ELTWISE_ACTIVATION = 0, /* dst = act(src)                       buffers: src, dst */
  SUANLI_ELTWISE_ADD = 1,        /* dst = src + src2                     buffers: src, src2, dst */
  SUANLI_ELTWISE_MUL = 2,        /* dst = src * src2                     buffers: src, src2, dst */
  SUANLI_ELTWISE_ACT_MUL = 3,    /* dst = act(src) * src2 (SwiGLU: silu) buffers: src, src2, dst */
  SUANLI_ELTWISE_RELU_BACKWARD = 4 /* dst = src2 > 0 ? src : 0, src = diff_dst, src2 = forward
                                      relu input or output; buffers: src, src2, dst */
} suanli_eltwise_kind;

/* Element-wise op over n elements, dense; all tensors of `type` (fp32, bf16;
 * ACTIVATION also uint8/int8 for relu). */
typedef struct suanli_eltwise_desc {
  size_t struct_size;
  suanli_eltwise_kind kind;
  suanli_activation activation; /* ACTIVATION, ACT_MUL */
  int64_t n;
  suanli_dtype type;
} suanli_eltwise_desc;
/* struct_size of a suanli_eltwise_desc written at this ABI version. */
#define SUANLI_ELTWISE_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_eltwise_desc, type)

/* ---- dense linear algebra (ABI minor 2) -----------------------------------
 * Common rules: matrices are COLUMN-MAJOR, as in BLAS and LAPACK. A matrix operand is a
 * sub-matrix of a buffer: element (i, j) lies at element index offset + i + j * ld of the
 * buffer, in elements of the operand's type (ld >= rows). Several operands may lie in the same
 * buffer (an in-place LU passes one buffer several times); an operand that is written must not
 * overlap another operand of the same op. A backend checks that every operand lies inside its
 * buffer and answers SUANLI_INVALID_ARGUMENT otherwise. A plan is cheap to make and is meant to
 * be made per step of a factorization (offsets change every step). */

/* C (m x n) = alpha * op(A) * op(B) + beta * C; op(A) is m x k (A is k x m when trans_a), op(B)
 * is k x n. beta = 0: C is not read. Types: fp64 (all fp64), fp32 (all fp32), bf16 / fp16
 * (a = b = bf16 / fp16, c = fp32, compute fp32). Buffers: A, B, C. */
typedef struct suanli_gemm_ex_desc {
  size_t struct_size;
  int64_t m, n, k;
  int32_t trans_a, trans_b; /* 0 or 1 */
  double alpha, beta;
  int64_t a_offset, lda;
  int64_t b_offset, ldb;
  int64_t c_offset, ldc;
  suanli_dtype a_type;
  suanli_dtype b_type;
  suanli_dtype c_type;
  suanli_dtype compute_type;
} suanli_gemm_ex_desc;
/* struct_size of a suanli_gemm_ex_desc written at this ABI version. */
#define SUANLI_GEMM_EX_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_gemm_ex_desc, compute_type)

/* In-place LU of the m x n sub-matrix A (m >= n): A = P L U, L unit lower (below the diagonal),
 * U upper. pivoting = 1: partial pivoting (LAPACK getrf); ipiv[i] (int32, 1-based, relative to
 * the sub-matrix's first row, as LAPACK) says row i was interchanged with row ipiv[i] - 1, for
 * i < n; the interchanges are applied to the sub-matrix's n columns only. pivoting = 0: no
 * interchanges (a matrix that factors stably without them, as HPL-MxP's), no ipiv buffer. A
 * zero pivot is not an error: the factors then hold inf/nan. Types: fp64, fp32.
 * Buffers: A, [ipiv (int32, entries from ipiv_offset)]. */
typedef struct suanli_getrf_desc {
  size_t struct_size;
  int64_t m, n;
  int64_t a_offset, lda;
  int32_t pivoting;
  int64_t ipiv_offset;
  suanli_dtype type;
} suanli_getrf_desc;
/* struct_size of a suanli_getrf_desc written at this ABI version. */
#define SUANLI_GETRF_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_getrf_desc, type)

/* Row interchanges on the n columns of A (LAPACK laswp, forward): for i = k1 .. k2-1 in order,
 * swap rows i and ipiv[i] - 1 of the sub-matrix (ipiv as GETRF writes it, read from
 * ipiv_offset + i). Types: fp64, fp32. Buffers: A, ipiv. */
typedef struct suanli_laswp_desc {
  size_t struct_size;
  int64_t n;
  int64_t a_offset, lda;
  int64_t k1, k2;
  int64_t ipiv_offset;
  suanli_dtype type;
} suanli_laswp_desc;
/* struct_size of a suanli_laswp_desc written at this ABI version. */
#define SUANLI_LASWP_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_laswp_desc, type)

/* Triangular solve, in place in B (m x n): side = 0: op(A) X = alpha B (A m x m); side = 1:
 * X op(A) = alpha B (A n x n). A lower (lower = 1) or upper triangular, op(A) = A or A^T
 * (trans), unit diagonal (unit_diag = 1: A's diagonal is not read). Types: fp64, fp32.
 * Buffers: A, B. */
typedef struct suanli_trsm_desc {
  size_t struct_size;
  int32_t side, lower, trans, unit_diag;
  int64_t m, n;
  double alpha;
  int64_t a_offset, lda;
  int64_t b_offset, ldb;
  suanli_dtype type;
} suanli_trsm_desc;
/* struct_size of a suanli_trsm_desc written at this ABI version. */
#define SUANLI_TRSM_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_trsm_desc, type)

/* One op. Exactly the pointer matching `kind` is set; the others are NULL.
 * New ops append new pointers (ABI minor bump). */
typedef struct suanli_op_desc {
  size_t struct_size;
  suanli_op_kind kind;
  const suanli_gemm_desc* gemm;
  const suanli_conv2d_desc* conv2d;
  const suanli_peak_desc* peak;
  const suanli_stream_desc* stream;
  /* ABI minor 1 (struct_size covers them only when the writer knows them). */
  const suanli_matmul_desc* matmul;
  const suanli_conv2d_layer_desc* conv2d_layer;
  const suanli_pool_desc* pool;
  const suanli_norm_desc* norm;
  const suanli_softmax_desc* softmax;
  const suanli_eltwise_desc* eltwise;
  /* ABI minor 2. */
  const suanli_gemm_ex_desc* gemm_ex;
  const suanli_getrf_desc* getrf;
  const suanli_laswp_desc* laswp;
  const suanli_trsm_desc* trsm;
} suanli_op_desc;
/* struct_size of a suanli_op_desc written at this ABI version. */
#define SUANLI_OP_DESC_SIZE SUANLI_STRUCT_SIZE(suanli_op_desc, trsm)

/* ---- devices ------------------------------------------------------------- */

/* Theoretical peak of a device for one dtype, as the backend derives it. */
typedef struct suanli_peak_entry {
  size_t struct_size;
  suanli_dtype dtype;
  double ops_per_second;   /* FLOP/s, or OPS for integer types; dense */
  const char* derivation;  /* e.g. "2 cores x 4.12 GHz (measured) x 64 FLOP/cycle (AVX-512, 2 FMA pipes)" */
} suanli_peak_entry;
/* struct_size of a suanli_peak_entry written at this ABI version. */
#define SUANLI_PEAK_ENTRY_SIZE SUANLI_STRUCT_SIZE(suanli_peak_entry, derivation)

/* A key/value pair; used for library versions, features and extra identity. */
typedef struct suanli_kv {
  size_t struct_size;
  const char* key;
  const char* value;
} suanli_kv;
/* struct_size of a suanli_kv written at this ABI version. */
#define SUANLI_KV_SIZE SUANLI_STRUCT_SIZE(suanli_kv, value)

/* Identity of one device. All pointers owned by the backend, valid until the
 * context is destroyed. Unknown numbers are 0, unknown strings "". */
typedef struct suanli_device_info {
  size_t struct_size;
  const char* name;           /* "AMD EPYC 9B45", "NVIDIA H100 80GB HBM3" */
  const char* vendor;
  const char* kind;           /* "cpu", "gpu", "accelerator" */
  const char* uuid;           /* serial or UUID where the device has one */
  const char* driver;         /* driver / runtime / microcode version */
  uint64_t memory_bytes;      /* memory usable for buffers */
  int32_t compute_units;      /* cores, SMs, CUs */
  int32_t threads;            /* hardware threads used by this backend */
  double clock_mhz;           /* clock the peaks below are derived at */
  double max_clock_mhz;       /* nominal maximum clock, 0 if unknown */
  const char* features;       /* space-separated ISA / capability list */
  const suanli_peak_entry* peaks;
  size_t peak_count;
  const suanli_kv* extra;     /* further identity (caches, topology, ...) */
  size_t extra_count;
} suanli_device_info;
/* struct_size of a suanli_device_info written at this ABI version. */
#define SUANLI_DEVICE_INFO_SIZE SUANLI_STRUCT_SIZE(suanli_device_info, extra_count)

/* Telemetry snapshot. A field the device cannot report is NaN. */
typedef struct suanli_telemetry {
  size_t struct_size;
  double power_w;
  double energy_j;            /* monotonically increasing counter */
  double temperature_c;
  double clock_mhz;
} suanli_telemetry;
/* struct_size of a suanli_telemetry written at this ABI version. */
#define SUANLI_TELEMETRY_SIZE SUANLI_STRUCT_SIZE(suanli_telemetry, clock_mhz)

/* ---- backend ------------------------------------------------------------- */

typedef struct suanli_context_s* suanli_context;   /* one loaded, created backend */
typedef struct suanli_buffer_s* suanli_buffer;     /* device memory */
typedef struct suanli_plan_s* suanli_plan;         /* one prepared op */

/* Options for create: key/value strings. Keys every backend should accept:
 *   "threads"  host threads to use ("0" or absent = all cores)
 * Unknown keys are ignored (and may be reported through last_error as OK). */
typedef struct suanli_create_args {
  size_t struct_size;
  const suanli_kv* options;
  size_t option_count;
} suanli_create_args;
/* struct_size of a suanli_create_args written at this ABI version. */
#define SUANLI_CREATE_ARGS_SIZE SUANLI_STRUCT_SIZE(suanli_create_args, option_count)

/* What plan returns besides the handle. */
typedef struct suanli_plan_info {
  size_t struct_size;
  const char* library;        /* "openblas 0.3.21", "onednn 2.6.3", "suanli" */
  const char* implementation; /* kernel/ISA that runs it, e.g. "sgemm SkylakeX kernels" */
} suanli_plan_info;
/* struct_size of a suanli_plan_info written at this ABI version. */
#define SUANLI_PLAN_INFO_SIZE SUANLI_STRUCT_SIZE(suanli_plan_info, implementation)

typedef struct suanli_backend_api {
  size_t struct_size;
  uint32_t abi_major;         /* SUANLI_ABI_MAJOR the backend was built with */
  uint32_t abi_minor;
  const char* name;           /* short, lowercase: "cpu", "cuda", "opencl" */
  const char* version;        /* backend's own version */

  /* Create a context. A backend with no usable device may either fail with
   * SUANLI_NO_DEVICE (message says why) or succeed and report 0 devices. */
  suanli_status (*create)(const suanli_create_args* args, suanli_context* out);
  void (*destroy)(suanli_context ctx);
  /* Message of the last failed call on this context (or of the last failed
   * create when ctx is NULL). Never NULL. */
  const char* (*last_error)(suanli_context ctx);

  /* Libraries the backend uses, with versions (valid until destroy). */
  suanli_status (*libraries)(suanli_context ctx, const suanli_kv** out, size_t* count);

  suanli_status (*device_count)(suanli_context ctx, int32_t* count);
  /* out->struct_size must be set by the caller; the backend fills what fits. */
  suanli_status (*device_info)(suanli_context ctx, int32_t device, suanli_device_info* out);

  /* SUANLI_OK when the device can run the op natively, SUANLI_UNSUPPORTED
   * (with *reason set, valid until the next call) when it cannot. */
  suanli_status (*supports)(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                            const char** reason);

  suanli_status (*buffer_alloc)(suanli_context ctx, int32_t device, uint64_t bytes,
                                suanli_buffer* out);
  void (*buffer_free)(suanli_context ctx, suanli_buffer buf);
  suanli_status (*buffer_upload)(suanli_context ctx, suanli_buffer dst, uint64_t offset,
                                 const void* src, uint64_t bytes);
  suanli_status (*buffer_download)(suanli_context ctx, suanli_buffer src, uint64_t offset,
                                   void* dst, uint64_t bytes);

  /* Prepare one op over buffers (gemm: A, B, C; conv2d: src, weights, dst;
   * peak: A (initial values), C; stream: A, B, C — B unused by copy/scale;
   * model ops: as their descriptors list). Plans of one model share buffers.
   * May select algorithms and run the op to do so; may not keep results of
   * such runs in C. info is filled when non-NULL (strings live with the plan). */
  suanli_status (*plan)(suanli_context ctx, int32_t device, const suanli_op_desc* op,
                        const suanli_buffer* buffers, size_t buffer_count, suanli_plan* out,
                        suanli_plan_info* info);
  void (*plan_destroy)(suanli_context ctx, suanli_plan plan);

  /* Run plans[0..count) in order, `iterations` times, and return the device
   * time of all of it in seconds (the device's own clock: events on a GPU, a
   * monotonic clock around the work on a CPU). Blocks until the work is done. */
  suanli_status (*execute)(suanli_context ctx, const suanli_plan* plans, size_t count,
                           int64_t iterations, double* seconds);

  /* Telemetry of a device now; fields it cannot read are NaN. May be called
   * from another thread than the one running execute. */
  suanli_status (*telemetry)(suanli_context ctx, int32_t device, suanli_telemetry* out);
} suanli_backend_api;
/* struct_size of a suanli_backend_api written at this ABI version. */
#define SUANLI_BACKEND_API_SIZE SUANLI_STRUCT_SIZE(suanli_backend_api, telemetry)

/* The one exported entry point. Returns NULL when the backend cannot serve
 * the requested major version. */
typedef const suanli_backend_api* (*suanli_backend_get_fn)(uint32_t abi_major);
#define SUANLI_BACKEND_ENTRY "suanli_backend_get"

#ifdef __cplusplus
}
#endif

#endif /* SUANLI_BACKEND_H */
