#include "server/cluster/cluster_node.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <future>
#include <initializer_list>
#include <random>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include "protocol/chat_json.hpp"
#include "server/cluster/scripts.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/thread_name.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/engine/engine_factory.hpp"

namespace chatd::cluster {

namespace {

using namespace std::chrono_literals;

constexpr auto connect_timeout = 1s;
constexpr auto command_timeout = 2s;  // a written command with no reply: the connection is given up
constexpr auto tick_interval = 25ms;
constexpr auto backoff_base = 100ms;
constexpr auto backoff_cap = 2s;
constexpr std::size_t page_size = 1000;  // XRANGE/XREVRANGE COUNT: 1000 costs Redis 0.7 ms (design note)
constexpr std::size_t max_waiting_appends = 10000;  // past this a publish is refused at once (503)
constexpr std::size_t max_stashed_events = 20000;   // arrived while catching up; past this, re-read
constexpr std::size_t max_ready_events = 50000;     // the room's inbox is full; past this, re-read

std::string random_hex(std::size_t digits) {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device device;
  std::mt19937_64 generator(device());
  std::string out;
  for (std::size_t i = 0; i < digits; ++i) out.push_back(hex[generator() % 16]);
  return out;
}

std::optional<std::uint64_t> stream_id(std::string_view id) {
  const auto dash = id.find('-');
  std::uint64_t value = 0;
  const auto digits = id.substr(0, dash);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// One XRANGE entry: [id, [field, value, ...]] with fields t, y, n, x (scripts.cpp).
SharedEvent event_of(const Reply& entry) {
  if (entry.type != Reply::Type::array || entry.elements.size() != 2) return nullptr;
  const auto id = entry.elements[0].as_string();
  if (!id) return nullptr;
  const auto number = stream_id(*id);
  if (!number) return nullptr;
  StoredEvent event;
  event.id = *number;
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const auto field = fields[i].as_string().value_or("");
    const auto& value = fields[i + 1];
    if (field == "t") {
      event.ts = value.as_integer().value_or(0);
    } else if (field == "y") {
      const auto type = value.as_integer().value_or(0);
      if (type < 0 || type > 2) return nullptr;
      event.type = static_cast<EventType>(type);
    } else if (field == "n") {
      event.name = value.text;
    } else if (field == "x") {
      event.text = value.text;
    }
  }
  return std::make_shared<const StoredEvent>(std::move(event));
}

std::vector<SharedEvent> events_of(const protocol::ClusterBatch& batch, std::size_t skip) {
  std::vector<SharedEvent> events;
  events.reserve(batch.events.size() - skip);
  for (std::size_t i = skip; i < batch.events.size(); ++i) {
    const auto& event = batch.events[i];
    events.push_back(std::make_shared<const StoredEvent>(StoredEvent{
        batch.first_id + i, event.ts, static_cast<EventType>(event.type), event.name, event.text}));
  }
  return events;
}

std::string run_id_of(std::string_view info) {
  const auto at = info.find("run_id:");
  if (at == std::string_view::npos) return {};
  const auto start = at + 7;
  const auto end = info.find_first_of("\r\n", start);
  return std::string(info.substr(start, end - start));
}

std::vector<std::string_view> views_of(const std::vector<std::string>& args) {
  return {args.begin(), args.end()};
}

}  // namespace

// One loaded room's delivery state. Cluster thread only, except what the constructor sets.
struct RoomFeed {
  RoomFeed(std::string room_name, std::string channel_name)
      : room(std::move(room_name)), channel(std::move(channel_name)) {}

