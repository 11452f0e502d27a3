#include "server/rooms/outbound_queue.hpp"

namespace chatd {

bool OutboundQueue::wake_locked() {
  if (!writer_idle_) return false;
  writer_idle_ = false;
  return true;
}

OutboundQueue::Push OutboundQueue::push(const std::vector<SharedFrame>& frames) {
  std::lock_guard lock(mutex_);
  Push result;
  if (closed_ || aborted_) {
    result.status = Push::Status::closed;
  } else if (messages_ + frames.size() > limit_ + replay_grace_) {
    result.status = Push::Status::full;
  } else {
    frames_.insert(frames_.end(), frames.begin(), frames.end());
    messages_ += frames.size();
    result.wake = wake_locked();
    result.backlog = 2 * messages_ >= limit_;
  }
  return result;
}

bool OutboundQueue::push_replay(const std::vector<SharedFrame>& frames) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_ || frames.empty()) return false;
  frames_.insert(frames_.end(), frames.begin(), frames.end());
  replay_grace_ += frames.size();
  return wake_locked();
}

bool OutboundQueue::push_control(SharedFrame frame) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return false;
  frames_.push_back(std::move(frame));
  return wake_locked();
}

bool OutboundQueue::close(std::uint16_t code, std::string_view reason, bool drain) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return false;
  closed_ = true;
  close_code_ = code;
  close_reason_ = reason;
  if (!drain) {
    frames_.clear();
    frames_.shrink_to_fit();
    messages_ = 0;
  }
  return wake_locked();
}

void OutboundQueue::abort() {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  frames_.clear();
  frames_.shrink_to_fit();
  messages_ = 0;
}

std::uint16_t OutboundQueue::close_code() {
  std::lock_guard lock(mutex_);
  return close_code_;
}

std::string OutboundQueue::close_reason() {
  std::lock_guard lock(mutex_);
  return close_reason_;
}

bool OutboundQueue::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool OutboundQueue::aborted() {
  std::lock_guard lock(mutex_);
  return aborted_;
}

bool OutboundQueue::take(std::vector<SharedFrame>& batch, bool& ends_with_close) {
  std::lock_guard lock(mutex_);
  ends_with_close = false;
  if (aborted_) return false;
  batch.swap(frames_);
  messages_ = 0;
  // The writer comes back for more only once the last batch is written: a replay in it is on the wire.
  if (replay_in_flight_) {
    replay_grace_ = 0;
    replay_in_flight_ = false;
  } else if (replay_grace_ > 0) {
    replay_in_flight_ = true;
  }
  // The close frame is built here, once, by the writer: most connections never need one.
  if (closed_ && !close_taken_) {
    close_taken_ = true;
    batch.push_back(protocol::share(protocol::close_frame(close_code_, close_reason_)));
    ends_with_close = true;
  }
  if (batch.empty()) {
    writer_idle_ = true;
    return false;
  }
  return true;
}

}  // namespace chatd
