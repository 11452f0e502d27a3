// The Prometheus text exposition format, version 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
// a family is `# HELP name text` and `# TYPE name type`, then one line per sample, `name{label="value"} 42`.
// Every family's samples are written together, under one HELP and TYPE, as the format requires.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chatd::protocol::prometheus {

// Content-Type of the text format.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

// type: "counter", "gauge" or "histogram". help is escaped (backslash and newline).
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// One sample; label "" for none. The value of a label is escaped (backslash, quote, newline).
void sample(std::string& out, std::string_view name, std::string_view label, std::string_view label_value,
            std::uint64_t value);
void sample(std::string& out, std::string_view name, std::string_view label, std::string_view label_value,
            double value);

}  // namespace chatd::protocol::prometheus
