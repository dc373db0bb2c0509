#!/usr/bin/env bash
# Debian's Chromium for tornadopy's browser tests (tests/browser), installed when missing.
#
#   scripts/chromium.sh install   apt-get install chromium chromium-driver unless both are there
#   scripts/chromium.sh check     print the versions; exit 0 when headless Chromium renders a page
#
# The tests drive /usr/bin/chromium through playwright's Python API (pip install playwright);
# they never run `playwright install` (browser downloads do not work here).
set -euo pipefail

install() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
}

check() {
  /usr/bin/chromium --version 2>/dev/null
  /usr/bin/chromedriver --version
  local profile
  profile=$(mktemp -d)
  # a data: URL only -- nothing leaves the machine
  if timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic \
      --no-first-run --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$profile" --dump-dom 'data:text/html,<p id=ok>chromium-ok</p>' \
      2>/dev/null | grep -q chromium-ok; then
    rm -rf "$profile"
    echo "headless chromium: ok"
  else
    rm -rf "$profile"
    echo "headless chromium: FAILED to render a page" >&2
    return 1
  fi
}

case "${1:-install}" in
  install) install ;;
  check) check ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
