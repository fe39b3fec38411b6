#!/usr/bin/env bash
# The base map's vector tiles are built on this machine by Debian's tilemaker (manage.py build_map_tiles).
# Install it once, as scripts/install_browser.sh installs chromium.
set -euo pipefail
if command -v tilemaker >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null; then
  echo "tilemaker is missing and this user cannot install it: apt-get install tilemaker" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
echo "Installing Debian's tilemaker for the base map"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tilemaker >/dev/null
tilemaker --help 2>&1 | head -1
