// "Did you mean ...?": edit distance and the closest known word.
#include "cli/spelling.h"

#include <algorithm>
#include <cctype>

namespace mcptap::cli {
namespace {

// Lower case without '_' and '-', so the spellings a hand-written key drifts between
// (camelCase, kebab-case) compare equal.
std::string folded(std::string_view word) {
  std::string out;
  for (char c : word) {
    if (c == '_' || c == '-') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

size_t edits_allowed(size_t length) {
  if (length <= 4) return 1;
  if (length <= 11) return 2;
  return 3;
}

}  // namespace

size_t edit_distance(std::string_view from, std::string_view to) {
  // Three rows suffice: a swap looks two rows back.
  std::vector<size_t> before_previous(to.size() + 1), previous(to.size() + 1),
      current(to.size() + 1);
  for (size_t j = 0; j <= to.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= from.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= to.size(); ++j) {
      size_t substitution = from[i - 1] == to[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution});
      if (i > 1 && j > 1 && from[i - 1] == to[j - 2] && from[i - 2] == to[j - 1]) {
        current[j] = std::min(current[j], before_previous[j - 2] + 1);
      }
    }
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return previous[to.size()];
}

std::optional<std::string> closest_spelling(std::string_view word,
                                            const std::vector<std::string>& candidates) {
  std::string folded_word = folded(word);
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    std::string folded_candidate = folded(candidate);
    size_t distance = edit_distance(folded_word, folded_candidate);
    size_t allowed = edits_allowed(std::max(folded_word.size(), folded_candidate.size()));
    // Never "correct" a word into one it shares almost nothing with: "ab" is not "xy".
    allowed = std::min(allowed, std::min(folded_word.size(), folded_candidate.size()) / 2);
    if (distance > allowed) continue;
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace mcptap::cli
