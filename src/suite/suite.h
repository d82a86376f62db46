// Suite files: read, validate against suite.schema.json, and expand their axes into workloads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/op.h"

namespace suanli {

// How long and how often a workload is measured (suite "settings", a
// workload's own overrides, then the command line).
struct MeasureSettings {
  double min_time = 0.1;      // seconds of device time per sample (Google Benchmark's MinTime)
  int repetitions = 5;        // samples in the first round
  double max_noise = 0.02;    // stop when the samples' CV is at or below this ...
  double max_time = 5.0;      // ... or when this many seconds of sampling have passed
  double warmup_time = 0.05;  // discarded runs before sampling
  uint64_t seed = 1;          // input data seed
  double timeout_s = 0;       // seconds before a hung workload's worker is killed; 0: default
};

struct Workload {
  std::string id;      // unique in the suite: "gemm.fp32.4096x4096x4096"
  std::string name;    // the workload's "name", or the op name
  std::string source;  // where it came from: "suites/standard.json:/workloads/2"
  OpDesc op;
  MeasureSettings settings;
  // A model workload ("op": "model"): the model (built-in name or path), its batch and the
  // reduced batch its output is verified at against the host reference. Empty for kernels;
  // op.dtype carries the dtype.
  std::string model;
  int64_t model_batch = 1;
  int64_t model_verify_batch = 1;
  int64_t model_layers = 0;     // "layers": the model's repeated block count (0: the file's)
  bool model_training = false;  // "mode": "training": one training step instead of inference
  // An HPL workload ("op": "hpl" or "hpl_mxp", src/hpl): n (0: sized from hpl_memory_fraction
  // of the device's memory), the block size nb (0: the default) and, for hpl_mxp, op.dtype is the
  // factorization precision (fp64 for hpl). Empty for other workloads.
  std::string hpl;
  int64_t hpl_n = 0, hpl_nb = 0;
  double hpl_memory_fraction = 0;
  int hpl_max_iterations = 0;  // hpl_mxp: GMRES iteration limit (0: the default)
};

// The most workloads a suite may expand into (its entries' axes multiplied), checked before
// expanding.
constexpr size_t kMaxSuiteWorkloads = 10000;

struct Suite {
  std::string name;
  std::string description;
  std::string origin;  // file path, or "builtin:quick"
  std::string sha256;  // of the file's bytes
  MeasureSettings settings;
  std::vector<Workload> workloads;
};

// Parses and validates suite text. Throws InputError naming `origin`, the
// JSON path and what was expected.
Suite parse_suite(const std::string& text, const std::string& origin);

// NAME (a built-in suite: quick, standard, kernels, models) or PATH (a .json file).
Suite load_suite(const std::string& name_or_path);
// Whether a suite argument is a PATH rather than a built-in NAME: it has a '/' or ends in .json.
bool looks_like_path(const std::string& name_or_path);

struct SuiteEntry {
  std::string name, description;
  size_t workloads = 0;
};
// The built-in suites.
std::vector<SuiteEntry> builtin_suite_list();

// Keeps the workloads whose dtype is in `dtypes` (all when empty).
void filter_dtypes(Suite& suite, const std::vector<Dtype>& dtypes);

}  // namespace suanli
