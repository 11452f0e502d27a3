#include "protocol/login_body.hpp"

#include <simdjson.h>

#include "protocol/media_type.hpp"
#include "protocol/uri.hpp"
#include "protocol/utf8.hpp"

namespace chatd::protocol {

namespace {

LoginBodyResult failure(int status, std::string error) {
  LoginBodyResult result;
  result.status = status;
  result.error = std::move(error);
  return result;
}

LoginBodyResult parse_json(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element document;
  const char* bytes = body.empty() ? "" : body.data();  // simdjson memcpy()s even 0 bytes from the pointer
  if (auto error = parser.parse(bytes, body.size()).get(document))
    return failure(400, std::string("invalid JSON: ") + simdjson::error_message(error));
  simdjson::dom::object object;
  if (document.get(object)) return failure(400, "the JSON body must be an object");
  std::optional<std::string> name, password;
  for (auto field : object) {
    std::string_view value;
    if (field.value.get(value))
      return failure(400, "field \"" + std::string(field.key) + "\" must be a string");
    if (field.key != "name" && field.key != "password")
      return failure(400, "unknown field \"" + std::string(field.key) + "\" (known: name, password)");
    auto& slot = field.key == "name" ? name : password;
    // Two of one field would leave which one counts to the parser: refuse it.
    if (slot) return failure(400, "field \"" + std::string(field.key) + "\" is given twice");
    slot = std::string(value);
  }
  if (!name || !password) return failure(400, "name and password are both required");
  LoginBodyResult result;
  result.body = LoginBody{std::move(*name), std::move(*password)};
  return result;
}

LoginBodyResult parse_form(std::string_view body) {
  std::optional<std::string> name, password;
  while (!body.empty()) {
    const auto end = body.find('&');
    const std::string_view pair = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
    if (pair.empty()) continue;
    const auto equals = pair.find('=');
    const std::string_view key = pair.substr(0, equals);
    auto value = percent_decode(equals == std::string_view::npos ? "" : pair.substr(equals + 1), true);
    if (!value) return failure(400, "malformed percent-encoding in field \"" + std::string(key) + "\"");
    if (key != "name" && key != "password")
      return failure(400, "unknown field \"" + std::string(key) + "\" (known: name, password)");
    auto& slot = key == "name" ? name : password;
    if (slot) return failure(400, "field \"" + std::string(key) + "\" is given twice");
    slot = std::move(*value);
  }
  if (!name || !password) return failure(400, "name and password are both required");
  LoginBodyResult result;
  result.body = LoginBody{std::move(*name), std::move(*password)};
  return result;
}

}  // namespace

LoginBodyResult parse_login_body(std::string_view content_type, std::string_view body) {
  const std::string type = media_type(content_type);
  LoginBodyResult result;
  if (type == "application/json") {
    result = parse_json(body);
  } else if (type == "application/x-www-form-urlencoded") {
    result = parse_form(body);
  } else {
    return failure(415, "unsupported Content-Type \"" + std::string(content_type) +
                            "\" (use application/json or application/x-www-form-urlencoded)");
  }
  if (!result.body) return result;
  if (!is_valid_utf8(result.body->name) || !is_valid_utf8(result.body->password))
    return failure(400, "name and password must be UTF-8");
  if (result.body->name.empty() || result.body->password.empty())
    return failure(400, "name and password must not be empty");
  return result;
}

}  // namespace chatd::protocol
