// Wording shared by the renderers: numbers, shares, changes and an event's evidence as
// labelled facts. Nothing here escapes: the results may contain untrusted text (a template
// answer, a reported model id), so each renderer escapes what it places.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "report/model.h"

namespace dw::report {

// "42%", or "–" when there is no share.
std::string percent(std::optional<double> share);

// The change from before to now in percentage points: "+40", "-3", "0", or "" when either
// side has no share.
std::string change_points(std::optional<double> before, std::optional<double> now);

// "12 refused" style counts: "answered 27, refused 3" (zero verdicts left out; "none").
std::string counts_text(const VerdictCounts& counts);

// The trend as one character per day: ▁..█ for the share of refused + deflected + filtered
// among valid samples, '·' for a day without valid samples.
std::string sparkline(const std::vector<DayCounts>& days);

// "2026-01-14T06:30:00Z – 2026-01-15T06:30:00Z".
std::string period_text(Time since, Time until);

// What an event is about: "deepseek / tiananmen-1989-en" or "deepseek" for endpoint-wide.
std::string event_subject(const EventEntry& e);

// The evidence of an event as (label, value) pairs in reading order: sides' counts, test,
// p-value, q-value, effect, scope, controls, resolution, the template text of a
// canned_template, new models of a model_change. Only what the event carries.
std::vector<std::pair<std::string, std::string>> evidence_facts(const EventEntry& e);

// A number in the shortest clear form: 0.83, 1.2e-05, 27.
std::string number_text(double x);

}  // namespace dw::report
