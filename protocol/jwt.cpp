#include "protocol/jwt.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <simdjson.h>

#include "protocol/base64url.hpp"

namespace chatd::protocol::jwt {

namespace {

Parsed refuse(std::string_view reason) {
  Parsed parsed;
  parsed.error = "malformed token: ";
  parsed.error += reason;
  return parsed;
}

// A JSON object decoded from one segment, in the thread's parser. Valid until that parser parses again.
// simdjson validates the UTF-8 of the whole document, member names and strings included.
simdjson::error_code parse_object(simdjson::dom::parser& parser, const std::string& json,
                                  simdjson::dom::object& object) {
  simdjson::dom::element document;
  if (auto error = parser.parse(json).get(document)) return error;
  return document.get(object);
}

// Whether a member name appears twice. simdjson's DOM keeps every member, duplicates included, in document
// order, and a lookup by name finds only the first: a checker that looked up "alg" and a library that took
// the last "alg" would read two different tokens. RFC 7515 section 4 and RFC 7519 section 4 let a
// recipient reject duplicate names, and chatd does.
// Names are compared after unescaping, so "a\u006cg" and "alg" are the same name.
bool has_duplicate_names(simdjson::dom::object object) {
  std::vector<std::string_view> names;
  names.reserve(object.size());
  for (auto field : object) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A NumericDate (RFC 7519 section 2): a JSON number of seconds, possibly fractional, kept as whole seconds
// rounded down. Nullopt for anything that is not a number or does not fit in 64 bits.
std::optional<std::int64_t> numeric_date(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
      return value.get_int64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE: {
      const double seconds = std::floor(value.get_double().value_unsafe());
      // 2^63 is exact as a double; anything at or past it (or NaN, which JSON cannot write) does not fit.
      if (!(seconds >= -9223372036854775808.0 && seconds < 9223372036854775808.0)) return std::nullopt;
      return static_cast<std::int64_t>(seconds);
    }
    default:  // UINT64 (past INT64_MAX), strings, booleans, null, arrays, objects
      return std::nullopt;
  }
}

// Fills `out` with the strings of a JSON array; false if `value` is not an array of strings.
bool string_array(simdjson::dom::element value, std::vector<std::string>& out) {
  simdjson::dom::array array;
  if (value.get(array)) return false;
  for (auto item : array) {
    std::string_view text;
    if (item.get(text)) return false;
    out.emplace_back(text);
  }
  return true;
}

// The JOSE header (RFC 7515 section 4). Every member is walked, so a duplicate anywhere at the top level is
// found; members chatd does not use (jku, x5u, jwk, x5c, cty, ...) are ignored: keys come from the config,
// never from the token.
std::optional<std::string> read_header(simdjson::dom::object object, Header& header) {
  if (has_duplicate_names(object)) return "a header member is given twice";
  bool has_alg = false;
  for (auto field : object) {
    if (field.key == "alg") {
      std::string_view alg;
      if (field.value.get(alg)) return "\"alg\" must be a string";
      header.alg = alg;
      has_alg = true;
    } else if (field.key == "kid") {
      std::string_view kid;
      if (field.value.get(kid)) return "\"kid\" must be a string";
      header.kid = kid;
    } else if (field.key == "crit") {
      // RFC 7515 4.1.11: a recipient that does not understand every listed extension must reject the token;
      // chatd understands none.
      return "\"crit\" names extensions chatd does not implement";
    } else if (field.key == "typ") {
      // RFC 7515 4.1.9: a media type, case-insensitive, "application/" may be left out; RFC 7519 5.1: "JWT".
      std::string_view typ;
      if (field.value.get(typ)) return "\"typ\" must be a string";
      if (!iequals(typ, "JWT") && !iequals(typ, "application/jwt")) return "\"typ\" must be \"JWT\"";
    }
  }
  if (!has_alg) return "the header has no \"alg\"";
  return std::nullopt;
}

// The claims set (RFC 7519 section 4). Unknown claims are skipped (their nested values are not read) but
// their names count for duplicates.
std::optional<std::string> read_claims(simdjson::dom::object object, Claims& claims) {
  if (has_duplicate_names(object)) return "a claim is given twice";
  bool has_sub = false;
  bool has_exp = false;
  for (auto field : object) {
    const std::string_view key = field.key;
    if (key == "sub") {
      std::string_view sub;
      if (field.value.get(sub) || sub.empty()) return "\"sub\" must be a non-empty string";
      claims.sub = sub;
      has_sub = true;
    } else if (key == "exp") {
      const auto exp = numeric_date(field.value);
      if (!exp) return "\"exp\" must be a number of seconds";
      claims.exp = *exp;
      has_exp = true;
    } else if (key == "nbf") {
      claims.nbf = numeric_date(field.value);
      if (!claims.nbf) return "\"nbf\" must be a number of seconds";
    } else if (key == "iat") {
      claims.iat = numeric_date(field.value);
      if (!claims.iat) return "\"iat\" must be a number of seconds";
    } else if (key == "iss") {
      std::string_view iss;
      if (field.value.get(iss)) return "\"iss\" must be a string";
      claims.iss = iss;
    } else if (key == "aud") {
      // RFC 7519 4.1.3: one string, or an array of strings.
      std::string_view aud;
      if (!field.value.get(aud)) {
        claims.aud.emplace_back(aud);
      } else if (!string_array(field.value, claims.aud)) {
        return "\"aud\" must be a string or an array of strings";
      }
    } else if (key == "rooms") {
      std::vector<std::string> rooms;
      if (!string_array(field.value, rooms)) return "\"rooms\" must be an array of strings";
      claims.rooms = std::move(rooms);
    } else if (key == "publish") {
      bool publish = true;
      if (field.value.get(publish)) return "\"publish\" must be true or false";
      claims.publish = publish;
    }
  }
  if (!has_sub) return "no \"sub\" claim";
  if (!has_exp) return "no \"exp\" claim";
  return std::nullopt;
}

}  // namespace

Parsed parse(std::string_view token) {
  // The cap comes before any decoding, so a huge token costs a length check only.
  if (token.size() > max_token_size) return refuse("longer than 8 KiB");
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    // RFC 7515 7.1: header.payload.signature. Five segments would be JWE, which chatd does not take.
    return refuse("not three segments");
  }
  const auto header_text = base64url_decode(token.substr(0, first_dot));
  const auto claims_text = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  auto signature = base64url_decode(token.substr(second_dot + 1));
  if (!header_text || !claims_text || !signature) return refuse("a segment is not unpadded base64url");

  thread_local simdjson::dom::parser parser;
  Token out;
  out.signing_input = token.substr(0, second_dot);
  out.signature = std::move(*signature);

  // The header is read completely before the claims are parsed: the same parser holds one document at a
  // time.
  simdjson::dom::object object;
  if (parse_object(parser, *header_text, object)) return refuse("the header is not a JSON object");
  if (auto problem = read_header(object, out.header)) return refuse(*problem);
  if (parse_object(parser, *claims_text, object)) return refuse("the claims are not a JSON object");
  if (auto problem = read_claims(object, out.claims)) return refuse(*problem);

  Parsed parsed;
  parsed.token = std::move(out);
  return parsed;
}

}  // namespace chatd::protocol::jwt
