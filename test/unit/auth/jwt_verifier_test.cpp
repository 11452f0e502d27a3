// The JWT verifier (server/auth/jwt_verifier): the RFC 7515 A.1 vector, tokens signed here with HS256,
// RS256 and ES256 keys made through the OpenSSL API, and each pitfall of RFC 8725 with the Problem it gets.
// Time is passed in.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "protocol/base64url.hpp"
#include "server/auth/crypto.hpp"
#include "server/auth/jwt_verifier.hpp"

using namespace std::chrono_literals;
using chatd::JwtVerifier;
using chatd::protocol::base64url_decode;
using chatd::protocol::base64url_encode;
using Problem = JwtVerifier::Problem;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Keys are made once: RSA generation takes a while.
EVP_PKEY* rsa2048() {
  static Pkey key(EVP_RSA_gen(2048));
  REQUIRE(key);
  return key.get();
}
EVP_PKEY* other_rsa2048() {
  static Pkey key(EVP_RSA_gen(2048));
  REQUIRE(key);
  return key.get();
}
EVP_PKEY* p256() {
  static Pkey key(EVP_EC_gen("P-256"));
  REQUIRE(key);
  return key.get();
}

std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// EVP_DigestSign with SHA-256: PKCS#1 v1.5 for RSA, DER ECDSA for EC.
std::string digest_sign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
  std::size_t size = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &size, in, input.size()) == 1);
  std::string signature(size, '\0');
  REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, in,
                         input.size()) == 1);
  signature.resize(size);
  return signature;
}

// DER ECDSA-Sig-Value -> R || S, 32 bytes each (RFC 7518 3.4).
std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), &ECDSA_SIG_free);
  REQUIRE(sig);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) == 32);
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) == 32);
  return raw;
}

const std::string secret = "0123456789abcdef0123456789abcdef-chatd-test-secret";

std::string signing_input(std::string_view header, std::string_view claims) {
  return base64url_encode(header) + "." + base64url_encode(claims);
}
std::string with_signature(const std::string& input, std::string_view signature) {
  return input + "." + base64url_encode(signature);
}
std::string hs256(std::string_view claims, std::string_view key = secret,
                  std::string_view header = R"({"alg":"HS256","typ":"JWT"})") {
  const std::string input = signing_input(header, claims);
  return with_signature(input, chatd::crypto::hmac_sha256(key, input));
}
std::string rs256(std::string_view claims, EVP_PKEY* key = rsa2048()) {
  const std::string input = signing_input(R"({"alg":"RS256"})", claims);
  return with_signature(input, digest_sign(key, input));
}
std::string es256(std::string_view claims) {
  const std::string input = signing_input(R"({"alg":"ES256","typ":"JWT"})", claims);
  return with_signature(input, der_to_raw(digest_sign(p256(), input)));
}

// The clock the tests use: 2030-01-01, and claims around it.
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1893456000));
const std::string claims = R"({"sub":"alice","exp":1893459600,"iat":1893456000,"rooms":["ops","team-*"]})";

JwtVerifier::Settings hs_settings() {
  JwtVerifier::Settings settings;
  settings.hs256_secret = secret;
  return settings;
}
JwtVerifier::Settings pem_settings(EVP_PKEY* key) {
  JwtVerifier::Settings settings;
  settings.public_key_pem = public_pem(key);
  return settings;
}

// A token's last base64url character changed so that one bit of the signature differs.
std::string flip_last_bit(std::string token) {
  const auto dot = token.rfind('.');
  auto signature = *base64url_decode(token.substr(dot + 1));
  signature.back() = static_cast<char>(signature.back() ^ 1);
  return token.substr(0, dot + 1) + base64url_encode(signature);
}
std::string truncate_signature(std::string token) {
  const auto dot = token.rfind('.');
  auto signature = *base64url_decode(token.substr(dot + 1));
  signature.pop_back();
  return token.substr(0, dot + 1) + base64url_encode(signature);
}

