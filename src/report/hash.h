// SHA-256 (libsodium) of bytes and files, as lowercase hex.
#pragma once

#include <string>
#include <string_view>

namespace suanli {

std::string sha256_hex(std::string_view bytes);
// Throws std::runtime_error when the file cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace suanli
