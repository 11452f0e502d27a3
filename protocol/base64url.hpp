// base64url (RFC 4648 section 5), as JWTs (RFC 7515 section 2) and chatd's session tokens use it: the
// URL-safe alphabet and no padding. OpenSSL has no base64url, and its EVP_DecodeBlock takes the standard
// alphabet, needs padding and skips whitespace, so it cannot be used to decide what a token says.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chatd::protocol {

// Any thread. The encoding of `bytes`, without '=' padding.
std::string base64url_encode(std::string_view bytes);

// Any thread. The bytes `text` encodes, or nullopt unless it is canonical unpadded base64url: only
// A-Z a-z 0-9 - _, no '=', no whitespace, no '+' or '/', length % 4 != 1, and the unused low bits of the last
// character zero (so that exactly one text encodes each byte string, RFC 4648 section 3.5).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace chatd::protocol