  const std::string room;
  const std::string channel;
  enum class State { loading, live, catching_up } state = State::loading;
  bool detached = false;
  // What the room was handed (or is queued in `ready` for it): its epoch and newest id.
  std::string epoch;
  std::uint64_t last = 0;
  // What the room took: should `ready` be given up, the feed goes back to here and reads again.
  std::string taken_epoch;
  std::uint64_t taken_last = 0;
  // Batches that arrived while loading or catching up, in arrival order.
  std::vector<protocol::ClusterBatch> stashed;
  std::size_t stashed_events = 0;
  bool stash_overflowed = false;
  bool reconcile_wanted = false;  // a read failed (Redis went away): read again once it is back
  // Handed but not yet taken (the room's inbox was full), oldest first.
  std::deque<SequencedBatch> ready;
  std::size_t ready_events = 0;
  std::function<bool(SequencedBatch&)> deliver;
  // The window read at load, for the room to start from (ClusterNode::load takes it).
  std::string loaded_epoch;
  std::uint64_t loaded_last = 0;
  std::vector<SharedEvent> loaded;
  // This node's sessions per name, and the changes not yet sent to Redis.
  std::unordered_map<std::string, std::uint32_t> sessions;
  std::vector<std::pair<std::string, int>> presence_changes;
  bool presence_flush_posted = false;
  bool presence_dirty = false;  // Redis may not have this node's counts: send them whole
};

struct ClusterNode::PendingAppend {
  std::shared_ptr<RoomFeed> feed;
  AppendRequest request;
  Clock::time_point deadline;
  bool answered = false;
};

ClusterNode::ClusterNode(const config::Cluster& settings, const config::History& history)
    : settings_(settings),
      history_(history),
      node_id_(random_hex(16)),
      salt_(random_hex(6)),
      probe_channel_(settings.redis.prefix + ":probe:" + node_id_),
      work_(context_.get_executor()) {}

ClusterNode::~ClusterNode() {
  if (thread_.joinable()) stop();
}

bool ClusterNode::start(Clock::duration wait) {
  asio::co_spawn(context_, command_link(), report_exception("cluster command link"));
  asio::co_spawn(context_, subscriber_link(), report_exception("cluster subscriber link"));
  asio::co_spawn(context_, tick_loop(), report_exception("cluster tick"));
  thread_ = std::thread([this] {
    name_this_thread("cluster-links");
    context_.run();
  });
  const auto deadline = Clock::now() + wait;
  while (!command_ready_.load(std::memory_order_acquire) && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  return command_ready_.load(std::memory_order_acquire);
}

void ClusterNode::stop() {
  if (!thread_.joinable()) return;
  // Leave now rather than in node_ttl: every user of this node leaves every room (one script).
  auto left = std::make_shared<std::promise<void>>();
  auto done = left->get_future();
  asio::post(context_, [this, left] {
    stopping_ = true;
    if (!command_ready_) {
      left->set_value();
      return;
    }
    const auto ts = std::to_string(event_time_now());
    const auto max_events = std::to_string(history_.max_events);
    Args args = script_call("leave", 7);
    for (const std::string* value : std::initializer_list<const std::string*>{
             &settings_.redis.prefix, &node_id_, &run_id_, &salt_, &max_events, &ts})
      args.push_back(*value);
    send(args, [left](asio::error_code, Reply) { left->set_value(); });
  });
  if (done.wait_for(1s) == std::future_status::ready) log::info("cluster: node ", node_id_, " left");
  asio::post(context_, [this] {
    for (auto& pending : waiting_) answer(*pending, asio::error::try_again, 0);
    waiting_.clear();
    if (command_) command_->close("stopping");
    if (subscriber_) subscriber_->close("stopping");
    work_.reset();
    context_.stop();
  });
  thread_.join();
}

std::string ClusterNode::degraded() const {
  std::lock_guard lock(degraded_mutex_);
  return degraded_;
}

void ClusterNode::set_degraded() {
  std::string why;
  const std::string where = settings_.redis.host + ":" + std::to_string(settings_.redis.port);
  if (!command_ready_) why += "Redis at " + where + " is unavailable (commands): " + command_down_why_ + "\n";
  if (!subscriber_ready_)
    why += "Redis at " + where + " is unavailable (subscriptions): " + subscriber_down_why_ + "\n";
  std::lock_guard lock(degraded_mutex_);
  degraded_ = std::move(why);
  links_.command_up = command_ready_;
  links_.subscriber_up = subscriber_ready_;
}

ClusterNode::Links ClusterNode::links() const {
  std::lock_guard lock(degraded_mutex_);
  return links_;
}

// ---- links ----------------------------------------------------------------------------------------------

asio::awaitable<void> ClusterNode::back_off(int& failures) {
  // Exponential back-off with full jitter (a random wait up to the cap of this round), so that nodes
  // restarting together do not reconnect in step, and a node never spins on a dead Redis.
  ++failures;
  const auto cap = std::min<Clock::duration>(backoff_cap, backoff_base * (1 << std::min(failures, 5)));
  static thread_local std::mt19937_64 generator(std::random_device{}());
  const auto wait =
      Clock::duration(std::uniform_int_distribution<Clock::rep>(cap.count() / 4, cap.count())(generator));
  asio::steady_timer timer(context_, wait);
  co_await timer.async_wait(use_nothrow_awaitable);
}

asio::awaitable<std::shared_ptr<RedisConnection>> ClusterNode::connect_link(const char* role,
                                                                            std::string& down_why,
                                                                            int& failures) {
  while (!stopping_) {
    auto connection = std::make_shared<RedisConnection>(context_, role);
    const auto ec = co_await connection->connect(settings_.redis.host, settings_.redis.port,
                                                 settings_.redis.password.contents, connect_timeout);
    if (!ec) co_return connection;
    down_why = "cannot connect: " + ec.message();
    set_degraded();
    co_await back_off(failures);
  }
  co_return nullptr;
}

asio::awaitable<void> ClusterNode::command_link() {
  int failures = 0;
  while (!stopping_) {
    auto connection = co_await connect_link("command", command_down_why_, failures);
    if (!connection) break;  // stopping
    command_ = connection;
    const bool set_up = co_await set_up_commands(connection);
    if (!set_up || !connection->is_open()) {
      connection->close("set-up failed");
      command_ = nullptr;
      command_down_why_ = "set-up failed: " + connection->why_closed();
      set_degraded();
      co_await back_off(failures);
      continue;
    }
    failures = 0;
    command_ready_ = true;
    set_degraded();
    log::info("cluster: node ", node_id_, " connected to Redis (run ", run_id_, ")");
    heartbeat();
    // This node's sessions go to Redis whole after every reconnect, not only when a heartbeat finds the
    // node unregistered: a stale heartbeat held by a black-holed path and let through late can register
    // the node again after a reaper had made its users leave (test_partition_...: they never joined again).
    for (auto& [channel, feeds] : feeds_) {
      for (auto& feed : feeds) resync_presence(feed);
    }
    reconcile_all();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& pending : waiting) send_append(pending);
    co_await connection->wait_closed();
    command_ready_ = false;
    command_ = nullptr;
    command_down_why_ = connection->why_closed();
    set_degraded();
  }
}

asio::awaitable<bool> ClusterNode::set_up_commands(const std::shared_ptr<RedisConnection>& connection) {
  for (const Script* script :
       {&append_script(), &presence_script(), &heartbeat_script(), &leave_script(), &window_script()}) {
    const std::array<std::string_view, 3> load{"SCRIPT", "LOAD", script->source};
    auto [ec, reply] = co_await connection->call(load);
    if (ec || reply.type != Reply::Type::string) {
      log::error("cluster: SCRIPT LOAD ", script->name, " failed: ", ec ? ec.message() : reply.text);
      co_return false;
    }
    shas_[script->name] = reply.text;
  }
  const std::array<std::string_view, 2> info{"INFO", "server"};
  auto [info_error, info_reply] = co_await connection->call(info);
  if (info_error || info_reply.type != Reply::Type::string) co_return false;
  const auto run_id = run_id_of(info_reply.text);
  if (run_id.empty()) co_return false;
  if (!run_id_.empty() && run_id != run_id_)
    log::warn("cluster: Redis is a new run (", run_id, ", was ", run_id_,
              "): it may have lost events, so each room goes on in a new epoch");
  run_id_ = run_id;
  const std::array<std::string_view, 1> time{"TIME"};
  const auto asked = std::chrono::system_clock::now();
  auto [time_error, time_reply] = co_await connection->call(time);
  const auto answered = std::chrono::system_clock::now();
  if (time_error || time_reply.elements.size() != 2) co_return false;
  const auto seconds = time_reply.elements[0].as_integer().value_or(0);
  const auto micros = time_reply.elements[1].as_integer().value_or(0);
  const auto middle = asked + (answered - asked) / 2;
  const auto ours = std::chrono::duration_cast<std::chrono::milliseconds>(middle.time_since_epoch()).count();
  redis_offset_ms_ = seconds * 1000 + micros / 1000 - ours;
  co_return true;
}

asio::awaitable<void> ClusterNode::subscriber_link() {
  int failures = 0;
  while (!stopping_) {
    auto connection = co_await connect_link("subscriber", subscriber_down_why_, failures);
    if (!connection) break;  // stopping
    failures = 0;
    connection->set_push_handler([this](Reply& push) { on_push(push); });
    subscriber_ = connection;
    // Every room's channel, then the probe's: its acknowledgement, last, says all are subscribed
    // (Redis answers SUBSCRIBE one channel at a time, in order).
    Args subscribe{"SUBSCRIBE"};
    for (const auto& [channel, feeds] : feeds_) subscribe.push_back(channel);
    subscribe.push_back(probe_channel_);
    connection->send(views_of(subscribe), nullptr);
    probe_outstanding_ = false;
    co_await connection->wait_closed();
    subscriber_ready_ = false;
    subscriber_ = nullptr;
    subscriber_down_why_ = connection->why_closed();
    set_degraded();
    for (auto& [channel, waiting] : subscribing_) {
      for (auto& acked : waiting) acked();  // the load goes on; the next link reconciles it
    }
    subscribing_.clear();
    co_await back_off(failures);  // a subscription killed on purpose should not be hammered back either
  }
}

void ClusterNode::on_push(Reply& push) {
  if (push.type != Reply::Type::array || push.elements.size() < 3) return;
  const auto kind = push.elements[0].as_string().value_or("");
  const auto channel = push.elements[1].as_string().value_or("");
  if (kind == "subscribe") {
    if (channel == probe_channel_ && !subscriber_ready_) {
      subscriber_ready_ = true;
      set_degraded();
      reconcile_all();  // what was published while there was no subscription
    }
    if (auto waiting = subscribing_.find(std::string(channel)); waiting != subscribing_.end()) {
      auto acked = std::move(waiting->second);
      subscribing_.erase(waiting);
      for (auto& then : acked) then();
    }
    return;
  }
  if (kind != "message") return;
  if (channel == probe_channel_) {
    if (probe_outstanding_) {
      // PUBLISH on the command link to the message on the subscriber link: both links and Redis.
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - probe_sent_);
      std::lock_guard lock(degraded_mutex_);
      links_.round_trip = took;
    }
    probe_outstanding_ = false;
    return;
  }
  const auto found = feeds_.find(std::string(channel));
  if (found == feeds_.end()) return;
  const auto payload = push.elements[2].as_string().value_or("");
  auto batch = protocol::parse_cluster_batch(payload);
  if (!batch) {
    log::error("cluster: a malformed batch on ", channel, " was ignored (", payload.size(), " bytes)");
    return;
  }
  const auto feeds = found->second;  // on_batch may detach one
  for (std::size_t i = 0; i < feeds.size(); ++i) {
    if (i + 1 == feeds.size()) {
      on_batch(feeds[i], std::move(*batch));
    } else {
      on_batch(feeds[i], *batch);
    }
  }
}

