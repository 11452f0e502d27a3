#include "server/net/listener.hpp"

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"

namespace chatd {

Listener::Listener(asio::io_context& context, const asio::ip::tcp::endpoint& endpoint) : acceptor_(context) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start(WorkerPool& workers, Serve serve) {
  workers_ = &workers;
  serve_ = std::move(serve);
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), report_exception("listener"));
}

void Listener::stop() {
  asio::post(acceptor_.get_executor(), [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
  });
}

asio::awaitable<void> Listener::accept_loop() {
  for (;;) {
    Worker& worker = workers_->next();
    auto [ec, accepted] = co_await acceptor_.async_accept(worker.context(), use_nothrow_awaitable);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // Out of file descriptors, most likely: back off instead of spinning, and keep serving.
      log::warn("accept failed: ", ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow_awaitable);
      continue;
    }
    // The type Serve takes (any executor); the accepted one names the worker's io_context executor.
    asio::ip::tcp::socket socket(std::move(accepted));
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto serving = serve_(socket, worker);
    if (!serving) {
      // Refused: closed here, nothing read, nothing spawned. A client that already sent its request gets
      // a reset (the kernel's answer to unread data at close), one that did not gets an end of stream.
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(worker.context(), std::move(*serving), report_exception("connection"));
  }
}

}  // namespace chatd
