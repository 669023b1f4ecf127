#!/bin/sh
# Fails when a C++ file in the repository is not as clang-format-14 (with the committed
# .clang-format) would write it; prints the files and the command that fixes them.
set -eu
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$FORMAT" >/dev/null || { echo "check_format.sh: $FORMAT not found (apt-get install clang-format-14)" >&2; exit 2; }
unformatted=""
for file in $(git ls-files '*.cpp' '*.h'); do
  "$FORMAT" --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted="$unformatted $file"
done
if [ -n "$unformatted" ]; then
  echo "check_format.sh: not formatted:$unformatted" >&2
  echo "fix with: $FORMAT -i$unformatted" >&2
  exit 1
fi
echo "check_format.sh: $(git ls-files '*.cpp' '*.h' | wc -l) files formatted"
