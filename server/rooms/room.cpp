#include "server/rooms/room.hpp"

#include <algorithm>
#include <chrono>
#include <type_traits>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include "protocol/chat_json.hpp"
#include "protocol/event_stream.hpp"
#include "server/core/disconnect.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/core/worker_pool.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

constexpr std::size_t inbox_capacity = 4096;

}  // namespace

Room::Room(std::string name, asio::io_context& context, std::unique_ptr<Engine> engine,
           const config::History& settings, std::size_t max_message_size, std::shared_ptr<QueueBudget> budget)
    // `engine` is passed on by reference: it is moved from only after take_loaded_history() ran.
    : Room(std::move(name), context, engine->take_loaded_history(), std::move(engine), settings,
           max_message_size, std::move(budget)) {}

Room::Room(std::string name, asio::io_context& context, HistoryStore::RoomHistory loaded,
           std::unique_ptr<Engine>&& engine, const config::History& settings, std::size_t max_message_size,
           std::shared_ptr<QueueBudget> budget)
    : name_(std::move(name)),
      context_(context),
      inbox_(context.get_executor(), inbox_capacity),
      engine_(std::move(engine)),
      max_message_size_(max_message_size),
      budget_(std::move(budget)),
      epoch_(std::move(loaded.epoch)),
      retained_(settings, std::move(loaded.events), loaded.last_id) {}

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

void Room::stop_if_idle(std::function<void(bool stopped)> decided) {
  asio::post(inbox_.get_executor(), [self = shared_from_this(), decided = std::move(decided)] {
    // On the actor's thread, between its rounds: nothing is being handled. A command already buffered
    // (a join or publish that found the room before the registry let go of it) keeps the room, as
    // Asio 1.22's close() would discard it (docs/toolchain notes).
    const bool idle = self->subscribers_.empty() && !self->inbox_.ready();
    if (idle) self->inbox_.close();
    decided(idle);
  });
}

asio::awaitable<bool> Room::send(RoomCommand command) {
  auto [ec] = co_await inbox_.async_send(asio::error_code{}, std::move(command), use_nothrow_awaitable);
  co_return !ec;
}

bool Room::try_send(RoomCommand& command) {
  return inbox_.try_send(asio::error_code{}, std::move(command));
}

asio::awaitable<void> Room::run() {
  for (;;) {
    auto [ec, command] = co_await inbox_.async_receive(use_nothrow_awaitable);
    if (ec) break;
    handle_or_refuse(command);
    flush_if_backlogged();
    // Take what else is already waiting without suspending: one wake-up per subscriber covers them all.
    while (inbox_.try_receive([this](asio::error_code, RoomCommand next) { handle_or_refuse(next); }))
      flush_if_backlogged();
    members_.store(subscribers_.size(), std::memory_order_relaxed);
  }
  release_subscribers_after_stop();
}

