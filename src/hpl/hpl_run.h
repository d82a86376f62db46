// HPL and HPL-MxP as suanli workloads: suite entries ("op": "hpl" / "hpl_mxp"), the device
// memory they need, and the run that plans, times, verifies (HPL's scaled residual, on the host)
// and reports them.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/backend_host.h"
#include "harness/sampling.h"
#include "hpl/solve.h"
#include "report/report.h"
#include "suite/suite.h"

namespace suanli::hpl {

constexpr int64_t kDefaultNb = 256;
constexpr int kDefaultMaxIterations = 200;

// A suite entry with "op" hpl or hpl_mxp (one expanded axis combination). Throws InputError
// naming `where` for a dtype HPL cannot take (hpl: fp64 only; hpl_mxp: fp32, bf16 or fp16 —
// never below 16 bits, as the HPL-MxP rules require) or a missing n / memory_fraction.
Workload hpl_workload(const nlohmann::json& entry, const std::string& where);

// Device bytes per matrix element of the workload (hpl: 8; hpl_mxp: 8 for the FP64 copy + 4 for
// the fp32 factors).
double bytes_per_element(const Workload& w);
// n of the run: the suite's n, or the largest multiple of nb whose matrices fill at most the
// workload's memory fraction of `memory_bytes`.
int64_t problem_size(const Workload& w, uint64_t memory_bytes);
// Device bytes the run allocates for problem size n.
uint64_t device_bytes(const Workload& w, int64_t n);

struct HplHooks {
  CorruptFactor corrupt_factor;  // fault injection (tests): see solve.h
  bool host_ops = false;         // run GETRF/LASWP/TRSM on the host even where the backend has them
};

Result run_hpl_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                        const HplHooks& hooks = {});

// A single timed solve of `seconds` (r.flops set): samples, rate, fraction of the device's FP64
// peak. Shared with the distributed runs (src/cluster/hpl_dist*.cpp).
void set_hpl_timing(Result& r, double seconds, const Backend& b, int device);
// HPL's verdict: scaled residual below 16 -> ok, else failed, with the four norms in the detail.
void set_hpl_verification(Result& r, const Residual& res, const std::string& what);

// Test helper: adds `delta` to element (i, j) of a device sub-matrix of type t (fp64 / fp32).
void perturb_element(Backend& b, const Sub& s, int64_t i, int64_t j, Dtype t, double delta);

}  // namespace suanli::hpl
