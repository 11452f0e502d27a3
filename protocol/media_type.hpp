// The media type of a Content-Type header, as the body parsers compare it (RFC 9110 8.3.1: parameters
// after ';' aside, case-insensitive): "Application/JSON; charset=utf-8" -> "application/json".
#pragma once

#include <string>
#include <string_view>

namespace chatd::protocol {

// Any thread.
std::string media_type(std::string_view content_type);

}  // namespace chatd::protocol