asio::awaitable<void> ClusterNode::tick_loop() {
  asio::steady_timer timer(context_);
  while (!stopping_) {
    timer.expires_after(tick_interval);
    co_await timer.async_wait(use_nothrow_awaitable);
    tick(Clock::now());
  }
}

void ClusterNode::tick(Clock::time_point now) {
  // Publishers are answered by their deadline, whatever Redis does: not sent yet, never applied (503);
  // sent and not answered, perhaps applied (504).
  while (!waiting_.empty() && waiting_.front()->deadline <= now) {
    answer(*waiting_.front(), asio::error::try_again, 0);
    waiting_.pop_front();
  }
  while (!in_flight_.empty() && (in_flight_.front()->answered || in_flight_.front()->deadline <= now)) {
    answer(*in_flight_.front(), asio::error::timed_out, 0);
    in_flight_.pop_front();
  }
  if (command_) command_->expire(now, command_timeout);
  if (command_ready_ && now >= next_heartbeat_) heartbeat();
  probe(now);
  for (auto& [channel, feeds] : feeds_) {
    for (auto& feed : feeds) {
      if (!feed->ready.empty()) retry_handing(*feed);
    }
  }
}

// ---- heartbeat, probe -----------------------------------------------------------------------------------

ClusterNode::Args ClusterNode::script_call(const char* script, std::size_t argc_hint) {
  Args args;
  args.reserve(argc_hint + 3);
  args.emplace_back("EVALSHA");
  args.push_back(shas_[script]);
  args.emplace_back("0");
  return args;
}

