// This node's part in a cluster on Redis (cluster.engine: redis; docs/cluster.md). One thread of its own
// runs two connections to Redis (commands, pipelined; pub/sub), the heartbeat that keeps this node alive
// and reaps dead ones, the probe that notices a subscription gone silent, and one RoomFeed per loaded
// room, which hands the room its events in id order: a gap is filled from the room's stream before
// anything newer, and a hole that cannot be filled, or a new epoch, starts the room's history again
// (SequencedBatch::reset) instead of skipping silently.
//
// Rooms talk to it through RedisEngine (redis_engine.hpp): every call below posts to the cluster thread,
// except the blocking ones for the registry's loader thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "config/config.hpp"
#include "protocol/cluster_batch.hpp"
#include "server/cluster/redis_connection.hpp"
#include "server/engine/engine.hpp"
#include "server/engine/publish_reply.hpp"
#include "server/engine/query_reply.hpp"
#include "server/store/history_store.hpp"

namespace chatd::cluster {

struct RoomFeed;

// One command's messages for Redis to number (RedisEngine::commit).
struct AppendRequest {
  std::string name;
  std::vector<std::string> texts;
  std::int64_t ts = 0;
  std::shared_ptr<PublishReply>
      reply;                      // HTTP: the first id, or try_again (never applied) / timed_out (unknown)
  std::function<void()> refused;  // WebSocket: runs if it was not applied, or may not have been
};

class ClusterNode {
 public:
  using Clock = std::chrono::steady_clock;

  ClusterNode(const config::Cluster& settings, const config::History& history);
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Starts the cluster thread and waits up to `wait` for the command connection to be ready (configured
  // rooms are loaded next). False: Redis could not be reached in time (the thread goes on trying).
  bool start(Clock::duration wait);
  // Leaves the cluster (its users leave at once, at most 1 s), closes the connections, joins the thread.
  void stop();

  // Any thread: "" while both connections to Redis are up; otherwise what is wrong (/healthz).
  std::string degraded() const;
  // Any thread: whether each connection to Redis is up, and the last probe's round trip (PUBLISH on the
  // command connection until the message arrives on the subscriber's; negative before the first).
  struct Links {
    bool command_up = false;
    bool subscriber_up = false;
    std::chrono::microseconds round_trip{-1};
  };
  Links links() const;
  const std::string& node_id() const { return node_id_; }

  // Loader thread, blocking (at most cluster.unavailable_wait + 2 s). Throw EngineUnavailable.
  bool knows(const std::string& room);
  struct Loaded {
    HistoryStore::RoomHistory history;
    std::shared_ptr<RoomFeed> feed;
  };
  Loaded load(const std::string& room);

  // Any thread (the room's); each posts to the cluster thread, in order.
  void append(const std::shared_ptr<RoomFeed>& feed, AppendRequest request);
  void session_changed(const std::shared_ptr<RoomFeed>& feed, std::string name, int delta);
  void presence(const std::shared_ptr<RoomFeed>& feed, std::shared_ptr<QueryReply> answer);
  void deliver_to(const std::shared_ptr<RoomFeed>& feed, std::function<bool(SequencedBatch&)> deliver);
  void detach(const std::shared_ptr<RoomFeed>& feed);

 private:
  struct PendingAppend;
  using Args = std::vector<std::string>;

  // Cluster thread only, from here on.
  // A link's connection to Redis, retried with back_off until it connects; nullptr once stopping. While it
  // cannot, `down_why` says why (for /healthz).
  asio::awaitable<std::shared_ptr<RedisConnection>> connect_link(const char* role, std::string& down_why,
                                                                 int& failures);
  asio::awaitable<void> command_link();
  asio::awaitable<void> subscriber_link();
  asio::awaitable<bool> set_up_commands(const std::shared_ptr<RedisConnection>& connection);
  asio::awaitable<void> back_off(int& failures);
  asio::awaitable<void> tick_loop();
  void tick(Clock::time_point now);
  void set_degraded();

  void send(const Args& args, RedisConnection::Handler handler);
  Args script_call(const char* script, std::size_t argc_hint);
  void heartbeat();
  void probe(Clock::time_point now);
  void on_push(Reply& push);

  struct Window {
    std::string epoch;
    std::uint64_t last = 0;
    std::uint64_t from = 1;
    std::vector<SharedEvent> events;  // oldest first (newest first while being read)
  };
  void start_load(const std::shared_ptr<RoomFeed>& feed, std::function<void(std::string error)> done);
  void read_window(const std::shared_ptr<RoomFeed>& feed,
                   std::function<void(std::string error, Window)> done);
  void read_older(const std::shared_ptr<RoomFeed>& feed, Window window,
                  std::function<void(std::string error, Window)> done);
  void on_batch(const std::shared_ptr<RoomFeed>& feed, protocol::ClusterBatch batch);
  void accept(const std::shared_ptr<RoomFeed>& feed, protocol::ClusterBatch batch);
  void stash(RoomFeed& feed, protocol::ClusterBatch batch);
  void after_catch_up(const std::shared_ptr<RoomFeed>& feed);
  void reconcile(const std::shared_ptr<RoomFeed>& feed);
  void reconcile_all();
  void fill(const std::shared_ptr<RoomFeed>& feed);
  void reset(const std::shared_ptr<RoomFeed>& feed);
  void hand(RoomFeed& feed, SequencedBatch batch);
  void retry_handing(RoomFeed& feed);

  void send_append(const std::shared_ptr<PendingAppend>& pending);
  void answer(PendingAppend& pending, asio::error_code ec, std::uint64_t first_id);
  void flush_presence(const std::shared_ptr<RoomFeed>& feed);
  void resync_presence(const std::shared_ptr<RoomFeed>& feed);
  void send_presence(const std::shared_ptr<RoomFeed>& feed, bool absolute,
                     const std::vector<std::pair<std::string, int>>& counts);

  std::int64_t redis_deadline_ms(Clock::time_point deadline) const;

  const config::Cluster& settings_;
  const config::History& history_;
  const std::string node_id_;
  const std::string salt_;  // begins every epoch this node starts
  const std::string probe_channel_;

  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::atomic<bool> command_ready_{false};
  std::atomic<bool> stopping_{false};

  mutable std::mutex degraded_mutex_;
  std::string degraded_;  // under degraded_mutex_, as links_
  Links links_;

  // Cluster thread state.
  std::shared_ptr<RedisConnection> command_;
  std::shared_ptr<RedisConnection> subscriber_;
  bool subscriber_ready_ = false;
  std::string command_down_why_ = "not connected yet";
  std::string subscriber_down_why_ = "not connected yet";
  std::unordered_map<std::string, std::string> shas_;  // script name -> SHA1 (SCRIPT LOAD)
  std::string run_id_;                                 // gen: the Redis run the scripts number for
  std::int64_t redis_offset_ms_ = 0;                   // Redis' clock minus ours (TIME at connect)
  std::unordered_map<std::string, std::vector<std::shared_ptr<RoomFeed>>> feeds_;    // by channel
  std::unordered_map<std::string, std::vector<std::function<void()>>> subscribing_;  // channel -> acked
  std::deque<std::shared_ptr<PendingAppend>> waiting_;    // for the command connection
  std::deque<std::shared_ptr<PendingAppend>> in_flight_;  // written, in order
  std::uint64_t presence_version_ = 0;
  Clock::time_point next_heartbeat_{};
  Clock::time_point probe_sent_{};
  bool probe_outstanding_ = false;
};

}  // namespace chatd::cluster
