// JWT structure (protocol/jwt): the RFC vectors, and every malformed shape the parser must refuse before a
// key is ever looked at. Signatures are not checked here (server/auth/jwt_verifier does that).
#include <doctest/doctest.h>

#include <string>

#include "protocol/base64url.hpp"
#include "protocol/jwt.hpp"

using chatd::protocol::base64url_decode;
using chatd::protocol::base64url_encode;
namespace jwt = chatd::protocol::jwt;

namespace {

// RFC 7515 appendix A.1 (also RFC 7519 section 3.1): HS256, its header written with CR LF and a space.
constexpr std::string_view rfc7515_a1 =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
// RFC 7519 section 6.1: an unsecured JWT, alg "none", empty signature.
constexpr std::string_view rfc7519_6_1 =
    "eyJhbGciOiJub25lIn0"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".";

std::string token(std::string_view header, std::string_view claims, std::string_view signature = "sig") {
  return base64url_encode(header) + "." + base64url_encode(claims) + "." + base64url_encode(signature);
}

const std::string good_header = R"({"alg":"HS256","typ":"JWT"})";
const std::string good_claims = R"({"sub":"alice","exp":1900000000})";

// The reason a token is refused ("" when it parses).
std::string error_of(std::string_view text) {
  const jwt::Parsed parsed = jwt::parse(text);
  if (parsed.token) return "";
  CHECK(parsed.error.starts_with("malformed token: "));
  return parsed.error;
}

std::string claims_error(std::string_view claims) {
  return error_of(token(good_header, claims));
}
std::string header_error(std::string_view header) {
  return error_of(token(header, good_claims));
}

}  // namespace

