// The few primitives of libcrypto (OpenSSL 3) that access control needs, behind plain types: digests,
// HMAC, constant-time comparison, random bytes and password hashes. Every function may run on any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chatd::crypto {

// SHA-256 of `data`: 32 raw bytes, or 64 lowercase hex digits.
std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
// HMAC-SHA256 (RFC 2104) of `data` under `key`: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Whether a and b hold the same bytes, in time that depends only on their lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

// `count` bytes from RAND_bytes. Throws std::runtime_error when the generator fails: a token is never
// made from weak randomness.
std::string random_bytes(std::size_t count);

// Password hashes as chatd writes them in the config (from `chatd --hash-password`), in the PHC string
// format with base64url fields: "$scrypt$ln=15,r=8,p=1$<salt>$<key>", a 16-byte random salt and a 32-byte
// key from EVP_PBE_scrypt. ln is log2 of scrypt's N.
inline constexpr unsigned default_scrypt_log2_n = 15;  // N = 32768, r = 8: 32 MiB and ~0.1 s per check here

// A new salted hash of `password` (r = 8, p = 1). Throws std::invalid_argument for log2_n outside 10 to 20,
// std::runtime_error when libcrypto fails.
std::string hash_password(std::string_view password, unsigned log2_n = default_scrypt_log2_n);
// Why `encoded` is not a hash verify_password can check ("expected $scrypt$ln=N,r=R,p=P$SALT$KEY ..."), or
// nullopt when it is one. Bounds: ln 10 to 20, r 1 to 32, p 1 to 16, salt 8 to 64 bytes, key 16 to 64 bytes,
// and at most 1 GiB of scrypt memory (about 128 * r * 2^ln bytes) per check.
std::optional<std::string> password_hash_problem(std::string_view encoded);
// Whether `password` hashes to `encoded` (compared in constant time). False for a malformed hash.
// Costs what the hash's parameters say (~0.1 s with the default): call it off the event loops.
bool verify_password(std::string_view password, std::string_view encoded);

}  // namespace chatd::crypto
