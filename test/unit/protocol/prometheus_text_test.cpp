// protocol/prometheus_text: the exposition format's lines and its escaping (text format 0.0.4: in HELP,
// backslash and newline; in a label value, also the double quote).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "protocol/prometheus_text.hpp"

namespace prom = chatd::protocol::prometheus;

TEST_CASE("prometheus text: a family's HELP and TYPE, then its samples") {
  std::string out;
  prom::family(out, "chatd_x_total", "counter", "Things, counted.\nA second line \\ here.");
  prom::sample(out, "chatd_x_total", "", "", std::uint64_t{42});
  prom::sample(out, "chatd_x_total", "code", "say \"hi\"\\\n", std::uint64_t{0});
  CHECK(out ==
        "# HELP chatd_x_total Things, counted.\\nA second line \\\\ here.\n"
        "# TYPE chatd_x_total counter\n"
        "chatd_x_total 42\n"
        "chatd_x_total{code=\"say \\\"hi\\\"\\\\\\n\"} 0\n");
}

TEST_CASE(
    "prometheus text: doubles read back the same, and the special values are spelled as the format has "
    "them") {
  std::string out;
  prom::sample(out, "a", "", "", 0.1);
  prom::sample(out, "b", "le", "+Inf", 1.5e-7);
  prom::sample(out, "c", "", "", HUGE_VAL);
  prom::sample(out, "d", "", "", -HUGE_VAL);
  prom::sample(out, "e", "", "", std::nan(""));
  CHECK(out == "a 0.1\nb{le=\"+Inf\"} 1.5e-07\nc +Inf\nd -Inf\ne NaN\n");
}
