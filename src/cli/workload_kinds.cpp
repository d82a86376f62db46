// The model and HPL workload handlers of the runner.
#include "cli/workload_kinds.h"

#include <fmt/format.h>

#include "harness/sampling.h"
#include "hpl/hpl_run.h"
#include "model/model_run.h"

namespace suanli::cli {

void register_workload_kinds() {
  WorkloadHandler hpl;
  hpl.name = "hpl";
  hpl.handles = [](const Workload& w) { return !w.hpl.empty(); };
  hpl.run = [](Backend& b, int device, const Workload& w, const RunOptions& o) {
    return hpl::run_hpl_workload(b, device, w, o);
  };
  hpl.device_bytes = [](const Workload& w) -> std::optional<uint64_t> {
    if (w.hpl_n <= 0) return std::nullopt;  // sized from each device's memory
    return hpl::device_bytes(w, w.hpl_n);
  };
  register_workload_handler(std::move(hpl));

  WorkloadHandler model;
  model.name = "model";
  model.handles = [](const Workload& w) { return !w.model.empty(); };
  model.run = [](Backend& b, int device, const Workload& w, const RunOptions& o) {
    return model::run_model_workload(b, device, w, o);
  };
  model.device_bytes = [](const Workload& w) -> std::optional<uint64_t> {
    return model::model_device_bytes(w);
  };
  model.fit_label = [](const Workload& w) {
    return fmt::format("model {} {} batch {}{}", w.model, dtype_name(w.op.dtype), w.model_batch,
                       w.model_training ? " training step" : "");
  };
  model.progress_label = [](const Workload& w) {
    return fmt::format("model {} {} batch {} {}", w.model,
                       w.model_training ? "training" : "inference", w.model_batch,
                       dtype_name(w.op.dtype));
  };
  register_workload_handler(std::move(model));
}

}  // namespace suanli::cli