void ClusterNode::send(const Args& args, RedisConnection::Handler handler) {
  if (!command_) {
    asio::post(context_, [handler = std::move(handler)] { handler(asio::error::not_connected, Reply{}); });
    return;
  }
  command_->send(views_of(args), std::move(handler));
}

void ClusterNode::heartbeat() {
  // Every node_ttl/4, registered until node_ttl*3/4 from Redis' now: one heartbeat may be late, and a
  // node that died is reaped by the next heartbeat of another after its deadline, within node_ttl.
  next_heartbeat_ = Clock::now() + settings_.node_ttl / 4;
  const auto ttl = std::to_string((settings_.node_ttl * 3 / 4).count());
  const auto ts = std::to_string(event_time_now());
  const auto max_events = std::to_string(history_.max_events);
  Args args = script_call("heartbeat", 7);
  for (const std::string* value : std::initializer_list<const std::string*>{
           &settings_.redis.prefix, &node_id_, &ttl, &run_id_, &salt_, &max_events, &ts})
    args.push_back(*value);
  send(args, [this](asio::error_code ec, Reply reply) {
    if (ec || reply.is_error() || reply.elements.size() != 2) {
      if (!ec) log::error("cluster: heartbeat failed: ", reply.text);
      return;
    }
    if (const auto reaped = reply.elements[1].as_integer().value_or(0); reaped > 0)
      log::warn("cluster: reaped ", reaped, " node(s) silent for over cluster.node_ttl");
    if (reply.elements[0].as_integer().value_or(0) == 0) {
      // Not registered: a first start, or this node was reaped (cut off longer than node_ttl) and its
      // users left. Its sessions are told to Redis whole again (they join again, after their leave).
      for (auto& [channel, feeds] : feeds_) {
        for (auto& feed : feeds) resync_presence(feed);
      }
    }
  });
}

void ClusterNode::probe(Clock::time_point now) {
  // A subscription can go silent while the connection looks alive (a failover, a proxy, a black hole):
  // a message to ourselves must come back within a second, or the subscriber connection is restarted
  // and every room reconciled.
  if (!command_ready_ || !subscriber_ready_ || !subscriber_) return;
  const auto interval = std::min<Clock::duration>(1s, settings_.node_ttl / 4);
  if (probe_outstanding_) {
    if (now - probe_sent_ > 2 * interval)
      subscriber_->close("probe not received: the subscription is silent");
    return;
  }
  if (now - probe_sent_ < interval) return;
  probe_sent_ = now;
  probe_outstanding_ = true;
  send({"PUBLISH", probe_channel_, "probe"}, nullptr);
}

// ---- loading --------------------------------------------------------------------------------------------

bool ClusterNode::knows(const std::string& room) {
  auto promise = std::make_shared<std::promise<std::optional<bool>>>();
  auto future = promise->get_future();
  asio::post(context_, [this, room, promise] {
    send({"EXISTS", settings_.redis.prefix + ":{" + room + "}:meta"},
         [promise](asio::error_code ec, Reply reply) {
           if (ec || reply.is_error()) {
             promise->set_value(std::nullopt);
           } else {
             promise->set_value(reply.as_integer().value_or(0) > 0);
           }
         });
  });
  if (future.wait_for(settings_.unavailable_wait + 2s) != std::future_status::ready)
    throw EngineUnavailable("Redis did not answer in time");
  const auto known = future.get();
  if (!known) throw EngineUnavailable("Redis is unavailable");
  return *known;
}

