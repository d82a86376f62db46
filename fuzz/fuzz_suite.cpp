// libFuzzer target: suite files (parse_suite: JSON limits, schema, axis expansion, shapes).
#include "fuzz_common.h"
#include "suite/suite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  suanli::fuzz::expect_input_error_only([&] { suanli::parse_suite(text, "fuzz.json"); });
  return 0;
}
