// libcrypto primitives (server/auth/crypto): published vectors for SHA-256 and HMAC, constant-time compare,
// random bytes, and scrypt password hashes with their format checks.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>

#include "protocol/base64url.hpp"
#include "server/auth/crypto.hpp"

using namespace chatd::crypto;

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 0x0f];
  }
  return out;
}

}  // namespace

TEST_CASE("crypto: SHA-256 (FIPS 180-2 appendix B.1 and the empty string)") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256("abc")) == sha256_hex("abc"));
  CHECK(sha256("abc").size() == 32);
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("crypto: HMAC-SHA256, RFC 4231 test cases 1 and 2") {
  CHECK(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 case 6: a key longer than the block size is hashed first.
  CHECK(
      hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty key and empty data are valid HMAC inputs (RFC 2104 pads the key with zeros).
  CHECK(hex(hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("crypto: constant_time_equal") {
  CHECK(constant_time_equal("same bytes", "same bytes"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("same bytes", "same bytez"));
  CHECK_FALSE(constant_time_equal("Same bytes", "same bytes"));
  CHECK_FALSE(constant_time_equal("short", "shorter"));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(constant_time_equal(std::string("a\0", 2), "a"));
}

TEST_CASE("crypto: random_bytes") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(1).size() == 1);
  CHECK(random_bytes(32).size() == 32);
  CHECK(random_bytes(100000).size() == 100000);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_bytes(16));
  CHECK(seen.size() == 1000);
  // Not all zeros, and every byte value appears in 64 KiB (fails with probability ~256 * e^-256).
  const std::string many = random_bytes(65536);
  std::set<unsigned char> values(many.begin(), many.end());
  CHECK(values.size() == 256);
}

TEST_CASE("crypto: scrypt password hashes") {
  const std::string hash = hash_password("correct horse", 10);
  CAPTURE(hash);
  CHECK(hash.starts_with("$scrypt$ln=10,r=8,p=1$"));
  CHECK_FALSE(password_hash_problem(hash).has_value());
  CHECK(verify_password("correct horse", hash));
  CHECK_FALSE(verify_password("correct horsE", hash));
  CHECK_FALSE(verify_password("correct horse ", hash));
  CHECK_FALSE(verify_password("", hash));
  // A fresh salt each time: two hashes of one password differ, and both verify.
  const std::string again = hash_password("correct horse", 10);
  CHECK(again != hash);
  CHECK(verify_password("correct horse", again));
  // 16 bytes of salt, 32 of key.
  const auto salt_end = hash.rfind('$');
  const auto salt_start = hash.rfind('$', salt_end - 1) + 1;
  CHECK(chatd::protocol::base64url_decode(hash.substr(salt_start, salt_end - salt_start))->size() == 16);
  CHECK(chatd::protocol::base64url_decode(hash.substr(salt_end + 1))->size() == 32);
  // The empty password hashes and verifies too (the config decides whether it is allowed).
  const std::string empty = hash_password("", 10);
  CHECK(verify_password("", empty));
  CHECK_FALSE(verify_password("x", empty));
  CHECK_THROWS_AS(hash_password("x", 9), std::invalid_argument);
  CHECK_THROWS_AS(hash_password("x", 21), std::invalid_argument);
}

TEST_CASE("crypto: malformed password hashes say why, and never verify") {
  const std::string good = hash_password("pw", 10);
  const std::string params_end = good.substr(good.find('$', 8));  // "$SALT$KEY"
  const auto problem = [](std::string_view encoded) {
    const auto why = password_hash_problem(encoded);
    CHECK(why.has_value());
    CHECK_FALSE(verify_password("pw", encoded));
    return why.value_or("");
  };
  CHECK(problem("").starts_with("not an scrypt hash"));
  CHECK(problem("pw").starts_with("not an scrypt hash"));
  CHECK(problem("$2y$10$abcdefghijklmnopqrstuv").starts_with("not an scrypt hash"));
  CHECK(problem("$pbkdf2$ln=10,r=8,p=1" + params_end).starts_with("not an scrypt hash"));
  CHECK(problem("$SCRYPT$ln=10,r=8,p=1" + params_end).starts_with("not an scrypt hash"));
  CHECK(problem("$scrypt$ln=9,r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$ln=21,r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$ln=010,r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$ln=+10,r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$ln=,r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$r=8,p=1" + params_end).starts_with("ln must be 10 to 20"));
  CHECK(problem("$scrypt$ln=10,r=0,p=1" + params_end).starts_with("r must be 1 to 32"));
  CHECK(problem("$scrypt$ln=10,r=33,p=1" + params_end).starts_with("r must be 1 to 32"));
  CHECK(problem("$scrypt$ln=10,p=1,r=8" + params_end).starts_with("r must be 1 to 32"));
  CHECK(problem("$scrypt$ln=10,r=8,p=0" + params_end).starts_with("p must be 1 to 16"));
  CHECK(problem("$scrypt$ln=10,r=8,p=17" + params_end).starts_with("p must be 1 to 16"));
  CHECK(problem("$scrypt$ln=10,r=8" + params_end).starts_with("p must be 1 to 16"));
  CHECK(problem("$scrypt$ln=20,r=32,p=1" + params_end).starts_with("ln and r ask for more than 1 GiB"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1x" + params_end).starts_with("missing $ after the parameters"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1").starts_with("missing $ after the parameters"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0").starts_with("missing the key"));
  const std::string salt = chatd::protocol::base64url_encode("saltsaltsaltsalt");
  const std::string key = chatd::protocol::base64url_encode(std::string(32, 'k'));
  CHECK_FALSE(password_hash_problem("$scrypt$ln=10,r=8,p=1$" + salt + "$" + key).has_value());
  CHECK(problem("$scrypt$ln=10,r=8,p=1$" + salt + "=$" + key).starts_with("the salt and the key must be"));
  CHECK(
      problem("$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "=").starts_with("the salt and the key must be"));
  CHECK(
      problem("$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "$").starts_with("the salt and the key must be"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$c2+sdA$" + key).starts_with("the salt and the key must be"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$" + chatd::protocol::base64url_encode("short") + "$" + key)
            .starts_with("the salt must be 8 to 64 bytes"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$$" + key).starts_with("the salt must be 8 to 64 bytes"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$" + salt + "$" + chatd::protocol::base64url_encode("shortkey"))
            .starts_with("the key must be 16 to 64 bytes"));
  CHECK(problem("$scrypt$ln=10,r=8,p=1$" + salt + "$").starts_with("the key must be 16 to 64 bytes"));
  // Every message says what the format is.
  CHECK(problem("nope").ends_with("(expected $scrypt$ln=N,r=R,p=P$SALT$KEY, from chatd --hash-password)"));
}

TEST_CASE("crypto: the cost of one check with the default parameters (ln=15)") {
  const std::string hash = hash_password("a password", default_scrypt_log2_n);
  CHECK(hash.starts_with("$scrypt$ln=15,r=8,p=1$"));
  const auto start = std::chrono::steady_clock::now();
  CHECK(verify_password("a password", hash));
  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  CHECK_FALSE(verify_password("another password", hash));
  MESSAGE("one verify_password with ln=15, r=8, p=1: " << elapsed.count() << " ms");
}
