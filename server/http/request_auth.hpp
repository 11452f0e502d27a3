// Who sent a request, as every route that needs it asks: the credentials it carries (Authorization: Bearer,
// the session cookie, and for a WebSocket upgrade ?token=), checked by the Authenticator, and the rules that
// go with them (a cookie is sent by the browser on its own, so it needs an allowed Origin; a token for some
// rooms only).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/http_response.hpp"
#include "server/auth/identity.hpp"
#include "server/http/request.hpp"

namespace chatd {

struct Authorized {
  std::optional<Identity> identity;
  protocol::HttpResponse refusal;  // with no identity: 401 (why), or 403 for a cookie from another site
  std::string reason;              // with a 401: why, the refusal's "error"
};

// Worker thread (the request's). `query_token`: the decoded ?token=, "" when absent (only the WebSocket
// upgrade reads it: browsers cannot set headers on a WebSocket).
Authorized authorize(const Request& request, std::string_view query_token = {});

// 403 unless `identity` may use `room`.
std::optional<protocol::HttpResponse> refuse_room(const Identity& identity, std::string_view room);

// A browser sends Origin on every cross-site POST and WebSocket upgrade (Fetch standard; RFC 6455 10.2).
// Allowed: no Origin (curl, a script), an Origin listed in subscriber.allowed_origins, or, when that list is
// empty, an Origin naming the same host:port as the request's Host (the built-in chat page).
bool same_site_or_allowed(const Request& request);

// The value of cookie `name` in a Cookie header ("a=1; b=2"), "" when absent (RFC 6265 5.4).
std::string_view cookie_value(std::string_view header, std::string_view name);

// The key a per-user limit counts under: the identity's name when it has one of its own (a token), else the
// remote address.
std::string limiter_key(const Request& request, const Identity& identity);

}  // namespace chatd
