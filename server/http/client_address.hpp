// Who a request is from, behind a reverse proxy (server.trusted_proxies, docs/deploy.md): the address the
// limiters key on and the logs name. Only a trusted peer's Forwarded or X-Forwarded-For is believed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "protocol/http_request.hpp"

namespace chatd {

// Any thread. The client's address when `peer_address` is a trusted proxy and the request names one; else
// nullopt (use the peer's). The chain (server.forwarded_header: X-Forwarded-For or Forwarded) is walked from
// the nearest hop back: each hop that is itself a trusted proxy vouches for the one before it, and the first
// address that is not a trusted proxy is the client. An element that is not an address ("unknown", garbage)
// stops the walk at the last trusted hop, whose address is then taken: nothing before it can be believed.
// The address comes back in its usual text form (an IPv4-mapped IPv6 one as IPv4).
std::optional<std::string> forwarded_client(const protocol::HttpRequestReader& request,
                                            const config::Server& settings, std::string_view peer_address);

}  // namespace chatd
