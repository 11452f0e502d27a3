// Where rooms keep their history beyond the process: SQLite on disk, or nothing (history.store: memory).
// A room holds its retained events in memory and serves history and recovery from there; the store is
// what survives a restart. Rooms hand events over without waiting: one writer commits them in batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/store/stored_event.hpp"

namespace chatd {

// The store cannot be used: what() says which file and why. chatd exits with 2.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class HistoryStore {
 public:
  struct RoomHistory {
    std::string epoch;                // fixed when the room's history began
    std::uint64_t last_id = 0;        // the next event gets last_id + 1
    std::vector<SharedEvent> events;  // retained, oldest first
  };
  // Runs on the writer thread once the events of one append are on disk (true) or failed (false).
  using Committed = std::function<void(bool ok)>;

  virtual ~HistoryStore() = default;

  // Any thread, once per room, when the room is made: what the room remembers. A room the store has
  // never seen gets a new epoch, stored at once.
  virtual RoomHistory load(const std::string& room) = 0;
  // Any thread: whether `room` has a stored history (so asking about it may bring it back).
  virtual bool knows(const std::string& room) = 0;
  // The room's thread. Never waits for the disk: the writer commits within history.flush_interval
  // (batch) or at once (sync). `events` are in id order, after the room's previous append; the store
  // drops the room's events below `kept_from`, the oldest id the room still retains. Never throws, and
  // always runs `committed` once: events it cannot take (memory ran out, the writer is too far behind)
  // are refused, logged, and keep the database from being marked closed cleanly.
  virtual void append(const std::string& room, std::vector<SharedEvent> events, std::uint64_t kept_from,
                      Committed committed) = 0;
  // Commits everything appended, then stops the writer. Called once, after the rooms have stopped.
  virtual void close() = 0;
  // Any thread: events appended and not yet committed (chatd_history_pending_events). A store that writes
  // nothing has none.
  virtual std::size_t pending_events() { return 0; }
  // Any thread: why events cannot be stored now (the writer's last commit failed: a full disk, a damaged
  // file), or "" (GET /readyz). It clears once a commit succeeds again.
  virtual std::string failure() { return {}; }
};

// Opens the store history.store names. Throws StoreError when the database cannot be opened, read or
// written: a corrupt or unwritable file stops start-up rather than starting with an empty history.
std::unique_ptr<HistoryStore> open_history_store(const config::History& settings);

// A new epoch: 16 random hex digits.
std::string make_epoch();

}  // namespace chatd