void Room::release_subscribers_after_stop() {
  for (auto& subscriber : subscribers_) subscriber->room_slot_ = std::numeric_limits<std::size_t>::max();
  subscribers_.clear();
  format_subscribers_.fill(0);
  presence_subscribers_.fill(0);
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

void Room::clear_frames() {
  for (auto& frames : frames_) frames.clear();
  frame_bytes_.fill(0);
  batch_events_ = 0;
}

void Room::refuse(RoomCommand& command) {
  clear_frames();
  too_slow_.clear();  // they are found again by the next push that does not fit
  std::visit(
      [](auto& refused) {
        using Command = std::decay_t<decltype(refused)>;
        if constexpr (std::is_same_v<Command, PublishMessages>) {
          if (refused.reply) std::exchange(refused.reply, nullptr)->try_send(asio::error::no_memory, 0);
        } else if constexpr (std::is_same_v<Command, PresenceQuery> ||
                             std::is_same_v<Command, HistoryQuery> || std::is_same_v<Command, AdminQuery> ||
                             std::is_same_v<Command, AdminDisconnect>) {
          if (refused.answer)
            std::exchange(refused.answer, nullptr)->try_send(asio::error::no_memory, std::string{});
        } else if constexpr (std::is_same_v<Command, JoinRoom>) {
          // A join that failed before the subscriber was added: the one connection ends, with 1011.
          if (refused.subscriber) refused.subscriber->close(disconnect::out_of_memory, false);
        }
      },
      command);
  commit_recorded();  // what the command numbered before it threw
}

void Room::handle(RoomCommand& command) {
  std::visit([this](auto& kind) { handle(kind); }, command);
  // A publish commits its events itself, with the publisher's reply; the others have none.
  if (!std::holds_alternative<PublishMessages>(command)) {
    close_too_slow();
    commit_recorded();
  }
}

void Room::handle(JoinRoom& command) {
  auto& subscriber = command.subscriber;
  // Counted in the server-wide budget before anything is queued, the replay included.
  if (budget_) subscriber->queue().attach_budget(budget_, subscriber);
  // What it missed goes into its queue before anything live can: no gap, no duplicate.
  if (command.since) replay(*subscriber, *command.since, command.epoch);
  // Added first, counted after: should the list fail to grow, nothing counts a subscriber it lacks.
  subscribers_.push_back(std::move(subscriber));
  Subscriber& added = *subscribers_.back();
  added.room_slot_ = subscribers_.size() - 1;
  ++format_subscribers_[format_index(added.format())];
  if (added.wants_presence_events()) ++presence_subscribers_[format_index(added.format())];
  presence_.add(added.name());
  if (engine_->session_changed(added.name(), +1, presence_.sessions(added.name())))
    announce(EventType::join, added.name());
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
  --format_subscribers_[format_index(subscriber.format())];
  if (subscriber.wants_presence_events()) --presence_subscribers_[format_index(subscriber.format())];
  subscriber.room_slot_ = std::numeric_limits<std::size_t>::max();
  // Swap-remove: order in this list means nothing, and removal stays O(1).
  if (slot != subscribers_.size() - 1) {
    subscribers_[slot] = std::move(subscribers_.back());
    subscribers_[slot]->room_slot_ = slot;
  }
  subscribers_.pop_back();
  // The user leaves with their last session. A name whose add() threw before counting leaves nobody.
  const std::uint32_t sessions = presence_.sessions(subscriber.name());
  if (sessions == 0) return;
  presence_.remove(subscriber.name());
  if (engine_->session_changed(subscriber.name(), -1, sessions - 1))
    announce(EventType::leave, subscriber.name());
}

protocol::Event Room::json_event(const StoredEvent& event) const {
  return protocol::Event{event.id, name_, event_type_name(event.type), event.name, event.text, event.ts};
}

SharedFrame Room::encode_frame(const StoredEvent& event, EventFormat format, std::string_view json) const {
  switch (format) {
    case EventFormat::json:
      return protocol::share(protocol::text_frame(json));
    case EventFormat::text:
      return protocol::share(protocol::text_frame(event.text));
    case EventFormat::sse_json:
      return protocol::share(
          protocol::sse_event(protocol::sse_event_id(epoch_, event.id), event_type_name(event.type), json));
    case EventFormat::sse_text:
      return protocol::share(
          protocol::sse_event(protocol::sse_event_id(epoch_, event.id), "message", event.text));
  }
  return nullptr;
}

SharedFrame Room::encode_notice(EventFormat format, std::string_view type, std::string_view json) {
  if (format_info(format).transport == Transport::sse)
    return protocol::share(protocol::sse_event("", type, json));
  return protocol::share(protocol::text_frame(json));
}

bool Room::deliver(Subscriber& subscriber) {
  const std::size_t format = format_index(subscriber.format());
  const auto pushed = subscriber.queue().push(frames_[format], frame_bytes_[format]);
  if (pushed.wake) subscriber.wake_writer();
  if (pushed.backlog) backlog_ = true;
  if (pushed.status == OutboundQueue::Push::Status::full) too_slow_.push_back(&subscriber);
  return pushed.status == OutboundQueue::Push::Status::queued;
}

void Room::handle(PublishMessages& command) {
  if (command.texts.empty()) return;
  // A subscriber's frames have no reply to wait on; an HTTP publish does.
  metrics::add(command.reply ? metrics::Series::published_http : metrics::Series::published_ws,
               command.texts.size());
  sequence(EventType::message, command.name, command.texts, command.author.get());
  close_too_slow();
  if (command.author && !command.reply && engine_->refuses_later()) {
    // A WebSocket publisher has no reply to wait on: if Redis refuses its messages, it is told by a close
    // it reconnects after (1013), so what it sent is never taken for delivered.
    engine_->on_next_refusal(
        [author = command.author] { author->close(disconnect::cluster_unavailable, false); });
  }
  engine_->commit(command.reply, retained_.oldest());
}

void Room::handle(DeliverSequenced& command) {
  if (command.reset) {
    reset(command);
    return;
  }
  if (epoch_.empty()) epoch_ = std::move(command.epoch);  // a new room's first events give it its epoch
  fan_out(command.events, nullptr);
}

void Room::reset(DeliverSequenced& command) {
  // The history starts again: a new epoch (Redis may have lost events) or a hole the engine could not fill.
  // The events up to `last` replace what was retained, so replay and history serve only what the engine
  // still has, and a recovery from before it says complete:false. Live JSON subscribers are told in band
  // (docs/api.md), then get the events after `last` as live events.
  epoch_ = std::move(command.epoch);
  std::vector<SharedEvent> kept;
  std::vector<SharedEvent> live;
  for (auto& event : command.events) (event->id <= command.last ? kept : live).push_back(std::move(event));
  retained_.reset(std::move(kept), command.last);
  const std::string payload = protocol::reset_json(name_, epoch_, command.last);
  clear_frames();
  for (const auto& info : event_formats) {
    const std::size_t format = format_index(info.format);
    if (!info.carries_notices || format_subscribers_[format] == 0) continue;
    frames_[format].push_back(encode_notice(info.format, "reset", payload));
    frame_bytes_[format] = frames_[format].back()->size();
  }
  for (auto& subscriber : subscribers_) {
    if (format_info(subscriber->format()).carries_notices) deliver(*subscriber);
  }
  clear_frames();
  if (!live.empty()) fan_out(live, nullptr);
}

void Room::sequence(EventType type, const std::string& name, std::span<std::string> texts,
                    Subscriber* author) {
  numbered_.clear();  // a command that threw may have left some
  // One time for the batch: its events are one moment of the room.
  engine_->sequence(type, name, texts, event_time_now(), numbered_);
  fan_out(numbered_, author);
}

void Room::announce(EventType type, const std::string& name) {
  std::string no_text;
  sequence(type, name, std::span<std::string>(&no_text, 1), nullptr);
}

void Room::fan_out(std::vector<SharedEvent>& events, Subscriber* author) {
  // All retained before any is encoded: should memory run out while encoding, what was numbered (and
  // stored) is still served by replay and history, not a gap behind a `complete` recovery.
  for (const auto& event : events) retained_.push(event, event->ts);
  // Runs of messages and runs of joins and leaves go to different subscribers. LocalEngine's batches
  // are one run each; a batch delivered from elsewhere (DeliverSequenced) may mix them.
  std::size_t begin = 0;
  while (begin < events.size()) {
    const bool messages = events[begin]->type == EventType::message;
    std::size_t end = begin + 1;
    while (end < events.size() && (events[end]->type == EventType::message) == messages) ++end;
    encode(events, begin, end, messages);
    if (messages) {
      deliver_messages(author);
    } else {
      deliver_presence();
    }
    begin = end;
  }
  events.clear();
}

void Room::encode(const std::vector<SharedEvent>& events, std::size_t begin, std::size_t end, bool messages) {
  // Encode each event once per format in use, and its JSON once for every format that carries it;
  // every subscriber of a format shares the same bytes.
  std::array<bool, event_format_count> wanted{};
  bool want_json = false;
  for (const auto& info : event_formats) {
    const std::size_t format = format_index(info.format);
    wanted[format] = messages ? format_subscribers_[format] > 0 : presence_subscribers_[format] > 0;
    want_json = want_json || (wanted[format] && info.json);
    frame_bytes_[format] = 0;
  }
  batch_events_ = end - begin;
  thread_local std::string json;
  for (std::size_t i = begin; i < end; ++i) {
    const StoredEvent& event = *events[i];
    // Kept with the retained event too, so a replay shares these frames instead of encoding again.
    auto* kept = retained_.encoded_from_back(events.size() - 1 - i, event);
    json.clear();
    if (want_json) protocol::append_event_json(json, json_event(event));
    for (const auto& info : event_formats) {
      const std::size_t format = format_index(info.format);
      if (!wanted[format]) continue;
      frames_[format].push_back(encode_frame(event, info.format, json));
      frame_bytes_[format] += frames_[format].back()->size();
      if (kept) kept->frames[format] = frames_[format].back();
    }
  }
}

void Room::deliver_messages(Subscriber* author) {
  // The whole batch goes into each queue at once: one lock, one wake-up, one gather write. The author
  // goes first: the sooner it sees its own messages, the sooner it sends more, and the fuller the next
  // batch is while the room is still writing to everyone else.
  std::size_t queued = 0;
  if (author && is_member(*author)) queued += deliver(*author);
  for (auto& subscriber : subscribers_) {
    if (subscriber.get() != author) queued += deliver(*subscriber);
  }
  // Counted once per batch, not per subscriber; each format's frames are one per event.
  metrics::add(metrics::Series::deliveries, queued * batch_events_);
  clear_frames();
}

void Room::deliver_presence() {
  const bool encoded =
      std::any_of(frames_.begin(), frames_.end(), [](const auto& frames) { return !frames.empty(); });
  if (!encoded) return;  // nobody wants joins and leaves
  std::size_t queued = 0;
  for (auto& subscriber : subscribers_) {
    if (subscriber->wants_presence_events()) queued += deliver(*subscriber);
  }
  metrics::add(metrics::Series::deliveries, queued * batch_events_);
  clear_frames();
}

void Room::close_too_slow() {
  // A subscriber whose queue is full is closed rather than waited for: the room never slows down for one.
  // Its leave event may find others too slow in turn.
  while (!too_slow_.empty()) {
    Subscriber* subscriber = too_slow_.back();
    too_slow_.pop_back();
    if (!is_member(*subscriber)) continue;
    metrics::add(metrics::Series::slow_client_closes);
    subscriber->close(disconnect::too_slow, false);
    leave(*subscriber);
  }
}

// ---- history ----------------------------------------------------------------------------------------------

void Room::commit_recorded() {
  std::shared_ptr<PublishReply> no_reply;
  engine_->commit(no_reply, retained_.oldest());
}

const SharedFrame& Room::retained_frame(std::size_t index, EventFormat format) {
  // A format without joins and leaves is never asked for one: a replay skips them (wants_presence_events).
  auto& kept = retained_.encoded(index).frames[format_index(format)];
  if (kept) return kept;
  const StoredEvent& event = *retained_.events()[index];
  thread_local std::string json;
  json.clear();
  if (format_info(format).json) protocol::append_event_json(json, json_event(event));
  kept = encode_frame(event, format, json);
  return kept;
}

void Room::replay(Subscriber& subscriber, std::uint64_t since, const std::string& epoch) {
  const auto missed = retained_.replay(since, event_time_now());
  const bool presence = subscriber.wants_presence_events();
  // A replay counts against the subscriber's byte bound, and may take half of it: the other half is
  // for what is published while it is written. The newest missed events that fit go; walking from
  // the newest back, only frames that are sent are built (and kept for the next replay), so a long
  // history costs this thread no more work than half a queue.
  const std::size_t queue_bytes = subscriber.queue().max_bytes();
  const std::size_t budget = queue_bytes == OutboundQueue::unbounded ? queue_bytes : queue_bytes / 2;
  const std::size_t count = missed.events.size();
  std::size_t bytes = 0;
  std::size_t taken = 0;  // events of the newest `taken`, some skipped (presence), go
  bool cut = false;
  std::vector<std::size_t> sent;  // indexes, newest first
  for (; taken < count; ++taken) {
    const std::size_t index = missed.first + count - 1 - taken;
    const StoredEvent& event = *retained_.events()[index];
    if (event.type != EventType::message && !presence) continue;
    const std::size_t size = retained_frame(index, subscriber.format())->size();
    if (bytes + size > budget) {
      cut = true;
      break;
    }
    bytes += size;
    sent.push_back(index);
  }
  // Complete: the client's epoch, an id we gave, nothing after it trimmed away, and nothing cut here.
  const bool complete = (epoch.empty() || epoch == epoch_) && missed.complete && !cut;
  std::vector<SharedFrame> frames;
  frames.reserve(sent.size() + 1);
  if (format_info(subscriber.format()).carries_notices) {
    const std::string payload = protocol::recovered_json(name_, epoch_, complete, max_message_size_);
    frames.push_back(encode_notice(subscriber.format(), "recovered", payload));
    bytes += frames.back()->size();
  }
  for (auto i = sent.rbegin(); i != sent.rend(); ++i)
    frames.push_back(retained_frame(*i, subscriber.format()));
  if (subscriber.queue().push_replay(frames, bytes)) subscriber.wake_writer();
}

void Room::handle(HistoryQuery& command) {
  const auto page = retained_.page(command.before, command.limit, event_time_now());
  // Each event's JSON is the payload of the frame kept with it (built at fan-out, or here once and kept):
  // pages and replays share one encoding per event, whoever asks and however often.
  const auto first = static_cast<std::size_t>(page.events.begin - retained_.events().begin());
  std::vector<protocol::EncodedEvent> events;
  events.reserve(page.events.size());
  for (std::size_t index = first; index < first + page.events.size(); ++index) {
    const SharedFrame& frame = retained_frame(index, EventFormat::json);
    events.push_back(protocol::EncodedEvent{retained_.events()[index]->id, protocol::frame_payload(*frame)});
  }
  // Bounded by the asker's max_bytes (subscriber.queue_bytes), so one page cannot pin more than that.
  std::string body = protocol::history_page_json(name_, epoch_, events, page.next_before, command.max_bytes);
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::move(body));
}

