#include "protocol/publish_body.hpp"

#include <simdjson.h>

#include "protocol/media_type.hpp"
#include "protocol/utf8.hpp"

namespace chatd::protocol {

namespace {

PublishBodyResult failure(int status, std::string error) {
  PublishBodyResult result;
  result.status = status;
  result.error = std::move(error);
  return result;
}

PublishBodyResult parse_json(std::string_view body) {
  // simdjson validates UTF-8 of the whole document, strings included.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element document;
  // simdjson memcpy()s from the pointer even for 0 bytes, undefined for the null pointer an empty
  // string_view may hold (found by test/fuzz/publish_body under UBSan): give it a real one.
  const char* bytes = body.empty() ? "" : body.data();
  if (auto error = parser.parse(bytes, body.size()).get(document)) {
    return failure(400, std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (document.get(object)) return failure(400, "the JSON body must be an object");

  PublishBody out;
  bool has_text = false;
  for (auto field : object) {
    std::string_view value;
    if (field.value.get(value)) {
      return failure(400, "field \"" + std::string(field.key) + "\" must be a string");
    }
    if (field.key == "text") {
      out.text = value;
      has_text = true;
    } else if (field.key == "room") {
      out.room = std::string(value);
    } else if (field.key == "name") {
      out.name = std::string(value);
    } else {
      return failure(400, "unknown field \"" + std::string(field.key) + "\" (known: room, text, name)");
    }
  }
  if (!has_text) return failure(400, "missing field \"text\"");
  PublishBodyResult result;
  result.body = std::move(out);
  return result;
}

}  // namespace

PublishBodyResult parse_publish_body(std::string_view content_type, std::string_view body) {
  const std::string type = media_type(content_type);
  PublishBodyResult result;
  if (type == "application/json") {
    result = parse_json(body);
  } else if (type.empty() || type == "text/plain" || type == "application/x-www-form-urlencoded") {
    // curl --data sends application/x-www-form-urlencoded; its body is the text as typed.
    if (!is_valid_utf8(body)) return failure(400, "the message text is not valid UTF-8");
    result.body = PublishBody{{}, {}, std::string(body)};
  } else {
    return failure(415, "unsupported Content-Type \"" + std::string(content_type) +
                            "\" (use text/plain or application/json)");
  }
  if (result.body && result.body->text.empty()) return failure(400, "the message text is empty");
  return result;
}

}  // namespace chatd::protocol
