// "Did you mean ...?": the known word closest to a misspelt one, for error messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcptap::cli {

// Edits (insert, delete, substitute, swap two neighbours) turning `from` into `to`: the
// optimal-string-alignment form of the Damerau-Levenshtein distance.
size_t edit_distance(std::string_view from, std::string_view to);

// The candidate `word` was most likely meant as, or nullopt when none is close. Case and
// the separators '_' and '-' do not count ("Spool-Dir" is "spool_dir"); beyond that, up to
// one edit for words of up to 4 letters, two up to 11, three beyond, and never more than
// half the shorter word ("upsteam" is "upstream", "batch_rows" is "batch_max_rows", "foo"
// is nothing). Ties go to the first candidate.
std::optional<std::string> closest_spelling(std::string_view word,
                                            const std::vector<std::string>& candidates);

}  // namespace mcptap::cli
