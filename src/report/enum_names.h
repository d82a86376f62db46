// One table per enum instead of a switch per name: an enum whose values run 0, 1, 2, ... in
// declaration order names them with an array of strings in the same order (enum_names), and a
// sparse mapping with value/name pairs (EnumName).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace suanli {

// The name of `value` in `names` (indexed by the enum's value); `fallback` past the end.
template <typename E, size_t N>
constexpr std::string_view enum_name(const std::string_view (&names)[N], E value,
                                     std::string_view fallback = "") {
  const auto i = static_cast<size_t>(value);
  return i < N ? names[i] : fallback;
}

// The value named `name` in `names`; nullopt when none is.
template <typename E, size_t N>
constexpr std::optional<E> enum_from_name(const std::string_view (&names)[N],
                                          std::string_view name) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<E>(i);
  return std::nullopt;
}

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// The name of `value` in a table of pairs; `fallback` for a value the table does not list.
template <typename E, size_t N>
constexpr std::string_view enum_name(const EnumName<E> (&table)[N], E value,
                                     std::string_view fallback = "") {
  for (const EnumName<E>& e : table)
    if (e.value == value) return e.name;
  return fallback;
}

}  // namespace suanli
