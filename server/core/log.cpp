#include "server/core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace chatd::log {

namespace {

std::atomic<Level> current_level{Level::info};

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "?";
}

}  // namespace

void set_level(Level level) {
  current_level.store(level, std::memory_order_relaxed);
}

bool enabled(Level level) {
  return level >= current_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view text) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  const std::size_t stamp_size = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out;
  out.reserve(stamp_size + text.size() + 16);
  out.append(stamp, stamp_size);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + millis / 100));
  out.push_back(static_cast<char>('0' + millis / 10 % 10));
  out.push_back(static_cast<char>('0' + millis % 10));
  out.append("Z ");
  out.append(level_name(level));
  out.push_back(' ');
  out.append(text);
  out.push_back('\n');
  // One write() per line: lines from different threads never interleave.
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace chatd::log
