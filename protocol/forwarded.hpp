// The client addresses reverse proxies write into a request, nearest proxy last: `Forwarded` (RFC 7239 4:
// `for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"`) and the older `X-Forwarded-For` (`client,
// proxy1`). Each element's address as written, without quotes, brackets or port; an element that is not an
// address (RFC 7239 6: "unknown", an obfuscated "_name", or garbage) as "", so whoever walks the list can
// stop there. What to believe of the list is the server's policy (server/http/client_address.hpp), not the
// format's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chatd::protocol {

std::vector<std::string> forwarded_for(std::string_view forwarded);
std::vector<std::string> x_forwarded_for(std::string_view header);

}  // namespace chatd::protocol
