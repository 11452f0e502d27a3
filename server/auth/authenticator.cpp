#include "server/auth/authenticator.hpp"

#include <cctype>
#include <stdexcept>

#include "server/auth/crypto.hpp"

namespace chatd {

namespace {

[[noreturn]] void fail_at(const config::Written& written, const std::string& problem) {
  throw config::ConfigError(written.file, written.key, written.line, written.column, problem);
}

// Hex digits to bytes; the config loader has checked there are 64 of them.
std::string from_hex(std::string_view hex) {
  const auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes.push_back(static_cast<char>(digit(hex[i]) * 16 + digit(hex[i + 1])));
  return bytes;
}

// Whether code point `c` shows as nothing or as blank space: every Unicode White_Space character and the
// default-ignorable format characters a name could hide in (soft hyphen, zero-width and joiners, bidi marks
// and isolates, word joiners, variation selectors, the Hangul fillers, BOM, tags).
bool is_blank(char32_t c) {
  return c == 0x20 || c == 0x85 || c == 0xA0 || c == 0xAD || c == 0x34F || c == 0x61C || c == 0x115F ||
         c == 0x1160 || c == 0x1680 || (c >= 0x17B4 && c <= 0x17B5) || (c >= 0x180B && c <= 0x180F) ||
         (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
         c == 0x3000 || c == 0x3164 || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || c == 0xFFA0 ||
         (c >= 0xE0000 && c <= 0xE0FFF);
}

}  // namespace

std::string name_skeleton(std::string_view name) {
  std::string skeleton;
  for (std::size_t i = 0; i < name.size();) {
    const auto lead = static_cast<unsigned char>(name[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t c = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length && i + k < name.size(); ++k)
      c = (c << 6) | (static_cast<unsigned char>(name[i + k]) & 0x3F);
    if (!is_blank(c)) {
      if (length == 1)
        skeleton.push_back(static_cast<char>(std::tolower(lead)));
      else
        skeleton.append(name.substr(i, length));
    }
    i += length;
  }
  return skeleton;
}

namespace {

constexpr std::string_view no_credentials =
    "authentication required: log in at /login, or send a token as Authorization: Bearer";

}  // namespace

Authenticator::Authenticator(const config::Auth& settings, std::unique_ptr<SessionStore> store,
                             Clock::time_point now)
    : settings_(settings), store_(std::move(store)), sessions_(*store_, settings.token_ttl) {
  if (!settings_.password_hash.empty()) {
    if (auto problem = crypto::password_hash_problem(settings_.password_hash))
      fail_at(settings_.password_hash_written, *problem);
  }
  for (std::size_t i = 0; i < settings_.users.size(); ++i) {
    const auto& user = settings_.users[i];
    if (auto problem = crypto::password_hash_problem(user.hash)) fail_at(user.written, *problem);
    for (std::size_t j = 0; j < i; ++j) {
      if (name_skeleton(settings_.users[j].name) == name_skeleton(user.name)) {
        fail_at(user.written, "'" + user.name + "' looks like '" + settings_.users[j].name +
                                  "' (they differ only in case or invisible characters): list one of them");
      }
    }
  }
  for (auto& key : settings_.api_keys) key.sha256 = from_hex(key.sha256);
  if (settings_.mode == config::Auth::Mode::jwt) {
    JwtVerifier::Settings jwt;
    jwt.hs256_secret = settings_.jwt.secret.contents;
    jwt.public_key_pem = settings_.jwt.public_key.contents;
    jwt.issuer = settings_.jwt.issuer;
    jwt.audience = settings_.jwt.audience;
    jwt.leeway = std::chrono::duration_cast<std::chrono::seconds>(settings_.jwt.leeway);
    try {
      verifier_ = std::make_unique<JwtVerifier>(jwt);
    } catch (const std::invalid_argument& error) {
      // Which key it was: the verifier checks the secret first.
      const bool secret = !settings_.jwt.secret.path.empty() &&
                          std::string_view(error.what()).find("HS256") != std::string_view::npos;
      const auto& culprit =
          secret || settings_.jwt.public_key.path.empty() ? settings_.jwt.secret : settings_.jwt.public_key;
      fail_at(culprit.written, "'" + culprit.path + "': " + error.what());
    }
  }
  if (settings_.mode == config::Auth::Mode::password) sessions_.load(now);
}

Authenticator::~Authenticator() = default;

std::string_view Authenticator::password_hash_for(std::string_view name) const {
  const std::string asked = name_skeleton(name);
  for (const auto& user : settings_.users) {
    // Only the exact name logs in with its own password; one that merely looks like it ("admin ", "Admin",
    // "ad\u200bmin") logs in with nothing, or someone could pass for the owner with the shared password.
    if (name_skeleton(user.name) == asked)
      return user.name == name ? std::string_view(user.hash) : std::string_view();
  }
  return settings_.password_hash;
}

Authentication Authenticator::authenticate(const Credentials& presented, Clock::time_point now) const {
  if (settings_.mode == config::Auth::Mode::open) return Authentication{Identity{}, {}};
  const bool by_cookie = presented.bearer.empty() && presented.query.empty();
  const std::string_view token = !presented.bearer.empty()  ? presented.bearer
                                 : !presented.query.empty() ? presented.query
                                                            : presented.cookie;
  if (token.empty())
    return Authentication{std::nullopt, std::string(no_credentials), Authentication::Failure::missing};
  // A cookie only ever holds a session token; a key or a JWT is sent deliberately, never by a browser on
  // its own.
  if (!by_cookie) {
    if (auto key = api_key(token)) return Authentication{std::move(key), {}};
  }
  if (settings_.mode == config::Auth::Mode::password || by_cookie) return session(token, now, by_cookie);
  return jwt(token, now);
}

std::optional<Identity> Authenticator::api_key(std::string_view key) const {
  if (settings_.api_keys.empty()) return std::nullopt;
  // Every configured digest is compared, in constant time, whichever matches: neither the timing nor the
  // number of comparisons tells which key (or how much of one) was right.
  const std::string digest = crypto::sha256(key);
  const config::ApiKey* match = nullptr;
  for (const auto& configured : settings_.api_keys) {
    if (crypto::constant_time_equal(digest, configured.sha256)) match = &configured;
  }
  if (!match) return std::nullopt;
  Identity identity;
  identity.kind = Identity::Kind::api_key;
  identity.name = match->name;
  identity.rooms = match->rooms;
  return identity;
}

Authentication Authenticator::session(std::string_view token, Clock::time_point now, bool by_cookie) const {
  auto found = sessions_.find(token, now);
  // A session past its expiry is deleted when found so: which of the two it was is not known here.
  if (!found)
    return Authentication{std::nullopt, "invalid or expired session token: log in again",
                          Authentication::Failure::invalid};
  Identity identity;
  identity.kind = Identity::Kind::session;
  identity.name = std::move(found->name);
  identity.expires_at = found->expires_at;
  identity.session_sha256 = std::move(found->sha256);
  identity.by_cookie = by_cookie;
  return Authentication{std::move(identity), {}};
}

Authentication Authenticator::jwt(std::string_view token, Clock::time_point now) const {
  auto verified = verifier_->verify(token, now);
  if (!verified.claims) {
    const auto failure = verified.problem == JwtVerifier::Problem::expired ? Authentication::Failure::expired
                                                                           : Authentication::Failure::invalid;
    return Authentication{std::nullopt, std::move(verified.error), failure};
  }
  auto& claims = *verified.claims;
  Identity identity;
  identity.kind = Identity::Kind::jwt;
  identity.name = std::move(claims.sub);
  identity.rooms = std::move(claims.rooms);
  identity.may_publish = claims.publish;
  // A 64-bit nanosecond system_clock ends in 2262; backends write exp 9999999999 (2286) for "never". Past
  // what the clock holds, the token expires at the clock's end rather than at an overflowed time in the past.
  constexpr auto last_second =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::duration::max()).count();
  identity.expires_at = claims.exp >= last_second ? Clock::time_point::max()
                                                  : Clock::time_point(std::chrono::seconds(claims.exp));
  return Authentication{std::move(identity), {}};
}

}  // namespace chatd
