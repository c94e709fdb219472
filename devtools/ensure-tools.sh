#!/usr/bin/env bash
# Installs the system tools the tests need, only where they are missing:
# - a Java runtime for AWS's DynamoDB Local;
# - a MariaDB server, unless MYSQL_HOST names one or one answers on 127.0.0.1:3306;
# - Debian's Chromium for the chat preview's browser test, and fonts for it to draw Hangul
#   and the answers' emoji with (only when no font on the machine covers them).
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
if [ -z "${MYSQL_HOST:-}" ] \
  && ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null \
  && ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  need+=(mariadb-server)
fi
# Optional: without Chromium only the browser test is skipped (it says why); without the
# fonts its screenshot shows boxes for Hangul or emoji.
browser=()
[ -x /usr/bin/chromium ] || browser+=(chromium)
has_font() { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list "$1" 2>/dev/null)" ]; }
has_font :lang=ko || browser+=(fonts-noto-cjk)
has_font :charset=1f3a7 || browser+=(fonts-noto-color-emoji)  # 🎧, as the answers use
[ ${#need[@]} -eq 0 ] && [ ${#browser[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  if [ ${#browser[@]} -ne 0 ]; then
    echo "Missing: ${browser[*]} (Debian/Ubuntu: apt-get install -y ${browser[*]});" >&2
    echo "without Chromium the chat preview's browser test is skipped." >&2
  fi
  [ ${#need[@]} -eq 0 ] && exit 0
  echo "Missing: ${need[*]}. Install them (Debian/Ubuntu: apt-get install -y ${need[*]})," >&2
  echo "or set MYSQL_* to a server you have." >&2
  exit 1
fi
need+=("${browser[@]}")
echo "Installing ${need[*]} ..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
