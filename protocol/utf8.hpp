// UTF-8 checks shared by the HTTP and WebSocket paths.
#pragma once

#include <cstddef>
#include <string_view>

namespace chatd::protocol {

bool is_valid_utf8(std::string_view text);

// The longest prefix of valid UTF-8 `text` that fits in `max_bytes` without splitting a character.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace chatd::protocol
