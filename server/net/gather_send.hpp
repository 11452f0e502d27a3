// The write loop's fast path: hand the kernel every queued frame at once, without the reactor.
// Only what the socket cannot take right now is left for an asynchronous write.
#pragma once

#include <cstddef>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error_code.hpp>

namespace chatd {

// Sends as much of `buffers` as the socket accepts without blocking, up to 1024 buffers per sendmsg
// (Asio's own writes stop at 64). Returns the bytes sent; `ec` is set only for a real error, never for
// "would block".
std::size_t send_available(int fd, const std::vector<asio::const_buffer>& buffers, asio::error_code& ec);

// Removes the first `bytes` from the front of `buffers`.
void consume_front(std::vector<asio::const_buffer>& buffers, std::size_t bytes);

}  // namespace chatd
