// libFuzzer target: inventories (load_inventory: schema, counts, paths).
#include "fuzz_common.h"
#include "rate/rating.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const suanli::fuzz::MemFile f(data, size);
  suanli::fuzz::expect_input_error_only([&] { suanli::rate::load_inventory(f.path()); });
  return 0;
}
