// Language tags and slugs: the shapes of the identifying strings in a probe set.
#include <string>
#include <vector>

#include "probes/probe.h"

namespace dw::probes {
namespace {

// ASCII only: BCP 47 subtags are ASCII, and <cctype> would consult the locale.
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_of(std::string_view s, bool (*predicate)(char)) {
  for (char c : s) {
    if (!predicate(c)) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

Status check_language_tag(std::string_view tag) {
  const std::string shape = "expected language[-script][-region], e.g. 'en', 'zh-Hans', 'pt-BR'";
  const std::string bad = "'" + std::string(tag) + "' is not a BCP 47 tag: ";
  if (tag.empty()) return Error("the tag is empty; " + shape);
  std::vector<std::string_view> parts = split(tag, '-');
  if (parts.size() > 3) return Error(bad + "it has too many subtags; " + shape);
  for (std::string_view part : parts) {
    if (part.empty()) return Error(bad + "it has an empty subtag; " + shape);
  }

  // Parse case-insensitively, as BCP 47 does, and build the canonical spelling alongside.
  std::string canonical;
  size_t i = 0;
  std::string_view language = parts[i++];
  if (language.size() < 2 || language.size() > 3 || !all_of(language, is_letter)) {
    return Error(bad + "language subtag '" + std::string(language) + "' must be 2 or 3 letters; " +
                 shape);
  }
  canonical = lower(language);
  if (i < parts.size() && parts[i].size() == 4 && all_of(parts[i], is_letter)) {
    std::string script = lower(parts[i++]);
    script[0] = upper(script.substr(0, 1))[0];
    canonical += "-" + script;
  }
  if (i < parts.size()) {
    std::string_view region = parts[i];
    bool letters = region.size() == 2 && all_of(region, is_letter);
    bool digits = region.size() == 3 && all_of(region, is_digit);
    if (!letters && !digits) {
      return Error(bad + "subtag '" + std::string(region) +
                   "' is neither a script (4 letters) nor a region (2 letters or 3 digits); " +
                   shape);
    }
    canonical += "-" + upper(region);
    ++i;
  }
  if (i < parts.size()) {
    return Error(bad + "subtag '" + std::string(parts[i]) + "' is out of place; " + shape);
  }
  if (canonical != tag) {
    return Error("'" + std::string(tag) + "' is not in canonical case; write '" + canonical + "'");
  }
  return Status::Ok();
}

bool is_slug(std::string_view text) {
  if (text.empty()) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(text[0])) return false;
  for (char c : text.substr(1)) {
    if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace dw::probes
