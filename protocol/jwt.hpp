// A JSON Web Token's structure (RFC 7519, JWS compact serialization of RFC 7515 section 7.1): three
// base64url segments, a header and a claims set, each a JSON object. This is the parsing only: no key
// material, no clock. server/auth/jwt_verifier.hpp checks the signature and the times.
// The pitfalls each check stands for are listed in RFC 8725 and docs/security.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::protocol::jwt {

// A token longer than this is refused before anything is decoded.
inline constexpr std::size_t max_token_size = 8 * 1024;

struct Header {
  std::string alg;  // exactly as written: "HS256", "RS256", "ES256", ... (case-sensitive)
  std::string kid;  // "" when absent
};

struct Claims {
  std::string sub;                  // required, a non-empty string
  std::int64_t exp = 0;             // required, seconds since the Unix epoch (NumericDate, RFC 7519 2)
  std::optional<std::int64_t> nbf;  // NumericDates may be fractional: kept as whole seconds, rounded down
  std::optional<std::int64_t> iat;
  std::string iss;               // "" when absent
  std::vector<std::string> aud;  // a string or an array of strings (RFC 7519 4.1.3); empty when absent
  std::optional<std::vector<std::string>> rooms;  // chatd's claim: rooms the token may use; absent = all
  bool publish = true;                            // chatd's claim: false = read-only
};

struct Token {
  std::string_view signing_input;  // "header.payload" exactly as received: the bytes the signature covers
  std::string signature;           // decoded
  Header header;
  Claims claims;
};

// The token, or why it was refused: `error` names the reason for the 401 body ("malformed token: ...").
struct Parsed {
  std::optional<Token> token;  // views into the string given to parse()
  std::string error;           // with no token
};

// Any thread. Refused as malformed: more than max_token_size bytes, not exactly three segments, a segment
// that is not canonical base64url (base64url.hpp), a header or claims set that is not one JSON object of
// UTF-8, a member name given twice (at any depth the checks read), a header with `crit` (RFC 7515 4.1.11: we
// understand no extension), a `typ` other than "JWT" (compared case-insensitively, "application/jwt" too, as
// RFC 7515 4.1.9 reads media types), a missing or mistyped `alg`, `sub` or `exp`, a `rooms`
// that is not an array of strings, a `publish` that is not a boolean. Unsecured tokens (alg "none", an empty
// signature) parse, and are refused by the verifier, which alone knows which algorithms are configured.
Parsed parse(std::string_view token);

}  // namespace chatd::protocol::jwt
