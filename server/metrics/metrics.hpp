// Every counter chatd keeps, named once (series_table below), counted per thread and summed at scrape time.
// A count on the hot path is a plain add to a cache line only the counting thread writes: no lock, no
// contended atomic, nothing per subscriber (a broadcast counts its deliveries once, as N). What is a level
// rather than a count (connections open, rooms, the store's backlog) is read at scrape time from its owner,
// not counted here (server/http/metrics_route.cpp). Names and help follow Prometheus' conventions: the
// chatd_ prefix, base units, _total on counters (prometheus.io/docs/practices/naming).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace chatd::metrics {

// One series: a family's name and one value of its label (none for a family without one).
enum class Series : std::uint16_t {
  http_connections_accepted,
  websocket_sessions_opened,
  event_streams_opened,
  http_connections_refused,
  published_ws,
  published_http,
  deliveries,
  sent_bytes,
  slow_client_closes,
  rate_limited_publish,
  rate_limited_handshake,
  rate_limited_room_creation,
  rate_limited_login,
  handshake_rejected_400,
  handshake_rejected_401,
  handshake_rejected_403,
  handshake_rejected_404,
  handshake_rejected_426,
  handshake_rejected_429,
  handshake_rejected_503,
  handshake_rejected_other,
  auth_failed_missing,
  auth_failed_invalid,
  auth_failed_expired,
  auth_failed_forbidden_room,
  auth_failed_bad_password,
  closes_1000,
  closes_1001,
  closes_1002,
  closes_1003,
  closes_1007,
  closes_1008,
  closes_1009,
  closes_1011,
  closes_1013,
  closes_4001,
  closes_4003,
  closes_4004,
  closes_other,
  drops,
  history_commits,
  history_committed_events,
  history_lost_events,
  history_commit_le_1ms,  // the commit latency histogram's buckets, each counted alone (made cumulative
  history_commit_le_5ms,  // at scrape time); its sum is history_commit_microseconds
  history_commit_le_25ms,
  history_commit_le_100ms,
  history_commit_le_500ms,
  history_commit_le_inf,
  history_commit_microseconds,
  count_
};
inline constexpr std::size_t series_count = static_cast<std::size_t>(Series::count_);

enum class Type { counter, histogram_bucket, histogram_sum };

struct SeriesInfo {
  Series series;
  std::string_view family;  // the metric's name
  std::string_view help;    // the family's HELP line (given on its first series)
  Type type;
  std::string_view label;  // "" for a family without a label
  std::string_view value;  // the label's value
};

// The histogram's upper bounds in seconds, in bucket order (the last is +Inf).
inline constexpr std::array<double, 5> history_commit_bounds{0.001, 0.005, 0.025, 0.1, 0.5};

