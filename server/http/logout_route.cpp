// POST /logout: ends the session a token names (cookie or Authorization: Bearer). The token stops working at
// once, and every WebSocket opened with it is closed with 4003 "logged out" (SessionTokens::watch).
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "server/auth/authenticator.hpp"
#include "server/core/log.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/routes.hpp"

namespace chatd {

namespace {

// The auth thread: deleting the session from the database is a disk write. False when it failed.
asio::awaitable<bool> end_session(SessionTokens& sessions, std::string sha256) {
  try {
    sessions.revoke(sha256);
    co_return true;
  } catch (const std::exception& error) {
    log::error("logout: the session could not be deleted: ", error.what());
    co_return false;
  }
}

}  // namespace

asio::awaitable<Outcome> logout_route(Request& request) {
  Authenticator& auth = request.context.auth;
  if (auth.mode() != config::Auth::Mode::password)
    co_return respond_with(
        error_response(HttpError::login_unavailable, config::Auth::mode_name(auth.mode())));
  if (!same_site_or_allowed(request))
    co_return respond_with(protocol::error_response(403, "Origin is not allowed to log out"));
  auto authorized = authorize(request);
  if (!authorized.identity) co_return respond_with(std::move(authorized.refusal));
  if (authorized.identity->kind != Identity::Kind::session) {
    co_return respond_with(
        protocol::error_response(400, "only a session token from /login can be logged out"));
  }
  auto ending =
      asio::co_spawn(request.context.auth_executor,
                     end_session(auth.sessions(), authorized.identity->session_sha256), asio::use_awaitable);
  if (!(co_await std::move(ending))) co_return respond_with(error_response(HttpError::session_store_failed));
  log::info("logout peer=", request.peer, " name=\"", authorized.identity->name, "\"");
  Outcome outcome;
  outcome.response.status = 204;
  outcome.response.content_type.clear();
  // Max-Age=0 makes the browser delete the cookie at once (RFC 6265 4.1.2.2).
  outcome.response.headers.emplace_back(
      "Set-Cookie", std::string(session_cookie) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  co_return outcome;
}

}  // namespace chatd
