#include "server/rooms/room.hpp"

#include <algorithm>
#include <chrono>
#include <type_traits>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "protocol/chat_json.hpp"
#include "server/core/disconnect.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/worker_pool.hpp"

namespace chatd {

namespace {

constexpr std::size_t inbox_capacity = 4096;

}  // namespace

Room::Room(std::string name, asio::io_context& context, HistoryStore& store, const config::History& settings,
           std::size_t max_message_size, HistoryStore::RoomHistory history)
    : name_(std::move(name)),
      inbox_(context.get_executor(), inbox_capacity),
      last_id_(history.last_id),
      store_(store),
      settings_(settings),
      max_message_size_(max_message_size),
      epoch_(std::move(history.epoch)),
      history_(std::make_move_iterator(history.events.begin()),
               std::make_move_iterator(history.events.end())) {}

void Room::start() {
  // However the actor ends, finished() says so: a room that stopped by an exception is not silently dead.
  asio::co_spawn(
      inbox_.get_executor(), [self = shared_from_this()] { return self->run(); },
      [self = shared_from_this()](std::exception_ptr error) {
        report_exception("room")(error);
        self->finished_.store(true, std::memory_order_release);
      });
}

void Room::stop() {
  inbox_.close();
}

asio::awaitable<bool> Room::send(RoomCommand command) {
  auto [ec] = co_await inbox_.async_send(asio::error_code{}, std::move(command),
                                         asio::experimental::as_tuple(asio::use_awaitable));
  co_return !ec;
}

bool Room::try_send(RoomCommand& command) {
  return inbox_.try_send(asio::error_code{}, std::move(command));
}

asio::awaitable<void> Room::run() {
  for (;;) {
    auto [ec, command] = co_await inbox_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) break;
    handle_or_refuse(command);
    flush_if_backlogged();
    // Take what else is already waiting without suspending: one wake-up per subscriber covers them all.
    while (inbox_.try_receive([this](asio::error_code, RoomCommand next) { handle_or_refuse(next); }))
      flush_if_backlogged();
  }
  release_subscribers_after_stop();
}

void Room::release_subscribers_after_stop() {
  for (auto& subscriber : subscribers_) subscriber->room_slot_ = std::numeric_limits<std::size_t>::max();
  subscribers_.clear();
  text_subscribers_ = 0;
}

void Room::flush_if_backlogged() {
  if (!backlog_) return;
  backlog_ = false;
  // Some queue is half full. Sessions on this thread would only write at the end of the round, so
  // flush them now: otherwise a burst would fill their queues and be mistaken for slow clients.
  Worker::flush_this_thread();
}

// A command that cannot be carried out (the allocation that failed under a memory limit, most likely)
// fails alone: whoever waits for it is told, and the room goes on with the next one. What the command
// did before it failed stands: ids it gave are not given again, and its events still go to the store.
void Room::handle_or_refuse(RoomCommand& command) {
  try {
    handle(command);
  } catch (const std::exception& error) {
    try {
      log::error("room ", name_, ": a command failed and was refused: ", error.what());
      refuse(command);
    } catch (...) {
      // Memory ran out again while refusing: what could be answered was; the room goes on.
    }
  }
}

void Room::refuse(RoomCommand& command) {
  json_frames_.clear();
  text_frames_.clear();
  too_slow_.clear();  // they are found again by the next push that does not fit
  std::visit(
      [](auto& refused) {
        using Command = std::decay_t<decltype(refused)>;
        if constexpr (std::is_same_v<Command, PublishMessages>) {
          if (refused.reply) std::exchange(refused.reply, nullptr)->try_send(asio::error::no_memory, 0);
        } else if constexpr (std::is_same_v<Command, PresenceQuery> ||
                             std::is_same_v<Command, HistoryQuery>) {
          if (refused.answer)
            std::exchange(refused.answer, nullptr)->try_send(asio::error::no_memory, std::string{});
        } else if constexpr (std::is_same_v<Command, JoinRoom>) {
          // A join that failed before the subscriber was added: the one connection ends, with 1011.
          if (refused.subscriber &&
              refused.subscriber->queue().close(disconnect::out_of_memory.code,
                                                disconnect::out_of_memory.reason, false))
            refused.subscriber->wake_writer();
        }
      },
      command);
  store_recorded();  // what the command recorded before it threw
}

