#!/usr/bin/env bash
# Screenshot of an evaluation report in headless Chromium (Debian: apt-get install -y chromium).
#
#   scripts/report_screenshot.sh RUN_DIR/report.html docs/report.png [WIDTH HEIGHT]
#
# Prints the PNG's path; exits 3 when no Chromium is installed (tests skip then).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH HEIGHT]" >&2
    exit 2
fi
page=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1280}
height=${4:-1400}
[ -f "$page" ] || { echo "$0: no report at $1" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "$0: no chromium found (apt-get install -y chromium)" >&2; exit 3; }
mkdir -p "$(dirname "$out")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: root in containers; a fresh profile: no state from other runs; no background networking: the
# page needs no network, and the machine may have none.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --disable-background-networking --disable-component-update --disable-sync --no-first-run --disable-quic \
    --window-size="$width,$height" --screenshot="$out" "file://$page" >/dev/null 2>&1
[ -s "$out" ] || { echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$out"
