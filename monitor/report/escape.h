// Escaping for the formats reports are written in. Model output is hostile: a response may
// hold <script>, <img onerror=...>, </table>, Markdown links and images, backticks or pipes.
// After these functions it is inert text in its format. Inputs are sanitised text
// (sanitise_untrusted in text.h): valid UTF-8 without terminal controls.
#pragma once

#include <string>
#include <string_view>

namespace dw::report {

// HTML text and attribute values: & < > " ' become character references. Safe inside element
// content and inside a quoted attribute value; never inside <script> or <style> (reports
// have neither).
std::string html_escape(std::string_view text);

// Markdown inline text placed after other text on its line (a list item's value, a heading
// after its "###", a table cell): the characters CommonMark and GitHub Flavored Markdown give
// a meaning to anywhere in a line are backslash-escaped, so no link, image, emphasis, code
// span, autolink, raw HTML, entity or table cell boundary can form, and line breaks become
// spaces (a cell or heading stays one line).
std::string md_inline(std::string_view text);

// A fenced code block holding text verbatim, with info string info ("" for none): the fence
// is a run of backticks longer than any run inside text, so text cannot close it, and code
// blocks show their content literally. Ends with a newline.
std::string md_code_block(std::string_view text, std::string_view info = "");

// XML 1.0 character data and attribute values (the Atom feed), also valid as HTML5 text: & < >
// " ' become &amp; &lt; &gt; &quot; &apos;, and characters XML 1.0 forbids or discourages in a
// document (C0 controls other than tab, newline and carriage return, DEL and C1 controls,
// surrogates, noncharacters such as U+FFFE and U+FFFF) and invalid UTF-8 bytes become U+FFFD.
// Unlike the other functions here it accepts any bytes, not only sanitised text: whatever
// the input, the output cannot make an XML document ill-formed or an HTML5 one invalid.
std::string xml_escape(std::string_view text);

}  // namespace dw::report