inline constexpr SeriesInfo series_table[] = {
    {Series::http_connections_accepted, "chatd_connections_accepted_total",
     "Client connections accepted, by transport: http is every TCP connection on the public listener; "
     "websocket, those upgraded (101); sse, the event streams opened (200 on the events route).",
     Type::counter, "transport", "http"},
    {Series::websocket_sessions_opened, "chatd_connections_accepted_total", "", Type::counter, "transport",
     "websocket"},
    {Series::event_streams_opened, "chatd_connections_accepted_total", "", Type::counter, "transport", "sse"},
    {Series::http_connections_refused, "chatd_connections_refused_total",
     "Connections closed at accept: over limits.max_connections or limits.max_connections_per_ip.",
     Type::counter, "", ""},
    {Series::published_ws, "chatd_messages_published_total",
     "Messages published (given an id), by route: ws (a subscriber's text frame), http (POST publish).",
     Type::counter, "route", "ws"},
    {Series::published_http, "chatd_messages_published_total", "", Type::counter, "route", "http"},
    {Series::deliveries, "chatd_deliveries_total",
     "Events queued to subscribers: one event to N subscribers counts N.", Type::counter, "", ""},
    {Series::sent_bytes, "chatd_sent_bytes_total", "Bytes written to WebSocket subscribers.", Type::counter,
     "", ""},
    {Series::slow_client_closes, "chatd_slow_client_closes_total",
     "Subscribers closed as too slow (1008): a full queue, limits.max_queued_bytes, or a stalled write.",
     Type::counter, "", ""},
    {Series::rate_limited_publish, "chatd_rate_limited_total",
     "Requests refused with 429 by a token bucket, by limiter (a WebSocket publisher over publish.rate is "
     "slowed down, not refused).",
     Type::counter, "limiter", "publish"},
    {Series::rate_limited_handshake, "chatd_rate_limited_total", "", Type::counter, "limiter", "handshake"},
    {Series::rate_limited_room_creation, "chatd_rate_limited_total", "", Type::counter, "limiter",
     "room_creation"},
    {Series::rate_limited_login, "chatd_rate_limited_total", "", Type::counter, "limiter", "login"},
    {Series::handshake_rejected_400, "chatd_handshake_rejections_total",
     "Subscriptions (WebSocket upgrades, event streams) answered with an HTTP error, by status.",
     Type::counter, "status", "400"},
    {Series::handshake_rejected_401, "chatd_handshake_rejections_total", "", Type::counter, "status", "401"},
    {Series::handshake_rejected_403, "chatd_handshake_rejections_total", "", Type::counter, "status", "403"},
    {Series::handshake_rejected_404, "chatd_handshake_rejections_total", "", Type::counter, "status", "404"},
    {Series::handshake_rejected_426, "chatd_handshake_rejections_total", "", Type::counter, "status", "426"},
    {Series::handshake_rejected_429, "chatd_handshake_rejections_total", "", Type::counter, "status", "429"},
    {Series::handshake_rejected_503, "chatd_handshake_rejections_total", "", Type::counter, "status", "503"},
    {Series::handshake_rejected_other, "chatd_handshake_rejections_total", "", Type::counter, "status",
     "other"},
    {Series::auth_failed_missing, "chatd_auth_failures_total",
     "Requests refused by access control, by reason: missing (no credential where one is needed), invalid "
     "(a token or key that does not verify), expired, forbidden_room (not allowed into the room), "
     "bad_password (POST login).",
     Type::counter, "reason", "missing"},
    {Series::auth_failed_invalid, "chatd_auth_failures_total", "", Type::counter, "reason", "invalid"},
    {Series::auth_failed_expired, "chatd_auth_failures_total", "", Type::counter, "reason", "expired"},
    {Series::auth_failed_forbidden_room, "chatd_auth_failures_total", "", Type::counter, "reason",
     "forbidden_room"},
    {Series::auth_failed_bad_password, "chatd_auth_failures_total", "", Type::counter, "reason",
     "bad_password"},
    {Series::closes_1000, "chatd_websocket_closes_total",
     "WebSocket connections ended by a close frame, by the code chatd sent (docs/api.md).", Type::counter,
     "code", "1000"},
    {Series::closes_1001, "chatd_websocket_closes_total", "", Type::counter, "code", "1001"},
    {Series::closes_1002, "chatd_websocket_closes_total", "", Type::counter, "code", "1002"},
    {Series::closes_1003, "chatd_websocket_closes_total", "", Type::counter, "code", "1003"},
    {Series::closes_1007, "chatd_websocket_closes_total", "", Type::counter, "code", "1007"},
    {Series::closes_1008, "chatd_websocket_closes_total", "", Type::counter, "code", "1008"},
    {Series::closes_1009, "chatd_websocket_closes_total", "", Type::counter, "code", "1009"},
    {Series::closes_1011, "chatd_websocket_closes_total", "", Type::counter, "code", "1011"},
    {Series::closes_1013, "chatd_websocket_closes_total", "", Type::counter, "code", "1013"},
    {Series::closes_4001, "chatd_websocket_closes_total", "", Type::counter, "code", "4001"},
    {Series::closes_4003, "chatd_websocket_closes_total", "", Type::counter, "code", "4003"},
    {Series::closes_4004, "chatd_websocket_closes_total", "", Type::counter, "code", "4004"},
    {Series::closes_other, "chatd_websocket_closes_total", "", Type::counter, "code", "other"},
    {Series::drops, "chatd_websocket_drops_total",
     "WebSocket connections ended without a close frame (a write timeout or failure, no pong, no close "
     "from the peer).",
     Type::counter, "", ""},
    {Series::history_commits, "chatd_history_commits_total",
     "Transactions the SQLite history writer committed.", Type::counter, "", ""},
    {Series::history_committed_events, "chatd_history_committed_events_total",
     "Events the SQLite history writer committed.", Type::counter, "", ""},
    {Series::history_lost_events, "chatd_history_lost_events_total",
     "Events given an id that the store refused or failed to commit (logged; docs/api.md, durability).",
     Type::counter, "", ""},
    {Series::history_commit_le_1ms, "chatd_history_commit_seconds",
     "Time the SQLite history writer took per transaction.", Type::histogram_bucket, "le", "0.001"},
    {Series::history_commit_le_5ms, "chatd_history_commit_seconds", "", Type::histogram_bucket, "le",
     "0.005"},
    {Series::history_commit_le_25ms, "chatd_history_commit_seconds", "", Type::histogram_bucket, "le",
     "0.025"},
    {Series::history_commit_le_100ms, "chatd_history_commit_seconds", "", Type::histogram_bucket, "le",
     "0.1"},
    {Series::history_commit_le_500ms, "chatd_history_commit_seconds", "", Type::histogram_bucket, "le",
     "0.5"},
    {Series::history_commit_le_inf, "chatd_history_commit_seconds", "", Type::histogram_bucket, "le", "+Inf"},
    {Series::history_commit_microseconds, "chatd_history_commit_seconds", "", Type::histogram_sum, "", ""},
};

