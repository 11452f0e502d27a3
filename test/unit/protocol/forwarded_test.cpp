// protocol/forwarded: the addresses of Forwarded (RFC 7239 4, with its examples) and X-Forwarded-For.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "protocol/forwarded.hpp"

using chatd::protocol::forwarded_for;
using chatd::protocol::x_forwarded_for;
using List = std::vector<std::string>;

TEST_CASE("Forwarded: for= of each element, quotes, brackets and ports taken off (RFC 7239 4, 6)") {
  CHECK(forwarded_for("for=\"_gazonk\"") == List{"_gazonk"});
  CHECK(forwarded_for("For=\"[2001:db8:cafe::17]:4711\"") == List{"2001:db8:cafe::17"});
  CHECK(forwarded_for("for=192.0.2.60;proto=http;by=203.0.113.43") == List{"192.0.2.60"});
  CHECK(forwarded_for("for=192.0.2.43, for=198.51.100.17") == List{"192.0.2.43", "198.51.100.17"});
  CHECK(forwarded_for("for=192.0.2.43:8080 ,for=unknown") == List{"192.0.2.43", "unknown"});
  // An element without for= names no client: an unknown hop.
  CHECK(forwarded_for("proto=https;by=10.0.0.1, for=10.0.0.2") == List{"", "10.0.0.2"});
  // A comma inside quotes does not split.
  CHECK(forwarded_for("for=\"a,b\"") == List{"a,b"});
}

TEST_CASE("X-Forwarded-For: the client first, each proxy after; IPv6 bare or in brackets") {
  CHECK(x_forwarded_for("203.0.113.7") == List{"203.0.113.7"});
  CHECK(x_forwarded_for("203.0.113.7, 10.0.0.1,10.0.0.2") == List{"203.0.113.7", "10.0.0.1", "10.0.0.2"});
  CHECK(x_forwarded_for("2001:db8::1, [2001:db8::2]:443, 192.0.2.1:80") ==
        List{"2001:db8::1", "2001:db8::2", "192.0.2.1"});
  CHECK(x_forwarded_for("[2001:db8::1") == List{""});
  CHECK(x_forwarded_for("") == List{""});
}
