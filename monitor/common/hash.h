// Content hashes: probe versions and de-duplicated response texts are named by them.
#pragma once

#include <string>
#include <string_view>

namespace dw {

// Lower-case hex SHA-256 of the bytes of text (64 characters).
std::string sha256_hex(std::string_view text);

}  // namespace dw
