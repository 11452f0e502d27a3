// Checks a JWT against the keys chatd is configured with: the signature over the received bytes, then the
// times and the issuer and audience. Each key is bound to one algorithm when it is loaded (RFC 8725 3.1):
// an HS256 secret verifies only HS256, an RSA public key only RS256, a P-256 key only ES256, so a token
// cannot choose how it is checked (no public key used as an HMAC secret, no "none").
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/jwt.hpp"

namespace chatd {

class JwtVerifier {
 public:
  struct Settings {
    std::string hs256_secret;    // raw bytes (auth.jwt.secret_file); "" = no HS256. At least 32 bytes.
    std::string public_key_pem;  // auth.jwt.public_key_file; "" = none. RSA (>= 2048 bits) -> RS256, EC P-256
                                 // -> ES256
    std::string issuer;          // "" = iss is not checked
    std::string audience;        // "" = aud is not checked; else aud must contain it
    std::chrono::seconds leeway{30};
  };
  // Throws std::invalid_argument saying what is wrong with a key ("the HS256 secret is 12 bytes; at least 32
  // are needed", "not a PEM public key", "an EC key on a curve other than P-256", "RSA key of 1024 bits") or
  // that no key is given.
  explicit JwtVerifier(const Settings& settings);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The algorithms the configured keys accept, e.g. {"HS256", "ES256"}.
  std::vector<std::string> algorithms() const;

  enum class Problem {
    none,
    malformed,
    unsupported_algorithm,
    bad_signature,
    expired,
    not_yet_valid,
    wrong_issuer,
    wrong_audience
  };
  struct Result {
    std::optional<protocol::jwt::Claims> claims;  // the token is good
    Problem problem = Problem::none;
    std::string error;  // for the 401 body: "malformed token: ...", "bad signature", "token expired", ...
  };

  // Any thread, concurrently. In this order: parse (protocol::jwt::parse), algorithm (one a configured key
  // accepts, else unsupported_algorithm, so "none", "None", "hs256", an unconfigured "HS512" are refused
  // here), signature over Token::signing_input (constant-time for HMAC; ES256's raw r||s, RFC 7518 3.4,
  // converted to DER for OpenSSL), then exp (expired when now >= exp + leeway), nbf (not yet valid when
  // now + leeway < nbf), iat in the future beyond leeway (not yet valid), iss, aud.
  Result verify(std::string_view token, std::chrono::system_clock::time_point now) const;

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
  Settings settings_;
};

}  // namespace chatd
