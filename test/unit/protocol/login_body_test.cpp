// POST /login bodies (protocol/login_body.cpp): JSON and HTML forms, and every refusal.
#include <doctest/doctest.h>

#include "protocol/login_body.hpp"

using chatd::protocol::parse_login_body;

TEST_CASE("a JSON body and a form body give the same name and password") {
  const auto json =
      parse_login_body("application/json; charset=utf-8", R"({"name":"alice","password":"p w&="})");
  REQUIRE(json.body);
  CHECK(json.body->name == "alice");
  CHECK(json.body->password == "p w&=");
  const auto form = parse_login_body("application/x-www-form-urlencoded", "password=p+w%26%3D&name=alice");
  REQUIRE(form.body);
  CHECK(form.body->name == "alice");
  CHECK(form.body->password == "p w&=");
}

TEST_CASE("refusals: 415 for other types, 400 for missing, empty, unknown, repeated or mistyped fields") {
  const auto text = parse_login_body("text/plain", "alice:pw");
  CHECK(text.status == 415);
  const auto none = parse_login_body("", "name=a&password=b");
  CHECK(none.status == 415);
  for (const auto* body : {R"({"name":"alice"})", R"({"name":"","password":"x"})",
                           R"({"name":"a","password":1})", R"({"name":"a","password":"b","admin":true})",
                           R"({"name":"a","name":"b","password":"c"})", R"(["a","b"])", "{"}) {
    CAPTURE(body);
    const auto result = parse_login_body("application/json", body);
    CHECK_FALSE(result.body);
    CHECK(result.status == 400);
  }
  for (const auto* body : {"name=a", "name=a&password=", "name=a&password=b&name=c", "name=a&password=%zz",
                           "name=a&password=b&x=1"}) {
    CAPTURE(body);
    const auto result = parse_login_body("application/x-www-form-urlencoded", body);
    CHECK_FALSE(result.body);
    CHECK(result.status == 400);
  }
  const auto repeated = parse_login_body("application/json", R"({"name":"a","name":"b","password":"c"})");
  CHECK(repeated.error == "field \"name\" is given twice");
  // The password never appears in an error.
  const auto bad_utf8 = parse_login_body("application/x-www-form-urlencoded", "name=a&password=secret%FF");
  CHECK(bad_utf8.status == 400);
  CHECK(bad_utf8.error.find("secret") == std::string::npos);
}
