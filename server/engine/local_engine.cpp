#include "server/engine/local_engine.hpp"

#include "server/engine/engine_factory.hpp"

#include <utility>

namespace chatd {

LocalEngine::LocalEngine(std::string room, HistoryStore& store, const config::History& settings,
                         HistoryStore::RoomHistory history)
    : room_(std::move(room)),
      store_(store),
      settings_(settings),
      loaded_(std::move(history)),
      last_id_(loaded_.last_id) {}

HistoryStore::RoomHistory LocalEngine::take_loaded_history() {
  return std::exchange(loaded_, HistoryStore::RoomHistory{});
}

void LocalEngine::sequence(EventType type, const std::string& name, std::span<std::string> texts,
                           std::int64_t ts, std::vector<SharedEvent>& numbered) {
  for (auto& text : texts) {
    auto event =
        std::make_shared<const StoredEvent>(StoredEvent{++last_id_, ts, type, name, std::move(text)});
    unstored_.push_back(event);
    numbered.push_back(std::move(event));
  }
}

void LocalEngine::commit(std::shared_ptr<PublishReply>& reply, std::uint64_t kept_from) {
  // A publish numbers its messages first in its command: the first unstored event is its first message.
  const std::uint64_t first_id = unstored_.empty() ? last_id_ + 1 : unstored_.front()->id;
  const bool sync = settings_.durability == config::History::Durability::sync;
  HistoryStore::Committed committed;
  // `reply` is let go of only once it is answered or handed to the store, whose append() never throws
  // and always runs the callback: should anything before that throw, the room (Room::refuse) answers it
  // instead, and never a second time.
  if (reply && sync) {
    // sync: the publisher hears its id only once the event is on disk.
    committed = [reply, first_id](bool ok) {
      reply->try_send(ok ? asio::error_code{} : asio::error::no_recovery, first_id);
    };
  } else if (reply) {
    std::exchange(reply, nullptr)->try_send(asio::error_code{}, first_id);
  }
  if (unstored_.empty()) {
    if (committed) committed(true);
    reply = nullptr;
    return;
  }
  std::vector<SharedEvent> events;
  events.swap(unstored_);
  // Counted down when the store commits (or gives up on) them; the store always runs the callback.
  const std::size_t count = events.size();
  appending_->fetch_add(count, std::memory_order_relaxed);
  HistoryStore::Committed counted = [appending = appending_, count, inner = std::move(committed)](bool ok) {
    appending->fetch_sub(count, std::memory_order_release);
    if (inner) inner(ok);
  };
  store_.append(room_, std::move(events), kept_from, std::move(counted));
  reply = nullptr;
}

bool LocalEngine::all_stored() const {
  return unstored_.empty() && appending_->load(std::memory_order_acquire) == 0;
}

}  // namespace chatd

namespace chatd {

std::unique_ptr<Engine> LocalEngineFactory::load(const std::string& room) {
  return std::make_unique<LocalEngine>(room, store_, settings_, store_.load(room));
}

}  // namespace chatd
