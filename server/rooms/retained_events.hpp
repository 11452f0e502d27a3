// The window of a room's history held in memory, from which history pages and recovery are served:
// the newest events, oldest first, ids growing (consecutive, but they may skip after a crash). Bounded by
// history.max_events and history.max_age. Time is given, never read: `now` is ms since the Unix epoch,
// as an event's `ts` (event_time_now()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "protocol/frame_builder.hpp"
#include "server/rooms/event_format.hpp"
#include "server/store/stored_event.hpp"

namespace chatd {

using protocol::SharedFrame;

// Room thread only (part of the room's state).
class RetainedEvents {
 public:
  using Events = std::deque<SharedEvent>;
  // A run of retained events, oldest first: valid until the next push() or trim().
  struct Slice {
    Events::const_iterator begin;
    Events::const_iterator end;
    std::size_t size() const { return static_cast<std::size_t>(end - begin); }
  };
  struct Page {
    Slice events;
    std::optional<std::uint64_t> next_before;  // the `before` of the next older page; none: no older page
  };
  struct Replay {
    Slice events;       // the retained events after `since`
    std::size_t first;  // the index of events.begin, for encoded()
    bool complete;      // `since` is an id given, and nothing after it was trimmed away
  };
  // An event's frames as sent, built once (at fan-out, or by the first replay that needs them) and
  // shared by every replay after: a replay costs references, not a copy of the history per subscriber.
  // One per EventFormat (format_index), null until a subscriber of that format needs it.
  struct Encoded {
    std::array<SharedFrame, event_format_count> frames;
  };

  // `loaded`: what the store kept, oldest first; `last_id`: the newest id ever given in this room (it
  // may be newer than every event retained).
  RetainedEvents(const config::History& settings, std::vector<SharedEvent> loaded, std::uint64_t last_id);

  // The history starts again (Engine's SequencedBatch::reset): `loaded` replaces what is retained.
  void reset(std::vector<SharedEvent> loaded, std::uint64_t last_id);
  // A newly numbered event, newer than all retained; then trims as of `now`.
  void push(SharedEvent event, std::int64_t now);
  // Drops the events beyond history.max_events, and those older than history.max_age at `now`.
  void trim(std::int64_t now);

  // The newest id seen, retained or not.
  std::uint64_t last_id() const { return last_id_; }
  // The oldest id retained; with nothing retained, the id the next event will get at the earliest.
  std::uint64_t oldest() const;
  // Trims as of `now`, then: at most `limit` events older than id `before` (0: the newest).
  Page page(std::uint64_t before, std::size_t limit, std::int64_t now);
  // Trims as of `now`, then: the events after id `since`, and whether they are all that followed it.
  Replay replay(std::uint64_t since, std::int64_t now);
  const Events& events() const { return events_; }
  // The frames of the event at `index` (0: the oldest retained), valid until the next push() or trim().
  Encoded& encoded(std::size_t index) { return encoded_[index]; }
  // The frames of the event `back` places from the newest (0: the newest), if it is still `event`
  // (a push may have trimmed it already): where fan-out keeps the frames it built.
  Encoded* encoded_from_back(std::size_t back, const StoredEvent& event);

 private:
  std::size_t first_after(std::uint64_t id) const;
  void pop_oldest();  // index of the first event with a greater id

  const config::History& settings_;
  Events events_;
  std::deque<Encoded> encoded_;  // one per event in events_, same order
  std::uint64_t last_id_;
};

}  // namespace chatd
