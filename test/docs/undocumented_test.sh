#!/usr/bin/env bash
# The API reference is complete: Doxygen, on the public headers, finds no undocumented public
# declaration. Usage: undocumented_test.sh DOXYGEN DOXYFILE WARNINGS
set -euo pipefail
doxygen="$1" doxyfile="$2" warnings="$3"
mkdir -p "$(dirname "$warnings")"
"$doxygen" "$doxyfile" > /dev/null
count=$(grep -c "is not documented" "$warnings" || true)
if [ "$count" -ne 0 ]; then
  echo "FAIL: $count public declarations have no /// comment:"
  grep "is not documented" "$warnings" | head -40
  exit 1
fi
other=$(grep -c "warning:" "$warnings" || true)
echo "the API reference documents every public declaration ($other other Doxygen warnings)"
