#include "server/core/worker_pool.hpp"

namespace chatd {

WorkerPool::WorkerPool(std::size_t threads, std::chrono::milliseconds tick) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(i, tick));
}

Worker& WorkerPool::next() {
  return *workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
}

Worker* WorkerPool::owner_of(const asio::io_context& context) {
  for (auto& worker : workers_)
    if (&worker->context() == &context) return worker.get();
  return nullptr;
}

std::size_t WorkerPool::session_count() const {
  std::size_t total = 0;
  for (const auto& worker : workers_) total += worker->session_count();
  return total;
}

std::vector<std::size_t> WorkerPool::stalled_since(std::chrono::steady_clock::time_point since) const {
  std::vector<std::size_t> stalled;
  for (const auto& worker : workers_) {
    if (worker->last_tick() < since) stalled.push_back(worker->index());
  }
  return stalled;
}

void WorkerPool::start() {
  for (auto& worker : workers_) worker->start();
}

void WorkerPool::stop() {
  for (auto& worker : workers_) worker->stop();
}

void WorkerPool::join() {
  for (auto& worker : workers_) worker->join();
}

}  // namespace chatd