Problem problem_of(const JwtVerifier& verifier, const std::string& token,
                   std::chrono::system_clock::time_point at = now) {
  const auto result = verifier.verify(token, at);
  CHECK(result.claims.has_value() == (result.problem == Problem::none));
  if (result.problem == Problem::none) CHECK(result.error.empty());
  if (result.problem != Problem::none) CHECK_FALSE(result.error.empty());
  return result.problem;
}

}  // namespace

TEST_CASE("JwtVerifier: RFC 7515 A.1 has a good signature over its raw bytes, and is refused for no sub") {
  const auto key = base64url_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  REQUIRE(key.has_value());
  CHECK(key->size() == 64);
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  // The signature is good: HMAC over the received "header.payload", CR LF and all.
  const auto dot = token.rfind('.');
  CHECK(chatd::crypto::hmac_sha256(*key, token.substr(0, dot)) == *base64url_decode(token.substr(dot + 1)));

  JwtVerifier::Settings settings;
  settings.hs256_secret = *key;
  const JwtVerifier verifier(settings);
  // Before its exp (2011-03-22), still refused: chatd needs a sub for the name.
  const auto before_exp = std::chrono::system_clock::time_point(std::chrono::seconds(1300819000));
  const auto result = verifier.verify(token, before_exp);
  CHECK(result.problem == Problem::malformed);
  CHECK(result.error == "malformed token: no \"sub\" claim");

  // The same header bytes (CR LF, a space) with a sub, signed with the RFC key: good, so the signature is
  // checked over the bytes received, not over a re-encoding of the parsed header.
  const std::string input =
      token.substr(0, token.find('.')) + "." + base64url_encode("{\"sub\":\"joe\",\r\n \"exp\":1300819380}");
  const auto good =
      verifier.verify(with_signature(input, chatd::crypto::hmac_sha256(*key, input)), before_exp);
  REQUIRE(good.claims.has_value());
  CHECK(good.claims->sub == "joe");
  // On the real clock it is long expired.
  CHECK(problem_of(verifier, with_signature(input, chatd::crypto::hmac_sha256(*key, input)),
                   std::chrono::system_clock::now()) == Problem::expired);
}

TEST_CASE("JwtVerifier: good tokens of each algorithm give their claims") {
  const JwtVerifier hs(hs_settings());
  CHECK(hs.algorithms() == std::vector<std::string>{"HS256"});
  auto result = hs.verify(hs256(claims), now);
  REQUIRE(result.claims.has_value());
  CHECK(result.problem == Problem::none);
  CHECK(result.claims->sub == "alice");
  CHECK(result.claims->exp == 1893459600);
  CHECK(*result.claims->rooms == std::vector<std::string>{"ops", "team-*"});
  CHECK(result.claims->publish);

  const JwtVerifier rs(pem_settings(rsa2048()));
  CHECK(rs.algorithms() == std::vector<std::string>{"RS256"});
  result = rs.verify(rs256(R"({"sub":"bob","exp":1893459600,"publish":false})"), now);
  REQUIRE(result.claims.has_value());
  CHECK(result.claims->sub == "bob");
  CHECK_FALSE(result.claims->publish);

  const JwtVerifier es(pem_settings(p256()));
  CHECK(es.algorithms() == std::vector<std::string>{"ES256"});
  result = es.verify(es256(claims), now);
  REQUIRE(result.claims.has_value());
  CHECK(result.claims->sub == "alice");

  // A secret and a public key together: each algorithm with its own key, and only those two.
  auto both_settings = pem_settings(p256());
  both_settings.hs256_secret = secret;
  const JwtVerifier both(both_settings);
  CHECK(both.algorithms() == std::vector<std::string>{"HS256", "ES256"});
  CHECK(problem_of(both, hs256(claims)) == Problem::none);
  CHECK(problem_of(both, es256(claims)) == Problem::none);
  CHECK(problem_of(both, rs256(claims)) == Problem::unsupported_algorithm);
}