ClusterNode::Loaded ClusterNode::load(const std::string& room) {
  auto feed = std::make_shared<RoomFeed>(room, settings_.redis.prefix + ":{" + room + "}");
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  asio::post(context_, [this, feed, promise] {
    start_load(feed, [promise](std::string error) { promise->set_value(std::move(error)); });
  });
  if (future.wait_for(settings_.unavailable_wait + 3s) != std::future_status::ready) {
    detach(feed);
    throw EngineUnavailable("Redis did not answer in time");
  }
  if (auto error = future.get(); !error.empty()) {
    detach(feed);
    throw EngineUnavailable(error);
  }
  Loaded loaded;
  loaded.feed = feed;
  // Set on the cluster thread before the promise was kept, and never after: visible here once
  // future.get() returned. What came after the window is queued in the feed for the room.
  loaded.history.epoch = feed->loaded_epoch;
  loaded.history.last_id = feed->loaded_last;
  loaded.history.events = std::move(feed->loaded);
  return loaded;
}

void ClusterNode::start_load(const std::shared_ptr<RoomFeed>& feed, std::function<void(std::string)> done) {
  if (!command_ready_) {
    done("Redis is unavailable: " + command_down_why_);
    return;
  }
  // Subscribed first, then the window read: whatever is published meanwhile is stashed and merged by id,
  // so there is no gap between the window and live events (design note, test 10).
  auto& feeds = feeds_[feed->channel];
  feeds.push_back(feed);
  auto read = [this, feed, done = std::move(done)]() mutable {
    read_window(feed, [this, feed, done = std::move(done)](std::string error, Window window) mutable {
      if (!error.empty()) {
        done(std::move(error));
        return;
      }
      feed->epoch = feed->taken_epoch = window.epoch;
      feed->last = feed->taken_last = window.last;
      feed->loaded_epoch = window.epoch;
      feed->loaded_last = window.last;
      feed->loaded = std::move(window.events);
      feed->state = RoomFeed::State::live;
      after_catch_up(feed);
      done({});
    });
  };
  if (feeds.size() > 1 || !subscriber_ready_ || !subscriber_) {
    read();  // already subscribed, or the next subscriber link subscribes and reconciles
    return;
  }
  subscribing_[feed->channel].push_back(std::move(read));
  subscriber_->send(std::array<std::string_view, 2>{"SUBSCRIBE", feed->channel}, nullptr);
}

void ClusterNode::read_window(const std::shared_ptr<RoomFeed>& feed,
                              std::function<void(std::string error, Window window)> done) {
  const auto count = std::to_string(std::min<std::size_t>(page_size, history_.max_events));
  Args args = script_call("window", 5);
  for (const std::string* value : std::initializer_list<const std::string*>{
           &settings_.redis.prefix, &feed->room, &count, &run_id_, &salt_})
    args.push_back(*value);
  send(args, [this, feed, done = std::move(done)](asio::error_code ec, Reply reply) mutable {
    if (ec || reply.is_error() || reply.elements.size() != 4) {
      done(ec ? "Redis is unavailable: " + ec.message() : "reading the room failed: " + reply.text, {});
      return;
    }
    Window window;
    window.epoch = reply.elements[0].as_string().value_or("");
    window.last = static_cast<std::uint64_t>(reply.elements[1].as_integer().value_or(0));
    window.from = static_cast<std::uint64_t>(reply.elements[2].as_integer().value_or(1));
    for (const auto& entry : reply.elements[3].elements) {
      if (auto event = event_of(entry)) window.events.push_back(std::move(event));  // newest first
    }
    const bool more =
        reply.elements[3].elements.size() == page_size && window.events.size() < history_.max_events;
    if (!more) {
      std::reverse(window.events.begin(), window.events.end());
      done({}, std::move(window));
      return;
    }
    read_older(feed, std::move(window), std::move(done));
  });
}

void ClusterNode::read_older(const std::shared_ptr<RoomFeed>& feed, Window window,
                             std::function<void(std::string error, Window window)> done) {
  // Pages of at most 1000 (XREVRANGE COUNT 10000 blocks Redis 7 ms; 1000 costs 0.7 ms).
  const auto wanted = std::min<std::size_t>(page_size, history_.max_events - window.events.size());
  Args args{"XREVRANGE",
            settings_.redis.prefix + ":{" + feed->room + "}:log",
            "(" + std::to_string(window.events.back()->id) + "-0",
            "-",
            "COUNT",
            std::to_string(wanted)};
  send(args, [this, feed, window = std::move(window), done = std::move(done), wanted](asio::error_code ec,
                                                                                      Reply reply) mutable {
    if (ec || reply.is_error()) {
      done(ec ? "Redis is unavailable: " + ec.message() : "reading the room failed: " + reply.text, {});
      return;
    }
    for (const auto& entry : reply.elements) {
      if (auto event = event_of(entry)) window.events.push_back(std::move(event));
    }
    if (reply.elements.size() == wanted && window.events.size() < history_.max_events) {
      read_older(feed, std::move(window), std::move(done));
      return;
    }
    std::reverse(window.events.begin(), window.events.end());
    done({}, std::move(window));
  });
}

void ClusterNode::deliver_to(const std::shared_ptr<RoomFeed>& feed,
                             std::function<bool(SequencedBatch&)> deliver) {
  asio::post(context_, [this, feed, deliver = std::move(deliver)]() mutable {
    feed->deliver = std::move(deliver);
    retry_handing(*feed);
  });
}

