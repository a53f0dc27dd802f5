#include "input/json.h"

namespace dw::input {
namespace {

// The library's DOM builder, with the nesting counted on the way in and the first error kept
// with its position instead of thrown.
template <typename Json>
class BoundedSax : public nlohmann::detail::json_sax_dom_parser<Json> {
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;

 public:
  BoundedSax(Json& out, int max_depth) : Base(out, /*allow_exceptions=*/false),
                                         max_depth_(max_depth) {}

  bool start_object(std::size_t n) { return deeper() && Base::start_object(n); }
  bool start_array(std::size_t n) { return deeper() && Base::start_array(n); }
  bool end_object() { --depth_; return Base::end_object(); }
  bool end_array() { --depth_; return Base::end_array(); }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& ex) {
    if (error_.message.empty()) {
      // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error..."
      // -> "syntax error..."; "[json.exception.out_of_range.406] number overflow parsing
      // '1e999'" -> "number overflow parsing '1e999'". The position is the caller's to say.
      std::string what = ex.what();
      size_t cut = what.find("] ");
      if (cut != std::string::npos) what.erase(0, cut + 2);
      size_t column = what.find(", column ");
      size_t detail = column == std::string::npos ? column : what.find(": ", column);
      if (detail != std::string::npos) what.erase(0, detail + 2);
      error_.message = std::move(what);
      error_.column = position;
    }
    return Base::parse_error(position, token, ex);
  }

  bool too_deep() const { return too_deep_; }
  const JsonError& error() const { return error_; }
  void set_too_deep_at(size_t column) {
    error_.message = "nesting deeper than " + std::to_string(max_depth_) + " levels";
    error_.column = column;
  }

 private:
  bool deeper() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
  JsonError error_;
};

// Where the first value nested deeper than max_depth opens: the parser stops there, but does
// not say where it stopped.
size_t deep_position(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i + 1;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return text.size();
}

// strict: the value must be all of text; otherwise the parser stops at its end.
template <typename Json>
Result<Json, JsonError> parse(std::string_view text, int max_depth, bool strict = true) {
  Json out;
  BoundedSax<Json> sax(out, max_depth);
  bool ok = Json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                            strict);
  if (sax.too_deep()) sax.set_too_deep_at(deep_position(text, max_depth));
  if (!ok || sax.too_deep() || !sax.error().message.empty()) {
    JsonError error = sax.error();
    if (error.message.empty()) error.message = "not valid JSON";
    return error;
  }
  return out;
}

}  // namespace

Result<nlohmann::json, JsonError> parse_json(std::string_view text, int max_depth) {
  return parse<nlohmann::json>(text, max_depth);
}

Result<nlohmann::ordered_json, JsonError> parse_ordered_json(std::string_view text,
                                                             int max_depth) {
  return parse<nlohmann::ordered_json>(text, max_depth);
}

Result<nlohmann::json, JsonError> parse_json_prefix(std::string_view text, int max_depth) {
  return parse<nlohmann::json>(text, max_depth, /*strict=*/false);
}

}  // namespace dw::input
