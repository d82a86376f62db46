// Dense peaks of NVIDIA GPUs from SM count x clock x per-SM rate of the exact SKU (peak_table.h).
// Per-SM rates are dense ops per clock (an FMA counts 2); clocks are those NVIDIA's published
// figures are computed at, so each derived figure reproduces the datasheet (tests check that).
#include "peak_table.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <initializer_list>
#include <string>

namespace suanli::cuda {
namespace {

constexpr suanli_dtype F64 = SUANLI_DTYPE_FP64, F32 = SUANLI_DTYPE_FP32, TF32 = SUANLI_DTYPE_TF32,
                       F16 = SUANLI_DTYPE_FP16, BF16 = SUANLI_DTYPE_BF16,
                       E4M3 = SUANLI_DTYPE_FP8_E4M3, E5M2 = SUANLI_DTYPE_FP8_E5M2,
                       I8 = SUANLI_DTYPE_INT8;

enum Clock { kBoost, kTensor };  // which of the row's clocks a figure is derived at

struct Rate {
  suanli_dtype dtype;
  double per_sm;  // dense ops per SM per clock
  Clock clock;
  std::string unit;  // what runs it
};

// Dense ops per SM per clock of one chip family (0 = the dtype has no figure), and what runs the
// non-tensor figures.
struct Family {
  double f64, f32, tf32, f16, bf16, f8, i8;
  bool tensor_clock;  // tensor figures at the row's tensor clock (Hopper, Blackwell)
  const char* f64_unit;
  const char* acc;  // ", fp32 accumulation" where that halves the rate (GeForce)
  const char* i8_unit;
};

std::vector<Rate> rates_of(const Family& f) {
  std::vector<Rate> v;
  const Clock tc = f.tensor_clock ? kTensor : kBoost;
  auto add = [&](suanli_dtype d, double r, Clock c, const std::string& unit) {
    if (r > 0) v.push_back({d, r, c, unit});
  };
  add(F64, f.f64, kBoost, f.f64_unit);
  add(F32, f.f32, kBoost, "FP32 lanes x 2");
  add(TF32, f.tf32, tc, "TF32 tensor core");
  add(F16, f.f16, tc, std::string("FP16 tensor core") + f.acc);
  add(BF16, f.bf16, tc, std::string("BF16 tensor core") + f.acc);
  add(E4M3, f.f8, tc, std::string("FP8 tensor core") + f.acc);
  add(E5M2, f.f8, tc, std::string("FP8 tensor core") + f.acc);
  add(I8, f.i8, tc, f.i8_unit);
  return v;
}

const char* const kTc = "INT8 tensor core";
const char* const kFp32Acc = ", fp32 accumulation";
// Hopper GH100 (H100, H200, GH200, H800): FP64 and FP32 at the boost clock, tensor figures at
// the clock NVIDIA's tensor figures assume.
const Family kGH100 = {
    256, 256, 2048, 4096, 4096, 8192, 8192, true, "FP64 tensor core; 128 on the FP64 vector units",
    "",  kTc};
const Family kGA100 = {
    128, 128, 1024, 2048, 2048, 0, 4096, false, "FP64 tensor core; 64 on the FP64 vector units",
    "",  kTc};
// Data-center Ada (L40S, L4): full-rate fp32-accumulating tensor ops.
const Family kAdaFull = {4, 256, 512, 1024, 1024, 2048, 2048, false, "1/64 of FP32", "", kTc};
// GeForce Ada: half-rate tensor ops with fp32 accumulation (the suite's default).
const Family kAdaGeForce = {4,        256, 256, 512, 512, 1024, 2048, false, "1/64 of FP32",
                            kFp32Acc, kTc};
const Family kL40 = {4, 256, 256, 512, 512, 1024, 1024, false, "1/64 of FP32", "", kTc};
const Family kGA10xPro = {4, 256, 512, 1024, 1024, 0, 2048, false, "1/64 of FP32", "", kTc};
const Family kGA102GeForce = {4, 256, 256, 512, 512, 0, 2048, false, "1/64 of FP32", kFp32Acc, kTc};
const Family kGV100 = {64,
                       128,
                       0,
                       1024,
                       0,
                       0,
                       512,
                       false,
                       "FP64 units",
                       kFp32Acc,
                       "DP4A on the FP32 lanes (no int8 tensor cores)"};
const Family kTU104 = {0, 128, 0, 1024, 0, 0, 2048, false, "", "", kTc};
// Blackwell B200: NVIDIA publishes per-GPU figures (half the 2:4 sparse ones) but no tensor clock;
// the clock in its row is the one those figures imply at 148 SMs. FP64/FP32 left unknown.
const Family kB200 = {0, 0, 4096, 8192, 8192, 16384, 16384, true, "", "", kTc};
const Family kNone = {0, 0, 0, 0, 0, 0, 0, false, "", "", ""};

struct Row {
  const char* model;
  std::initializer_list<const char*> tokens;   // all must occur as words in the name
  std::initializer_list<const char*> without;  // none may occur
  int cc;                                      // compute capability (major*10+minor)
  int sm_count;                                // of the full SKU
  double boost_mhz, tensor_mhz;
  const Family& family;
  double f16_core_per_sm;  // CUDA-core (HFMA2) fp16 ops per SM per clock; 0 = unknown
  const char* source;
  suanli_dtype withheld = SUANLI_DTYPE_INVALID;  // a dtype whose rate this SKU cuts (H800: FP64)
};

const char* const kH100 =
    "NVIDIA H100 datasheet and Hopper whitepaper; tensor figures at 1830 MHz "
    "(https://glennklockwood.com/garden/processors/h100)";

// Order matters: the first row whose tokens all match wins, so specific rows come first.
const Row kRows[] = {
    // One GPU a row (fields in Row's order), its source under it.
    // clang-format off
    {"H100 NVL", {"H100", "NVL"}, {}, 90, 132, 1785, 1545, kGH100, 512,
     "NVIDIA H100 NVL datasheet (tensor figures there are sparse; dense = half)"},
    {"H100 PCIe", {"H100", "PCIe"}, {}, 90, 114, 1755, 1620, kGH100, 512,
     "NVIDIA H100 PCIe datasheet"},
    {"H100 SXM5", {"H100"}, {}, 90, 132, 1980, 1830, kGH100, 512, kH100},
    {"H200 NVL", {"H200", "NVL"}, {}, 90, 132, 1785, 1545, kGH100, 512,
     "NVIDIA H200 NVL datasheet (tensor figures there are sparse; dense = half)"},
    {"H200 SXM", {"H200"}, {}, 90, 132, 1980, 1830, kGH100, 512,
     "NVIDIA H200 datasheet (compute of the H100 SXM5)"},
    {"GH200", {"GH200"}, {}, 90, 132, 1980, 1830, kGH100, 512,
     "NVIDIA GH200 datasheet (990 TFLOPS dense FP16: tensor figures at 1830 MHz, not the 1980 MHz "
     "boost clock)"},
    {"H800 PCIe", {"H800", "PCIe"}, {}, 90, 114, 1755, 1620, kGH100, 512,
     "NVIDIA H800 PCIe datasheet (FP64 cut: unknown here)", F64},
    {"H800 SXM5", {"H800"}, {}, 90, 132, 1980, 1830, kGH100, 512,
     "NVIDIA H800 SXM5 datasheet (FP64 cut: unknown here)", F64},
    {"H20", {"H20"}, {}, 90, 0, 0, 0, kNone, 0,
     "export variant of GH100 whose SM count and per-SM rates NVIDIA does not publish"},
    {"A100 PCIe", {"A100", "PCIe"}, {}, 80, 108, 1410, 1410, kGA100, 512,
     "NVIDIA A100 datasheet (PCIe: same SMs and 1410 MHz boost as SXM4)"},
    {"A100 SXM4", {"A100"}, {}, 80, 108, 1410, 1410, kGA100, 512, "NVIDIA A100 datasheet"},
    {"A30", {"A30"}, {}, 80, 56, 1440, 1440, kGA100, 512, "NVIDIA A30 datasheet"},
    {"L40S", {"L40S"}, {}, 89, 142, 2520, 2520, kAdaFull, 256,
     "NVIDIA L40S datasheet (its 362 TFLOPS FP16 line is below 142 SMs x 2520 MHz x 1024; the FP8 "
     "and TF32 lines match the rate used here)"},
    {"L40", {"L40"}, {"L40S"}, 89, 142, 2490, 2490, kL40, 256, "NVIDIA L40 datasheet"},
    {"L4", {"L4"}, {}, 89, 58, 2040, 2040, kAdaFull, 256,
     "NVIDIA L4 datasheet (tensor figures there are sparse; dense = half)"},
    {"A40", {"A40"}, {}, 86, 84, 1740, 1740, kGA10xPro, 256, "NVIDIA A40 datasheet"},
    {"A10", {"A10"}, {}, 86, 72, 1695, 1695, kGA10xPro, 256, "NVIDIA A10 datasheet"},
    {"GeForce RTX 4090", {"RTX", "4090"}, {}, 89, 128, 2520, 2520, kAdaGeForce, 256,
     "NVIDIA Ada GPU architecture whitepaper, appendix (GeForce RTX 4090)"},
    {"GeForce RTX 3090", {"RTX", "3090"}, {"Ti"}, 86, 82, 1695, 1695, kGA102GeForce, 256,
     "NVIDIA Ampere GA102 GPU architecture whitepaper, appendix A (GeForce RTX 3090)"},
    {"V100S PCIe", {"V100S"}, {}, 70, 80, 1597, 1597, kGV100, 256, "NVIDIA V100S datasheet"},
    {"V100 PCIe", {"V100", "PCIe"}, {}, 70, 80, 1380, 1380, kGV100, 256,
     "NVIDIA V100 datasheet (PCIe)"},
    {"V100 SXM2", {"V100"}, {}, 70, 80, 1530, 1530, kGV100, 256,
     "NVIDIA V100 datasheet (SXM2); Volta whitepaper"},
    {"T4", {"T4"}, {}, 75, 40, 1590, 1590, kTU104, 0, "NVIDIA T4 datasheet"},
    {"B200", {"B200"}, {}, 100, 148, 0, 1856, kB200, 0,
     "NVIDIA HGX B200 datasheet, per GPU, dense = half of sparse; 1856 MHz is the clock those "
     "figures imply at 148 SMs"},
    // clang-format on
};

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Words of the name: "NVIDIA A100-SXM4-80GB" -> NVIDIA A100 SXM4 80GB.
std::vector<std::string> words(const std::string& name) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : upper(name)) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      cur += ch;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool has_word(const std::vector<std::string>& w, const char* t) {
  return std::find(w.begin(), w.end(), upper(t)) != w.end();
}

const Row* match_row(const GpuIdentity& g) {
  const std::vector<std::string> w = words(g.name);
  for (const Row& r : kRows) {
    if (g.cc_major * 10 + g.cc_minor != r.cc) continue;
    bool ok = true;
    for (const char* t : r.tokens) ok = ok && has_word(w, t);
    for (const char* t : r.without) ok = ok && !has_word(w, t);
    if (ok) return &r;
  }
  return nullptr;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool is_tensor(const Rate& r) {
  return r.unit.find("tensor core") != std::string::npos;
}

GpuPeak derive(const Row& row, const Rate& rate, int sms, const std::string& suffix) {
  const double mhz = rate.clock == kTensor ? row.tensor_mhz : row.boost_mhz;
  const double ops = sms * mhz * 1e6 * rate.per_sm;
  std::string s = std::to_string(sms) + " SMs x " + fmt("%g", mhz) + " MHz x " +
                  fmt("%g", rate.per_sm) + " ops/SM/clk (dense, " + rate.unit +
                  ") = " + fmt("%.1f", ops / 1e12) + (rate.dtype == I8 ? " TOPS" : " TFLOPS");
  if (is_tensor(rate) && row.cc >= 80) s += "; 2:4 sparse (2x) not counted";
  s += "; " + std::string(row.model) + suffix + "; source: " + row.source;
  return {rate.dtype, ops, s};
}

}  // namespace

std::string match_gpu_model(const GpuIdentity& g) {
  const Row* r = match_row(g);
  return r ? r->model : "";
}

GpuPeaks gpu_peaks(const GpuIdentity& g) {
  GpuPeaks out;
  const Row* row = match_row(g);
  if (!row) {
    out.source = "unknown: " + g.name + " (sm_" + std::to_string(g.cc_major * 10 + g.cc_minor) +
                 ", " + std::to_string(g.sm_count) +
                 " SMs) is not in suanli's peak table; no peak is reported rather than a guess";
    return out;
  }
  out.model = row->model;
  const bool mig = g.mig || has_word(words(g.name), "MIG");
  const std::vector<Rate> rates = rates_of(row->family);
  if (rates.empty()) {
    out.source = "unknown: " + std::string(row->model) + ": " + row->source;
    return out;
  }
  std::string suffix;
  if (g.sm_count != row->sm_count) {
    if (!mig || g.sm_count <= 0 || g.sm_count > row->sm_count) {
      out.source = "unknown: the " + std::string(row->model) + " has " +
                   std::to_string(row->sm_count) + " SMs, this device reports " +
                   std::to_string(g.sm_count) +
                   " (another variant of the part); no peak rather than the wrong SKU's";
      return out;
    }
    suffix = " MIG slice (" + std::to_string(g.sm_count) + " of " + std::to_string(row->sm_count) +
             " SMs)";
  }
  for (const Rate& r : rates)
    if (r.dtype != row->withheld) out.peaks.push_back(derive(*row, r, g.sm_count, suffix));
  if (row->f16_core_per_sm > 0)
    out.core.push_back(derive(*row, {F16, row->f16_core_per_sm, kBoost, "HFMA2 on the CUDA cores"},
                              g.sm_count, suffix));
  const bool tensor_clock = row->tensor_mhz > 0;
  out.clock_mhz = tensor_clock ? row->tensor_mhz : row->boost_mhz;
  out.clocks =
      row->tensor_mhz == row->boost_mhz
          ? "all figures at " + fmt("%g", row->boost_mhz) + " MHz"
          : "tensor figures at " + fmt("%g", row->tensor_mhz) + " MHz" +
                (row->boost_mhz > 0 ? ", CUDA-core figures at " + fmt("%g", row->boost_mhz) + " MHz"
                                    : std::string());
  out.source = "table: " + std::string(row->model) + suffix;
  return out;
}

}  // namespace suanli::cuda
