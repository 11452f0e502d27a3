// One line per event on stderr, filtered by log.level. Safe from any thread.
#pragma once

#include <sstream>
#include <string_view>

#include "config/config.hpp"

namespace chatd::log {

using Level = config::LogLevel;

void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

// log::info("open peer=", peer, " room=", room);
template <typename... Parts>
void line(Level level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.view());
}
template <typename... Parts>
void debug(const Parts&... parts) {
  line(Level::debug, parts...);
}
template <typename... Parts>
void info(const Parts&... parts) {
  line(Level::info, parts...);
}
template <typename... Parts>
void warn(const Parts&... parts) {
  line(Level::warn, parts...);
}
template <typename... Parts>
void error(const Parts&... parts) {
  line(Level::error, parts...);
}

}  // namespace chatd::log
