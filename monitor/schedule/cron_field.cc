#include "schedule/cron_field.h"

#include <cctype>
#include <string>

namespace dw::schedule::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string range_text(const FieldSpec& spec) {
  return std::to_string(spec.min) + "-" + std::to_string(spec.max);
}

// A number or a name of the field.
Result<int> parse_value(std::string_view text, const FieldSpec& spec) {
  if (text.empty()) return Error("empty " + std::string(spec.name) + " value");
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    int v = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return Error("invalid " + std::string(spec.name) + " '" + std::string(text) + "'");
      }
      v = v * 10 + (c - '0');
      if (v > 1000) break;
    }
    if (v < spec.min || v > spec.max) {
      return Error(std::string(spec.name) + " " + std::string(text) + " is out of range " +
                   range_text(spec));
    }
    return v;
  }
  std::string name = lower(text);
  for (int i = 0; i < spec.name_count; ++i) {
    if (name == spec.names[i]) return spec.min + i;
  }
  std::string why = "invalid " + std::string(spec.name) + " '" + std::string(text) + "'";
  if (spec.name_count > 0) {
    why += " (expected " + range_text(spec) + " or a name such as '" +
           std::string(spec.names[0]) + "')";
  }
  return Error(why);
}

// One list item: "*", "v", "a-b", each optionally with "/step".
Result<uint64_t> parse_item(std::string_view item, const FieldSpec& spec) {
  std::string_view range = item;
  int step = 1;
  bool stepped = false;
  if (size_t slash = item.find('/'); slash != std::string_view::npos) {
    range = item.substr(0, slash);
    std::string_view step_text = item.substr(slash + 1);
    int span = spec.max - spec.min + 1;
    FieldSpec step_spec{"step", 1, span};
    auto s = parse_value(step_text, step_spec);
    if (!s || !std::isdigit(static_cast<unsigned char>(step_text[0]))) {
      return Error("invalid step '" + std::string(step_text) + "' in " + std::string(spec.name) +
                   " (expected a number 1-" + std::to_string(span) + ")");
    }
    step = *s;
    stepped = true;
  }
  int first = spec.min;
  int last = spec.max;
  if (range != "*") {
    size_t dash = range.find('-');
    auto a = parse_value(range.substr(0, dash), spec);
    if (!a) return a.error();
    first = *a;
    if (dash != std::string_view::npos) {
      auto b = parse_value(range.substr(dash + 1), spec);
      if (!b) return b.error();
      last = *b;
      if (last < first) {
        return Error(std::string(spec.name) + " range '" + std::string(range) +
                     "' runs backwards (write the smaller value first)");
      }
    } else if (!stepped) {
      last = first;
    }
  }
  uint64_t bits = 0;
  for (int v = first; v <= last; v += step) bits |= uint64_t{1} << v;
  return bits;
}

}  // namespace

Result<uint64_t> parse_field(std::string_view text, const FieldSpec& spec) {
  uint64_t bits = 0;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (item.empty()) return Error("empty item in " + std::string(spec.name) + " list");
    auto b = parse_item(item, spec);
    if (!b) return b.error();
    bits |= *b;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

}  // namespace dw::schedule::detail
