// Published dense peaks of common NVIDIA GPUs, with sources, and the per-architecture formula.
#include "peak_table.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <initializer_list>

namespace suanli::cuda {
namespace {

// One published figure in TFLOPS (TOPS for int8); sparse = the 2:4 structured-sparsity figure
// (0 where the part has none), kept for the derivation text only.
struct Figure {
  suanli_dtype dtype;
  double dense_t;
  double sparse_t;
  const char* note;  // e.g. "FP64 tensor core; 33.5 on the FP64 vector units"
};

struct Row {
  const char* model;
  std::initializer_list<const char*> tokens;   // all must occur as words in the name
  std::initializer_list<const char*> without;  // none may occur
  int cc;                                      // required compute capability (major*10+minor)
  std::initializer_list<Figure> figures;
  const char* source;
};

constexpr suanli_dtype F64 = SUANLI_DTYPE_FP64, F32 = SUANLI_DTYPE_FP32, TF32 = SUANLI_DTYPE_TF32,
                       F16 = SUANLI_DTYPE_FP16, BF16 = SUANLI_DTYPE_BF16,
                       E4M3 = SUANLI_DTYPE_FP8_E4M3, E5M2 = SUANLI_DTYPE_FP8_E5M2,
                       I8 = SUANLI_DTYPE_INT8;

const char* const kKlockwoodH100 = "https://glennklockwood.com/garden/processors/h100";
const char* const kKlockwoodA100 =
    "https://glennklockwood.com/garden/processors/A100; "
    "https://forums.developer.nvidia.com/t/theoretical-tflops-for-fp16-bf16-and-tf32-for-tensor-"
    "and-non-tensor/218102/3";

// Order matters: the first row whose tokens all match wins, so specific rows come first.
const Row kRows[] = {
    {"H100 NVL",
     {"H100", "NVL"},
     {},
     90,
     {{F64, 60, 0, "FP64 tensor core; 30 on the FP64 vector units"},
      {F32, 60, 0, ""},
      {TF32, 417.5, 835, ""},
      {F16, 835.5, 1671, ""},
      {BF16, 835.5, 1671, ""},
      {E4M3, 1670.5, 3341, ""},
      {E5M2, 1670.5, 3341, ""},
      {I8, 1670.5, 3341, ""}},
     "NVIDIA H100 NVL datasheet (tensor figures there are sparse; dense = half)"},
    {"H100 PCIe",
     {"H100", "PCIe"},
     {},
     90,
     {{F64, 51.2, 0, "FP64 tensor core; 25.6 on the FP64 vector units"},
      {F32, 51.2, 0, ""},
      {TF32, 378, 756, ""},
      {F16, 756, 1513, ""},
      {BF16, 756, 1513, ""},
      {E4M3, 1513, 3026, ""},
      {E5M2, 1513, 3026, ""},
      {I8, 1513, 3026, ""}},
     "NVIDIA H100 PCIe datasheet; 114 SMs, 1.755 GHz (FP32/FP64), tensor figures at ~1.62 GHz"},
    {"H100 SXM5",
     {"H100"},
     {},
     90,
     {{F64, 66.9, 0, "FP64 tensor core; 33.5 on the FP64 vector units"},
      {F32, 66.9, 0, "132 SMs x 128 FP32 lanes x 2 x 1.98 GHz"},
      {TF32, 494.7, 989.4, "tensor figures at 1.83 GHz"},
      {F16, 989.4, 1978.9, "tensor figures at 1.83 GHz"},
      {BF16, 989.4, 1978.9, "tensor figures at 1.83 GHz"},
      {E4M3, 1978.9, 3957.8, ""},
      {E5M2, 1978.9, 3957.8, ""},
      {I8, 1978.9, 3957.8, ""}},
     kKlockwoodH100},
    {"H200 NVL",
     {"H200", "NVL"},
     {},
     90,
     {{F64, 60, 0, "FP64 tensor core; 30 on the FP64 vector units"},
      {F32, 60, 0, ""},
      {TF32, 417.5, 835, ""},
      {F16, 835.5, 1671, ""},
      {BF16, 835.5, 1671, ""},
      {E4M3, 1670.5, 3341, ""},
      {E5M2, 1670.5, 3341, ""},
      {I8, 1670.5, 3341, ""}},
     "NVIDIA H200 NVL datasheet (tensor figures there are sparse; dense = half)"},
    {"H200 SXM",
     {"H200"},
     {},
     90,
     {{F64, 66.9, 0, "FP64 tensor core; 33.5 on the FP64 vector units"},
      {F32, 66.9, 0, ""},
      {TF32, 494.7, 989.4, ""},
      {F16, 989.4, 1978.9, ""},
      {BF16, 989.4, 1978.9, ""},
      {E4M3, 1978.9, 3957.8, ""},
      {E5M2, 1978.9, 3957.8, ""},
      {I8, 1978.9, 3957.8, ""}},
     "NVIDIA H200 datasheet (same compute as H100 SXM); "
     "https://lzwjava.github.io/nvidia-h200-gpu-specs-en"},
    {"A100 PCIe",
     {"A100", "PCIe"},
     {},
     80,
     {{F64, 19.5, 0, "FP64 tensor core; 9.7 on the FP64 vector units"},
      {F32, 19.5, 0, ""},
      {TF32, 156, 312, ""},
      {F16, 312, 624, ""},
      {BF16, 312, 624, ""},
      {I8, 624, 1248, ""}},
     "NVIDIA A100 datasheet (PCIe: same SMs and 1.41 GHz boost as SXM4)"},
    {"A100 SXM4",
     {"A100"},
     {},
     80,
     {{F64, 19.5, 0, "FP64 tensor core; 9.7 on the FP64 vector units"},
      {F32, 19.5, 0, "108 SMs x 64 FP32 lanes x 2 x 1.41 GHz"},
      {TF32, 156, 312, ""},
      {F16, 312, 624, ""},
      {BF16, 312, 624, ""},
      {I8, 624, 1248, ""}},
     kKlockwoodA100},
    {"V100S PCIe",
     {"V100S"},
     {},
     70,
     {{F64, 8.2, 0, ""},
      {F32, 16.4, 0, ""},
      {F16, 130, 0, "tensor cores, fp32 accumulation"},
      {I8, 65.6, 0, "DP4A on the FP32 lanes (no int8 tensor cores) = 4 x FP32 FMA rate"}},
     "NVIDIA V100S datasheet"},
    {"V100 PCIe",
     {"V100", "PCIe"},
     {},
     70,
     {{F64, 7.0, 0, ""},
      {F32, 14.0, 0, ""},
      {F16, 112, 0, "tensor cores, fp32 accumulation"},
      {I8, 56, 0, "DP4A on the FP32 lanes (no int8 tensor cores) = 4 x FP32 FMA rate"}},
     "NVIDIA V100 datasheet (PCIe)"},
    {"V100 SXM2",
     {"V100"},
     {},
     70,
     {{F64, 7.8, 0, ""},
      {F32, 15.7, 0, "80 SMs x 64 FP32 lanes x 2 x 1.53 GHz"},
      {F16, 125, 0, "tensor cores, fp32 accumulation"},
      {I8, 62.8, 0, "DP4A on the FP32 lanes (no int8 tensor cores) = 4 x FP32 FMA rate"}},
     "NVIDIA V100 datasheet (SXM2); NVIDIA Tesla V100 GPU architecture whitepaper"},
    {"L40S",
     {"L40S"},
     {},
     89,
     {{F64, 1.43, 0, "1/64 of FP32 (Ada)"},
      {F32, 91.6, 0, ""},
      {TF32, 183, 366, ""},
      {F16, 362.05, 733, ""},
      {BF16, 362.05, 733, ""},
      {E4M3, 733, 1466, ""},
      {E5M2, 733, 1466, ""},
      {I8, 733, 1466, ""}},
     "NVIDIA L40S datasheet"},
    {"L40",
     {"L40"},
     {"L40S"},
     89,
     {{F64, 1.41, 0, "1/64 of FP32 (Ada)"},
      {F32, 90.5, 0, ""},
      {TF32, 90.5, 181, ""},
      {F16, 181, 362, ""},
      {BF16, 181, 362, ""},
      {E4M3, 362, 724, ""},
      {E5M2, 362, 724, ""},
      {I8, 362, 724, ""}},
     "NVIDIA L40 datasheet"},
    {"L4",
     {"L4"},
     {},
     89,
     {{F64, 0.47, 0, "1/64 of FP32 (Ada)"},
      {F32, 30.3, 0, ""},
      {TF32, 60, 120, ""},
      {F16, 121, 242, ""},
      {BF16, 121, 242, ""},
      {E4M3, 242.5, 485, ""},
      {E5M2, 242.5, 485, ""},
      {I8, 242.5, 485, ""}},
     "NVIDIA L4 datasheet (tensor figures there are sparse; dense = half)"},
    {"A10",
     {"A10"},
     {},
     86,
     {{F64, 0.49, 0, "1/64 of FP32 (GA102)"},
      {F32, 31.2, 0, ""},
      {TF32, 62.5, 125, ""},
      {F16, 125, 250, ""},
      {BF16, 125, 250, ""},
      {I8, 250, 500, ""}},
     "NVIDIA A10 datasheet"},
    {"GeForce RTX 4090",
     {"RTX", "4090"},
     {},
     89,
     {{F64, 1.29, 0, "1/64 of FP32"},
      {F32, 82.6, 0, ""},
      {TF32, 82.6, 165.2, ""},
      {F16, 165.2, 330.4, "fp32 accumulation; 330.3 with fp16 accumulation"},
      {BF16, 165.2, 330.4, "fp32 accumulation"},
      {E4M3, 330.3, 660.6, "fp32 accumulation; 660.6 with fp16 accumulation"},
      {E5M2, 330.3, 660.6, "fp32 accumulation; 660.6 with fp16 accumulation"},
      {I8, 660.6, 1321.2, ""}},
     "NVIDIA Ada GPU architecture whitepaper, appendix (GeForce RTX 4090)"},
    {"GeForce RTX 3090",
     {"RTX", "3090"},
     {"Ti"},
     86,
     {{F64, 0.556, 0, "1/64 of FP32"},
      {F32, 35.6, 0, ""},
      {TF32, 35.6, 71, ""},
      {F16, 71, 142, "fp32 accumulation; 142 with fp16 accumulation"},
      {BF16, 71, 142, "fp32 accumulation"},
      {I8, 284, 568, ""}},
     "NVIDIA Ampere GA102 GPU architecture whitepaper, appendix A (GeForce RTX 3090)"},
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

const Row* match_row(const GpuIdentity& g) {
  const std::vector<std::string> w = words(g.name);
  auto has = [&](const char* t) { return std::find(w.begin(), w.end(), upper(t)) != w.end(); };
  for (const Row& r : kRows) {
    if (g.cc_major * 10 + g.cc_minor != r.cc) continue;
    bool ok = true;
    for (const char* t : r.tokens) ok = ok && has(t);
    for (const char* t : r.without) ok = ok && !has(t);
    if (ok) return &r;
  }
  return nullptr;
}

std::string fmt_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Dense ops per SM per clock of one architecture (FMA = 2), and notes.
struct ArchRates {
  int cc;
  const char* arch;
  double f64, f32, tf32, f16, i8, f8;  // 0 = none
  const char* f64_note;
};

const ArchRates kArch[] = {
    {70, "Volta", 64, 128, 0, 1024, 512, 0, ""},
    {75, "Turing", 4, 128, 0, 1024, 2048, 0, ""},
    {80, "Ampere GA100", 128, 128, 1024, 2048, 4096, 0,
     "FP64 tensor core (64 on the FP64 vector units)"},
    {86, "Ampere GA10x", 4, 256, 512, 1024, 2048, 0, ""},
    {87, "Ampere GA10B", 4, 256, 512, 1024, 2048, 0, ""},
    {89, "Ada", 4, 256, 512, 1024, 2048, 2048, ""},
    {90, "Hopper", 256, 256, 2048, 4096, 8192, 8192,
     "FP64 tensor core (128 on the FP64 vector units)"},
};

}  // namespace

std::string match_gpu_model(const GpuIdentity& g) {
  const Row* r = match_row(g);
  return r ? r->model : "";
}

std::vector<GpuPeak> gpu_peaks_from_formula(const GpuIdentity& g) {
  std::vector<GpuPeak> out;
  const int cc = g.cc_major * 10 + g.cc_minor;
  const ArchRates* a = nullptr;
  for (const ArchRates& r : kArch)
    if (r.cc == cc) a = &r;
  if (!a || g.sm_count <= 0 || g.max_sm_clock_mhz <= 0) return out;
  // GeForce parts run fp32-accumulating tensor ops at half the rate of the pro/data-center parts
  // of the same architecture (Ampere GA102 and Ada whitepapers).
  const bool geforce = upper(g.name).find("GEFORCE") != std::string::npos && cc >= 75 && cc < 90;
  const double tc_scale = geforce ? 0.5 : 1.0;
  auto add = [&](suanli_dtype d, double per_sm, const std::string& note) {
    if (per_sm <= 0) return;
    const double ops = g.sm_count * g.max_sm_clock_mhz * 1e6 * per_sm;
    std::string s = std::to_string(g.sm_count) + " SMs x " + fmt_num(g.max_sm_clock_mhz) +
                    " MHz (max SM clock) x " + fmt_num(per_sm) + " ops/SM/cycle (" + a->arch +
                    ", formula: GPU not in suanli's peak table)";
    if (!note.empty()) s += "; " + note;
    out.push_back({d, ops, s});
  };
  const std::string tc = std::string("dense tensor core") +
                         (geforce ? ", GeForce half rate with fp32 accumulation" : "") +
                         "; vendors' tensor figures may assume a lower clock";
  add(F64, a->f64, a->f64_note);
  add(F32, a->f32, "FP32 lanes x 2");
  add(TF32, a->tf32 * tc_scale, tc);
  add(F16, a->f16 * tc_scale, tc);
  add(BF16, cc >= 80 ? a->f16 * tc_scale : 0, tc);
  add(E4M3, a->f8 * tc_scale, tc);
  add(E5M2, a->f8 * tc_scale, tc);
  add(I8, a->i8, cc == 70 ? "DP4A on the FP32 lanes" : "dense tensor core");
  return out;
}

std::vector<GpuPeak> gpu_peaks(const GpuIdentity& g) {
  const Row* r = match_row(g);
  if (!r) return gpu_peaks_from_formula(g);
  std::vector<GpuPeak> out;
  for (const Figure& f : r->figures) {
    std::string s = std::string(r->model) + " spec, dense";
    if (f.note && *f.note) s += " (" + std::string(f.note) + ")";
    if (f.sparse_t > 0)
      s += "; 2:4 sparse " + fmt_num(f.sparse_t) + (f.dtype == I8 ? " TOPS" : " TFLOPS") +
           " not counted";
    s += "; source: " + std::string(r->source);
    out.push_back({f.dtype, f.dense_t * 1e12, s});
  }
  return out;
}

}  // namespace suanli::cuda
