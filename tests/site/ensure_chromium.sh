#!/usr/bin/env bash
# Make sure a headless-capable Chromium is available for the browser check of the built site.
# Prints the path of the browser it found or installed. Order of preference:
#   1. $CHROMIUM, if set and executable;
#   2. /usr/bin/chromium (Debian's package);
#   3. another Chromium/Chrome already on PATH (GitHub's ubuntu runners ship Google Chrome);
#   4. otherwise install Debian's `chromium` with apt-get (as root, or through sudo).
set -euo pipefail

if [[ -n "${CHROMIUM:-}" && -x "${CHROMIUM}" ]]; then
    echo "${CHROMIUM}"
    exit 0
fi
if [[ -x /usr/bin/chromium ]]; then
    echo /usr/bin/chromium
    exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if path="$(command -v "$name" 2>/dev/null)"; then
        echo "$path"
        exit 0
    fi
done

if [[ "$(id -u)" == "0" ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "ensure_chromium.sh: no Chromium found and no root to install one; set CHROMIUM=/path/to/chrome" >&2
    exit 1
fi
echo "ensure_chromium.sh: installing chromium with apt-get (a few minutes, once)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2
"${as_root[@]}" apt-get install -y -qq chromium >&2
echo /usr/bin/chromium
