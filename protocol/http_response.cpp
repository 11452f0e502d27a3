#include "protocol/http_response.hpp"

#include "protocol/json.hpp"

namespace chatd::protocol {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string serialize(const HttpResponse& response, bool head_only) {
  std::string out;
  out.reserve(128 + response.body.size());
  out.append("HTTP/1.1 ");
  out.append(std::to_string(response.status));
  out.push_back(' ');
  out.append(reason_phrase(response.status));
  out.append("\r\n");
  for (const auto& [name, value] : response.headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (response.status != 101 && response.status != 204 && response.status != 304) {
    if (!response.content_type.empty())
      out.append("Content-Type: ").append(response.content_type).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(response.body.size())).append("\r\n");
  }
  if (response.close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!head_only) out.append(response.body);
  return out;
}

HttpResponse error_response(int status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = error_json(message);
  response.body.push_back('\n');
  return response;
}

}  // namespace chatd::protocol
