// libFuzzer target: model files (build_model at batch 1, fp32: schema, layer chain, shapes).
#include "fuzz_common.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const suanli::fuzz::MemFile f(data, size);
  suanli::fuzz::expect_input_error_only(
      [&] { suanli::model::build_model(f.path(), suanli::Dtype::fp32, 1, 1); });
  return 0;
}
