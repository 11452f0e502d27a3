#include "server/transport/stream_writer.hpp"

#include <asio/co_spawn.hpp>
#include <asio/write.hpp>

#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/metrics/metrics.hpp"
#include "server/net/gather_send.hpp"

namespace chatd {

void StreamWriter::flush() {
  if (writing_async_) return;  // the write loop will take what was queued
  try {
    if (write_now() == Step::blocked) {
      writing_async_ = true;
      asio::co_spawn(socket_.get_executor(), write_loop(owner_.keep_alive()),
                     report_exception("stream writer"));
    }
  } catch (const std::exception& error) {
    owner_.write_threw(error);
  }
}

asio::awaitable<void> StreamWriter::drain() {
  if (writing_async_) {
    asio::steady_timer done(socket_.get_executor(), asio::steady_timer::time_point::max());
    loop_done_ = &done;
    co_await done.async_wait(use_nothrow_awaitable);
    loop_done_ = nullptr;
  } else if (write_now() == Step::blocked) {
    writing_async_ = true;
    auto writing = write_loop(nullptr);  // our caller keeps the owner alive
    co_await std::move(writing);
  }
}

StreamWriter::Step StreamWriter::write_now() {
  for (;;) {
    if (batch_buffers_.empty()) {
      if (!queue_.take(batch_, batch_ends_with_close_)) return Step::done;
      if (batch_ends_with_close_)
        batch_.push_back(owner_.close_frame(queue_.close_code(), queue_.close_reason()));
      for (const auto& frame : batch_) batch_buffers_.emplace_back(frame->data(), frame->size());
    }
    // Everything queued goes out in one gather write; each message is still its own frame.
    asio::error_code ec;
    const std::size_t sent = send_available(socket_.native_handle(), batch_buffers_, ec);
    metrics::add(metrics::Series::sent_bytes, sent);
    consume_front(batch_buffers_, sent);
    if (ec) {
      fail();
      return Step::ended;
    }
    if (!batch_buffers_.empty()) return Step::blocked;  // the socket is full
    batch_.clear();
    if (batch_ends_with_close_) {
      owner_.close_frame_written();
      return Step::ended;
    }
  }
}

// Runs only while the socket pushes back: writes the rest of the batch when the socket drains, then
// goes on until the queue is empty.
// `keep_alive` is a parameter, so it lives in the coroutine frame: one frame, as many allocations as a
// plain member coroutine (a capturing lambda would add one).
asio::awaitable<void> StreamWriter::write_loop([[maybe_unused]] std::shared_ptr<void> keep_alive) {
  try {
    auto writing = write_until_drained();
    co_await std::move(writing);
  } catch (const std::exception& error) {
    owner_.write_threw(error);
  }
  writing_async_ = false;
  if (loop_done_) loop_done_->cancel();
}

asio::awaitable<void> StreamWriter::write_until_drained() {
  do {
    write_started_ = Clock::now();
    auto [ec, written] = co_await asio::async_write(socket_, batch_buffers_, use_nothrow_awaitable);
    write_started_ = {};
    metrics::add(metrics::Series::sent_bytes, written);
    batch_buffers_.clear();
    batch_.clear();
    if (ec) {
      fail();
      break;
    }
    if (batch_ends_with_close_) {
      owner_.close_frame_written();
      break;
    }
  } while (write_now() == Step::blocked);
}

void StreamWriter::fail() {
  batch_buffers_.clear();
  batch_.clear();
  owner_.write_failed();
}

}  // namespace chatd
