// The model and HPL workload handlers of the runner.
#include "cli/workload_kinds.h"

#include <fmt/format.h>

#include "harness/sampling.h"
#include "hpl/hpl_run.h"
#include "model/model_run.h"

namespace suanli::cli {

namespace {

bool is_hpl(const Workload& w) {
  return !w.hpl.empty();
}
Result run_hpl(Backend& b, int device, const Workload& w, const RunOptions& o) {
  return hpl::run_hpl_workload(b, device, w, o);
}
std::optional<uint64_t> hpl_bytes(const Workload& w) {
  if (w.hpl_n <= 0) return std::nullopt;  // sized from each device's memory
  return hpl::device_bytes(w, w.hpl_n);
}

bool is_model(const Workload& w) {
  return !w.model.empty();
}
Result run_model(Backend& b, int device, const Workload& w, const RunOptions& o) {
  return model::run_model_workload(b, device, w, o);
}
std::optional<uint64_t> model_bytes(const Workload& w) {
  return model::model_device_bytes(w);
}
std::string model_fit_label(const Workload& w) {
  return fmt::format("model {} {} batch {}{}", w.model, dtype_name(w.op.dtype), w.model_batch,
                     w.model_training ? " training step" : "");
}
std::string model_progress_label(const Workload& w) {
  return fmt::format("model {} {} batch {} {}", w.model,
                     w.model_training ? "training" : "inference", w.model_batch,
                     dtype_name(w.op.dtype));
}

}  // namespace

void register_workload_kinds() {
  register_workload_handler(
      {"model", is_model, run_model, model_bytes, model_fit_label, model_progress_label});
  // Registered later, HPL claims a workload first (as the runner's dispatch did before).
  register_workload_handler({"hpl", is_hpl, run_hpl, hpl_bytes, {}, {}});
}

}  // namespace suanli::cli
