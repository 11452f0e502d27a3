#include "server/room.hpp"

#include <chrono>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "protocol/json.hpp"
#include "server/log.hpp"
#include "server/report_exception.hpp"

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

asio::awaitable<void> Room::run() {
  for (;;) {
    auto [ec, command] = co_await inbox_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) break;
    handle(command);
    // Take what else is already waiting without suspending: one wake-up per subscriber covers them all.
    while (!backlog_ && inbox_.try_receive([this](asio::error_code, RoomCommand next) { handle(next); })) {
    }
    // Some queue is half full. Writers that share this thread cannot drain while the room runs, so step
    // aside for them: otherwise a burst would fill their queues and be mistaken for slow clients.
    if (backlog_) {
      backlog_ = false;
      co_await asio::post(inbox_.get_executor(), asio::use_awaitable);
    }
  }
  release_subscribers_after_stop();
  finished_.store(true, std::memory_order_release);
}

void Room::release_subscribers_after_stop() {
  for (auto& subscriber : subscribers_) subscriber->room_slot_ = std::numeric_limits<std::size_t>::max();
  subscribers_.clear();
  text_subscribers_ = 0;
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

void Room::leave(Subscriber& subscriber) {
  const std::size_t slot = subscriber.room_slot_;
  if (slot >= subscribers_.size() || subscribers_[slot].get() != &subscriber) return;  // already gone
  if (subscriber.format() == EventFormat::text) --text_subscribers_;
  subscriber.room_slot_ = std::numeric_limits<std::size_t>::max();
  // Swap-remove: order in this list means nothing, and removal stays O(1).
  if (slot != subscribers_.size() - 1) {
    subscribers_[slot] = std::move(subscribers_.back());
    subscribers_[slot]->room_slot_ = slot;
  }
  subscribers_.pop_back();
}

void Room::publish(RoomCommand& command) {
  const std::uint64_t id = ++last_id_;
  if (command.reply) command.reply->try_send(asio::error_code{}, id);

  // Encode each shape of the event once; every subscriber shares the same bytes.
  SharedFrame json_frame, text_frame;
  if (subscribers_.size() > text_subscribers_) {
    std::string frame;
    frame.reserve(protocol::max_frame_header_size + 96 + command.name.size() + command.text.size() +
                  name_.size());
    std::string payload;
    const protocol::Event event{id, name_, "message", command.name, command.text, now_ms()};
    protocol::append_event_json(payload, event);
    protocol::append_frame_header(frame, 0x1, payload.size());
    frame.append(payload);
    json_frame = protocol::share(std::move(frame));
  }
  if (text_subscribers_ > 0) text_frame = protocol::share(protocol::text_frame(command.text));

  for (auto& subscriber : subscribers_) {
    const SharedFrame& frame = subscriber->format() == EventFormat::json ? json_frame : text_frame;
    switch (subscriber->queue().push(frame)) {
      case OutboundQueue::Push::backlog:
        backlog_ = true;
        break;
      case OutboundQueue::Push::full:
        too_slow_.push_back(subscriber.get());
        break;
      default:
        break;
    }
  }
  // A subscriber whose queue is full is closed rather than waited for: the room never slows down for one.
  for (Subscriber* subscriber : too_slow_) {
    subscriber->queue().close(protocol::close_code::policy_violation, "too slow", false);
    leave(*subscriber);
  }
  too_slow_.clear();
}

}  // namespace chatd
