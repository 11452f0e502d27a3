// The workers: one per thread, handed out round-robin to new connections and new rooms.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "server/core/worker.hpp"

namespace chatd {

class WorkerPool {
 public:
  // `tick`: how often each worker checks its sessions' write and ping deadlines.
  WorkerPool(std::size_t threads, std::chrono::milliseconds tick);

  std::size_t size() const { return workers_.size(); }
  Worker& at(std::size_t index) { return *workers_[index]; }
  // Round-robin, for new connections and new rooms.
  Worker& next();
  // Any thread: the worker that runs `context`, or null when none does.
  Worker* owner_of(const asio::io_context& context);

  std::size_t session_count() const;
  // Any thread: the workers that have not ticked since `since` (blocked, or their thread is gone).
  std::vector<std::size_t> stalled_since(std::chrono::steady_clock::time_point since) const;
  void start();
  void stop();
  void join();

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace chatd
