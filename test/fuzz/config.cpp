// libFuzzer target: config::load_string. Oracles: it either loads or throws ConfigError (nothing else);
// every message is "FILE:LINE:COLUMN: ..." with 1-based numbers inside the text, or "FILE: ..." when
// line() is 0 (config.hpp); and a loaded config re-loads the same (loading is a function of the text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "test/fuzz/check.hpp"

namespace {

constexpr std::string_view file_name = "fuzz.yaml";

// Counts lines as yaml-cpp's marks do: after each '\n', and after a '\r' not followed by '\n'.
int line_count(std::string_view text) {
  int lines = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) ++lines;
  }
  return lines;
}

void check_error(const chatd::config::ConfigError& error, std::string_view text) {
  const std::string message = error.what();
  FUZZ_CHECK(error.file() == file_name);
  if (error.line() > 0) {
    FUZZ_CHECK(error.line() <= line_count(text) + 1);
    FUZZ_CHECK(error.column() >= 1);
    const std::string prefix = std::string(file_name) + ":" + std::to_string(error.line()) + ":" +
                               std::to_string(error.column()) + ": ";
    FUZZ_CHECK(message.starts_with(prefix));
    FUZZ_CHECK(message.size() > prefix.size());
  } else {
    FUZZ_CHECK(message.starts_with(std::string(file_name) + ": "));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string first;
  try {
    const auto config = chatd::config::load_string(text, std::string(file_name), "/base");
    first = "ok";
  } catch (const chatd::config::ConfigError& error) {
    check_error(error, text);
    first = error.what();
  }
  // The same text gives the same outcome.
  std::string second;
  try {
    chatd::config::load_string(text, std::string(file_name), "/base");
    second = "ok";
  } catch (const chatd::config::ConfigError& error) {
    second = error.what();
  }
  FUZZ_CHECK(first == second);
  return 0;
}
