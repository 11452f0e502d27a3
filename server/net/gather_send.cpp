#include "server/net/gather_send.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace chatd {

namespace {

constexpr std::size_t max_iov = 1024;  // IOV_MAX on Linux

}  // namespace

std::size_t send_available(int fd, const std::vector<asio::const_buffer>& buffers, asio::error_code& ec) {
  thread_local std::array<iovec, max_iov> iov;
  std::size_t sent = 0;
  std::size_t index = 0;
  std::size_t offset = 0;  // into buffers[index]
  while (index < buffers.size()) {
    std::size_t count = 0;
    std::size_t batch_bytes = 0;
    for (std::size_t i = index; i < buffers.size() && count < max_iov; ++i, ++count) {
      const std::size_t skip = i == index ? offset : 0;
      iov[count].iov_base = const_cast<char*>(static_cast<const char*>(buffers[i].data()) + skip);
      iov[count].iov_len = buffers[i].size() - skip;
      batch_bytes += iov[count].iov_len;
    }
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = count;
    const ssize_t result = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (result < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ec.assign(errno, asio::system_category());
      return sent;
    }
    std::size_t left = static_cast<std::size_t>(result);
    sent += left;
    while (index < buffers.size() && left >= buffers[index].size() - offset) {
      left -= buffers[index].size() - offset;
      offset = 0;
      ++index;
    }
    offset += left;
    if (static_cast<std::size_t>(result) < batch_bytes) return sent;  // the socket is full
  }
  return sent;
}

void consume_front(std::vector<asio::const_buffer>& buffers, std::size_t bytes) {
  auto first = buffers.begin();
  while (first != buffers.end() && bytes >= first->size()) {
    bytes -= first->size();
    ++first;
  }
  buffers.erase(buffers.begin(), first);
  if (bytes > 0 && !buffers.empty()) buffers.front() += bytes;
}

}  // namespace chatd
