// HTTP/1.1 responses as bytes ready to write.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chatd::protocol {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;                                        // adds "Connection: close"
};

// Status line, headers (always with Content-Length), blank line, and the body unless `head_only`.
std::string serialize(const HttpResponse& response, bool head_only = false);

// A JSON {"error": message} response.
HttpResponse error_response(int status, std::string_view message);

std::string_view reason_phrase(int status);

}  // namespace chatd::protocol
