// Who is in a room: sessions counted per user name. A user joins with their first session and leaves
// with their last; the room announces exactly those two transitions, and /presence lists the counts.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/chat_json.hpp"

namespace chatd {

// Room thread only (it is part of the room's state, which the room's inbox serializes).
class Presence {
 public:
  // One more session of `name`. True: it is the first, so the user has joined.
  bool add(const std::string& name);
  // One session of `name` fewer. True: it was the last, so the user has left. A name with no session
  // counted (its add() threw before counting) leaves nobody.
  bool remove(const std::string& name);
  // The sessions of `name` counted now (0: not present).
  std::uint32_t sessions(const std::string& name) const;

  // The users present and their sessions, sorted by name. The names view this Presence's own keys:
  // use the entries before the next add() or remove().
  std::vector<protocol::PresenceEntry> entries() const;

 private:
  std::unordered_map<std::string, std::uint32_t> sessions_by_name_;
};

}  // namespace chatd
