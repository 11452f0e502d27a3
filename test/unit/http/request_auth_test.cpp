// The parts of request_auth.cpp that need no socket: reading the session cookie (RFC 6265 5.4 header form).
#include <doctest/doctest.h>

#include "server/http/request_auth.hpp"

using chatd::cookie_value;

TEST_CASE("the session cookie among others, exactly by name") {
  CHECK(cookie_value("chatd_session=abc", "chatd_session") == "abc");
  CHECK(cookie_value("theme=dark; chatd_session=abc; lang=en", "chatd_session") == "abc");
  CHECK(cookie_value("theme=dark;chatd_session=abc", "chatd_session") == "abc");
  CHECK(cookie_value("xchatd_session=abc", "chatd_session").empty());
  CHECK(cookie_value("chatd_session_old=abc", "chatd_session").empty());
  CHECK(cookie_value("chatd_session", "chatd_session").empty());
  CHECK(cookie_value("", "chatd_session").empty());
  CHECK(cookie_value("chatd_session=", "chatd_session").empty());
}