TEST_CASE("jwt: RFC 7515 A.1 is read from its raw bytes, and refused only for having no sub") {
  // Its header holds CR LF and a space: it decodes and parses as written.
  const auto header = base64url_decode(rfc7515_a1.substr(0, rfc7515_a1.find('.')));
  REQUIRE(header.has_value());
  CHECK(*header == "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
  // The claims set has iss, exp and a private claim, but no sub: chatd requires one.
  CHECK(error_of(rfc7515_a1) == "malformed token: no \"sub\" claim");

  // The same header segment, byte for byte, with claims that have a sub: it parses, and the signing input
  // is the received "header.payload", not a re-encoding of what was parsed.
  const std::string header_segment(rfc7515_a1.substr(0, rfc7515_a1.find('.')));
  const std::string claims_segment =
      base64url_encode("{\"sub\":\"joe\",\r\n \"exp\":1300819380.9,\"iss\":\"joe\"}");
  const std::string text =
      header_segment + "." + claims_segment + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const jwt::Parsed parsed = jwt::parse(text);
  REQUIRE(parsed.token.has_value());
  CHECK(parsed.token->signing_input == header_segment + "." + claims_segment);
  CHECK(parsed.token->signing_input.data() == text.data());  // a view into the input
  CHECK(parsed.token->header.alg == "HS256");
  CHECK(parsed.token->header.kid.empty());
  CHECK(parsed.token->claims.sub == "joe");
  CHECK(parsed.token->claims.exp == 1300819380);  // fractional NumericDate, rounded down
  CHECK(parsed.token->claims.iss == "joe");
  CHECK(parsed.token->signature == *base64url_decode("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
  CHECK(parsed.token->signature.size() == 32);
}

TEST_CASE("jwt: unsecured tokens (RFC 7519 6.1) parse with alg none and an empty signature") {
  // The RFC's own example has no sub, so it stops there.
  CHECK(error_of(rfc7519_6_1) == "malformed token: no \"sub\" claim");
  // The same unsecured header with a sub parses: refusing "none" is the verifier's job, which knows the keys.
  const std::string header_segment(rfc7519_6_1.substr(0, rfc7519_6_1.find('.')));
  const std::string text = header_segment + "." + base64url_encode(good_claims) + ".";
  const jwt::Parsed parsed = jwt::parse(text);
  REQUIRE(parsed.token.has_value());
  CHECK(parsed.token->header.alg == "none");
  CHECK(parsed.token->signature.empty());
}

TEST_CASE("jwt: every claim chatd reads") {
  const jwt::Parsed parsed =
      jwt::parse(token(R"({"alg":"ES256","kid":"k2","jku":"https://evil/","x":{"alg":1}})",
                       R"({"sub":"bob","exp":2000000000,"nbf":1000,"iat":999.5,
                                                 "iss":"https://idp","aud":["a","b"],"rooms":["ops","team-*"],
                                                 "publish":false,"extra":{"sub":1,"sub":2},"n":[1,{}]})"));
  REQUIRE(parsed.token.has_value());
  const auto& t = *parsed.token;
  CHECK(t.header.alg == "ES256");
  CHECK(t.header.kid == "k2");
  CHECK(t.claims.sub == "bob");
  CHECK(t.claims.exp == 2000000000);
  CHECK(t.claims.nbf == 1000);
  CHECK(t.claims.iat == 999);
  CHECK(t.claims.iss == "https://idp");
  CHECK(t.claims.aud == std::vector<std::string>{"a", "b"});
  REQUIRE(t.claims.rooms.has_value());
  CHECK(*t.claims.rooms == std::vector<std::string>{"ops", "team-*"});
  CHECK_FALSE(t.claims.publish);

  // Defaults: no nbf, iat, iss, aud, rooms; publish true. aud may be one string. typ is case-insensitive.
  const jwt::Parsed plain = jwt::parse(
      token(R"({"typ":"jwt","alg":"HS256"})", R"({"sub":"c","exp":-5,"aud":"only","publish":true})", ""));
  REQUIRE(plain.token.has_value());
  CHECK(plain.token->claims.exp == -5);
  CHECK_FALSE(plain.token->claims.nbf.has_value());
  CHECK_FALSE(plain.token->claims.iat.has_value());
  CHECK(plain.token->claims.iss.empty());
  CHECK(plain.token->claims.aud == std::vector<std::string>{"only"});
  CHECK_FALSE(plain.token->claims.rooms.has_value());
  CHECK(plain.token->claims.publish);
  CHECK(plain.token->signature.empty());
  // Escaped names are read unescaped.
  const jwt::Parsed escaped = jwt::parse(token(R"({"a\u006cg":"HS256"})", R"({"\u0073ub":"d","exp":1})"));
  REQUIRE(escaped.token.has_value());
  CHECK(escaped.token->header.alg == "HS256");
  CHECK(escaped.token->claims.sub == "d");
  // Fractional and negative fractional NumericDates round down.
  const jwt::Parsed negative = jwt::parse(token(good_header, R"({"sub":"e","exp":-1.5,"nbf":1e3})"));
  REQUIRE(negative.token.has_value());
  CHECK(negative.token->claims.exp == -2);
  CHECK(negative.token->claims.nbf == 1000);
}

TEST_CASE("jwt: the shape of the token") {
  const std::string good = token(good_header, good_claims);
  CHECK(error_of(good).empty());
  const std::string h = base64url_encode(good_header);
  const std::string c = base64url_encode(good_claims);
  // Segment counts: 2 (no signature part), 4, 5 (JWE), 1.
  CHECK(error_of(h + "." + c) == "malformed token: not three segments");
  CHECK(error_of(good + ".x") == "malformed token: not three segments");
  CHECK(error_of(h + "." + c + ".a.b.c") == "malformed token: not three segments");
  CHECK(error_of(h) == "malformed token: not three segments");
  CHECK(error_of("") == "malformed token: not three segments");
  CHECK_FALSE(error_of("..").empty());
  // Padded segments, as a standard base64 encoder writes them ("{"alg":"HS256"}" is 15 bytes: one '=').
  const std::string padded_header = base64url_encode(R"({"alg":"HS256"})") + "=";
  CHECK(error_of(padded_header + "." + c + ".c2ln") ==
        "malformed token: a segment is not unpadded base64url");
  CHECK(error_of(h + "." + c + ".c2lnMQ==") == "malformed token: a segment is not unpadded base64url");
  CHECK(error_of(h + "." + c + ".c2l+") == "malformed token: a segment is not unpadded base64url");
  CHECK(error_of(h + " ." + c + ".c2ln") == "malformed token: a segment is not unpadded base64url");
  // Oversize: refused by length before anything is decoded; exactly the cap still parses.
  const std::string fill_claims = R"({"sub":"alice","exp":1900000000,"pad":")";
  std::string pad(jwt::max_token_size, 'x');
  bool found_exact = false;
  for (std::size_t n = 5900; n < 6300 && !found_exact; ++n) {
    const std::string exact = token(good_header, fill_claims + pad.substr(0, n) + "\"}");
    if (exact.size() != jwt::max_token_size) continue;
    found_exact = true;
    CHECK(error_of(exact).empty());
    CHECK(error_of(exact + "A") == "malformed token: longer than 8 KiB");
  }
  CHECK(found_exact);
  const std::string big = token(good_header, fill_claims + pad + "\"}");
  CHECK(big.size() > jwt::max_token_size);
  CHECK(error_of(big) == "malformed token: longer than 8 KiB");
}

TEST_CASE("jwt: the header") {
  CHECK(header_error("[1]") == "malformed token: the header is not a JSON object");
  CHECK(header_error(R"("HS256")") == "malformed token: the header is not a JSON object");
  CHECK(header_error("") == "malformed token: the header is not a JSON object");
  CHECK(header_error(R"({"alg":"HS256"} {})") == "malformed token: the header is not a JSON object");
  CHECK(header_error(R"({"alg":"HS256")") == "malformed token: the header is not a JSON object");
  CHECK(header_error("{\"alg\":\"HS256\",\"x\":\"\xff\"}") ==
        "malformed token: the header is not a JSON object");
  // Duplicate alg: a lookup would see only the first, another library the last.
  CHECK(header_error(R"({"alg":"none","alg":"HS256"})") == "malformed token: a header member is given twice");
  CHECK(header_error(R"({"alg":"HS256","alg":"HS256"})") ==
        "malformed token: a header member is given twice");
  CHECK(header_error(R"({"alg":"HS256","a\u006cg":"none"})") ==
        "malformed token: a header member is given twice");
  CHECK(header_error(R"({"alg":"HS256","kid":"a","kid":"b"})") ==
        "malformed token: a header member is given twice");
  CHECK(header_error(R"({"alg":"HS256","crit":["exp"]})") ==
        "malformed token: \"crit\" names extensions chatd does not implement");
  CHECK(header_error(R"({"alg":"HS256","crit":[]})") ==
        "malformed token: \"crit\" names extensions chatd does not implement");
  CHECK(header_error(R"({"alg":"HS256","typ":"JWS"})") == "malformed token: \"typ\" must be \"JWT\"");
  CHECK(header_error(R"({"alg":"HS256","typ":1})") == "malformed token: \"typ\" must be a string");
  CHECK(header_error(R"({"alg":"HS256","typ":"application/jwt"})").empty());
  CHECK(header_error(R"({"typ":"JWT"})") == "malformed token: the header has no \"alg\"");
  CHECK(header_error("{}") == "malformed token: the header has no \"alg\"");
  CHECK(header_error(R"({"alg":256})") == "malformed token: \"alg\" must be a string");
  CHECK(header_error(R"({"alg":null})") == "malformed token: \"alg\" must be a string");
  CHECK(header_error(R"({"alg":"HS256","kid":7})") == "malformed token: \"kid\" must be a string");
}

TEST_CASE("jwt: the claims") {
  CHECK(claims_error("[]") == "malformed token: the claims are not a JSON object");
  CHECK(claims_error("null") == "malformed token: the claims are not a JSON object");
  CHECK(claims_error(R"({"sub":"a","sub":"b","exp":1})") == "malformed token: a claim is given twice");
  CHECK(claims_error(R"({"sub":"a","exp":1,"x":1,"x":2})") == "malformed token: a claim is given twice");
  CHECK(claims_error(R"({"exp":1})") == "malformed token: no \"sub\" claim");
  CHECK(claims_error(R"({"sub":"","exp":1})") == "malformed token: \"sub\" must be a non-empty string");
  CHECK(claims_error(R"({"sub":7,"exp":1})") == "malformed token: \"sub\" must be a non-empty string");
  CHECK(claims_error(R"({"sub":null,"exp":1})") == "malformed token: \"sub\" must be a non-empty string");
  CHECK(claims_error(R"({"sub":"a"})") == "malformed token: no \"exp\" claim");
  CHECK(claims_error(R"({"sub":"a","exp":"1900000000"})") ==
        "malformed token: \"exp\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":true})") == "malformed token: \"exp\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":18446744073709551615})") ==
        "malformed token: \"exp\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":1e300})") == "malformed token: \"exp\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":1,"nbf":"0"})") ==
        "malformed token: \"nbf\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":1,"iat":[]})") ==
        "malformed token: \"iat\" must be a number of seconds");
  CHECK(claims_error(R"({"sub":"a","exp":1,"iss":1})") == "malformed token: \"iss\" must be a string");
  CHECK(claims_error(R"({"sub":"a","exp":1,"aud":1})") ==
        "malformed token: \"aud\" must be a string or an array of strings");
  CHECK(claims_error(R"({"sub":"a","exp":1,"aud":["x",2]})") ==
        "malformed token: \"aud\" must be a string or an array of strings");
  CHECK(claims_error(R"({"sub":"a","exp":1,"rooms":"ops"})") ==
        "malformed token: \"rooms\" must be an array of strings");
  CHECK(claims_error(R"({"sub":"a","exp":1,"rooms":["ops",null]})") ==
        "malformed token: \"rooms\" must be an array of strings");
  CHECK(claims_error(R"({"sub":"a","exp":1,"publish":"false"})") ==
        "malformed token: \"publish\" must be true or false");
  CHECK(claims_error(R"({"sub":"a","exp":1,"publish":0})") ==
        "malformed token: \"publish\" must be true or false");
  CHECK(claims_error(R"({"sub":"a","exp":1,"rooms":[]})").empty());  // no room at all: valid, and useless
}
