#include "server/rooms/presence.hpp"

#include <algorithm>

namespace chatd {

bool Presence::add(const std::string& name) {
  return ++sessions_by_name_[name] == 1;
}

bool Presence::remove(const std::string& name) {
  const auto sessions = sessions_by_name_.find(name);
  if (sessions == sessions_by_name_.end() || --sessions->second != 0) return false;
  sessions_by_name_.erase(sessions);
  return true;
}

std::uint32_t Presence::sessions(const std::string& name) const {
  const auto found = sessions_by_name_.find(name);
  return found == sessions_by_name_.end() ? 0 : found->second;
}

std::vector<protocol::PresenceEntry> Presence::entries() const {
  std::vector<protocol::PresenceEntry> users;
  users.reserve(sessions_by_name_.size());
  for (const auto& [name, sessions] : sessions_by_name_) users.push_back({name, sessions});
  std::sort(users.begin(), users.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return users;
}

}  // namespace chatd