TEST_CASE("JwtVerifier: only the configured algorithms, case-sensitive") {
  const JwtVerifier verifier(hs_settings());
  // Unsecured: alg none with an empty signature, and with an HMAC that would be good.
  const std::string none_input = signing_input(R"({"alg":"none"})", claims);
  CHECK(problem_of(verifier, none_input + ".") == Problem::unsupported_algorithm);
  CHECK(problem_of(verifier, with_signature(none_input, chatd::crypto::hmac_sha256(secret, none_input))) ==
        Problem::unsupported_algorithm);
  for (const char* alg :
       {"none", "None", "NONE", "hs256", "Hs256", "HS512", "HS384", "RS256", "ES256", "", "HS256 "}) {
    CAPTURE(alg);
    const std::string header = std::string(R"({"alg":")") + alg + "\"}";
    CHECK(problem_of(verifier, hs256(claims, secret, header)) == Problem::unsupported_algorithm);
  }
  const auto result = verifier.verify(hs256(claims, secret, R"({"alg":"HS512"})"), now);
  CHECK(result.error == "unsupported algorithm (accepted: HS256)");
  // A real RS256 token where only HS256 is configured.
  CHECK(problem_of(verifier, rs256(claims)) == Problem::unsupported_algorithm);
  // And the other way round: an HS256 token at an RS256-only verifier.
  const JwtVerifier rs(pem_settings(rsa2048()));
  CHECK(problem_of(rs, hs256(claims)) == Problem::unsupported_algorithm);
  CHECK(problem_of(rs, es256(claims)) == Problem::unsupported_algorithm);
}

TEST_CASE("JwtVerifier: no algorithm confusion (the RSA public key as an HMAC secret)") {
  const std::string pem = public_pem(rsa2048());
  const JwtVerifier verifier(pem_settings(rsa2048()));
  // The attacker knows the public key and signs HS256 with it, as a library that took the key for whatever
  // the header asks would accept.
  CHECK(problem_of(verifier, hs256(claims, pem)) == Problem::unsupported_algorithm);
  CHECK(problem_of(verifier, hs256(claims, pem, R"({"alg":"HS256","typ":"JWT"})")) ==
        Problem::unsupported_algorithm);
  const JwtVerifier es(pem_settings(p256()));
  CHECK(problem_of(es, hs256(claims, public_pem(p256()))) == Problem::unsupported_algorithm);
}

TEST_CASE("JwtVerifier: signatures that do not match") {
  const JwtVerifier hs(hs_settings());
  const JwtVerifier rs(pem_settings(rsa2048()));
  const JwtVerifier es(pem_settings(p256()));
  CHECK(problem_of(hs, flip_last_bit(hs256(claims))) == Problem::bad_signature);
  CHECK(problem_of(rs, flip_last_bit(rs256(claims))) == Problem::bad_signature);
  CHECK(problem_of(es, flip_last_bit(es256(claims))) == Problem::bad_signature);
  CHECK(problem_of(hs, truncate_signature(hs256(claims))) == Problem::bad_signature);
  CHECK(problem_of(rs, truncate_signature(rs256(claims))) == Problem::bad_signature);
  CHECK(problem_of(es, truncate_signature(es256(claims))) == Problem::bad_signature);
  // No signature at all.
  const std::string hs_token = hs256(claims);
  CHECK(problem_of(hs, hs_token.substr(0, hs_token.rfind('.') + 1)) == Problem::bad_signature);
  const std::string rs_token = rs256(claims);
  CHECK(problem_of(rs, rs_token.substr(0, rs_token.rfind('.') + 1)) == Problem::bad_signature);
  // Another secret, another RSA key.
  CHECK(problem_of(hs, hs256(claims, "another secret of at least thirty-two bytes")) ==
        Problem::bad_signature);
  CHECK(problem_of(rs, rs256(claims, other_rsa2048())) == Problem::bad_signature);
  // Claims changed after signing: the signature covers the payload bytes.
  const std::string token = hs256(claims);
  const auto first = token.find('.');
  const auto last = token.rfind('.');
  const std::string changed = token.substr(0, first + 1) +
                              base64url_encode(R"({"sub":"admin","exp":1893459600,"iat":1893456000})") +
                              token.substr(last);
  CHECK(problem_of(hs, changed) == Problem::bad_signature);
  // ES256 in DER, as OpenSSL writes it, instead of the raw R || S a JWS carries.
  const std::string input = signing_input(R"({"alg":"ES256"})", claims);
  const std::string der = digest_sign(p256(), input);
  CHECK(der.size() != 64);
  const auto result = es.verify(with_signature(input, der), now);
  CHECK(result.problem == Problem::bad_signature);
  CHECK(result.error == "bad signature");
  // The raw form of the same signature is good; its halves swapped are not.
  const std::string raw = der_to_raw(der);
  CHECK(problem_of(es, with_signature(input, raw)) == Problem::none);
  CHECK(problem_of(es, with_signature(input, raw.substr(32) + raw.substr(0, 32))) == Problem::bad_signature);
  CHECK(problem_of(es, with_signature(input, std::string(64, '\0'))) == Problem::bad_signature);
}

