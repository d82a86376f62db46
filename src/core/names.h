// Names of enum values from one table: the one helper every enum-to-string lookup uses.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace suanli {

template <typename E>
using NameRow = std::pair<E, std::string_view>;

// The name of `value` in `table`, or `fallback` when the table has no row for it.
template <typename E, std::size_t N>
constexpr std::string_view name_of(E value, const NameRow<E> (&table)[N],
                                   std::string_view fallback = "invalid") {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return fallback;
}

// The value named `name` in `table`, or nullopt.
template <typename E, std::size_t N>
constexpr std::optional<E> value_named(std::string_view name, const NameRow<E> (&table)[N]) {
  for (const auto& [v, n] : table)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace suanli
