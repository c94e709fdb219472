#!/usr/bin/env bash
# Installs the system tools the tests need, only where they are missing:
# - a Java runtime for AWS's DynamoDB Local;
# - a MariaDB server, unless MYSQL_HOST names one or one answers on 127.0.0.1:3306.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
if [ -z "${MYSQL_HOST:-}" ] \
  && ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null \
  && ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  need+=(mariadb-server)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing: ${need[*]}. Install them (Debian/Ubuntu: apt-get install -y ${need[*]})," >&2
  echo "or set MYSQL_* to a server you have." >&2
  exit 1
fi
echo "Installing ${need[*]} ..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
