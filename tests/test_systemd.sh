#!/bin/sh
# systemd-analyze verify accepts evsockd.service and evsockd.socket as
# built, with ExecStart pointing at the evsockd just built and the
# manual pages they cite on MANPATH.
# usage: test_systemd.sh SRCDIR BUILT_SERVICE BUILT_SOCKET EVSOCKD
set -u
src=$1 service=$2 socket=$3 evsockd=$4
if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "systemd-analyze is not installed (CI=true)" >&2
		exit 1
	fi
	echo "systemd-analyze is not installed: skipped"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/man/man5" "$tmp/man/man8"
cp "$src/man/evsockd.8" "$tmp/man/man8/"
cp "$src/man/evsockd.conf.5" "$tmp/man/man5/"
# The unit names the installed paths; point them at this build.
bindir=$(sed -n 's|^ExecStart=\(.*\)/evsockd .*|\1|p' "$service")
sed "s|$bindir/evsockd|$evsockd|g" "$service" >"$tmp/evsockd.service"
cp "$socket" "$tmp/evsockd.socket"
grep -q '^Type=notify$' "$tmp/evsockd.service" || {
	echo "evsockd.service is not Type=notify" >&2
	exit 1
}
cd "$tmp" || exit 1
out=$(MANPATH="$tmp/man" systemd-analyze verify ./evsockd.service \
	./evsockd.socket 2>&1)
status=$?
if [ $status -ne 0 ] || [ -n "$out" ]; then
	echo "systemd-analyze verify (status $status):" >&2
	echo "$out" >&2
	exit 1
fi
echo "systemd-analyze verify: clean"