TEST_CASE("JwtVerifier: exp, nbf and iat against an injected clock and the leeway") {
  auto settings = hs_settings();
  settings.leeway = 30s;
  const JwtVerifier verifier(settings);
  const std::string token = hs256(R"({"sub":"a","exp":1893456000})");  // exp == now
  const auto exp = now;
  // Expired at exactly exp + leeway, good one second before.
  CHECK(problem_of(verifier, token, exp + 30s) == Problem::expired);
  CHECK(verifier.verify(token, exp + 30s).error == "token expired");
  CHECK(problem_of(verifier, token, exp + 29s) == Problem::none);
  CHECK(problem_of(verifier, token, exp + 29999ms) == Problem::none);  // whole seconds
  CHECK(problem_of(verifier, token, exp - 1h) == Problem::none);
  CHECK(problem_of(verifier, token, exp + 24h) == Problem::expired);

  // nbf: not valid while now + leeway < nbf.
  const std::string later = hs256(R"({"sub":"a","exp":1893459600,"nbf":1893456100})");
  CHECK(problem_of(verifier, later, now) == Problem::not_yet_valid);
  CHECK(problem_of(verifier, later, now + 69s) == Problem::not_yet_valid);
  CHECK(problem_of(verifier, later, now + 70s) == Problem::none);
  CHECK(verifier.verify(later, now).error == "token not yet valid (nbf)");
  // iat in the future beyond the leeway: a token from a clock far ahead, or forged.
  const std::string issued_later = hs256(R"({"sub":"a","exp":1893459600,"iat":1893456100})");
  CHECK(problem_of(verifier, issued_later, now) == Problem::not_yet_valid);
  CHECK(problem_of(verifier, issued_later, now + 70s) == Problem::none);
  // No leeway at all.
  settings.leeway = 0s;
  const JwtVerifier strict(settings);
  CHECK(problem_of(strict, token, exp) == Problem::expired);
  CHECK(problem_of(strict, token, exp - 1s) == Problem::none);
  // Extreme values neither overflow nor pass.
  CHECK(problem_of(verifier, hs256(R"({"sub":"a","exp":9223372036854775807})")) == Problem::none);
  CHECK(problem_of(verifier, hs256(R"({"sub":"a","exp":-9223372036854775808})")) == Problem::expired);
  CHECK(problem_of(verifier, hs256(R"({"sub":"a","exp":1893459600,"nbf":9223372036854775807})")) ==
        Problem::not_yet_valid);
}