void ClusterNode::detach(const std::shared_ptr<RoomFeed>& feed) {
  asio::post(context_, [this, feed] {
    feed->detached = true;
    feed->deliver = nullptr;
    const auto found = feeds_.find(feed->channel);
    if (found == feeds_.end()) return;
    auto& feeds = found->second;
    feeds.erase(std::remove(feeds.begin(), feeds.end(), feed), feeds.end());
    if (!feeds.empty()) return;
    feeds_.erase(found);
    if (subscriber_ready_ && subscriber_)
      subscriber_->send(std::array<std::string_view, 2>{"UNSUBSCRIBE", feed->channel}, nullptr);
  });
}

// ---- ordered delivery -----------------------------------------------------------------------------------

void ClusterNode::on_batch(const std::shared_ptr<RoomFeed>& feed, protocol::ClusterBatch batch) {
  if (feed->detached) return;
  if (feed->state != RoomFeed::State::live) {
    stash(*feed, std::move(batch));
    return;
  }
  accept(feed, std::move(batch));
}

void ClusterNode::stash(RoomFeed& feed, protocol::ClusterBatch batch) {
  // Bounded: past the bound, what arrives is dropped and read again from the stream afterwards.
  if (feed.stashed_events + batch.events.size() > max_stashed_events) {
    feed.stash_overflowed = true;
    return;
  }
  feed.stashed_events += batch.events.size();
  feed.stashed.push_back(std::move(batch));
}

void ClusterNode::accept(const std::shared_ptr<RoomFeed>& feed, protocol::ClusterBatch batch) {
  if (batch.events.empty()) return;
  if (batch.epoch != feed->epoch) {
    // Redis started the room again (restarted, failed over, or lost its keys): read it again.
    stash(*feed, std::move(batch));
    reset(feed);
    return;
  }
  const std::uint64_t newest = batch.first_id + batch.events.size() - 1;
  if (newest <= feed->last) return;  // delivered already (a fill read it first)
  if (batch.first_id > feed->last + 1) {
    // A gap: a broadcast missed (a resubscribe, a dropped batch). Filled from the stream before anything
    // later is delivered.
    stash(*feed, std::move(batch));
    fill(feed);
    return;
  }
  const std::size_t skip = feed->last + 1 - batch.first_id;
  SequencedBatch delivered;
  delivered.events = events_of(batch, skip);
  delivered.epoch = feed->epoch;
  feed->last = newest;
  hand(*feed, std::move(delivered));
}

void ClusterNode::after_catch_up(const std::shared_ptr<RoomFeed>& feed) {
  auto stashed = std::move(feed->stashed);
  feed->stashed.clear();
  feed->stashed_events = 0;
  const bool overflowed = std::exchange(feed->stash_overflowed, false);
  for (auto& batch : stashed) {
    if (feed->state != RoomFeed::State::live) {
      stash(*feed, std::move(batch));  // a gap or a new epoch again: caught up first
    } else {
      accept(feed, std::move(batch));
    }
  }
  if (overflowed && feed->state == RoomFeed::State::live) reconcile(feed);
}

void ClusterNode::reconcile_all() {
  for (auto& [channel, feeds] : feeds_) {
    for (auto& feed : feeds) reconcile(feed);
  }
}

void ClusterNode::reconcile(const std::shared_ptr<RoomFeed>& feed) {
  // After a reconnect or a probe failure: is there anything newer, or a new epoch?
  if (feed->state != RoomFeed::State::live || !command_ready_) {
    feed->reconcile_wanted = true;
    return;
  }
  feed->reconcile_wanted = false;
  Args args{"HMGET", settings_.redis.prefix + ":{" + feed->room + "}:meta", "epoch", "last"};
  send(args, [this, feed](asio::error_code ec, Reply reply) {
    if (feed->detached) return;
    if (ec || reply.is_error() || reply.elements.size() != 2) {
      feed->reconcile_wanted = true;
      return;
    }
    if (feed->state != RoomFeed::State::live) return;  // caught up meanwhile, by a batch
    const auto epoch = reply.elements[0].as_string();
    const auto last = static_cast<std::uint64_t>(reply.elements[1].as_integer().value_or(0));
    if (!epoch || *epoch != feed->epoch) {
      reset(feed);  // keys lost, or a new epoch
    } else if (last > feed->last) {
      fill(feed);
    }
  });
}

void ClusterNode::fill(const std::shared_ptr<RoomFeed>& feed) {
  feed->state = RoomFeed::State::catching_up;
  const auto wanted = std::to_string(page_size);
  Args args{"XRANGE",
            settings_.redis.prefix + ":{" + feed->room + "}:log",
            "(" + std::to_string(feed->last) + "-0",
            "+",
            "COUNT",
            wanted};
  send(args, [this, feed](asio::error_code ec, Reply reply) {
    if (feed->detached) return;
    if (ec || reply.is_error()) {
      // Redis went away mid-fill: the next command link reconciles; what is stashed waits for it.
      feed->state = RoomFeed::State::live;
      feed->reconcile_wanted = true;
      return;
    }
    std::vector<SharedEvent> events;
    for (const auto& entry : reply.elements) {
      if (auto event = event_of(entry)) events.push_back(std::move(event));
    }
    if (!events.empty() && events.front()->id != feed->last + 1) {
      // A hole: what this node missed was trimmed away (longer than history.max_events behind).
      log::warn("cluster: room ", feed->room, ": events ", feed->last + 1, "..", events.front()->id - 1,
                " are no longer in Redis; its history starts again");
      reset(feed);
      return;
    }
    if (!events.empty()) {
      feed->last = events.back()->id;
      SequencedBatch filled;
      filled.events = std::move(events);
      filled.epoch = feed->epoch;
      hand(*feed, std::move(filled));
    }
    if (reply.elements.size() == page_size) {
      fill(feed);
      return;
    }
    feed->state = RoomFeed::State::live;
    // Whatever is still behind the stash's first batch is a hole (or a new epoch): accept() sees to it.
    if (!feed->stashed.empty() && feed->stashed.front().epoch == feed->epoch &&
        feed->stashed.front().first_id > feed->last + 1) {
      reset(feed);
      return;
    }
    after_catch_up(feed);
  });
}

