#!/bin/sh
# Sets up a fresh Debian/Ubuntu machine for evsock and then either
# serves or tests:
#   sh .ci/bootstrap.sh serve   install what is missing, build, run evsockd
#   sh .ci/bootstrap.sh test    install what is missing, build, run the
#                               whole suite, then again under ASan+UBSan
#   sh .ci/bootstrap.sh package install what is missing, build the Debian
#                               packages into .. and check them with lintian
set -eu

mode=${1:-serve}
cd "$(dirname "$0")/.."

# Build and test dependencies; ii/ngircd/valgrind/clang serve the
# system tests, benchmarks and fuzz corpus replay; promtool (prometheus),
# mandoc and systemd-analyze (systemd) check the metrics, manual pages
# and units; redis-server, nginx-light and chromium are the peers and
# the browser of evsock load's tests (zlib lets the HTML report's test
# read the screenshot); libhiredis-dev builds the chat cluster
# (--cluster), whose tests start their own redis-server (redis-tools:
# redis-cli); the openssl command makes the TLS tests' certificates;
# libcrypt-dev checks the chat operators' password hashes.
pkgs="gcc pkg-config meson ninja-build libevent-dev libedit-dev check libsystemd-dev libhiredis-dev libssl-dev openssl libcrypt-dev"
case "$mode" in
test)
	pkgs="$pkgs clang ii ngircd valgrind procps python3 prometheus mandoc systemd"
	pkgs="$pkgs redis-server redis-tools nginx-light chromium zlib1g-dev"
	;;
package)
	pkgs="$pkgs dpkg-dev debhelper fakeroot lintian"
	;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
	echo "installing:$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends $missing
fi

case "$mode" in
serve)
	[ -d build-release ] ||
		meson setup build-release --buildtype=release
	ninja -C build-release
	echo "starting evsockd: echo on 127.0.0.1:7007, chat on 127.0.0.1:6667 (Ctrl-C stops it)"
	exec ./build-release/evsockd
	;;
test)
	[ -d build ] || meson setup build -Dtests=enabled -Dwerror=true
	ninja -C build
	meson test -C build --print-errorlogs
	[ -d build-asan ] || meson setup build-asan -Dtests=enabled -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C build-asan --print-errorlogs --timeout-multiplier 3
	;;
package)
	dpkg-buildpackage -us -uc -b
	lintian --fail-on error ../evsock*_"$(dpkg-parsechangelog -S Version)"_*.changes
	;;
*)
	echo "usage: sh .ci/bootstrap.sh serve|test|package" >&2
	exit 2
	;;
esac
