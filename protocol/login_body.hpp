// The body of POST /login: {"name": "...", "password": "..."} as application/json, or name=...&password=...
// as application/x-www-form-urlencoded (an HTML form). Nothing here ever puts the password in an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chatd::protocol {

struct LoginBody {
  std::string name;
  std::string password;
};

struct LoginBodyResult {
  std::optional<LoginBody> body;
  int status = 0;     // when !body: 400 or 415
  std::string error;  // when !body: why
};

// Any thread. Both fields are required, UTF-8 and non-empty; unknown JSON fields and form pairs are
// refused (400), other content types 415.
LoginBodyResult parse_login_body(std::string_view content_type, std::string_view body);

}  // namespace chatd::protocol
