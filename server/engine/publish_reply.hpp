// Where an HTTP publisher waits for the id its first message was given (an error: it could not be stored).
// Any thread may answer it; it is answered once. The room's engine answers it (engine.hpp).
#pragma once

#include <cstdint>

#include <asio/error_code.hpp>
#include <asio/experimental/concurrent_channel.hpp>

namespace chatd {

using PublishReply = asio::experimental::concurrent_channel<void(asio::error_code, std::uint64_t)>;

}  // namespace chatd
