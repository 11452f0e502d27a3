#include "server/room.hpp"

#include <chrono>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "protocol/json.hpp"
#include "server/log.hpp"
#include "server/report_exception.hpp"
#include "server/worker_pool.hpp"

namespace chatd {

namespace {

constexpr std::size_t inbox_capacity = 4096;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Room::Room(std::string name, asio::io_context& context)
    : name_(std::move(name)), inbox_(context.get_executor(), inbox_capacity) {}

void Room::start() {
  asio::co_spawn(
      inbox_.get_executor(), [self = shared_from_this()] { return self->run(); }, report_exception("room"));
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
    handle(command);
    flush_if_backlogged();
    // Take what else is already waiting without suspending: one wake-up per subscriber covers them all.
    while (inbox_.try_receive([this](asio::error_code, RoomCommand next) { handle(next); }))
      flush_if_backlogged();
  }
  release_subscribers_after_stop();
  finished_.store(true, std::memory_order_release);
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

void Room::handle(RoomCommand& command) {
  switch (command.kind) {
    case RoomCommand::Kind::join:
      join(std::move(command.subscriber));
      break;
    case RoomCommand::Kind::leave:
      leave(*command.subscriber);
      break;
    case RoomCommand::Kind::publish:
      publish(command);
      break;
  }
}

void Room::join(std::shared_ptr<Subscriber> subscriber) {
  subscriber->room_slot_ = subscribers_.size();
  if (subscriber->format() == EventFormat::text) ++text_subscribers_;
  subscribers_.push_back(std::move(subscriber));
}

bool Room::is_member(const Subscriber& subscriber) const {
  const std::size_t slot = subscriber.room_slot_;
  return slot < subscribers_.size() && subscribers_[slot].get() == &subscriber;
}

void Room::leave(Subscriber& subscriber) {
  if (!is_member(subscriber)) return;  // already gone
  const std::size_t slot = subscriber.room_slot_;
  if (subscriber.format() == EventFormat::text) --text_subscribers_;
  subscriber.room_slot_ = std::numeric_limits<std::size_t>::max();
  // Swap-remove: order in this list means nothing, and removal stays O(1).
  if (slot != subscribers_.size() - 1) {
    subscribers_[slot] = std::move(subscribers_.back());
    subscribers_[slot]->room_slot_ = slot;
  }
  subscribers_.pop_back();
}

SharedFrame Room::encode_json(std::uint64_t id, const std::string& author, const std::string& text,
                              std::int64_t ts) const {
  thread_local std::string payload;
  payload.clear();
  protocol::append_event_json(payload, protocol::Event{id, name_, "message", author, text, ts});
  return protocol::share(protocol::text_frame(payload));
}

void Room::deliver(Subscriber& subscriber) {
  const auto& frames = subscriber.format() == EventFormat::json ? json_frames_ : text_frames_;
  const auto pushed = subscriber.queue().push(frames);
  if (pushed.status == OutboundQueue::Push::Status::full) too_slow_.push_back(&subscriber);
  if (pushed.wake) subscriber.wake_writer();
  if (pushed.backlog) backlog_ = true;
}

void Room::publish(RoomCommand& command) {
  if (command.texts.empty()) return;
  const std::uint64_t first_id = last_id_ + 1;
  if (command.reply) command.reply->try_send(asio::error_code{}, first_id);

  // Encode each event once per format in use; every subscriber shares the same bytes.
  const bool want_json = subscribers_.size() > text_subscribers_;
  const std::int64_t ts = now_ms();
  for (const auto& text : command.texts) {
    const std::uint64_t id = ++last_id_;
    if (want_json) json_frames_.push_back(encode_json(id, command.name, text, ts));
    if (text_subscribers_ > 0) text_frames_.push_back(protocol::share(protocol::text_frame(text)));
  }

  // The whole batch goes into each queue at once: one lock, one wake-up, one gather write. The author
  // goes first: the sooner it sees its own messages, the sooner it sends more, and the fuller the next
  // batch is while the room is still writing to everyone else.
  Subscriber* author = command.subscriber.get();
  if (author && is_member(*author)) deliver(*author);
  for (auto& subscriber : subscribers_) {
    if (subscriber.get() != author) deliver(*subscriber);
  }
  json_frames_.clear();
  text_frames_.clear();
  // A subscriber whose queue is full is closed rather than waited for: the room never slows down for one.
  for (Subscriber* subscriber : too_slow_) {
    if (subscriber->queue().close(protocol::close_code::policy_violation, "too slow", false)) {
      subscriber->wake_writer();
    }
    leave(*subscriber);
  }
  too_slow_.clear();
}

}  // namespace chatd
