#!/usr/bin/env bash
# Installs what claw needs from the system's packages, only where it is missing:
# redis-server (broker), bubblewrap (the code sandbox), postgresql (the tests run the
# database code on a private PostgreSQL server as well as on SQLite) and chromium with its
# driver (the tests drive the chat page in a headless browser).
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# Debian keeps initdb and postgres off PATH, under /usr/lib/postgresql/<version>/bin
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
# The sandbox runs the system's Python (one outside /root and /home), not the venv's
[ -x /usr/bin/python3 ] || missing+=(python3-minimal)
# Each group's disk quota is an ext4 image (claw/sandbox/quota.py): mkfs.ext4, e2fsck, resize2fs
PATH="$PATH:/usr/sbin:/sbin" command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
# Debian's chromium and the chromedriver of the same version (selenium drives it, tests/web)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "claw needs: ${missing[*]}. Install them with your package manager, then run make again." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "claw needs: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2; exit 1
  fi
fi
echo "installing ${missing[*]} with apt-get ..."
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
  echo "apt-get could not install ${missing[*]}; install them by hand and run make again." >&2
  exit 1
fi
