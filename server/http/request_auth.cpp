#include "server/http/request_auth.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "server/auth/authenticator.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_rules.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

// "Bearer <token>" (RFC 6750 2.1; the scheme is case-insensitive, RFC 9110 11.1), else "".
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return {};
  }
  std::string_view token = header.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

void count_failure(Authentication::Failure failure) {
  using metrics::Series;
  metrics::add(failure == Authentication::Failure::missing   ? Series::auth_failed_missing
               : failure == Authentication::Failure::expired ? Series::auth_failed_expired
                                                             : Series::auth_failed_invalid);
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && pair.substr(0, equals) == name) return pair.substr(equals + 1);
  }
  return {};
}

bool same_site_or_allowed(const Request& request) {
  const std::string& origin = request.http.header("Origin");
  if (origin.empty()) return true;
  const auto& allowed = request.context.config.subscriber.allowed_origins;
  if (!allowed.empty()) return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
  // "scheme://host[:port]": the part after "://" must be the Host header exactly (case aside). A default
  // port left out by one side and written by the other is refused: browsers omit it, and so does Host.
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string::npos) return false;
  return equal_ignoring_case(std::string_view(origin).substr(scheme_end + 3), request.http.header("Host"));
}

Authorized authorize(const Request& request, std::string_view query_token) {
  Authorized result;
  const Authenticator& auth = request.context.auth;
  Credentials presented;
  presented.bearer = bearer_token(request.http.header("Authorization"));
  presented.query = query_token;
  presented.cookie = cookie_value(request.http.header("Cookie"), session_cookie);
  auto authentication = auth.authenticate(presented, Authenticator::Clock::now());
  if (!authentication.identity) {
    count_failure(authentication.failure);
    result.reason = std::move(authentication.error);
    result.refusal = error_response(HttpError::unauthenticated, result.reason);
    return result;
  }
  Identity& identity = *authentication.identity;
  // A cookie comes with every request the browser makes to this host, whoever's page made it: a page on
  // another site could open a WebSocket as its visitor (cross-site WebSocket hijacking) unless the Origin
  // is checked. SameSite=Strict stops the cookie in current browsers; this holds for the others too.
  if (identity.by_cookie && !same_site_or_allowed(request)) {
    result.refusal = error_response(HttpError::cross_site);
    return result;
  }
  // A JWT's sub becomes the name events carry: it must be a name like any other.
  if (!identity.chooses_name() && !is_valid_name(identity.name)) {
    count_failure(Authentication::Failure::invalid);
    result.reason = "malformed token: sub is not a valid name (" + std::string(invalid_name_message) + ")";
    result.refusal = error_response(HttpError::unauthenticated, result.reason);
    return result;
  }
  result.identity = std::move(authentication.identity);
  return result;
}

std::optional<protocol::HttpResponse> refuse_room(const Identity& identity, std::string_view room) {
  if (identity.may_use(room)) return std::nullopt;
  metrics::add(metrics::Series::auth_failed_forbidden_room);
  return error_response(HttpError::room_forbidden, room);
}

std::string limiter_key(const Request& request, const Identity& identity) {
  switch (identity.kind) {
    case Identity::Kind::session:
    case Identity::Kind::jwt:
      return "user:" + identity.name;  // ':' never appears at the start of an address
    case Identity::Kind::api_key:
      return "key:" + identity.name;
    case Identity::Kind::anyone:
      break;
  }
  return request.address;
}

}  // namespace chatd
