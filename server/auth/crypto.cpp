#include "server/auth/crypto.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "protocol/base64url.hpp"

namespace chatd::crypto {

namespace {

// libcrypto takes pointers: an empty string_view may hold nullptr, which some of its functions refuse
// even for 0 bytes. Give them a real address.
const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.empty() ? "" : s.data());
}

constexpr std::size_t salt_size = 16;
constexpr std::size_t key_size = 32;

struct ScryptHash {
  unsigned log2_n = 0;
  std::uint64_t r = 0;
  std::uint64_t p = 0;
  std::string salt;
  std::string key;
};

// The memory EVP_PBE_scrypt needs for these parameters: its V array is 128*r*(N+2) bytes and its B array
// 128*r*p (crypto/evp/pbe_scrypt.c), and it refuses to run when their sum exceeds `maxmem`. With maxmem 0
// it uses a default of 32 MiB, which N = 2^15, r = 8 (exactly 32 MiB for V alone) already exceeds, so the
// default parameters would always fail: the bound is passed explicitly, with 1 MiB to spare.
std::uint64_t scrypt_memory(unsigned log2_n, std::uint64_t r, std::uint64_t p) {
  return 128 * r * ((std::uint64_t{1} << log2_n) + 2 + p) + (std::uint64_t{1} << 20);
}
// The most one check may take: a config asking for more is refused at start (password_hash_problem), not
// left to fail every login.
constexpr std::uint64_t max_scrypt_memory = std::uint64_t{1} << 30;

bool derive(std::string_view password, const ScryptHash& params, std::string& key) {
  const std::string_view salt = params.salt;
  return EVP_PBE_scrypt(password.empty() ? "" : password.data(), password.size(), bytes_of(salt), salt.size(),
                        std::uint64_t{1} << params.log2_n, params.r, params.p,
                        scrypt_memory(params.log2_n, params.r, params.p),
                        reinterpret_cast<unsigned char*>(key.data()), key.size()) == 1;
}

// "ln=15" -> 15: decimal digits only, no sign, no leading zero, within [low, high].
bool read_parameter(std::string_view& text, std::string_view name, std::uint64_t low, std::uint64_t high,
                    std::uint64_t& value) {
  if (!text.starts_with(name)) return false;
  text.remove_prefix(name.size());
  const auto digits = text.substr(0, text.find_first_not_of("0123456789"));
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return false;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  text.remove_prefix(digits.size());
  return value >= low && value <= high;
}

// Reads "$scrypt$ln=N,r=R,p=P$SALT$KEY", or says why it cannot.
std::optional<std::string> read_hash(std::string_view text, ScryptHash& out) {
  const std::string expected = " (expected $scrypt$ln=N,r=R,p=P$SALT$KEY, from chatd --hash-password)";
  constexpr std::string_view prefix = "$scrypt$";
  if (!text.starts_with(prefix)) return "not an scrypt hash" + expected;
  text.remove_prefix(prefix.size());
  std::uint64_t log2_n = 0;
  if (!read_parameter(text, "ln=", 10, 20, log2_n)) return "ln must be 10 to 20" + expected;
  if (!read_parameter(text, ",r=", 1, 32, out.r)) return "r must be 1 to 32" + expected;
  if (!read_parameter(text, ",p=", 1, 16, out.p)) return "p must be 1 to 16" + expected;
  out.log2_n = static_cast<unsigned>(log2_n);
  if (scrypt_memory(out.log2_n, out.r, out.p) > max_scrypt_memory) {
    return "ln and r ask for more than 1 GiB of memory per check" + expected;
  }
  if (!text.starts_with('$')) return "missing $ after the parameters" + expected;
  text.remove_prefix(1);
  const auto dollar = text.find('$');
  if (dollar == std::string_view::npos) return "missing the key" + expected;
  auto salt = protocol::base64url_decode(text.substr(0, dollar));
  auto key = protocol::base64url_decode(text.substr(dollar + 1));
  if (!salt || !key) return "the salt and the key must be unpadded base64url" + expected;
  if (salt->size() < 8 || salt->size() > 64) return "the salt must be 8 to 64 bytes" + expected;
  if (key->size() < 16 || key->size() > 64) return "the key must be 16 to 64 bytes" + expected;
  out.salt = std::move(*salt);
  out.key = std::move(*key);
  return std::nullopt;
}

}  // namespace

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int size = 0;
  if (EVP_Digest(bytes_of(data), data.size(), reinterpret_cast<unsigned char*>(out.data()), &size,
                 EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    throw std::runtime_error("SHA-256 failed in libcrypto");
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::string digest = sha256(data);
  std::string out;
  out.reserve(digest.size() * 2);
  for (const char c : digest) {
    const auto byte = static_cast<unsigned char>(c);
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  std::size_t size = 0;
  // One-shot EVP_Q_mac (OpenSSL 3.0): it fetches the HMAC implementation each call, a few microseconds,
  // which a check per connection can afford.
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, bytes_of(key), key.size(), bytes_of(data),
                data.size(), reinterpret_cast<unsigned char*>(out.data()), out.size(), &size) == nullptr ||
      size != out.size()) {
    throw std::runtime_error("HMAC-SHA256 failed in libcrypto");
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // CRYPTO_memcmp compares n bytes of both in constant time; lengths are compared first (they are not
  // secret: every token and digest of one kind has the same length).
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  std::size_t done = 0;
  while (done < count) {
    const int chunk = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX));
    // RAND_bytes returns 1 on success, 0 or -1 when the generator is not seeded or fails: fail closed.
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) {
      throw std::runtime_error("RAND_bytes failed: no random bytes for a token");
    }
    done += static_cast<std::size_t>(chunk);
  }
  return out;
}

std::string hash_password(std::string_view password, unsigned log2_n) {
  if (log2_n < 10 || log2_n > 20) throw std::invalid_argument("scrypt ln must be 10 to 20");
  ScryptHash params;
  params.log2_n = log2_n;
  params.r = 8;
  params.p = 1;
  params.salt = random_bytes(salt_size);
  std::string key(key_size, '\0');
  if (!derive(password, params, key)) throw std::runtime_error("EVP_PBE_scrypt failed");
  return "$scrypt$ln=" + std::to_string(log2_n) + ",r=8,p=1$" + protocol::base64url_encode(params.salt) +
         "$" + protocol::base64url_encode(key);
}

std::optional<std::string> password_hash_problem(std::string_view encoded) {
  ScryptHash params;
  return read_hash(encoded, params);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  ScryptHash params;
  if (read_hash(encoded, params)) return false;
  std::string key(params.key.size(), '\0');
  if (!derive(password, params, key)) return false;
  return constant_time_equal(key, params.key);
}

}  // namespace chatd::crypto
