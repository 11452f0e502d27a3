// The body of a publish request (protocol/publish_body): plain text and JSON, content types, refusals.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "protocol/publish_body.hpp"

using namespace chatd::protocol;

namespace {

PublishBody accepted(std::string_view content_type, std::string_view body) {
  auto result = parse_publish_body(content_type, body);
  INFO("content type: " << content_type << ", body: " << body << ", error: " << result.error);
  REQUIRE(result.body.has_value());
  CHECK(result.status == 0);
  return *result.body;
}

PublishBodyResult refused(std::string_view content_type, std::string_view body) {
  auto result = parse_publish_body(content_type, body);
  INFO("content type: " << content_type << ", body: " << body);
  CHECK_FALSE(result.body.has_value());
  CHECK_FALSE(result.error.empty());
  return result;
}

}  // namespace

TEST_CASE("parse_publish_body: plain text") {
  auto body = accepted("text/plain", "deploy done");
  CHECK(body.text == "deploy done");
  CHECK_FALSE(body.room.has_value());
  CHECK_FALSE(body.name.has_value());

  body = accepted("application/x-www-form-urlencoded", "a+b%20c=d");
  CHECK(body.text == "a+b%20c=d");  // taken as typed, not decoded

  body = accepted("", "no content type");
  CHECK(body.text == "no content type");

  body = accepted("text/plain", "{\"text\":\"not json here\"}");
  CHECK(body.text == "{\"text\":\"not json here\"}");

  body = accepted("text/plain", "caf\xc3\xa9");
  CHECK(body.text == "caf\xc3\xa9");
}

TEST_CASE("parse_publish_body: content type parameters and case") {
  CHECK(accepted("text/plain; charset=utf-8", "hi").text == "hi");
  CHECK(accepted("Text/Plain;charset=UTF-8", "hi").text == "hi");
  CHECK(accepted("APPLICATION/JSON ; charset=utf-8", "{\"text\":\"j\"}").text == "j");
  CHECK(accepted("Application/Json", "{\"text\":\"k\"}").text == "k");
}

TEST_CASE("parse_publish_body: JSON") {
  auto body =
      accepted("application/json", R"({"room":"ops","name":"alice","text":"deploy \"done\" \u00e9"})");
  CHECK(body.text == "deploy \"done\" \xc3\xa9");
  REQUIRE(body.room.has_value());
  CHECK(*body.room == "ops");
  REQUIRE(body.name.has_value());
  CHECK(*body.name == "alice");

  body = accepted("application/json", R"({"text":"only text"})");
  CHECK(body.text == "only text");
  CHECK_FALSE(body.room.has_value());
  CHECK_FALSE(body.name.has_value());

  body = accepted("application/json", R"(  {"name":"", "text":"x"}  )");
  REQUIRE(body.name.has_value());
  CHECK(body.name->empty());
}

TEST_CASE("parse_publish_body: refusals") {
  SUBCASE("unknown JSON field") {
    const auto result = refused("application/json", R"({"text":"x","color":"red"})");
    CHECK(result.status == 400);
    CHECK(result.error.find("color") != std::string::npos);
  }
  SUBCASE("non-string field") {
    CHECK(refused("application/json", R"({"text":5})").status == 400);
    CHECK(refused("application/json", R"({"text":"x","room":null})").status == 400);
    CHECK(refused("application/json", R"({"text":"x","name":["a"]})").status == 400);
  }
  SUBCASE("invalid JSON") {
    CHECK(refused("application/json", R"({"text":"x")").status == 400);
    CHECK(refused("application/json", "").status == 400);
    CHECK(refused("application/json", "text=hello").status == 400);
  }
  SUBCASE("JSON that is not an object") {
    CHECK(refused("application/json", R"(["text"])").status == 400);
    CHECK(refused("application/json", R"("text")").status == 400);
  }
  SUBCASE("invalid UTF-8") {
    CHECK(refused("text/plain", "bad \xff byte").status == 400);
    CHECK(refused("text/plain", "cut \xc3").status == 400);
    CHECK(refused("application/json", "{\"text\":\"bad \xff byte\"}").status == 400);
    CHECK(refused("application/json", "{\"text\":\"ok\",\"name\":\"\xc0\xaf\"}").status == 400);
  }
  SUBCASE("empty text") {
    CHECK(refused("text/plain", "").status == 400);
    CHECK(refused("application/json", R"({"text":""})").status == 400);
  }
  SUBCASE("missing text") {
    const auto result = refused("application/json", R"({"room":"ops"})");
    CHECK(result.status == 400);
    CHECK(result.error.find("text") != std::string::npos);
    CHECK(refused("application/json", "{}").status == 400);
  }
  SUBCASE("unsupported content type -> 415") {
    CHECK(refused("image/png", "hello").status == 415);
    CHECK(refused("multipart/form-data; boundary=x", "hello").status == 415);
    CHECK(refused("application/jsonx", R"({"text":"x"})").status == 415);
  }
}