void Room::handle(RoomCommand& command) {
  std::visit([this](auto& kind) { handle(kind); }, command);
  // A publish stores its events itself, with the publisher's reply; the others have none.
  if (!std::holds_alternative<PublishMessages>(command)) {
    close_too_slow();
    store_recorded();
  }
}

void Room::handle(JoinRoom& command) {
  auto& subscriber = command.subscriber;
  // What it missed goes into its queue before anything live can: no gap, no duplicate.
  if (command.since) replay(*subscriber, *command.since, command.epoch);
  // Added first, counted after: should the list fail to grow, nothing counts a subscriber it lacks.
  subscribers_.push_back(std::move(subscriber));
  Subscriber& added = *subscribers_.back();
  added.room_slot_ = subscribers_.size() - 1;
  if (added.format() == EventFormat::text) ++text_subscribers_;
  if (added.wants_presence_events()) ++presence_subscribers_;
  if (++sessions_by_name_[added.name()] == 1) announce(EventType::join, added.name());
}

bool Room::is_member(const Subscriber& subscriber) const {
  const std::size_t slot = subscriber.room_slot_;
  return slot < subscribers_.size() && subscribers_[slot].get() == &subscriber;
}

void Room::handle(LeaveRoom& command) {
  leave(*command.subscriber);
}

void Room::leave(Subscriber& subscriber) {
  if (!is_member(subscriber)) return;  // already gone
  const std::size_t slot = subscriber.room_slot_;
  if (subscriber.format() == EventFormat::text) --text_subscribers_;
  if (subscriber.wants_presence_events()) --presence_subscribers_;
  subscriber.room_slot_ = std::numeric_limits<std::size_t>::max();
  // Swap-remove: order in this list means nothing, and removal stays O(1).
  if (slot != subscribers_.size() - 1) {
    subscribers_[slot] = std::move(subscribers_.back());
    subscribers_[slot]->room_slot_ = slot;
  }
  subscribers_.pop_back();
  // The user leaves with their last session.
  const auto sessions = sessions_by_name_.find(subscriber.name());
  if (sessions != sessions_by_name_.end() && --sessions->second == 0) {
    sessions_by_name_.erase(sessions);
    announce(EventType::leave, subscriber.name());
  }
}

protocol::Event Room::json_event(const StoredEvent& event) const {
  return protocol::Event{event.id, name_, event_type_name(event.type), event.name, event.text, event.ts};
}

SharedFrame Room::encode_json(const StoredEvent& event) const {
  thread_local std::string payload;
  payload.clear();
  protocol::append_event_json(payload, json_event(event));
  return protocol::share(protocol::text_frame(payload));
}

void Room::deliver(Subscriber& subscriber) {
  const auto& frames = subscriber.format() == EventFormat::json ? json_frames_ : text_frames_;
  const auto pushed = subscriber.queue().push(frames);
  if (pushed.status == OutboundQueue::Push::Status::full) too_slow_.push_back(&subscriber);
  if (pushed.wake) subscriber.wake_writer();
  if (pushed.backlog) backlog_ = true;
}

void Room::handle(PublishMessages& command) {
  if (command.texts.empty()) return;
  const std::uint64_t first_id = last_id_ + 1;

  // Encode each event once per format in use; every subscriber shares the same bytes.
  const bool want_json = subscribers_.size() > text_subscribers_;
  const std::int64_t ts = event_time_now();
  for (auto& text : command.texts) {
    const auto event = record(EventType::message, command.name, std::move(text), ts);
    if (want_json) json_frames_.push_back(encode_json(*event));
    if (text_subscribers_ > 0) text_frames_.push_back(protocol::share(protocol::text_frame(event->text)));
  }

  // The whole batch goes into each queue at once: one lock, one wake-up, one gather write. The author
  // goes first: the sooner it sees its own messages, the sooner it sends more, and the fuller the next
  // batch is while the room is still writing to everyone else.
  Subscriber* author = command.author.get();
  if (author && is_member(*author)) deliver(*author);
  for (auto& subscriber : subscribers_) {
    if (subscriber.get() != author) deliver(*subscriber);
  }
  json_frames_.clear();
  text_frames_.clear();
  close_too_slow();
  store(command.reply, first_id);
}

void Room::close_too_slow() {
  // A subscriber whose queue is full is closed rather than waited for: the room never slows down for one.
  // Its leave event may find others too slow in turn.
  while (!too_slow_.empty()) {
    Subscriber* subscriber = too_slow_.back();
    too_slow_.pop_back();
    if (!is_member(*subscriber)) continue;
    if (subscriber->queue().close(disconnect::too_slow.code, disconnect::too_slow.reason, false)) {
      subscriber->wake_writer();
    }
    leave(*subscriber);
  }
}

