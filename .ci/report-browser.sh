#!/usr/bin/env bash
# The capacity review in a real browser. Installs Debian's chromium if it is missing, makes two
# plans on a scratch database, renders `planner-cli report --format html` headless to a PNG, and
# checks that the page has its three charts as SVG with data in them and that it raises no
# error: none in chromium's console log, none caught by an error hook in a copy of the page.
#
#   .ci/report-browser.sh [PLANNER_CLI]     (default: target/debug/planner-cli, built if missing)
#
# Writes into $REPORT_BROWSER_OUT (default target/report-browser) and prints the screenshot's
# path last: keep it as a CI artifact and look at it.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${REPORT_BROWSER_OUT:-target/report-browser}
CLI=${1:-target/debug/planner-cli}
die() {
  echo "FAIL: $*" >&2
  exit 1
}

if [[ ! -x $CLI ]]; then
  cargo build -p planner-cli
fi
if ! command -v chromium >/dev/null; then
  echo "== installing chromium (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
chromium --version

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

echo "== two plans and the review of the newer one"
unset PLANNER_ENDPOINT PLANNER_OUTPUT PLANNER_TRUST_PUBLISHED
export PLANNER_DATABASE_URL="sqlite:$OUT/review.db"
"$CLI" propose --demand 1.2B --local-only --profile business-hours >/dev/null
"$CLI" propose --demand 1.5B --local-only --profile business-hours \
  --owned mac-studio-m3-ultra-512=2 --budget 200k >/dev/null
"$CLI" report --format html >"$OUT/report.html"

# A copy of the page with an error hook: uncaught errors, failed loads and console.error calls
# are counted into an attribute of <html> once the page has loaded, where --dump-dom reads it.
hook='<script>window.__errors=[];addEventListener("error",function(e){__errors.push(String(e.message||e.type))},true);var __ce=console.error;console.error=function(){__errors.push(Array.prototype.join.call(arguments," "));__ce.apply(console,arguments)};addEventListener("load",function(){document.documentElement.setAttribute("data-errors",__errors.length+":"+__errors.join("|"))})</script>'
HOOK=$hook python3 -c 'import os, sys; sys.stdout.write(open(sys.argv[1], encoding="utf-8").read().replace("<head>", "<head>" + os.environ["HOOK"], 1))' \
  "$OUT/report.html" >"$OUT/report-hooked.html"

flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
  --disable-extensions --disable-background-networking --user-data-dir="$OUT/profile")

echo "== screenshot"
timeout 120 chromium "${flags[@]}" --enable-logging=stderr --v=0 --window-size=1400,3000 \
  --screenshot="$OUT/report.png" "file://$OUT/report.html" 2>"$OUT/chromium.log" \
  || { cat "$OUT/chromium.log" >&2; die "chromium could not take the screenshot"; }
[[ -s $OUT/report.png ]] || die "no screenshot at $OUT/report.png"

echo "== DOM"
timeout 120 chromium "${flags[@]}" --virtual-time-budget=5000 --dump-dom \
  "file://$OUT/report-hooked.html" >"$OUT/dom.html" 2>"$OUT/chromium-dom.log" \
  || { cat "$OUT/chromium-dom.log" >&2; die "chromium could not load the page"; }

python3 - "$OUT/dom.html" "$OUT/chromium.log" <<'EOF'
import re
import sys

dom = open(sys.argv[1], encoding="utf-8").read()
log = open(sys.argv[2], encoding="utf-8", errors="replace").read()
problems = []

errors = re.search(r'data-errors="([^"]*)"', dom)
if errors is None:
    problems.append("the error hook never ran (no data-errors on <html>)")
elif not errors.group(1).startswith("0:"):
    problems.append(f"errors on the page: {errors.group(1)}")
console = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
if console:
    problems.append("console messages:\n  " + "\n  ".join(console))

charts = re.findall(r"<svg\b.*?</svg>", dom, re.S)
if len(charts) != 3:
    problems.append(f"{len(charts)} charts, expected 3 (cost split, sweep, schedule)")
for i, svg in enumerate(charts, 1):
    title = re.search(r"<title>(.*?)</title>", svg)
    marks = len(re.findall(r"<(?:path|polyline|polygon|rect|circle)\b", svg))
    texts = len(re.findall(r"<text\b", svg))
    name = title.group(1) if title else f"chart {i}"
    print(f"chart {i}: {name}: {marks} marks, {texts} labels")
    # Beyond the white background: data marks and axis labels.
    if marks < 3 or texts < 5:
        problems.append(f"{name}: {marks} marks and {texts} labels, too few to hold data")
if "<table" not in dom:
    problems.append("no tables")

if problems:
    print("FAIL:\n" + "\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("ok: 3 charts with data, no errors")
EOF

echo "screenshot: $OUT/report.png"
