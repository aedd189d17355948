#!/bin/sh
# Server memory per idle connection, plain and TLS: starts evsockd (one
# worker) with a plain and a TLS echo listener, opens N connections with
# evsock load (open loop at 2 messages/s in total, so they stay nearly
# idle), waits until the daemon holds them all, and prints its RSS
# growth per connection.  The daemon and the load generator are separate
# processes, each under the open-files limit (19,000 connections need
# 19,000 descriptors on each side).
#
#   bench/tls_idle.sh [N] [BUILD_DIR]     (default 19000 build-bench)
set -eu
N=${1:-19000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${2:-$ROOT/build-bench}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sh "$ROOT/tests/tlscerts.sh" "$TMP/certs"

rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }

for mode in plain tls; do
	"$B/evsockd" --threads 1 --listen echo=127.0.0.1:0 \
		--tls-listen echo=127.0.0.1:0 --tls-cert "$TMP/certs/server.pem" \
		--tls-key "$TMP/certs/server.key" 2>"$TMP/log" &
	pid=$!
	i=0
	until grep -q "echo (TLS) on" "$TMP/log" || [ $i -ge 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	if [ $mode = tls ]; then
		port=$(sed -n 's/.*echo (TLS) on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/log")
		set -- --tls --ca-file "$TMP/certs/ca.pem"
	else
		port=$(sed -n 's/.*listening echo on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/log")
		set --
	fi
	# A few connections first, so the allocator's start-up is not counted.
	"$B/evsock" load "$@" -c 50 -d 1 --warmup 0 -r 10 "localhost:$port" \
		>/dev/null 2>&1 || true
	r0=$(rss $pid)
	"$B/evsock" load "$@" -c "$N" -d 600 --warmup 0 -r 2 \
		--connect-timeout 60s --json "localhost:$port" >"$TMP/json" \
		2>/dev/null &
	lp=$!
	t=0
	while [ "$(ls /proc/$pid/fd | wc -l)" -lt "$N" ] && [ $t -lt 300 ]; do
		sleep 1; t=$((t + 1))
	done
	sleep 3
	r1=$(rss $pid)
	fds=$(ls /proc/$pid/fd | wc -l)
	kill -INT $lp; wait $lp || true
	kill $pid; wait $pid || true
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
t = d.get("tls")
print("%s: %s connections up, %d failed, %d errors%s" % (sys.argv[2],
    d["connections"]["ok"], d["connections"]["failed"], d["errors"],
    ", %.0f handshakes/s" % t["handshakes_per_s"] if t else ""))' \
		"$TMP/json" $mode
	echo "$mode: $N connections, server RSS $r0 -> $r1 KiB, $fds descriptors," \
		"$(( (r1 - r0) * 1024 / N )) bytes per connection (${t}s to connect)"
done
