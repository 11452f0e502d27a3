#include "server/auth/jwt_verifier.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "server/auth/crypto.hpp"

namespace chatd {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

constexpr std::size_t min_hs256_secret = 32;  // RFC 7518 3.2: a key at least as long as the hash output
constexpr int min_rsa_bits = 2048;            // RFC 7518 3.3

enum class KeyAlg { rs256, es256 };

// Reads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) and binds it to the one algorithm its type allows.
Pkey read_public_key(const std::string& pem, KeyAlg& alg) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  if (!bio) throw std::runtime_error("BIO_new_mem_buf failed");
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) throw std::invalid_argument("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  if (EVP_PKEY_is_a(key.get(), "RSA")) {
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < min_rsa_bits) {
      throw std::invalid_argument("RSA key of " + std::to_string(bits) + " bits; at least 2048 are needed");
    }
    alg = KeyAlg::rs256;
    return key;
  }
  if (EVP_PKEY_is_a(key.get(), "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length) !=
            1 ||
        std::string_view(group, length) != SN_X9_62_prime256v1) {
      ERR_clear_error();
      throw std::invalid_argument("an EC key on a curve other than P-256 (ES256 needs P-256)");
    }
    alg = KeyAlg::es256;
    return key;
  }
  throw std::invalid_argument("a public key that is neither RSA (RS256) nor EC P-256 (ES256)");
}

// ES256 signatures in a JWS are R || S, 32 bytes each, big-endian (RFC 7518 3.4); OpenSSL verifies the
// DER SEQUENCE of two INTEGERs. Anything but 64 bytes (a DER signature among them) is refused: "" then.
std::string es256_raw_to_der(std::string_view raw) {
  if (raw.size() != 64) return {};
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), &ECDSA_SIG_free);
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {  // set0 owns r and s only on success
    BN_free(r);
    BN_free(s);
    ERR_clear_error();
    return {};
  }
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return {};
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return {};
  return der;
}

// EVP_DigestVerify with SHA-256: RSASSA-PKCS1-v1_5 for an RSA key (the default padding), ECDSA for EC.
bool digest_verify(EVP_PKEY* key, std::string_view signing_input, std::string_view signature) {
  if (signature.empty()) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const bool good =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) == 1;
  // A failed check leaves errors on this thread's queue; later OpenSSL calls would see them.
  ERR_clear_error();
  return good;
}

JwtVerifier::Result refuse(JwtVerifier::Problem problem, std::string error) {
  JwtVerifier::Result result;
  result.problem = problem;
  result.error = std::move(error);
  return result;
}

}  // namespace

// Read-only once the constructor has returned, so verify() may run on several threads at once: OpenSSL 3
// lets threads share one EVP_PKEY for verification as long as none modifies it (openssl-threads(7)); each
// call makes its own EVP_MD_CTX.
struct JwtVerifier::Keys {
  std::string hs256_secret;  // "" = no HS256
  Pkey rs256;                // an RSA key of at least 2048 bits, or null
  Pkey es256;                // an EC P-256 key, or null
};

JwtVerifier::JwtVerifier(const Settings& settings) : keys_(std::make_unique<Keys>()), settings_(settings) {
  if (!settings.hs256_secret.empty()) {
    if (settings.hs256_secret.size() < min_hs256_secret) {
      throw std::invalid_argument("the HS256 secret is " + std::to_string(settings.hs256_secret.size()) +
                                  " bytes; at least 32 are needed");
    }
    keys_->hs256_secret = settings.hs256_secret;
  }
  if (!settings.public_key_pem.empty()) {
    KeyAlg alg = KeyAlg::rs256;
    Pkey key = read_public_key(settings.public_key_pem, alg);
    (alg == KeyAlg::rs256 ? keys_->rs256 : keys_->es256) = std::move(key);
  }
  if (keys_->hs256_secret.empty() && !keys_->rs256 && !keys_->es256) {
    throw std::invalid_argument("no JWT key: set an HS256 secret or a public key");
  }
  // The settings keep no copy of the secret beyond the one in Keys.
  settings_.hs256_secret.clear();
}

JwtVerifier::~JwtVerifier() = default;

std::vector<std::string> JwtVerifier::algorithms() const {
  std::vector<std::string> out;
  if (!keys_->hs256_secret.empty()) out.emplace_back("HS256");
  if (keys_->rs256) out.emplace_back("RS256");
  if (keys_->es256) out.emplace_back("ES256");
  return out;
}

JwtVerifier::Result JwtVerifier::verify(std::string_view token,
                                        std::chrono::system_clock::time_point now) const {
  protocol::jwt::Parsed parsed = protocol::jwt::parse(token);
  if (!parsed.token) return refuse(Problem::malformed, std::move(parsed.error));
  const protocol::jwt::Token& jwt = *parsed.token;

  // The header's alg only picks among the keys configured, each bound to its one algorithm, compared
  // case-sensitively (RFC 7515 4.1.1): "none", "None", "hs256", an unconfigured one never reach a check.
  const std::string& alg = jwt.header.alg;
  bool good = false;
  if (alg == "HS256" && !keys_->hs256_secret.empty()) {
    // Over the received bytes, never a re-encoding; compared in constant time.
    good = crypto::constant_time_equal(crypto::hmac_sha256(keys_->hs256_secret, jwt.signing_input),
                                       jwt.signature);
  } else if (alg == "RS256" && keys_->rs256) {
    good = digest_verify(keys_->rs256.get(), jwt.signing_input, jwt.signature);
  } else if (alg == "ES256" && keys_->es256) {
    const std::string der = es256_raw_to_der(jwt.signature);
    good = !der.empty() && digest_verify(keys_->es256.get(), jwt.signing_input, der);
  } else {
    std::string accepted;
    for (const auto& name : algorithms()) accepted += (accepted.empty() ? "" : ", ") + name;
    return refuse(Problem::unsupported_algorithm, "unsupported algorithm (accepted: " + accepted + ")");
  }
  if (!good) return refuse(Problem::bad_signature, "bad signature");

  // 128-bit arithmetic: a token's times are any 64-bit number, and adding the leeway must not overflow.
  using Wide = __int128;
  const Wide seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const Wide leeway = settings_.leeway.count();
  const protocol::jwt::Claims& claims = jwt.claims;
  if (seconds >= Wide{claims.exp} + leeway) return refuse(Problem::expired, "token expired");
  if (claims.nbf && seconds + leeway < Wide{*claims.nbf}) {
    return refuse(Problem::not_yet_valid, "token not yet valid (nbf)");
  }
  if (claims.iat && seconds + leeway < Wide{*claims.iat}) {
    return refuse(Problem::not_yet_valid, "token not yet valid (iat in the future)");
  }
  if (!settings_.issuer.empty() && claims.iss != settings_.issuer) {
    return refuse(Problem::wrong_issuer, "wrong issuer");
  }
  if (!settings_.audience.empty() &&
      std::find(claims.aud.begin(), claims.aud.end(), settings_.audience) == claims.aud.end()) {
    return refuse(Problem::wrong_audience, "wrong audience");
  }
  Result result;
  result.claims = claims;
  return result;
}

}  // namespace chatd
