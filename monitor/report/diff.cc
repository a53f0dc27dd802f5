#include "report/diff.h"

#include <dtl/dtl.hpp>

#include <utility>

#include "report/text.h"

namespace dw::report {
namespace {

// Appends text with op, merging into the last piece when it has the same op. dtl may emit
// an addition before the removal it replaces; pieces are reordered by the caller's flush.
void append(std::vector<DiffPiece>& pieces, DiffOp op, std::string_view text) {
  if (text.empty()) return;
  if (!pieces.empty() && pieces.back().op == op) {
    pieces.back().text.append(text);
    return;
  }
  pieces.push_back({op, std::string(text)});
}

// Emits a pending change: the removed text first, then the added text.
void flush_change(std::vector<DiffPiece>& pieces, std::string& removed, std::string& added) {
  append(pieces, DiffOp::removed, removed);
  append(pieces, DiffOp::added, added);
  removed.clear();
  added.clear();
}

bool only_spaces(std::string_view text) {
  return text.find_first_not_of(" \t") == std::string_view::npos;
}

// A replacement of several words comes out of the edit script word by word, each pair split
// by a common space: "[-In-]{+Sorry,+} [-June-]{+that's+} ...". A space between two
// replacements is folded into both sides, so a rewritten sentence reads as one removal and one
// addition. Both rebuilt texts are unchanged: the space moves into the removed and the added
// text alike.
std::vector<DiffPiece> fold_spaces(const std::vector<DiffPiece>& in) {
  std::vector<DiffPiece> out;
  auto replaced_at = [&](size_t i) {  // a removal followed by an addition starts at i
    return i + 1 < in.size() && in[i].op == DiffOp::removed && in[i + 1].op == DiffOp::added;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    bool between = in[i].op == DiffOp::same && only_spaces(in[i].text) && i >= 2 &&
                   in[i - 1].op == DiffOp::added && in[i - 2].op == DiffOp::removed &&
                   replaced_at(i + 1);
    if (!between) {
      out.push_back(in[i]);
      continue;
    }
    // out ends with [..., removed, added]: extend both, then take the next pair into them.
    DiffPiece& added = out.back();
    DiffPiece& removed = out[out.size() - 2];
    removed.text += in[i].text + in[i + 1].text;
    added.text += in[i].text + in[i + 2].text;
    i += 2;
  }
  return out;
}

std::string join(const std::vector<std::string>& tokens, size_t from) {
  std::string out;
  for (size_t i = from; i < tokens.size(); ++i) out += tokens[i];
  return out;
}

}  // namespace

std::string_view to_string(DiffOp op) {
  switch (op) {
    case DiffOp::same: return "same";
    case DiffOp::removed: return "removed";
    case DiffOp::added: return "added";
  }
  return "same";
}

std::vector<DiffPiece> word_diff(std::string_view before, std::string_view after,
                                 size_t max_tokens) {
  std::vector<std::string> a = tokenise(before);
  std::vector<std::string> b = tokenise(after);
  std::string tail_a = a.size() > max_tokens ? join(a, max_tokens) : "";
  std::string tail_b = b.size() > max_tokens ? join(b, max_tokens) : "";
  if (a.size() > max_tokens) a.resize(max_tokens);
  if (b.size() > max_tokens) b.resize(max_tokens);

  dtl::Diff<std::string, std::vector<std::string>> diff(a, b);
  diff.compose();

  std::vector<DiffPiece> pieces;
  std::string removed, added;
  for (const auto& [token, info] : diff.getSes().getSequence()) {
    switch (info.type) {
      case dtl::SES_DELETE: removed += token; break;
      case dtl::SES_ADD: added += token; break;
      default:
        flush_change(pieces, removed, added);
        append(pieces, DiffOp::same, token);
        break;
    }
  }
  removed += tail_a;
  added += tail_b;
  flush_change(pieces, removed, added);
  return fold_spaces(pieces);
}

}  // namespace dw::report
