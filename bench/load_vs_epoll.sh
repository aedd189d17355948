#!/bin/sh
# Is `evsock load` what limits a measurement?  Runs it and the minimal
# epoll client (bench/epoll_client) against the same echo server, closed
# loop, alternating which goes first, and reports round trips per second
# of each (median, min, max) and evsock load / epoll client as a ratio:
# the ratio of the medians and the median of the per-pair ratios.  It
# also reports each client's CPU time per round trip (user + system, from
# /usr/bin/time when present), which other load on the machine disturbs
# far less than the rates do.
#
#   bench/load_vs_epoll.sh [BUILDDIR]        (default build-load-rel)
#
# Environment: RUNS (7), DURATION seconds per run (3), CONNS (100),
# SIZE bytes (64), SERVER evsockd|epoll (evsockd), SERVER_ARGS (extra
# evsockd arguments, e.g. "--threads 1"), LOAD_ARGS (extra evsock load
# arguments, e.g. "--threads 2"), CANDIDATE load|engine (load; engine
# runs bench/engine_client, the same loop on the client engine, in place
# of evsock load).
set -eu

B=${1:-build-load-rel}
RUNS=${RUNS:-7}
DURATION=${DURATION:-3}
CONNS=${CONNS:-100}
SIZE=${SIZE:-64}
SERVER=${SERVER:-evsockd}
SERVER_ARGS=${SERVER_ARGS:-}
LOAD_ARGS=${LOAD_ARGS:-}
CANDIDATE=${CANDIDATE:-load}

for f in "$B/evsock" "$B/evsockd" "$B/bench/epoll_client" \
    "$B/bench/epoll_echo"; do
	[ -x "$f" ] || { echo "missing $f; build $B first" >&2; exit 2; }
done

tmp=$(mktemp -d)
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

case $SERVER in
evsockd)
	# shellcheck disable=SC2086
	"$B/evsockd" --listen echo=127.0.0.1:0 $SERVER_ARGS 2>"$tmp/server" &
	;;
epoll)
	# shellcheck disable=SC2086
	"$B/bench/epoll_echo" $SERVER_ARGS 127.0.0.1:0 2>"$tmp/server" &
	;;
*)
	echo "SERVER is evsockd or epoll" >&2
	exit 2
	;;
esac
spid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening echo on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$tmp/server")
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "server did not start:" >&2; cat "$tmp/server" >&2; exit 1; }
target=127.0.0.1:$port

TIME=
[ -x /usr/bin/time ] && TIME="/usr/bin/time -f %U+%S -o $tmp/cpu"

# Prints "RATE CPU_SECONDS" (CPU 0 without /usr/bin/time).
cpu() {
	if [ -n "$TIME" ]; then
		awk -F+ '{ print $1 + $2 }' "$tmp/cpu"
	else
		echo 0
	fi
}

run_epoll() {
	r=$($TIME "$B/bench/epoll_client" -c "$CONNS" -s "$SIZE" \
	    -d "$DURATION" "$target" | awk '{ print $2 }')
	echo "$r $(cpu)"
}

run_load() {
	if [ "$CANDIDATE" = engine ]; then
		r=$($TIME "$B/bench/engine_client" -c "$CONNS" -s "$SIZE" \
		    -d "$DURATION" "$target" | awk '{ print $2 }')
		echo "$r $(cpu)"
		return
	fi
	# shellcheck disable=SC2086
	r=$($TIME "$B/evsock" load -c "$CONNS" -s "$SIZE" -d "$DURATION" \
	    --warmup 0 --no-progress --json $LOAD_ARGS "$target" |
	    sed 's/.*"throughput_msgs_per_s":\([0-9.]*\).*/\1/')
	echo "$r $(cpu)"
}

echo "server: $SERVER $SERVER_ARGS on $target; $CONNS connections," \
    "$SIZE B, closed loop, ${DURATION}s x $RUNS runs each"
printf '%4s %14s %14s %8s %12s %12s\n' run epoll_client "$CANDIDATE" \
    ratio epoll_cpu_us "${CANDIDATE}_cpu_us"
i=1
while [ "$i" -le "$RUNS" ]; do
	if [ $((i % 2)) -eq 1 ]; then
		e=$(run_epoll); l=$(run_load)
	else
		l=$(run_load); e=$(run_epoll)
	fi
	# CPU microseconds per round trip, over the whole process life.
	echo "$e $l" | awk -v d="$DURATION" '{
		printf "%4d %14.0f %14.0f %8.3f %12.3f %12.3f\n", '"$i"', $1, $3,
		    $3 / $1, 1e6 * $2 / ($1 * d), 1e6 * $4 / ($3 * d) }'
	echo "$e $l" >>"$tmp/runs"
	i=$((i + 1))
done

awk '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n++; e[n] = $1; l[n] = $3; r[n] = $3 / $1
  ec[n] = $2 / $1; lc[n] = $4 / $3
  emin = (n == 1 || $1 < emin) ? $1 : emin; emax = ($1 > emax) ? $1 : emax
  lmin = (n == 1 || $3 < lmin) ? $3 : lmin; lmax = ($3 > lmax) ? $3 : lmax
  rmin = (n == 1 || r[n] < rmin) ? r[n] : rmin; rmax = (r[n] > rmax) ? r[n] : rmax }
END {
	me = median(e, n); ml = median(l, n); mr = median(r, n)
	printf "epoll_client  median %.0f round trips/s  (min %.0f, max %.0f, spread %.1f%%)\n", me, emin, emax, 100 * (emax - emin) / me
	printf "%-13s median %.0f round trips/s  (min %.0f, max %.0f, spread %.1f%%)\n", c, ml, lmin, lmax, 100 * (lmax - lmin) / ml
	printf "ratio of medians %.3f; median of pair ratios %.3f (min %.3f, max %.3f)\n", ml / me, mr, rmin, rmax
	mec = median(ec, n); mlc = median(lc, n)
	if (mec > 0)
		printf "client CPU per round trip (median): epoll %.2f us, %s %.2f us; efficiency ratio %.3f\n", 1e6 * mec / d, c, 1e6 * mlc / d, mec / mlc
}' d="$DURATION" c="$CANDIDATE" "$tmp/runs"
