// Where a question to a room (presence, history) waits for its answer: the JSON body. Any thread answers
// it, once: the room, or its engine when the engine knows more than this node (presence across nodes).
#pragma once

#include <string>

#include <asio/error_code.hpp>
#include <asio/experimental/concurrent_channel.hpp>

namespace chatd {

using QueryReply = asio::experimental::concurrent_channel<void(asio::error_code, std::string)>;

}  // namespace chatd
