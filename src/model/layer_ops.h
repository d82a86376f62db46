// Translation of model layers and training-step ops to the ABI's op descriptors (backend.h): the
// one place in src/model that fills a suanli_op_desc, one function per ABI op kind, used by
// inference (model_run.cpp's graph) and the training step alike.
#pragma once

#include <suanli/backend.h>

#include "model/model.h"
#include "model/model_train.h"

namespace suanli::model {

// The ABI descriptor of one op with the structs `desc` points at (not copyable: the pointers
// are into the object itself).
struct OpDescriptor {
  suanli_op_desc desc{};
  suanli_conv2d_layer_desc conv{};
  suanli_pool_desc pool{};
  suanli_matmul_desc matmul{};
  suanli_norm_desc norm{};
  suanli_softmax_desc softmax{};
  suanli_eltwise_desc eltwise{};

  // A layer of an inference graph (forward inference, its storage types, int8 scales).
  explicit OpDescriptor(const Layer& layer);
  // An op of the training step of `model` (fp32).
  OpDescriptor(const Model& model, const TrainOp& op);

  OpDescriptor(const OpDescriptor&) = delete;
  OpDescriptor& operator=(const OpDescriptor&) = delete;
};

}  // namespace suanli::model
