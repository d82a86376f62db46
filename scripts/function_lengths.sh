#!/usr/bin/env bash
# Lists functions longer than a limit (default 120 lines) in the project's own sources, longest
# first: `scripts/function_lengths.sh [LIMIT] [PATH...]`. Uses universal-ctags (line: and end:
# fields). Tests, fuzz targets and generated data tables are left out unless named as PATHs.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-120}
shift || true
paths=("$@")
[[ ${#paths[@]} -eq 0 ]] && paths=(src backends bench)
command -v ctags >/dev/null || { echo "function_lengths.sh: universal-ctags is needed (apt-get install universal-ctags)" >&2; exit 2; }
ctags -R --languages=C,C++,CUDA --map-C++=+.cu --kinds-C=f --kinds-C++=f --fields=+ne -o - "${paths[@]}" 2>/dev/null |
  awk -F'\t' -v limit="$limit" '{
    line=""; end="";
    for (i = 4; i <= NF; i++) {
      if ($i ~ /^line:/) line = substr($i, 6);
      if ($i ~ /^end:/) end = substr($i, 5);
    }
    if (line != "" && end != "" && end - line + 1 > limit) printf "%d\t%s:%s\t%s\n", end - line + 1, $2, line, $1;
  }' | sort -rn
