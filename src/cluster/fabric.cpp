// The fabric suite (see fabric.h). The collectives run through a CollectiveLibrary; MPI on host
// memory is the one here. A device library (NCCL through the CUDA backend, or a vendor's) plugs in
// behind the same interface; until one does, device collectives are answered unsupported.
#include "cluster/fabric.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>

#include "cluster/cluster_report.h"
#include "cluster/mpi_env.h"
#include "core/error.h"
#include "core/names.h"
#include "report/hash.h"

#ifdef SUANLI_HAVE_MPI
#include <mpi.h>
#endif

namespace suanli::cluster {

using nlohmann::json;

namespace {

constexpr NameRow<FabricOp> kFabricOpNames[] = {{FabricOp::allreduce, "allreduce"},
                                                {FabricOp::allgather, "allgather"},
                                                {FabricOp::reduce_scatter, "reduce_scatter"},
                                                {FabricOp::alltoall, "alltoall"},
                                                {FabricOp::broadcast, "broadcast"},
                                                {FabricOp::sendrecv, "sendrecv"},
                                                {FabricOp::pingpong, "pingpong"}};
constexpr NameRow<FabricDtype> kFabricDtypeNames[] = {{FabricDtype::fp32, "fp32"},
                                                      {FabricDtype::bf16, "bf16"},
                                                      {FabricDtype::fp16, "fp16"},
                                                      {FabricDtype::int32, "int32"}};

}  // namespace

std::string_view fabric_op_name(FabricOp op) {
  return name_of(op, kFabricOpNames, "?");
}

std::string_view fabric_dtype_name(FabricDtype d) {
  return name_of(d, kFabricDtypeNames, "?");
}

size_t fabric_dtype_size(FabricDtype d) {
  return d == FabricDtype::bf16 || d == FabricDtype::fp16 ? 2 : 4;
}

double busbw_factor(FabricOp op, int ranks) {
  const double n = ranks;
  switch (op) {
    case FabricOp::allreduce:
      return 2 * (n - 1) / n;
    case FabricOp::reduce_scatter:
    case FabricOp::allgather:
    case FabricOp::alltoall:
      return (n - 1) / n;
    default:
      return 1;
  }
}

bool is_fabric_suite_text(const std::string& text) {
  return text.find("\"suanli_fabric_suite\"") != std::string::npos;
}

namespace {

const FabricOp kOps[] = {FabricOp::allreduce, FabricOp::allgather, FabricOp::reduce_scatter,
                         FabricOp::alltoall,  FabricOp::broadcast, FabricOp::sendrecv,
                         FabricOp::pingpong};
const FabricDtype kDtypes[] = {FabricDtype::fp32, FabricDtype::bf16, FabricDtype::fp16,
                               FabricDtype::int32};

template <typename T>
T field(const json& j, const char* name, T def, const std::string& where) {
  if (!j.contains(name)) return def;
  try {
    return j.at(name).get<T>();
  } catch (const std::exception&) {
    throw InputError(fmt::format("{}/{}: expected a number", where, name));
  }
}

}  // namespace

// A fabric suite from its parsed document.
FabricSuite fabric_suite(const MarkedSuite& m);

FabricSuite parse_fabric_suite(const std::string& text, const std::string& origin) {
  return fabric_suite(parse_marked_suite(text, origin, "suanli_fabric_suite", "fabric"));
}

FabricSuite fabric_suite(const MarkedSuite& m) {
  const json& j = m.doc;
  const std::string& origin = m.origin;
  FabricSuite s{m.name, m.description, origin, m.sha256};
  const json st = j.value("settings", json::object());
  const std::string at = origin + ": /settings";
  s.min_bytes = field<uint64_t>(st, "min_bytes", s.min_bytes, at);
  s.max_bytes = field<uint64_t>(st, "max_bytes", s.max_bytes, at);
  s.min_iterations = field<int>(st, "min_iterations", s.min_iterations, at);
  s.max_iterations = field<int>(st, "max_iterations", s.max_iterations, at);
  s.warmup = field<int>(st, "warmup", s.warmup, at);
  s.seconds_per_size = field<double>(st, "seconds_per_size", s.seconds_per_size, at);
  s.memory_fraction = field<double>(st, "memory_fraction", s.memory_fraction, at);
  if (s.min_bytes < 1 || s.max_bytes < s.min_bytes || s.min_iterations < 1 ||
      s.max_iterations < s.min_iterations || s.warmup < 0 || !(s.seconds_per_size > 0))
    throw InputError(
        fmt::format("{}: expected 1 <= min_bytes <= max_bytes, 1 <= min_iterations "
                    "<= max_iterations, warmup >= 0, seconds_per_size > 0",
                    at));
  if (!j.contains("tests") || !j["tests"].is_array() || j["tests"].empty())
    throw InputError(fmt::format("{}: /tests: expected a non-empty array", origin));
  for (size_t i = 0; i < j["tests"].size(); ++i) {
    const json& t = j["tests"][i];
    const std::string where = fmt::format("{}: /tests/{}", origin, i);
    FabricTest ft;
    const std::string op = t.value("op", "");
    auto it = std::find_if(std::begin(kOps), std::end(kOps),
                           [&](FabricOp o) { return fabric_op_name(o) == op; });
    if (it == std::end(kOps))
      throw InputError(
          fmt::format("{}/op: '{}' is not one of allreduce, allgather, "
                      "reduce_scatter, alltoall, broadcast, sendrecv, pingpong",
                      where, op));
    ft.op = *it;
    for (const json& d : t.value("dtype", json::array({"fp32"}))) {
      const std::string name = d.is_string() ? d.get<std::string>() : "";
      auto dt = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                             [&](FabricDtype x) { return fabric_dtype_name(x) == name; });
      if (dt == std::end(kDtypes))
        throw InputError(
            fmt::format("{}/dtype: '{}' is not one of fp32, bf16, fp16, int32", where, name));
      if (!is_reduction(ft.op) && *dt != FabricDtype::fp32)
        throw InputError(
            fmt::format("{}/dtype: {} moves bytes and is measured in fp32 only", where, op));
      ft.dtypes.push_back(*dt);
    }
    s.tests.push_back(std::move(ft));
  }
  return s;
}

FabricSuite load_fabric_suite(const std::string& name_or_path) {
  return fabric_suite(load_marked_suite(name_or_path, "suanli_fabric_suite", "fabric"));
}

std::string corrupt_collective_hook() {
  const char* v = std::getenv("SUANLI_TEST_CORRUPT_COLLECTIVE");
  return v ? v : "";
}

}  // namespace suanli::cluster