// ---- history ----------------------------------------------------------------------------------------------

SharedEvent Room::record(EventType type, const std::string& name, std::string text, std::int64_t ts) {
  auto event = std::make_shared<const StoredEvent>(StoredEvent{++last_id_, ts, type, name, std::move(text)});
  history_.push_back(event);
  unstored_.push_back(event);
  trim_history(ts);
  return event;
}

void Room::trim_history(std::int64_t now) {
  while (history_.size() > settings_.max_events) history_.pop_front();
  const std::int64_t oldest_kept = now - settings_.max_age.count();
  while (!history_.empty() && history_.front()->ts < oldest_kept) history_.pop_front();
}

void Room::store_recorded() {
  std::shared_ptr<PublishReply> no_reply;
  store(no_reply, 0);
}

void Room::store(std::shared_ptr<PublishReply>& reply, std::uint64_t first_id) {
  const bool sync = settings_.durability == config::History::Durability::sync;
  HistoryStore::Committed committed;
  // `reply` is let go of only once it is answered or handed to the store, whose append() never throws
  // and always runs the callback: should anything before that throw, refuse() answers it instead, and
  // never a second time.
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
  store_.append(name_, std::move(events), oldest_retained(), std::move(committed));
  reply = nullptr;
}

std::uint64_t Room::oldest_retained() const {
  return history_.empty() ? last_id_ + 1 : history_.front()->id;
}

std::size_t Room::first_after(std::uint64_t id) const {
  const auto found = std::partition_point(history_.begin(), history_.end(),
                                          [id](const SharedEvent& event) { return event->id <= id; });
  return static_cast<std::size_t>(found - history_.begin());
}

void Room::announce(EventType type, const std::string& name) {
  const auto event = record(type, name, {}, event_time_now());
  if (presence_subscribers_ == 0) return;
  json_frames_.push_back(encode_json(*event));
  for (auto& subscriber : subscribers_) {
    if (subscriber->wants_presence_events()) deliver(*subscriber);
  }
  json_frames_.clear();
}

void Room::replay(Subscriber& subscriber, std::uint64_t since, const std::string& epoch) {
  trim_history(event_time_now());
  const std::uint64_t oldest = oldest_retained();
  // Complete: the client's epoch, an id we gave, and nothing after it trimmed away.
  const bool complete = (epoch.empty() || epoch == epoch_) && since <= last_id_ && since + 1 >= oldest;
  const bool json = subscriber.format() == EventFormat::json;
  std::vector<SharedFrame> frames;
  if (json) {
    const std::string payload = protocol::recovered_json(name_, epoch_, complete, max_message_size_);
    frames.push_back(protocol::share(protocol::text_frame(payload)));
  }
  const std::size_t first = first_after(since);
  for (std::size_t i = first; i < history_.size(); ++i) {
    const StoredEvent& event = *history_[i];
    if (event.type == EventType::message) {
      frames.push_back(json ? encode_json(event) : protocol::share(protocol::text_frame(event.text)));
    } else if (subscriber.wants_presence_events()) {
      frames.push_back(encode_json(event));
    }
  }
  // A replay is bounded by history.max_events, not by the live queue's limit.
  if (subscriber.queue().push_replay(frames)) subscriber.wake_writer();
}

void Room::handle(HistoryQuery& command) {
  trim_history(event_time_now());
  // Ids grow but may skip (after a crash): positions are found by search, not by subtraction.
  const std::size_t end = command.before == 0 ? history_.size() : first_after(command.before - 1);
  const std::size_t begin = end > command.limit ? end - command.limit : 0;

  std::vector<protocol::Event> events;
  events.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) events.push_back(json_event(*history_[i]));
  std::string body = protocol::history_page_json(
      name_, epoch_, events, begin > 0 ? std::optional<std::uint64_t>(history_[begin]->id) : std::nullopt);
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::move(body));
}

void Room::handle(PresenceQuery& command) {
  std::vector<protocol::PresenceEntry> users;
  users.reserve(sessions_by_name_.size());
  for (const auto& [name, sessions] : sessions_by_name_) users.push_back({name, sessions});
  std::sort(users.begin(), users.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::string body = protocol::presence_json(name_, users);
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::move(body));
}

}  // namespace chatd
