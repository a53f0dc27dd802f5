// Renderers: one per format, each a pure function of the Report model (model.h). They escape
// every string for their own format (escape.h); none of them reads the store or the clock, so
// the same Report always renders to the same bytes (golden tests rely on it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/model.h"

namespace dw::report {

// Markdown for a terminal or an e-mail: headings, pipe tables, Unicode sparklines for trends,
// and answers and diffs in fenced code blocks (removed words as [-...-], added as {+...+}).
std::string render_markdown(const Report& report);

// One self-contained HTML file: inline CSS and inline SVG charts, no scripts, no external
// resources; verdicts are told apart by pattern and label as well as colour, so it reads in
// greyscale and on paper. It opens with the overview (overview.h); the sections after it are
// <details>, closed except the new events; every table scrolls sideways in a box of its own,
// so the page itself never does, down to a phone's width.
std::string render_html(const Report& report);

// The same facts for machines; the shape is documented in README.md ("Reports").
nlohmann::json to_json(const Report& report);
std::string render_json(const Report& report);  // to_json, indented, ending with a newline

}  // namespace dw::report