constexpr bool table_in_enum_order() {
  if (std::size(series_table) != series_count) return false;
  for (std::size_t i = 0; i < series_count; ++i) {
    if (static_cast<std::size_t>(series_table[i].series) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "series_table lists every Series once, in enum order");

// One thread's counts. Only that thread writes them; a scrape reads them from another thread, hence the
// atomics, all relaxed: a scrape needs each value whole, not an order between them.
struct alignas(64) Shard {
  std::array<std::atomic<std::uint64_t>, series_count> values{};
};

namespace detail {
// The calling thread's shard, or null before its first count. constinit: no dynamic initialisation, so an
// access is one thread-pointer-relative load, with no guard and no call (a `thread_local Shard&` initialised
// by a function cost a call and a guard check per count: +9.5 instructions per delivery under callgrind,
// docs/performance.md).
constinit inline thread_local Shard* shard = nullptr;
// Registers a shard for the calling thread, kept for the life of the process (a thread that ends leaves its
// counts in the sums: counters never go back).
Shard& register_shard();
}  // namespace detail

inline Shard& this_thread_shard() {
  Shard* shard = detail::shard;
  if (shard == nullptr) [[unlikely]]
    shard = detail::shard = &detail::register_shard();
  return *shard;
}

// Any thread.
inline void add(Series series, std::uint64_t amount = 1) {
  auto& value = this_thread_shard().values[static_cast<std::size_t>(series)];
  // Only this thread writes: a load and a store, not a locked read-modify-write.
  value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

// Any thread: the sum over every thread of each series, indexed by Series.
std::array<std::uint64_t, series_count> totals();

// The series of the close code chatd sent, of a handshake's HTTP status.
Series close_series(std::uint16_t code);
Series handshake_rejection_series(int status);
// The commit latency histogram: one transaction that took `microseconds`.
void observe_commit(std::uint64_t microseconds);

}  // namespace chatd::metrics
