// Presence on its own: sessions counted per name, the join and leave transitions, the sorted list.
#include <doctest/doctest.h>

#include "server/rooms/presence.hpp"

using chatd::Presence;

TEST_CASE("presence: the first session joins, the last one leaves, the others change nothing") {
  Presence presence;
  CHECK(presence.add("alice"));
  CHECK(!presence.add("alice"));
  CHECK(presence.add("bob"));
  CHECK(!presence.remove("alice"));
  CHECK(presence.remove("alice"));
  CHECK(!presence.remove("alice"));  // no session left: nobody leaves again
  CHECK(presence.add("alice"));      // and a new session joins again
}

TEST_CASE("presence: a name never counted leaves nobody") {
  Presence presence;
  CHECK(!presence.remove("ghost"));
  CHECK(presence.entries().empty());
}

TEST_CASE("presence: entries sorted by name, with their session counts") {
  Presence presence;
  presence.add("zoe");
  presence.add("alice");
  presence.add("mallory");
  presence.add("alice");
  presence.remove("mallory");
  const auto entries = presence.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].name == "alice");
  CHECK(entries[0].sessions == 2);
  CHECK(entries[1].name == "zoe");
  CHECK(entries[1].sessions == 1);
}