TEST_CASE("JwtVerifier: issuer and audience") {
  auto settings = hs_settings();
  settings.issuer = "https://idp.example";
  settings.audience = "chatd";
  const JwtVerifier verifier(settings);
  const auto token = [](std::string_view extra) {
    return hs256(std::string(R"({"sub":"a","exp":1893459600)") + std::string(extra) + "}");
  };
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example","aud":"chatd")")) == Problem::none);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example","aud":["other","chatd"])")) ==
        Problem::none);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://evil.example","aud":"chatd")")) ==
        Problem::wrong_issuer);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example/","aud":"chatd")")) ==
        Problem::wrong_issuer);
  CHECK(problem_of(verifier, token(R"(,"aud":"chatd")")) == Problem::wrong_issuer);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example","aud":"other")")) ==
        Problem::wrong_audience);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example","aud":["Chatd","x"])")) ==
        Problem::wrong_audience);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example","aud":[])")) == Problem::wrong_audience);
  CHECK(problem_of(verifier, token(R"(,"iss":"https://idp.example")")) == Problem::wrong_audience);
  CHECK(verifier.verify(token(R"(,"iss":"x","aud":"chatd")"), now).error == "wrong issuer");
  CHECK(verifier.verify(token(R"(,"iss":"https://idp.example","aud":"x")"), now).error == "wrong audience");
  // Not configured: not checked.
  const JwtVerifier open(hs_settings());
  CHECK(problem_of(open, token(R"(,"iss":"anyone","aud":"anything")")) == Problem::none);
}

TEST_CASE("JwtVerifier: the order of the checks") {
  auto settings = hs_settings();
  settings.issuer = "i";
  const JwtVerifier verifier(settings);
  // Malformed before algorithm, algorithm before signature, signature before times, times before issuer.
  CHECK(problem_of(verifier, hs256(R"({"exp":1})", secret, R"({"alg":"none"})")) == Problem::malformed);
  CHECK(problem_of(verifier, flip_last_bit(hs256(claims, secret, R"({"alg":"HS512"})"))) ==
        Problem::unsupported_algorithm);
  CHECK(problem_of(verifier, flip_last_bit(hs256(R"({"sub":"a","exp":1})"))) == Problem::bad_signature);
  CHECK(problem_of(verifier, hs256(R"({"sub":"a","exp":1,"iss":"x"})")) == Problem::expired);
  // Every malformed shape of protocol/jwt reaches the verifier's caller as malformed.
  CHECK(problem_of(verifier, "not a token") == Problem::malformed);
  CHECK(problem_of(verifier, hs256(claims) + "=") == Problem::malformed);
  CHECK(problem_of(verifier, hs256(claims, secret, R"({"alg":"HS256","alg":"none"})")) == Problem::malformed);
  CHECK(problem_of(verifier, hs256(claims, secret, R"({"alg":"HS256","crit":["b64"]})")) ==
        Problem::malformed);
  CHECK(problem_of(verifier, hs256(std::string(R"({"sub":"a","exp":1,"x":")") + std::string(9000, 'x') +
                                   "\"}")) == Problem::malformed);
}

TEST_CASE("JwtVerifier: keys that are refused at construction") {
  auto settings = hs_settings();
  settings.hs256_secret = std::string(31, 's');
  CHECK_THROWS_WITH_AS(JwtVerifier{settings}, "the HS256 secret is 31 bytes; at least 32 are needed",
                       std::invalid_argument);
  settings.hs256_secret = std::string(32, 's');
  CHECK_NOTHROW(JwtVerifier{settings});

  JwtVerifier::Settings none;
  CHECK_THROWS_AS(JwtVerifier{none}, std::invalid_argument);

  JwtVerifier::Settings garbage;
  garbage.public_key_pem = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n";
  CHECK_THROWS_WITH_AS(JwtVerifier{garbage}, "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)",
                       std::invalid_argument);
  garbage.public_key_pem = "just some text";
  CHECK_THROWS_AS(JwtVerifier{garbage}, std::invalid_argument);
  // A public key PEM cut short.
  const std::string pem = public_pem(rsa2048());
  garbage.public_key_pem = pem.substr(0, pem.size() / 2);
  CHECK_THROWS_AS(JwtVerifier{garbage}, std::invalid_argument);

  const Pkey rsa1024(EVP_RSA_gen(1024));
  REQUIRE(rsa1024);
  CHECK_THROWS_WITH_AS(JwtVerifier{pem_settings(rsa1024.get())},
                       "RSA key of 1024 bits; at least 2048 are needed", std::invalid_argument);
  const Pkey p384(EVP_EC_gen("P-384"));
  REQUIRE(p384);
  CHECK_THROWS_WITH_AS(JwtVerifier{pem_settings(p384.get())},
                       "an EC key on a curve other than P-256 (ES256 needs P-256)", std::invalid_argument);
  const Pkey ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(ed25519);
  CHECK_THROWS_AS(JwtVerifier{pem_settings(ed25519.get())}, std::invalid_argument);
  // A good secret does not save a bad key.
  auto mixed = pem_settings(p384.get());
  mixed.hs256_secret = secret;
  CHECK_THROWS_AS(JwtVerifier{mixed}, std::invalid_argument);
}
