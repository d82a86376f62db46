#!/usr/bin/env bash
# Renders an HTML page (e.g. `suanli rate -o rating.html`) to PNG with headless Chromium, to look
# at the charts as a browser draws them. Installs Debian's chromium with apt-get when missing
# (optional: CI and the tests never need a browser).
# Usage: scripts/render_html.sh PAGE.html [OUT.png] [WIDTHxHEIGHT]   (default 1400x4000)
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 PAGE.html [OUT.png] [WIDTHxHEIGHT]" >&2
  exit 2
fi
page=$1
out=${2:-${page%.*}.png}
size=${3:-1400x4000}
[ -f "$page" ] || { echo "error: $page: no such file" >&2; exit 2; }

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "chromium not found; installing Debian's chromium (apt-get)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  browser=chromium
fi

abs_page=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
abs_out=$(cd "$(dirname "$out")" 2>/dev/null && pwd || { mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd; })/$(basename "$out")
# A throwaway profile; no network is needed (the page is self-contained), so block it outright.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --proxy-server="127.0.0.1:9" --proxy-bypass-list="<-loopback>" \
  --window-size="${size/x/,}" --screenshot="$abs_out" "file://$abs_page" 2>/dev/null
[ -s "$abs_out" ] || { echo "error: chromium wrote no screenshot" >&2; exit 1; }
echo "$abs_out"
