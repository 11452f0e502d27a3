// POST /login (auth.mode password): a name and password in, a session token out, as JSON and as an
// HttpOnly cookie. GET /login: who the request's credentials say it is, and the server's auth.mode (the
// chat page asks it to know whether to show a login form).
#include <chrono>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "protocol/chat_json.hpp"
#include "protocol/login_body.hpp"
#include "server/auth/authenticator.hpp"
#include "server/auth/crypto.hpp"
#include "server/core/log.hpp"
#include "server/http/errors.hpp"
#include "server/http/request_auth.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/routes.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

namespace {

using SystemClock = std::chrono::system_clock;

std::int64_t ms_since_epoch(SystemClock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

// What the auth thread found.
struct LoginCheck {
  bool accepted = false;
  bool store_failed = false;
  SessionTokens::Issued issued;
};

// The auth thread: the password check costs ~0.1 s of CPU and 32 MiB (scrypt), and saving the session a
// disk write, neither of which may stall a worker's event loop. Parameters by value: they live in this
// coroutine's frame on the other thread.
asio::awaitable<LoginCheck> check_login(Authenticator& auth, std::string name, std::string password,
                                        std::string hash) {
  LoginCheck check;
  check.accepted = !hash.empty() && crypto::verify_password(password, hash);
  if (!check.accepted) co_return check;
  try {
    check.issued = auth.sessions().issue(name, SystemClock::now());
  } catch (const std::exception& error) {
    log::error("login name=", name, ": the session could not be saved: ", error.what());
    check.accepted = false;
    check.store_failed = true;
  }
  co_return check;
}

Outcome who_is_asking(Request& request) {
  const auto& auth = request.context.auth;
  Outcome outcome;
  outcome.response.content_type = "application/json";
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  if (auth.mode() == config::Auth::Mode::open) {
    outcome.response.body = protocol::identity_json("open", "", 0);
    return outcome;
  }
  auto authorized = authorize(request);
  if (!authorized.identity) {
    // The refusal, and the mode: a page that has no credentials yet learns whether to show a login form
    // (password) or ask its embedder for a token (jwt).
    outcome.response = std::move(authorized.refusal);
    if (outcome.response.status == 401)
      outcome.response.body = protocol::refusal_json(authorized.reason, config::Auth::mode_name(auth.mode()));
    return outcome;
  }
  const Identity& identity = *authorized.identity;
  const std::int64_t expires_at = identity.expires_at ? ms_since_epoch(*identity.expires_at) : 0;
  outcome.response.body =
      protocol::identity_json(config::Auth::mode_name(auth.mode()), identity.name, expires_at);
  return outcome;
}

std::string session_cookie_header(const config::Auth& settings, std::string_view token,
                                  std::chrono::seconds max_age) {
  // HttpOnly: page scripts cannot read it (an injected script cannot steal it). SameSite=Strict: no other
  // site's page makes the browser send it (RFC 6265bis 5.4.7). Path=/: every route sees it.
  std::string cookie = std::string(session_cookie) + "=" + std::string(token) +
                       "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age.count());
  if (settings.cookie_secure) cookie += "; Secure";
  return cookie;
}

}  // namespace

asio::awaitable<Outcome> login_route(Request& request) {
  if (request.http.method() != "POST") co_return who_is_asking(request);
  Authenticator& auth = request.context.auth;
  if (auth.mode() != config::Auth::Mode::password)
    co_return respond_with(
        error_response(HttpError::login_unavailable, config::Auth::mode_name(auth.mode())));
  if (!same_site_or_allowed(request))
    co_return respond_with(protocol::error_response(403, "Origin is not allowed to log in"));
  auto parsed = protocol::parse_login_body(request.http.header("Content-Type"), request.http.body());
  if (!parsed.body) co_return respond_with(protocol::error_response(parsed.status, parsed.error));
  auto& body = *parsed.body;
  if (!is_valid_name(body.name)) co_return respond_with(protocol::error_response(400, invalid_name_message));
  // Every attempt takes a token before its password is checked, and one that succeeds gives it back: the
  // bucket counts failures, attempts in flight at once included (checking first and charging only failures
  // let 40 wrong passwords sent together all through a burst of 10). An address that has failed too often
  // is not even told whether this password would have been right.
  auto& limiter = request.context.login_limiter;
  if (const auto wait = limiter.try_take(request.address, TokenBucket::Clock::now());
      wait > TokenBucket::Clock::duration::zero()) {
    const auto seconds = std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
    co_return respond_with(error_response(HttpError::logging_in_too_fast, std::to_string(seconds)));
  }

  const std::string name = body.name;
  std::string hash(auth.password_hash_for(body.name));
  auto checking =
      asio::co_spawn(request.context.auth_executor,
                     check_login(auth, std::move(body.name), std::move(body.password), std::move(hash)),
                     asio::use_awaitable);
  const LoginCheck check = co_await std::move(checking);
  if (check.accepted || check.store_failed) limiter.give_back(request.address);
  if (check.store_failed) co_return respond_with(error_response(HttpError::session_store_failed));
  if (!check.accepted) {
    // Never the password; the name is the user's own text, quoted.
    log::warn("login failed peer=", request.peer, " name=\"", name, "\"");
    co_return respond_with(error_response(HttpError::login_failed));
  }
  log::info("login peer=", request.peer, " name=\"", name, "\"");
  Outcome outcome;
  outcome.response.content_type = "application/json";
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(auth.settings().token_ttl);
  outcome.response.headers.emplace_back("Set-Cookie",
                                        session_cookie_header(auth.settings(), check.issued.token, max_age));
  outcome.response.body =
      protocol::login_json(name, check.issued.token, ms_since_epoch(check.issued.expires_at));
  co_return outcome;
}

}  // namespace chatd
