#include "server/core/worker.hpp"

#include <string>

#include <asio/post.hpp>

#include "server/core/log.hpp"
#include "server/core/thread_name.hpp"

namespace chatd {

Worker::Worker(std::size_t index, std::chrono::milliseconds tick)
    : index_(index), context_(1), tick_timer_(context_), tick_(tick) {}

void Worker::add(Driven* session) {
  sessions_.insert(session);
  session_count_.store(sessions_.size(), std::memory_order_relaxed);
}

void Worker::remove(Driven* session) {
  sessions_.erase(session);
  session_count_.store(sessions_.size(), std::memory_order_relaxed);
}

void Worker::close_sessions_going_away() {
  asio::post(context_, [this] {
    for (Driven* session : sessions_) session->close_going_away();
  });
}

void Worker::schedule_tick() {
  tick_timer_.expires_after(tick_);
  tick_timer_.async_wait([this](asio::error_code ec) {
    if (ec) return;
    schedule_tick();  // first: should a session's tick throw, the next tick still comes
    const auto now = std::chrono::steady_clock::now();
    last_tick_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    // A tick may close sessions, and closing never removes from sessions_ synchronously.
    for (Driven* session : sessions_) session->tick(now);
  });
}

namespace {
thread_local Worker* current_worker = nullptr;
constexpr int max_handlers_per_round = 128;
}  // namespace

void Worker::flush_this_thread() {
  if (current_worker) current_worker->flush_dirty();
}

void Worker::schedule_flush(std::shared_ptr<Driven> session) {
  if (current_worker == this) {
    dirty_.push_back(std::move(session));
    return;
  }
  std::lock_guard lock(remote_mutex_);
  remote_dirty_.push_back(std::move(session));
  if (remote_drain_posted_) return;
  remote_drain_posted_ = true;
  // One post per batch of wake-ups from other threads; it only needs to end this worker's wait.
  asio::post(context_, [this] {
    std::lock_guard lock(remote_mutex_);
    remote_drain_posted_ = false;
    // Appending could run out of memory halfway: swap when dirty_ is empty (the usual case), which cannot.
    if (dirty_.empty()) {
      dirty_.swap(remote_dirty_);
    } else {
      dirty_.insert(dirty_.end(), remote_dirty_.begin(), remote_dirty_.end());  // copies: all or nothing
      remote_dirty_.clear();
    }
  });
}

void Worker::flush_dirty() {
  // Flushing can wake more sessions (a pong, a close): those go into the next round.
  flushing_.swap(dirty_);
  for (auto& session : flushing_) session->flush();
  flushing_.clear();
}

void Worker::run_loop() {
  current_worker = this;
  // One round: wait for work, run what is ready (a bounded number of handlers, so a flood of input
  // cannot postpone writing forever), then flush the sessions it woke.
  while (!context_.stopped()) {
    try {
      context_.run_one();
      for (int handlers = 1; handlers < max_handlers_per_round && context_.poll_one(); ++handlers) {
      }
      flush_dirty();
    } catch (const std::exception& error) {
      // A handler that threw (out of memory, most likely) fails alone: Asio lets run_one() go on after
      // an exception left it, and the rest of this worker's connections and rooms keep being served.
      log::error("worker ", index_, ": a handler failed: ", error.what());
    }
  }
  dirty_.clear();
  std::lock_guard lock(remote_mutex_);
  remote_dirty_.clear();
}

void Worker::start() {
  last_tick_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  schedule_tick();
  thread_ = std::thread([this] {
    name_this_thread("worker-" + std::to_string(index_));
    run_loop();
  });
}

void Worker::stop() {
  context_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace chatd
