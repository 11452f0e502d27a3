// Rules several routes share, written once: the body limit, names, ids, query parameters and the room a
// request means.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "protocol/uri.hpp"

namespace chatd {

// The largest request body read. A JSON body may escape every byte of the text: leave room for that; the
// text itself is checked later.
constexpr std::size_t max_body_size(const config::Limits& limits) {
  return limits.max_message_size * 6 + 4096;
}

// An event id, a limit: digits only, no sign, no overflow.
std::optional<std::uint64_t> parse_id(std::string_view text);

// Names: 1 to 64 characters of UTF-8, no control characters.
bool is_valid_name(std::string_view name);
inline constexpr std::string_view invalid_name_message =
    "invalid name (1 to 64 characters, no control characters)";

// The room `room=` names, else rooms.default.
inline std::string room_or_default(const protocol::QueryValue& room, const config::Rooms& rooms) {
  return room.present ? room.value : rooms.default_room;
}

// The values of `keys` in `query`, decoded, in the order of `keys`; nullopt when any of them has a
// malformed escape: answer HttpError::malformed_query.
template <std::size_t N>
std::optional<std::array<protocol::QueryValue, N>> query_params(std::string_view query,
                                                                const std::string_view (&keys)[N]) {
  std::array<protocol::QueryValue, N> values;
  for (std::size_t i = 0; i < N; ++i) {
    values[i] = protocol::query_param(query, keys[i]);
    if (!values[i].valid) return std::nullopt;
  }
  return values;
}

}  // namespace chatd