void Room::handle(PresenceQuery& command) {
  if (engine_->answer_presence(command.answer)) return;  // counted on every node
  const auto users = presence_.entries();
  std::string body = protocol::presence_json(name_, users);
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::move(body));
}

void Room::handle(AdminQuery& command) {
  std::vector<protocol::AdminSession> sessions;
  if (command.sessions) {
    sessions.reserve(subscribers_.size());
    for (const auto& subscriber : subscribers_) {
      auto described = subscriber->describe();
      sessions.push_back(protocol::AdminSession{subscriber->session_id(), subscriber->name(),
                                                std::move(described.peer), described.transport,
                                                described.connected_at_ms, subscriber->queue().held_bytes()});
    }
  }
  std::string body = protocol::admin_room_json(name_, epoch_, retained_.last_id(), subscribers_.size(),
                                               command.sessions ? &sessions : nullptr);
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::move(body));
}

void Room::handle(AdminDisconnect& command) {
  std::size_t closed = 0;
  for (const auto& subscriber : subscribers_) {
    const bool chosen = command.session != 0 ? subscriber->session_id() == command.session
                                             : subscriber->name() == command.name;
    if (!chosen) continue;
    // What is queued goes first; the session then leaves the room as any closed one does.
    subscriber->close(disconnect::removed_by_operator, true);
    ++closed;
  }
  std::exchange(command.answer, nullptr)->try_send(asio::error_code{}, std::to_string(closed));
}

}  // namespace chatd