void ClusterNode::reset(const std::shared_ptr<RoomFeed>& feed) {
  feed->state = RoomFeed::State::catching_up;
  read_window(feed, [this, feed](std::string error, Window window) {
    if (feed->detached) return;
    if (!error.empty()) {
      feed->state = RoomFeed::State::live;
      feed->reconcile_wanted = true;
      return;
    }
    // Live subscribers are told, then get as live events what is newer than `boundary`: the new epoch's
    // events, or those after the hole, at most a tenth of a page (the rest is in /history).
    std::uint64_t boundary = window.events.empty() ? window.last : window.events.front()->id - 1;
    if (window.epoch != feed->epoch) boundary = std::max(boundary, window.from - 1);
    boundary = std::max(boundary, window.last > page_size / 10 ? window.last - page_size / 10 : 0);
    boundary = std::min(boundary, window.last);
    log::info("cluster: room ", feed->room, ": history starts again in epoch ", window.epoch, " after id ",
              boundary);
    SequencedBatch batch;
    batch.events = std::move(window.events);
    batch.epoch = window.epoch;
    batch.reset = true;
    batch.last = boundary;
    feed->epoch = window.epoch;
    feed->last = window.last;
    hand(*feed, std::move(batch));
    feed->state = RoomFeed::State::live;
    after_catch_up(feed);
  });
}

void ClusterNode::hand(RoomFeed& feed, SequencedBatch batch) {
  feed.ready_events += batch.events.size();
  feed.ready.push_back(std::move(batch));
  retry_handing(feed);
}

void ClusterNode::retry_handing(RoomFeed& feed) {
  if (!feed.deliver) return;  // not attached yet: the room takes them once it is
  while (!feed.ready.empty()) {
    auto& batch = feed.ready.front();
    const std::size_t count = batch.events.size();
    const auto epoch = batch.epoch;
    const std::uint64_t last = batch.reset
                                   ? std::max(batch.last, batch.events.empty() ? 0 : batch.events.back()->id)
                                   : (batch.events.empty() ? feed.taken_last : batch.events.back()->id);
    if (!feed.deliver(batch)) break;  // the room's inbox is full: the tick tries again
    feed.taken_epoch = epoch;
    feed.taken_last = last;
    feed.ready_events -= count;
    feed.ready.pop_front();
  }
  if (feed.ready_events > max_ready_events) {
    // The room is far behind: let go of what it has not taken; it is read again from the stream.
    feed.ready.clear();
    feed.ready_events = 0;
    feed.epoch = feed.taken_epoch;
    feed.last = feed.taken_last;
    feed.reconcile_wanted = true;
  }
}

// ---- publishing ------------------------------------------------------------------------------------------

std::int64_t ClusterNode::redis_deadline_ms(Clock::time_point deadline) const {
  // In Redis' clock, a little early: the script refuses before we answer 503, never after.
  const auto margin = std::min<Clock::duration>(100ms, settings_.unavailable_wait / 4);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - margin - Clock::now());
  return event_time_now() + left.count() + redis_offset_ms_;
}

void ClusterNode::append(const std::shared_ptr<RoomFeed>& feed, AppendRequest request) {
  auto pending = std::make_shared<PendingAppend>();
  pending->feed = feed;
  pending->request = std::move(request);
  pending->deadline = Clock::now() + settings_.unavailable_wait;
  asio::post(context_, [this, pending] {
    flush_presence(pending->feed);  // a join before the message its user sent after it
    if (command_ready_) {
      send_append(pending);
    } else if (waiting_.size() >= max_waiting_appends) {
      answer(*pending, asio::error::try_again, 0);
    } else {
      waiting_.push_back(pending);
    }
  });
}

