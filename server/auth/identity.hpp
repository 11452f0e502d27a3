// Who a request or connection is, decided once when it arrives (Authenticator::authenticate) and carried
// with it: the name events carry, the rooms it may use, whether it may publish, and until when.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd {

struct Identity {
  enum class Kind {
    anyone,   // auth.mode open: every request, as before there was access control
    session,  // a token from POST /login (auth.mode password)
    jwt,      // a JWT the user's backend minted (auth.mode jwt)
    api_key,  // a key from auth.api_keys, for scripts and backends (any mode)
  };
  Kind kind = Kind::anyone;
  std::string name;                               // from the token; for anyone and keys, the key's name or ""
  std::optional<std::vector<std::string>> rooms;  // nullopt = every room; an entry ending in '*' is a prefix
  bool may_publish = true;
  std::optional<std::chrono::system_clock::time_point> expires_at;  // a connection is closed then (4001)
  std::string session_sha256;  // kind session: the token's SHA-256, for logout
  bool by_cookie = false;      // sent by a browser on its own: Origin must be checked

  // Whether the name comes from the request (query, body) rather than from the token.
  bool chooses_name() const { return kind == Kind::anyone || kind == Kind::api_key; }

  bool may_use(std::string_view room) const {
    if (!rooms) return true;
    for (const std::string& pattern : *rooms) {
      if (!pattern.empty() && pattern.back() == '*') {
        if (room.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1))) return true;
      } else if (room == pattern) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace chatd
