// When things happen: a cron expression or a fixed interval, evaluated in an IANA time zone.
//
//   auto s = dw::schedule::Schedule::parse("0 */6 * * *", "Europe/Berlin");
//   if (!s) std::cerr << s.error().to_string() << '\n';
//   dw::Time next = s->next_after(clock.now());
//
// Accepted forms:
// - Five cron fields, "MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK", each "*", a number, a range
//   "a-b", a step "*/n", "a-b/n" or "a/n" (a to the field's end), or a comma list of these.
//   Months and weekdays may be names ("jan".."dec", "sun".."sat", any case); weekday 0 and 7
//   are both Sunday. As in cron, when both day fields are restricted (neither starts with '*')
//   a day matches if either matches; otherwise both must.
// - "@hourly", "@daily" (or "@midnight"), "@weekly", "@monthly", "@yearly" (or "@annually"):
//   "0 * * * *", "0 0 * * *", "0 0 * * 0", "0 0 1 * *", "0 0 1 1 *".
// - "@every DURATION" ("@every 6h", see dw::parse_duration): the instants that are whole
//   multiples of DURATION since the Unix epoch, so the times do not depend on when the daemon
//   started and the time zone plays no part.
//
// Daylight-saving changes follow cronie: a schedule with a fixed hour (hour field not starting
// with '*') fires once on each matching day: a time that falls in a skipped hour fires at the
// instant the clocks jump (02:30 on a spring-forward day in New York fires at 03:00 EDT), and a
// time that occurs twice fires at its first occurrence only. A schedule whose hour field starts
// with '*' follows the wall clock as it is: skipped times do not fire, repeated times fire at
// both occurrences.
#pragma once

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/time.h"

namespace date {
class time_zone;
}

namespace dw::schedule {

// Succeeds when name is an IANA time zone known to the system's database ("UTC",
// "Europe/Berlin"); otherwise the error names it and suggests a close match.
Status check_timezone(std::string_view name);

class Schedule {
 public:
  // A schedule that never fires: next_after returns Time::max(). Holders such as Config assign
  // a parsed schedule before use.
  Schedule() = default;

  // Parses text in timezone (an IANA name such as "UTC" or "America/New_York"). On failure
  // the error quotes the text and says what is wrong ("minute 61 is out of range 0-59"); it
  // carries no location, which the caller adds. Also fails for an expression that can never
  // fire ("0 0 30 2 *").
  static Result<Schedule> parse(std::string_view text, std::string_view timezone);

  // The first firing instant strictly after t, or Time::max() for a default-constructed
  // schedule.
  Time next_after(Time t) const;

  // The text as given (surrounding spaces dropped), and the time zone's name.
  const std::string& text() const { return text_; }
  const std::string& timezone() const { return timezone_; }

  // True when the schedule was default-constructed.
  bool empty() const { return text_.empty(); }

 private:
  // The first firing instant of a cron schedule strictly after t.
  Time next_cron_after(Time t) const;
  bool day_matches(int month, int day_of_month, int weekday) const;

  std::string text_;
  std::string timezone_;
  const date::time_zone* zone_ = nullptr;  // owned by the date library's database, lives forever

  std::chrono::seconds every_{0};  // > 0 for "@every"; the cron fields are unused then
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 1..31
  std::bitset<13> months_;         // bit 1..12
  std::bitset<7> weekdays_;        // bit 0 = Sunday
  bool day_of_month_star_ = false;
  bool weekday_star_ = false;
  bool hour_star_ = false;
};

}  // namespace dw::schedule
