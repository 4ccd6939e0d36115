#!/usr/bin/env bash
# Regenerates the FIELDS section of man/tpdig.8 from the field catalog (`tpdig -l`), so the
# man page and the binary cannot drift apart (tests/man_page.rs checks they agree, and that
# groff renders the page without a warning).
# Usage: ci/gen-man-fields.sh [TPDIG]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/x86_64-unknown-linux-gnu/debug/tpdig}
[ -x "$bin" ] || cargo build -q
block=$("$bin" -l | awk '
  /^Field Class: / { printf ".SS %s\n", $3; next }
  /^-+$/ || /^$/ { next }
  { name = $1; $1 = ""; sub(/^ +/, ""); gsub(/\\/, "\\\\"); gsub(/-/, "\\-", name)
    # A text line starting with a quote or a dot would be read as a request: guard it.
    desc = $0; if (desc ~ /^[.\047]/) desc = "\\&" desc
    printf ".TP\n.B %s\n%s\n", name, desc }')
python3 - "$block" <<'PY'
import sys
p = "man/tpdig.8"
s = open(p).read()
begin = s.index('.\\" BEGIN FIELDS')
begin = s.index("\n", begin) + 1
end = s.index('.\\" END FIELDS')
s = s[:begin] + sys.argv[1] + "\n" + s[end:]
open(p, "w").write(s)
PY
