#include "schedule/schedule.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "common/duration.h"
#include "common/strings.h"
#include "schedule/cron_field.h"

namespace dw::schedule {
namespace {

using date::local_info;
using LocalMinutes = date::local_time<std::chrono::minutes>;

constexpr std::array<std::string_view, 12> kMonthNames{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames{"sun", "mon", "tue", "wed",
                                                        "thu", "fri", "sat"};

// Larger than any daylight-saving shift in use (Antarctica/Troll moves two hours): candidate
// local times this far around the answer can still map to an earlier instant.
constexpr std::chrono::hours kMaxShift{3};

// How far ahead a cron search looks: one full Gregorian cycle, in which every date falls on
// every weekday, so a schedule that passed parse always fires within it.
constexpr int kSearchDays = 146097;

const std::array<std::pair<std::string_view, std::string_view>, 7> kMacros{{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
    size_t start = pos;
    while (pos < s.size() && !std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos > start) out.push_back(s.substr(start, pos - start));
  }
  return out;
}

const date::time_zone* find_zone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

// True when some selected month has some selected day of month (February counting 29).
bool some_date_exists(uint64_t months, uint64_t days) {
  constexpr int kLongest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int m = 1; m <= 12; ++m) {
    if (!(months >> m & 1)) continue;
    for (int d = 1; d <= kLongest[m]; ++d) {
      if (days >> d & 1) return true;
    }
  }
  return false;
}

}  // namespace

Status check_timezone(std::string_view name) {
  if (find_zone(name) != nullptr) return Status::Ok();
  std::string message = "unknown time zone '" + std::string(name) + "'";
  std::vector<std::string> names;
  try {
    for (const auto& zone : date::get_tzdb().zones) names.emplace_back(zone.name());
  } catch (const std::exception&) {
    // No database to suggest from; the plain message still says what is wrong.
  }
  if (auto close = closest_match(name, names)) message += "; did you mean '" + *close + "'?";
  return Error(message + " (use an IANA name such as \"UTC\" or \"Europe/Berlin\")");
}

Result<Schedule> Schedule::parse(std::string_view text, std::string_view timezone) {
  std::string_view body = trim(text);
  auto bad = [&](const std::string& why) {
    return Error("invalid schedule '" + std::string(body) + "': " + why);
  };
  Schedule s;
  s.text_ = std::string(body);
  s.timezone_ = std::string(timezone);
  if (Status zone = check_timezone(timezone); !zone) return zone.error();
  s.zone_ = find_zone(timezone);
  if (body.empty()) return bad("empty (write five cron fields such as \"0 */6 * * *\" or \"@every 6h\")");

  std::string_view cron = body;
  if (body.front() == '@') {
    auto words = split_fields(body);
    if (words[0] == "@every") {
      if (words.size() != 2) return bad("expected \"@every DURATION\", e.g. \"@every 6h\"");
      auto d = parse_duration(words[1]);
      if (!d) return bad(d.error().message());
      if (d->count() <= 0) return bad("the interval must be longer than zero");
      s.every_ = *d;
      return s;
    }
    auto macro = std::find_if(kMacros.begin(), kMacros.end(),
                              [&](const auto& m) { return m.first == body; });
    if (macro == kMacros.end()) {
      std::vector<std::string> names{"@every"};
      for (const auto& m : kMacros) names.emplace_back(m.first);
      std::string why = "unknown shorthand";
      if (auto close = closest_match(words[0], names)) why += "; did you mean '" + *close + "'?";
      return bad(why + " (known: " + join_words(names) + ")");
    }
    cron = macro->second;
  }

  auto fields = split_fields(cron);
  if (fields.size() != 5) {
    return bad("expected five fields (minute hour day-of-month month day-of-week) or "
               "\"@every DURATION\", found " + std::to_string(fields.size()));
  }
  const detail::FieldSpec specs[5] = {
      {"minute", 0, 59},
      {"hour", 0, 23},
      {"day of month", 1, 31},
      {"month", 1, 12, kMonthNames.data(), static_cast<int>(kMonthNames.size())},
      {"day of week", 0, 7, kWeekdayNames.data(), static_cast<int>(kWeekdayNames.size())},
  };
  uint64_t bits[5];
  for (int i = 0; i < 5; ++i) {
    auto b = detail::parse_field(fields[i], specs[i]);
    if (!b) return bad(b.error().message());
    bits[i] = *b;
  }
  if (bits[4] >> 7 & 1) bits[4] = (bits[4] | 1) & 0x7f;  // 7 is Sunday too
  s.minutes_ = std::bitset<60>(bits[0]);
  s.hours_ = std::bitset<24>(bits[1]);
  s.days_of_month_ = std::bitset<32>(bits[2]);
  s.months_ = std::bitset<13>(bits[3]);
  s.weekdays_ = std::bitset<7>(bits[4]);
  s.hour_star_ = fields[1].front() == '*';
  s.day_of_month_star_ = fields[2].front() == '*';
  s.weekday_star_ = fields[4].front() == '*';
  bool either_day = !s.day_of_month_star_ && !s.weekday_star_;
  if (!either_day && !some_date_exists(bits[3], bits[2])) {
    return bad("never fires: none of the selected months has the selected days of the month");
  }
  return s;
}

bool Schedule::day_matches(int month, int day_of_month, int weekday) const {
  if (!months_[month]) return false;
  bool dom = days_of_month_[day_of_month];
  bool dow = weekdays_[weekday];
  return day_of_month_star_ || weekday_star_ ? dom && dow : dom || dow;
}

Time Schedule::next_after(Time t) const {
  if (empty()) return Time::max();
  if (every_.count() > 0) {
    auto n = t.time_since_epoch() / every_;
    if (t.time_since_epoch() % every_ < std::chrono::seconds(0)) --n;  // floor for t < epoch
    return Time((n + 1) * every_);
  }
  return next_cron_after(t);
}

Time Schedule::next_cron_after(Time t) const {
  using namespace std::chrono;
  // The first local minute strictly after `after` whose fields match.
  auto next_local = [this](LocalMinutes after) -> std::optional<LocalMinutes> {
    LocalMinutes from = after + minutes(1);
    date::local_days day = date::floor<date::days>(from);
    int minute_of_day = static_cast<int>((from - day).count());
    for (int i = 0; i < kSearchDays; ++i, day += date::days(1), minute_of_day = 0) {
      date::year_month_day ymd{day};
      int weekday = static_cast<int>(date::weekday{day}.c_encoding());
      if (!day_matches(static_cast<int>(static_cast<unsigned>(ymd.month())),
                       static_cast<int>(static_cast<unsigned>(ymd.day())), weekday)) {
        continue;
      }
      for (int h = minute_of_day / 60; h < 24; ++h) {
        if (!hours_[h]) continue;
        for (int m = h == minute_of_day / 60 ? minute_of_day % 60 : 0; m < 60; ++m) {
          if (minutes_[m]) return day + hours(h) + minutes(m);
        }
      }
    }
    return std::nullopt;
  };
  // The instants a local time stands for, by the daylight-saving rules in the header.
  auto instants = [this](LocalMinutes local) {
    std::vector<Time> out;
    local_info info = zone_->get_info(local);
    auto at = [&](const date::sys_info& i) { return Time((local - i.offset).time_since_epoch()); };
    if (info.result == local_info::unique) {
      out.push_back(at(info.first));
    } else if (info.result == local_info::nonexistent) {
      if (!hour_star_) out.push_back(date::floor<seconds>(info.first.end));
    } else {
      out.push_back(at(info.first));
      if (hour_star_) out.push_back(at(info.second));
    }
    return out;
  };

  // Local time runs backwards in a repeated hour, so the earliest instant after t may come
  // from a local time somewhat before t's own; look that far back and that far past the best.
  LocalMinutes after = date::floor<minutes>(zone_->to_local(t)) - kMaxShift;
  Time best = Time::max();
  std::optional<LocalMinutes> best_local;
  while (auto local = next_local(after)) {
    if (best_local && *local > *best_local + kMaxShift) break;
    for (Time instant : instants(*local)) {
      if (instant > t && instant < best) {
        best = instant;
        best_local = *local;
      }
    }
    after = *local;
  }
  return best;
}

}  // namespace dw::schedule
