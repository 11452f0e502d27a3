#include "server/outbound_queue.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace chatd {

OutboundQueue::OutboundQueue(const asio::any_io_executor& writer_executor, std::size_t limit)
    : limit_(limit), wake_(writer_executor) {}

OutboundQueue::Push OutboundQueue::push(const std::vector<SharedFrame>& frames) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return Push::closed;
  if (messages_ + frames.size() > limit_) return Push::full;
  frames_.insert(frames_.end(), frames.begin(), frames.end());
  messages_ += frames.size();
  wake_writer_locked();
  return 2 * messages_ >= limit_ ? Push::backlog : Push::queued;
}

void OutboundQueue::push_control(SharedFrame frame) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return;
  frames_.push_back(std::move(frame));
  wake_writer_locked();
}

bool OutboundQueue::close(std::uint16_t code, std::string_view reason, bool drain) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return false;
  closed_ = true;
  close_code_ = code;
  close_reason_ = reason;
  close_frame_ = protocol::share(protocol::close_frame(code, reason));
  if (!drain) {
    frames_.clear();
    frames_.shrink_to_fit();
    messages_ = 0;
  }
  wake_writer_locked();
  return true;
}

void OutboundQueue::abort() {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  frames_.clear();
  messages_ = 0;
  wake_writer_locked();
}

std::uint16_t OutboundQueue::close_code() {
  std::lock_guard lock(mutex_);
  return close_code_;
}

std::string OutboundQueue::close_reason() {
  std::lock_guard lock(mutex_);
  return close_reason_;
}

void OutboundQueue::wake_writer_locked() {
  if (!writer_waiting_) return;
  writer_waiting_ = false;
  // The timer belongs to the writer's executor: cancel it there. The writer set writer_waiting_ in the
  // same step that started the wait, so it is suspended in async_wait when this runs, and it cannot
  // resume (nor its connection, which owns this queue, go away) before this cancel wakes it.
  asio::post(wake_.get_executor(), [this] { wake_.cancel(); });
}

asio::awaitable<void> OutboundQueue::wait() {
  {
    std::lock_guard lock(mutex_);
    if (!frames_.empty() || aborted_ || (closed_ && !close_taken_)) co_return;
    writer_waiting_ = true;
  }
  wake_.expires_at(asio::steady_timer::time_point::max());
  co_await wake_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

bool OutboundQueue::take(std::vector<SharedFrame>& batch) {
  std::lock_guard lock(mutex_);
  batch.swap(frames_);
  messages_ = 0;
  if (closed_ && !close_taken_ && !aborted_) {
    close_taken_ = true;
    batch.push_back(std::move(close_frame_));
    return true;
  }
  return false;
}

bool OutboundQueue::aborted() {
  std::lock_guard lock(mutex_);
  return aborted_;
}

bool OutboundQueue::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace chatd
