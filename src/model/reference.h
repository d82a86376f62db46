// Inside src/model: the numerics the model builder and the host references share (storage types
// of activations and the rounding to them). The references themselves are declared in model.h
// (reference) and model_train.h (reference_op, reference_train) and live in reference.cpp.
#pragma once

#include "core/op.h"

namespace suanli::model {

// Storage type of an activation of a `model`-dtype model (int8: uint8 after relu, else int8).
Dtype activation_type(Dtype model, bool nonnegative);

// v rounded to storage type t as the device stores it (int8/uint8: with `scale`).
double round_to(double v, Dtype t, float scale);

}  // namespace suanli::model
