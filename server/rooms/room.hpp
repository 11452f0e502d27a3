// One chat room: an actor that owns its subscriber list and event ids. Everything reaches it through
// its inbox channel, so its state needs no lock and ids are assigned in the order events are delivered.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>

#include "config/config.hpp"
#include "protocol/json.hpp"
#include "server/rooms/room_command.hpp"
#include "server/rooms/subscriber.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

class Room : public std::enable_shared_from_this<Room> {
 public:
  // `history` is what the store remembers of this room. `max_message_size` (limits.max_message_size) is
  // told to resuming clients in `recovered`, so a page can check a message before sending it.
  Room(std::string name, asio::io_context& context, HistoryStore& store, const config::History& settings,
       std::size_t max_message_size, HistoryStore::RoomHistory history);

  const std::string& name() const { return name_; }

  // Starts the actor on its io_context.
  void start();
  // Closes the inbox; the actor finishes what it holds, drops its subscribers and ends.
  void stop();
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Only once every worker thread has stopped: drops the subscriber list of an actor that never got to
  // finish. A subscriber holds its room, so this breaks the last reference cycle at exit.
  void release_subscribers_after_stop();

  // From any coroutine on any thread. Suspends only while the inbox is full (back-pressure).
  // False when the room is stopped.
  asio::awaitable<bool> send(RoomCommand command);
  // From any thread, without waiting: false (and `command` untouched) when the inbox is full or closed.
  bool try_send(RoomCommand& command);

 private:
  using Inbox = asio::experimental::concurrent_channel<void(asio::error_code, RoomCommand)>;

  asio::awaitable<void> run();
  void handle_or_refuse(RoomCommand& command);
  void handle(RoomCommand& command);  // one of these:
  void handle(JoinRoom& command);
  void handle(LeaveRoom& command);
  void handle(PublishMessages& command);
  void handle(PresenceQuery& command);
  void handle(HistoryQuery& command);
  void refuse(RoomCommand& command);  // after a handle() threw: answers what it can
  void flush_if_backlogged();
  void leave(Subscriber& subscriber);
  bool is_member(const Subscriber& subscriber) const;
  void deliver(Subscriber& subscriber);  // pushes the batch being published
  void close_too_slow();
  // History.
  SharedEvent record(EventType type, const std::string& name, std::string text, std::int64_t ts);
  // Hands the events recorded since the last call to the store, and answers `reply` (then null) now or,
  // with durability sync, once they are on disk.
  void store(std::shared_ptr<PublishReply>& reply, std::uint64_t first_id);
  void store_recorded();  // the same, with no publisher to answer
  void trim_history(std::int64_t now);
  std::uint64_t oldest_retained() const;
  std::size_t first_after(std::uint64_t id) const;  // index in history_ of the first event with a greater id
  void announce(EventType type, const std::string& name);  // join, leave
  void replay(Subscriber& subscriber, std::uint64_t since, const std::string& epoch);
  protocol::Event json_event(const StoredEvent& event) const;
  SharedFrame encode_json(const StoredEvent& event) const;

  std::string name_;
  Inbox inbox_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  std::size_t text_subscribers_ = 0;  // the rest want JSON
  std::size_t presence_subscribers_ = 0;
  std::unordered_map<std::string, std::uint32_t> sessions_by_name_;  // presence
  std::uint64_t last_id_ = 0;
  // History: the retained events, oldest first, with consecutive ids; the store keeps them on disk.
  HistoryStore& store_;
  const config::History& settings_;
  std::size_t max_message_size_;
  std::string epoch_;
  std::deque<SharedEvent> history_;
  std::vector<SharedEvent> unstored_;  // recorded during this command, handed to the store after it
  // Scratch for one fan-out: the frames of a batch in each format, and the subscribers found too slow.
  std::vector<SharedFrame> json_frames_;
  std::vector<SharedFrame> text_frames_;
  std::vector<Subscriber*> too_slow_;
  bool backlog_ = false;  // a queue is half full: let the writers run
  std::atomic<bool> finished_{false};
};

}  // namespace chatd
