// Running a model workload through a backend: every layer planned as one op over shared device
// buffers, the whole list executed with device time, the output verified at a reduced batch
// against the fp64 host reference. A training workload runs the step of model_train.h instead
// and verifies its weight gradients.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "harness/backend_host.h"
#include "harness/sampling.h"
#include "report/report.h"
#include "suite/suite.h"

namespace suanli::model {

struct ModelHooks {
  // Test hook: called in the verification run after the layer named `layer` wrote its output,
  // with that output (device bytes, downloaded); what it changes is uploaded back before the
  // next layer runs. Training steps ("mode": "training") match `layer` against the step's op
  // names instead ("s3b1.conv2 backward data"). Fault injection for tests/model_test.cpp.
  std::string corrupt_layer;
  std::function<void(void* data, uint64_t bytes)> corrupt;
};

Result run_model_workload(Backend& backend, int device, const Workload& w, const RunOptions& opts,
                          const ModelHooks& hooks = {});

// Device bytes a model workload allocates at its full batch: every activation (and KV cache)
// tensor plus the weights for inference; every tensor of the step (activations kept for
// backward, gradients, weights) for training. 0 when the model has no form in the workload's
// dtype (the run records it unsupported). Shapes only: no weight values are drawn.
uint64_t model_device_bytes(const Workload& w);

}  // namespace suanli::model
