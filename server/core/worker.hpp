// One thread and its io_context, running the connections it accepted and the rooms placed on it.
// Nothing is shared between workers but rooms' inboxes and subscribers' queues.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "server/core/driven.hpp"

namespace chatd {

class Worker {
 public:
  Worker(std::size_t index, std::chrono::milliseconds tick);

  asio::io_context& context() { return context_; }
  std::size_t index() const { return index_; }

  // Worker thread only: the connections that keepalive ticks and shutdown reach.
  void add(Driven* session);
  void remove(Driven* session);
  std::size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }

  // Any thread: asks every session on this worker to close with 1001.
  void close_sessions_going_away();

  // Any thread: `session` has frames to write. Its flush runs once the worker has nothing else ready,
  // so everything queued for it in this round of the event loop goes out in one gather write (corking).
  void schedule_flush(std::shared_ptr<Driven> session);
  // From a handler on a worker thread: flush that worker's woken sessions now, mid-round.
  static void flush_this_thread();

  void start();
  void stop();
  void join();

  // Any thread: when the worker last ran its keepalive tick. A worker whose loop is blocked or gone
  // stops ticking, so /healthz can tell.
  std::chrono::steady_clock::time_point last_tick() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_tick_.load(std::memory_order_relaxed)));
  }

 private:
  void schedule_tick();
  void run_loop();
  void flush_dirty();

  std::size_t index_;
  asio::io_context context_;
  asio::steady_timer tick_timer_;
  std::chrono::milliseconds tick_;
  std::atomic<std::chrono::steady_clock::rep> last_tick_{0};
  std::unordered_set<Driven*> sessions_;
  std::atomic<std::size_t> session_count_{0};
  // Sessions to flush at the end of this round: dirty_ from this thread, remote_dirty_ from others.
  // Declared after context_: sessions own sockets, and must go before the io_context does.
  std::vector<std::shared_ptr<Driven>> dirty_;
  std::vector<std::shared_ptr<Driven>> flushing_;
  std::mutex remote_mutex_;
  std::vector<std::shared_ptr<Driven>> remote_dirty_;
  bool remote_drain_posted_ = false;
  std::thread thread_;
};

}  // namespace chatd
