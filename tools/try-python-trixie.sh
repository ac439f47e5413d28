#!/usr/bin/env bash
# Run seriespub's tests and its first README command on Debian trixie's Python (3.13).
#
# CI and the development VM run Python 3.11; pyproject.toml promises ">=3.11". This script is
# how a maintainer checks a newer CPython by hand. It is not part of CI: about 7 minutes on
# the 2-core VM, 6 of them the fast suite. It needs root, debootstrap and the Debian mirror;
# it never touches the host's own Python or apt state beyond installing debootstrap.
#
#   sudo tools/try-python-trixie.sh                    # the fast suite: -m "not slow"
#   sudo tools/try-python-trixie.sh tests/test_ics.py  # any pytest arguments instead
#   sudo KEEP=1 tools/try-python-trixie.sh             # keep the chroot; the next run reuses it
#   sudo SUITE=sid tools/try-python-trixie.sh          # another Debian suite (sid: newest Python)
#
# What it does, each step skipped when already done (so it is safe to run again):
#   1. debootstrap a minimal trixie into $ROOT (default /tmp/seriespub-trixie), with python3,
#      python3-venv and git;
#   2. bind-mount /proc, /dev and this checkout (read-write, at /src) into it;
#   3. make a venv at /opt/venv inside and `pip install -e '/src[dev]'` from PyPI;
#   4. print the Python version, run `seriespub --help`, the README's first command
#      (`seriespub send next --yes` on a copy of the example series: .eml files in its outbox)
#      and pytest with the given arguments;
#   5. unmount everything (also on Ctrl-C or failure) and, unless KEEP=1, remove $ROOT.
# The exit status is pytest's (or the first failing step's).
set -euo pipefail

SUITE=${SUITE:-trixie}
ROOT=${ROOT:-/tmp/seriespub-$SUITE}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ "$#" -gt 0 ] || set -- -m "not slow"

[ "$(id -u)" = 0 ] || { echo "error: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
started=$SECONDS
say() { printf '== %s (%d s)\n' "$*" "$((SECONDS - started))"; }

mounted=()
cleanup() {
  # Unmount in reverse order; a lazy unmount when a test left a process holding a file.
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
  done
  # A test that mounts a small tmpfs (tests/test_disk_faults.py) and was killed leaves it.
  awk -v root="$ROOT/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r \
    | while read -r left; do umount -l "$left" || true; done
  if [ "${KEEP:-0}" != 1 ] && [ -d "$ROOT" ]; then
    # Only after every bind mount is gone: rm must never reach /dev or the checkout.
    if ! grep -q " $ROOT/" /proc/self/mounts; then rm -rf --one-file-system "$ROOT"; fi
  fi
  if [ -d "$ROOT" ]; then say "done; chroot kept at $ROOT"; else say "done; chroot removed"; fi
}
trap cleanup EXIT

bind() { # bind SOURCE TARGET-INSIDE-ROOT
  mkdir -p "$ROOT$2"
  mountpoint -q "$ROOT$2" || mount --bind "$1" "$ROOT$2"
  mounted+=("$ROOT$2")
}

if [ ! -x "$ROOT/usr/bin/python3" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends debootstrap >/dev/null
  say "debootstrap $SUITE into $ROOT"
  debootstrap --variant=minbase --include=python3,python3-venv,git,ca-certificates \
    "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
    || { echo "error: debootstrap failed; see $ROOT.debootstrap.log" >&2; exit 1; }
  rm -f "$ROOT.debootstrap.log"
fi

bind /proc /proc
bind /dev /dev
bind /dev/pts /dev/pts
bind "$REPO" /src
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" # PyPI, for pip
# pip inside trusts what the host trusts (a proxy's or a company's CA as well as the public ones).
host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$host_ca" ] && cp "$host_ca" "$ROOT/etc/host-ca-certificates.crt"

# Inside: no bytecode written into the checkout (root-owned cpython-313 files), and a UTF-8
# locale as a user's terminal would have.
inside() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 PIP_CERT=/etc/host-ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}

if [ ! -x "$ROOT/opt/venv/bin/seriespub" ]; then
  say "venv and pip install -e '.[dev]'"
  inside python3 -m venv /opt/venv
  inside python -m pip install --quiet --upgrade pip
fi
# Every run: the checkout's dependencies may have changed since the chroot was kept.
inside python -m pip install --quiet -e '/src[dev]'

inside python -VV
say "seriespub --help"
inside seriespub --help >/dev/null
say "README's first command: seriespub send next --yes (example series, outbox)"
inside sh -c 'rm -rf /tmp/example && mkdir /tmp/example && cd /src &&
  cp -r seriespub.toml drafts subscribers.csv /tmp/example/ && cd /tmp/example &&
  seriespub send next --yes && ls .seriespub/outbox/001/*.eml | wc -l'

say "pytest $*"
status=0
inside sh -c 'cd /src && exec python -m pytest -q -p no:cacheprovider "$@"' pytest "$@" \
  || status=$?
say "pytest exit $status"
exit "$status"
