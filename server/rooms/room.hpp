// One chat room: an actor that owns its subscriber list, its presence and its retained events, and fans
// out events its engine numbered (server/engine/engine.hpp). Everything reaches it through its inbox
// channel, so its state needs no lock and events are fanned out in the order they are numbered.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>

#include "config/config.hpp"
#include "protocol/json.hpp"
#include "server/engine/engine.hpp"
#include "server/rooms/presence.hpp"
#include "server/rooms/queue_budget.hpp"
#include "server/rooms/retained_events.hpp"
#include "server/rooms/room_command.hpp"
#include "server/rooms/subscriber.hpp"

namespace chatd {

class Room : public std::enable_shared_from_this<Room> {
 public:
  // `engine` numbers and stores the room's events; the room starts from the history it loaded
  // (Engine::take_loaded_history). `max_message_size` (limits.max_message_size) is told to resuming
  // clients in `recovered`, so a page can check a message before sending it.
  // `budget` (limits.max_queued_bytes) counts every subscriber's queue; none: queues are bounded only
  // each on its own.
  Room(std::string name, asio::io_context& context, std::unique_ptr<Engine> engine,
       const config::History& settings, std::size_t max_message_size,
       std::shared_ptr<QueueBudget> budget = nullptr);

  const std::string& name() const { return name_; }
  // The io_context its actor runs on (its worker's): where its small rooms' subscribers are served
  // (http/subscription.cpp, place_subscriber).
  asio::io_context& context() const { return context_; }

  // Starts the actor on its io_context.
  void start();
  // Closes the inbox; the actor finishes what it holds, drops its subscribers and ends.
  void stop();
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  // Reclaiming an idle room (RoomRegistry::reclaim_idle). Any thread: the subscribers at the end of the
  // actor's last round.
  std::size_t members() const { return members_.load(std::memory_order_relaxed); }
  // Any thread: the actor confirms, on its own thread, that the room is idle (no subscriber, nothing in
  // its inbox) and then ends as stop() does; `decided(true)`. Otherwise it goes on, `decided(false)`.
  // `decided` runs on the room's thread.
  void stop_if_idle(std::function<void(bool stopped)> decided);
  // Any thread, once finished(): every event is in the store (Engine::all_stored).
  bool all_stored() const { return engine_->all_stored(); }
  // Only once every worker thread has stopped: drops the subscriber list of an actor that never got to
  // finish. A subscriber holds its room, so this breaks the last reference cycle at exit.
  void release_subscribers_after_stop();

  // From any coroutine on any thread. Suspends only while the inbox is full (back-pressure).
  // False when the room is stopped.
  asio::awaitable<bool> send(RoomCommand command);
  // From any thread, without waiting: false (and `command` untouched) when the inbox is full or closed.
  bool try_send(RoomCommand& command);

 private:
  Room(std::string name, asio::io_context& context, HistoryStore::RoomHistory loaded,
       std::unique_ptr<Engine>&& engine, const config::History& settings, std::size_t max_message_size,
       std::shared_ptr<QueueBudget> budget);

  using Inbox = asio::experimental::concurrent_channel<void(asio::error_code, RoomCommand)>;

  asio::awaitable<void> run();
  void handle_or_refuse(RoomCommand& command);
  void handle(RoomCommand& command);  // one of these:
  void handle(JoinRoom& command);
  void handle(LeaveRoom& command);
  void handle(PublishMessages& command);
  void handle(PresenceQuery& command);
  void handle(HistoryQuery& command);
  void handle(DeliverSequenced& command);
  void handle(AdminQuery& command);
  void handle(AdminDisconnect& command);
  void reset(DeliverSequenced& command);  // its history starts again
  void refuse(RoomCommand& command);      // after a handle() threw: answers what it can
  void clear_frames();                    // the fan-out's scratch
  void flush_if_backlogged();
  void leave(Subscriber& subscriber);
  bool is_member(const Subscriber& subscriber) const;
  // Has the engine number new events (all `type`, one per text, taking the texts) and fans out those
  // it numbered at once.
  void sequence(EventType type, const std::string& name, std::span<std::string> texts, Subscriber* author);
  void announce(EventType type, const std::string& name);  // join, leave
  // Retains numbered events (in id order) and pushes them to the subscribers that take them: messages to
  // all, `author` first; joins and leaves to those who want them. `events` ends empty.
  void fan_out(std::vector<SharedEvent>& events, Subscriber* author);
  // Encodes events [begin, end), all messages or all joins and leaves, in each format that takes them.
  void encode(const std::vector<SharedEvent>& events, std::size_t begin, std::size_t end, bool messages);
  // `event` as a subscriber in `format` receives it; `json` is its JSON object (json_event), built once
  // for every format that carries it.
  SharedFrame encode_frame(const StoredEvent& event, EventFormat format, std::string_view json) const;
  // A notice that is not an event of the room (recovered, reset), in `format`, which carries notices.
  static SharedFrame encode_notice(EventFormat format, std::string_view type, std::string_view json);
  void deliver_messages(Subscriber* author);  // the frames encoded, to every subscriber
  void deliver_presence();                    // the frames encoded, to those who want joins and leaves
  // Pushes the frames encoded in its format: whether they were queued (not full, not closed).
  bool deliver(Subscriber& subscriber);
  void close_too_slow();
  void commit_recorded();  // Engine::commit for a command with no publisher to answer
  void replay(Subscriber& subscriber, std::uint64_t since, const std::string& epoch);
  protocol::Event json_event(const StoredEvent& event) const;
  // The retained event's frame in `format`, built once and kept with it (RetainedEvents::Encoded).
  const SharedFrame& retained_frame(std::size_t index, EventFormat format);

  std::string name_;
  asio::io_context& context_;
  Inbox inbox_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  // Subscribers in each format (format_index), and of those the ones that take joins and leaves: which
  // encodings a fan-out builds.
  std::array<std::size_t, event_format_count> format_subscribers_{};
  std::array<std::size_t, event_format_count> presence_subscribers_{};
  Presence presence_;
  std::unique_ptr<Engine> engine_;
  std::size_t max_message_size_;
  std::shared_ptr<QueueBudget> budget_;
  std::string epoch_;
  // History: the retained events; the engine keeps them beyond the process.
  RetainedEvents retained_;
  // Scratch for one fan-out: the events the engine numbered, the frames of a batch in each format (one
  // per event, or none where nobody takes them) with their bytes summed once (OutboundQueue::bytes_of),
  // and the subscribers found too slow.
  std::vector<SharedEvent> numbered_;
  std::array<std::vector<SharedFrame>, event_format_count> frames_;
  std::array<std::size_t, event_format_count> frame_bytes_{};
  std::size_t batch_events_ = 0;  // events in the batch encoded
  std::vector<Subscriber*> too_slow_;
  bool backlog_ = false;  // a queue is half full: let the writers run
  std::atomic<bool> finished_{false};
  std::atomic<std::size_t> members_{0};  // subscribers_.size() after each round, for members()
};

}  // namespace chatd
