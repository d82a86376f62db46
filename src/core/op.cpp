// FLOP and byte counts, operand types and shape strings of any op, through its row of the
// op-traits table (core/op_traits.cpp): the one place work is counted.
#include "core/op.h"

#include "core/names.h"
#include "core/op_traits.h"

namespace suanli {
namespace {

constexpr NameRow<StreamKind> kStreamKindNames[] = {{StreamKind::copy, "copy"},
                                                    {StreamKind::scale, "scale"},
                                                    {StreamKind::add, "add"},
                                                    {StreamKind::triad, "triad"}};

}  // namespace

std::string_view op_kind_name(OpKind k) {
  const OpTraits* traits = find_op_traits(k);
  return traits ? traits->name : std::string_view("invalid");
}

std::string_view stream_kind_name(StreamKind k) {
  return name_of(k, kStreamKindNames);
}

OperandTypes operand_types(const OpDesc& op) {
  return op_traits(op.kind).operand_types(op);
}

double op_flops(const OpDesc& op) {
  return op_traits(op.kind).flops(op);
}

std::vector<int64_t> op_buffer_elements(const OpDesc& op) {
  return op_traits(op.kind).buffer_elements(op);
}

std::vector<uint64_t> op_buffer_bytes(const OpDesc& op) {
  const OpTraits& traits = op_traits(op.kind);
  const OperandTypes t = traits.operand_types(op);
  const std::vector<int64_t> n = traits.buffer_elements(op);
  std::vector<uint64_t> bytes;
  bytes.reserve(n.size());
  for (std::size_t i = 0; i < n.size(); ++i)
    bytes.push_back(static_cast<uint64_t>(n[i]) *
                    dtype_size(storage_type(t, traits.buffers.at(i).storage)));
  return bytes;
}

double op_bytes(const OpDesc& op) {
  return op_traits(op.kind).bytes(op, op_buffer_bytes(op));
}

std::string shape_string(const OpDesc& op) {
  return op_traits(op.kind).shape_string(op);
}

bool op_is_compute_bound(const OpDesc& op) {
  return op_traits(op.kind).compute_bound;
}

}  // namespace suanli
