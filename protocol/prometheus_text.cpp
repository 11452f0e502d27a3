#include "protocol/prometheus_text.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace chatd::protocol::prometheus {

namespace {

void escaped(std::string& out, std::string_view text, bool quote_too) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote_too) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void head(std::string& out, std::string_view name, std::string_view label, std::string_view label_value) {
  out += name;
  if (label.empty()) return;
  out += '{';
  out += label;
  out += "=\"";
  escaped(out, label_value, true);
  out += "\"}";
}

}  // namespace

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  escaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view label, std::string_view label_value,
            std::uint64_t value) {
  head(out, name, label, label_value);
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view label, std::string_view label_value,
            double value) {
  head(out, name, label, label_value);
  out += ' ';
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char text[32];
    // The shortest text that reads back as the same double (to_chars' guarantee).
    const auto [end, error] = std::to_chars(text, text + sizeof text, value);
    out.append(text, error == std::errc{} ? end : text);
  }
  out += '\n';
}

}  // namespace chatd::protocol::prometheus
