// The one completion token chatd awaits with: the result as a tuple (error code first), never an exception.
// Errors are values here (a closed socket, a cancelled timer, a stopped room), and `||` of awaitable
// operators cancels the loser only when the winner succeeds (toolchain notes), so nothing may throw through
// it. Asio 1.22 keeps as_tuple in asio::experimental.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace chatd {

inline constexpr auto use_nothrow_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace chatd
