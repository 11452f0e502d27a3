#include "server/http/client_address.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "protocol/forwarded.hpp"

namespace chatd {

namespace {

using Bytes = std::array<std::uint8_t, 16>;

// As config::Network stores it: IPv4 as ::ffff:a.b.c.d.
std::optional<Bytes> parse(const std::string& text) {
  Bytes bytes{};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes.data() + 12, &v4, 4);
    return bytes;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(bytes.data(), &v6, 16);
    return bytes;
  }
  return std::nullopt;
}

std::string text_of(const Bytes& bytes) {
  static constexpr std::uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(bytes.data(), v4_mapped, sizeof v4_mapped) == 0) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

bool trusted(const std::vector<config::Network>& proxies, const Bytes& address) {
  for (const auto& network : proxies) {
    if (network.contains(address)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> forwarded_client(const protocol::HttpRequestReader& request,
                                            const config::Server& settings, std::string_view peer_address) {
  const auto& trusted_proxies = settings.trusted_proxies;
  if (trusted_proxies.empty()) return std::nullopt;
  const auto peer = parse(std::string(peer_address));
  if (!peer || !trusted(trusted_proxies, *peer)) return std::nullopt;
  const bool standard = settings.forwarded_header == config::Server::ForwardedHeader::forwarded;
  const std::string& header = request.header(standard ? "Forwarded" : "X-Forwarded-For");
  if (header.empty()) return std::nullopt;
  const auto chain = standard ? protocol::forwarded_for(header) : protocol::x_forwarded_for(header);
  Bytes current = *peer;
  for (auto hop = chain.rbegin(); hop != chain.rend(); ++hop) {
    const auto address = parse(*hop);
    if (!address) break;  // unknown or garbage: the last trusted hop is as far as we can see
    current = *address;
    if (!trusted(trusted_proxies, current)) break;
  }
  return text_of(current);
}

}  // namespace chatd