void ClusterNode::send_append(const std::shared_ptr<PendingAppend>& pending) {
  if (pending->answered) return;
  if (Clock::now() >= pending->deadline) {
    answer(*pending, asio::error::try_again, 0);
    return;
  }
  const auto& request = pending->request;
  const auto deadline = std::to_string(redis_deadline_ms(pending->deadline));
  const auto max_events = std::to_string(history_.max_events);
  const auto ts = std::to_string(request.ts);
  Args args = script_call("append", 9 + request.texts.size());
  for (const std::string* value : std::initializer_list<const std::string*>{
           &settings_.redis.prefix, &pending->feed->room, &run_id_, &salt_, &max_events, &deadline, &ts})
    args.push_back(*value);
  args.emplace_back("0");  // EventType::message
  args.push_back(request.name);
  for (const auto& text : request.texts) args.push_back(text);
  in_flight_.push_back(pending);
  send(args, [this, pending](asio::error_code ec, Reply reply) {
    if (ec == asio::error::not_connected) {
      // Never written: it may still make it before its deadline.
      if (!pending->answered) waiting_.push_back(pending);
      return;
    }
    if (ec) {
      answer(*pending, asio::error::timed_out, 0);  // written, no reply: perhaps applied
      return;
    }
    if (reply.is_error()) {
      if (reply.text.rfind("NOSCRIPT", 0) == 0 && command_) command_->close("scripts flushed: reloading");
      if (reply.text.rfind("EXPIRED", 0) != 0) log::error("cluster: append refused by Redis: ", reply.text);
      answer(*pending, asio::error::try_again, 0);  // a script refuses before any write
      return;
    }
    const auto first = reply.elements.empty() ? std::nullopt : reply.elements[0].as_integer();
    if (!first) {
      answer(*pending, asio::error::timed_out, 0);
      return;
    }
    answer(*pending, {}, static_cast<std::uint64_t>(*first));
  });
}

void ClusterNode::answer(PendingAppend& pending, asio::error_code ec, std::uint64_t first_id) {
  if (std::exchange(pending.answered, true)) return;
  if (pending.request.reply) pending.request.reply->try_send(ec, first_id);
  if (ec && pending.request.refused) pending.request.refused();
  pending.request.reply = nullptr;
  pending.request.refused = nullptr;
}

// ---- presence -------------------------------------------------------------------------------------------

void ClusterNode::session_changed(const std::shared_ptr<RoomFeed>& feed, std::string name, int delta) {
  asio::post(context_, [this, feed, name = std::move(name), delta]() mutable {
    auto& sessions = feed->sessions[name];
    sessions = static_cast<std::uint32_t>(std::max<std::int64_t>(0, std::int64_t{sessions} + delta));
    if (sessions == 0) feed->sessions.erase(name);
    feed->presence_changes.emplace_back(std::move(name), delta);
    // Coalesced: joins and leaves posted together (a reconnect storm) go to Redis in one call.
    if (std::exchange(feed->presence_flush_posted, true)) return;
    asio::post(context_, [this, feed] { flush_presence(feed); });
  });
}

void ClusterNode::flush_presence(const std::shared_ptr<RoomFeed>& feed) {
  feed->presence_flush_posted = false;
  if (feed->presence_changes.empty() && !feed->presence_dirty) return;
  if (!command_ready_) {
    feed->presence_changes.clear();
    feed->presence_dirty = true;  // sent whole once Redis is back
    return;
  }
  if (feed->presence_dirty) {
    feed->presence_changes.clear();
    resync_presence(feed);
    return;
  }
  auto changes = std::move(feed->presence_changes);
  feed->presence_changes.clear();
  send_presence(feed, false, changes);
}

void ClusterNode::resync_presence(const std::shared_ptr<RoomFeed>& feed) {
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& [name, sessions] : feed->sessions) counts.emplace_back(name, static_cast<int>(sessions));
  feed->presence_dirty = false;
  feed->presence_changes.clear();
  send_presence(feed, true, counts);
}

void ClusterNode::send_presence(const std::shared_ptr<RoomFeed>& feed, bool absolute,
                                const std::vector<std::pair<std::string, int>>& counts) {
  const auto max_events = std::to_string(history_.max_events);
  const auto ts = std::to_string(event_time_now());
  // Versioned: a call Redis runs late (it was stopped) after a newer one is ignored.
  const auto version = std::to_string(++presence_version_);
  Args args = script_call("presence", 9 + 2 * counts.size());
  for (const std::string* value : std::initializer_list<const std::string*>{
           &settings_.redis.prefix, &feed->room, &run_id_, &salt_, &max_events, &node_id_, &ts, &version})
    args.push_back(*value);
  args.emplace_back(absolute ? "1" : "0");
  for (const auto& [name, count] : counts) {
    args.push_back(name);
    args.push_back(std::to_string(count));
  }
  send(args, [feed](asio::error_code ec, Reply reply) {
    if (ec || reply.is_error()) {
      if (!ec) log::error("cluster: presence refused by Redis: ", reply.text);
      feed->presence_dirty = true;  // perhaps not applied: sent whole next time
    }
  });
}

void ClusterNode::presence(const std::shared_ptr<RoomFeed>& feed, std::shared_ptr<QueryReply> answer) {
  asio::post(context_, [this, feed, answer = std::move(answer)] {
    if (!command_ready_) {
      answer->try_send(asio::error::try_again, std::string{});
      return;
    }
    send({"HGETALL", settings_.redis.prefix + ":{" + feed->room + "}:users"},
         [feed, answer](asio::error_code ec, Reply reply) {
           if (ec || reply.is_error()) {
             answer->try_send(asio::error::try_again, std::string{});
             return;
           }
           std::vector<protocol::PresenceEntry> users;
           for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
             const auto sessions = reply.elements[i + 1].as_integer().value_or(0);
             if (sessions > 0)
               users.push_back({reply.elements[i].text, static_cast<std::uint32_t>(sessions)});
           }
           std::sort(users.begin(), users.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
           answer->try_send(asio::error_code{}, protocol::presence_json(feed->room, users));
         });
  });
}

}  // namespace chatd::cluster
