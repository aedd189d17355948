#!/bin/sh
# shellcheck disable=SC2086,SC2317
# Installs evsock into a temporary prefix (a fresh configure of SRCDIR),
# builds examples/ outside the tree against it with pkg-config, once
# linked to libevsock.so and once to libevsock.a, runs the programs on
# loopback port 0 and talks to them.  Also checks that the shared
# library exports exactly the evs_* functions the installed headers
# declare, and that neither library holds the modules of common/ that
# only the programs use.
#
#     test_install.sh SRCDIR [BUILT_LIBEVSOCK_SO]
#
# BUILT_LIBEVSOCK_SO, when given, gets the same two checks.
# Environment: MESON, CC, PYTHON (defaults meson, cc, python3).
# Exits 0 on success, 1 on failure, 77 when a needed tool is missing.

set -u

# Under the valgrind test setup this script itself runs under valgrind,
# which would report the shell's own leaks.  Run the shell natively and
# put valgrind in front of the example programs instead.
if [ "${EVSOCK_VALGRIND:-}" = 1 ] && [ -z "${EVSOCK_INSTALL_NATIVE:-}" ]; then
	EVSOCK_INSTALL_NATIVE=1
	export EVSOCK_INSTALL_NATIVE
	exec /bin/sh "$0" "$@"
fi

src=${1:?usage: test_install.sh SRCDIR [BUILT_LIBEVSOCK_SO]}
built_so=${2:-}
MESON=${MESON:-meson}
CC=${CC:-cc}
PYTHON=${PYTHON:-python3}

pids=
tmp=
failed=0

say() { printf '%s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }
die() { say "FAIL: $*"; exit 1; }
check() {
	# check WHAT COMMAND...: runs the command, records a failure.
	what=$1
	shift
	if "$@"; then
		say "ok: $what"
	else
		say "FAIL: $what"
		failed=1
	fi
}

for tool in $MESON $CC pkg-config nm $PYTHON sed awk sort comm; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done
[ -r /proc/self/stat ] || skip "no /proc to watch child processes"
pkg-config --exists 'libevent_core >= 2.1' 'libevent_extra >= 2.1' ||
	skip "libevent 2.1 development files not found by pkg-config"
vg=
if [ "${EVSOCK_VALGRIND:-}" = 1 ]; then
	command -v valgrind >/dev/null 2>&1 || skip "valgrind not found"
	vg="valgrind --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite --quiet"
fi

cleanup() {
	for p in $pids; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evsock-install.XXXXXX") ||
	die "mktemp failed"
prefix=$tmp/prefix

# --- processes --------------------------------------------------------

# spawn NAME COMMAND...: runs it in the background, stdout and stderr to
# $tmp/NAME.out and $tmp/NAME.err; its pid is left in $last.
spawn() {
	name=$1
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
	last=$!
	pids="$pids $last"
}

# gone PID: true once the child has exited (a zombie counts as gone).
gone() {
	st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# reap PID TENTHS: waits at most TENTHS/10 s for PID to exit; returns
# its exit status, or 124 after killing it; 0 if it was reaped before.
reap() {
	case " $pids " in
	*" $1 "*) ;;
	*) return 0 ;;
	esac
	n=$2
	while ! gone "$1" && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	rc=124
	if gone "$1"; then
		wait "$1"
		rc=$?
	else
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
	rest=
	for p in $pids; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	pids=$rest
	return $rc
}

# port_of PID FILE LABEL: prints the port of the "LABEL HOST:PORT" line
# the program writes to FILE, waiting up to 10 s.
port_of() {
	n=100
	while [ "$n" -gt 0 ]; do
		p=$(sed -n "s/^$3 .*:\([0-9][0-9]*\)\$/\1/p" "$2" 2>/dev/null)
		if [ -n "$p" ]; then
			say "$p"
			return 0
		fi
		gone "$1" && break
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# wait_file FILE: waits up to 10 s for FILE to exist.
wait_file() {
	n=100
	while [ ! -e "$1" ] && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ -e "$1" ]
}

# --- the loopback client ----------------------------------------------

cat >"$tmp/talk.py" <<'EOF'
# talk.py MODE PORT [READYFILE]: one conversation with a server on
# 127.0.0.1:PORT; exits 0 if it went as expected.  Every wait is bounded.
import socket, sys, time

mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)

def read_until(done):
    buf = b""
    end = time.monotonic() + 10
    while not done(buf):
        if time.monotonic() > end:
            sys.exit("timed out; got %r" % buf[-300:])
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf

def until_eof(buf):
    return False

def expect(cond, what, got):
    if not cond:
        sys.exit("%s; got %r" % (what, got[-300:]))

def register(nick):
    s.sendall(b"NICK %s\r\nUSER %s 0 * :Install Test\r\n" % (nick, nick))
    tag = b" 001 " + nick + b" "
    got = read_until(lambda b: tag in b and b"\n" in b.split(tag, 1)[1])
    expect(tag in got, "no 001 welcome", got)

if mode == "echo":
    data = bytes(range(256)) * 256 + b"end\n"
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = read_until(until_eof)
    expect(got == data, "echo returned %d of %d bytes" % (len(got),
        len(data)), got)
elif mode == "upper":
    s.sendall(b"hello, World 1\r\nsecond line\n")
    got = read_until(lambda b: b.count(b"\n") >= 2)
    expect(got == b"HELLO, WORLD 1\nSECOND LINE\n", "not upper-cased", got)
elif mode == "chat":
    register(b"tester")
    s.sendall(b"JOIN #install\r\n")
    got = read_until(lambda b: b" 366 " in b)
    expect(b":tester!" in got and b"JOIN #install" in got, "no JOIN", got)
    s.sendall(b"QUIT :done\r\n")
    read_until(until_eof)
elif mode in ("hold-chat", "hold-upper"):
    # Connect, wait for the server to end the conversation, print it.
    if mode == "hold-chat":
        register(b"holder")
    else:
        s.sendall(b"ready\n")
        read_until(lambda b: b"READY\n" in b)
    open(sys.argv[3], "w").close()
    sys.stdout.write(read_until(until_eof).decode("utf-8", "replace"))
else:
    sys.exit("unknown mode " + mode)
EOF

talk() {
	"$PYTHON" "$tmp/talk.py" "$@"
}

# --- exported symbols --------------------------------------------------

# check_exports SO: the dynamic symbols SO defines are exactly the
# functions the installed headers mark EVS_API.
check_exports() {
	nm -D --defined-only "$1" | awk '{ print $NF }' | sort -u \
	    >"$tmp/exported" || return 1
	sed -n 's/^EVS_API[^(]*[^a-z_0-9]\(evs_[a-z_0-9]*\)(.*/\1/p' \
	    "$prefix"/include/evsock/*.h | sort -u >"$tmp/declared"
	if [ ! -s "$tmp/declared" ] || [ ! -s "$tmp/exported" ]; then
		say "  no symbols found"
		return 1
	fi
	extra=$(comm -23 "$tmp/exported" "$tmp/declared")
	missing=$(comm -13 "$tmp/exported" "$tmp/declared")
	[ -z "$extra" ] || say "  exported but not public:" $extra
	[ -z "$missing" ] || say "  declared but not exported:" $missing
	[ -z "$extra" ] && [ -z "$missing" ]
}

# no_program_modules LIB: LIB (a .so or a .a) has no symbol, hidden or
# not, of common/hist.c or common/opt.c (hist_*, opt_*): the programs
# link those from the internal libevscommon, the library never needs
# them.  log_msg, which the library does use, must be seen, so a
# stripped symbol table cannot pass the check unread.
no_program_modules() {
	nm --defined-only "$1" 2>/dev/null | awk 'NF >= 2 { print $NF }' |
	    sort -u >"$tmp/defined" || return 1
	if ! grep -qx log_msg "$tmp/defined"; then
		say "  no log_msg among the symbols of $1"
		return 1
	fi
	found=$(grep -E '^(hist|opt)_' "$tmp/defined")
	[ -z "$found" ] || say "  program-only symbols in $1:" $found
	[ -z "$found" ]
}

# --- install -------------------------------------------------------------

say "# installing into $prefix"
if ! $MESON setup "$tmp/build" "$src" --prefix="$prefix" \
    -Dtests=disabled -Db_sanitize=none -Dwerror=false \
    >"$tmp/setup.log" 2>&1; then
	cat "$tmp/setup.log"
	die "meson setup"
fi
if ! $MESON install -C "$tmp/build" >"$tmp/install.log" 2>&1; then
	tail -n 40 "$tmp/install.log"
	die "meson install"
fi

pc=$(find "$prefix" -name evsock.pc | head -n 1)
[ -n "$pc" ] || die "evsock.pc was not installed"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir evsock)
incdir=$(pkg-config --variable=includedir evsock)
case $libdir in
"$prefix"/*) ;;
*) die "evsock.pc names libdir $libdir, outside $prefix" ;;
esac

installed_ok() {
	for f in "$libdir/libevsock.a" "$libdir/libevsock.so" \
	    "$libdir/libevsock.so.0" "$incdir/evsock/evsock.h" \
	    "$incdir/evsock/log.h" \
	    "$incdir/evsock/server.h" "$incdir/evsock/client.h" \
	    "$incdir/evsock/services.h" "$incdir/evsock/version.h"; do
		[ -e "$f" ] || { say "  missing $f"; return 1; }
	done
	# The development link points at the versioned runtime name.
	so=$(readlink -f "$libdir/libevsock.so")
	case $so in
	*/libevsock.so.0.*) ;;
	*) say "  libevsock.so resolves to $so"; return 1 ;;
	esac
}
check "installed files" installed_ok
check "exports of the installed libevsock.so" \
    check_exports "$libdir/libevsock.so"
check "no program-only modules in the installed libevsock.so" \
    no_program_modules "$libdir/libevsock.so"
check "no program-only modules in the installed libevsock.a" \
    no_program_modules "$libdir/libevsock.a"
if [ -n "$built_so" ]; then
	check "exports of the built $(basename "$built_so")" \
	    check_exports "$built_so"
	check "no program-only modules in the built $(basename "$built_so")" \
	    no_program_modules "$built_so"
fi

# --- build the examples outside the tree ---------------------------------

cflags=$(pkg-config --cflags evsock) || die "pkg-config --cflags evsock"
shared_libs=$(pkg-config --libs evsock) || die "pkg-config --libs evsock"
# Static: the same flags plus Libs.private, with libevsock itself taken
# from the archive although the shared library sits next to it.
static_libs=$(pkg-config --libs --static evsock |
    sed 's/-levsock\( \|$\)/-Wl,-Bstatic -levsock -Wl,-Bdynamic\1/')
case $static_libs in
*Bstatic*) ;;
*) die "no -levsock in pkg-config --libs --static evsock" ;;
esac

examples="embed upper request chatmin"
mkdir "$tmp/shared" "$tmp/static" "$tmp/cc"
for kind in shared static; do
	if [ "$kind" = shared ]; then libs=$shared_libs; else libs=$static_libs; fi
	for ex in $examples; do
		# Compiled as a user would, warnings on, from a directory
		# that is not the source tree.
		# shellcheck disable=SC2086
		if (cd "$tmp/cc" && $CC -std=c11 -Wall -Wextra -pedantic -Werror \
		    -o "$tmp/$kind/$ex" "$src/examples/$ex.c" $cflags $libs) \
		    >"$tmp/cc.log" 2>&1; then
			say "ok: $kind build of $ex"
		else
			cat "$tmp/cc.log"
			die "$kind build of $ex"
		fi
	done
done

# The headers from C++, where a C++ compiler is at hand.
if command -v c++ >/dev/null 2>&1; then
	cat >"$tmp/cc/cxx.cc" <<'EOF'
#include <evsock/evsock.h>
#include <cstring>
int main() { return std::strcmp(evs_version(), EVS_VERSION) != 0; }
EOF
	cxx_ok() {
		# shellcheck disable=SC2086
		c++ -Wall -Wextra -Werror -o "$tmp/cc/cxx" "$tmp/cc/cxx.cc" \
		    $cflags $shared_libs >"$tmp/cxx.log" 2>&1 &&
		    LD_LIBRARY_PATH=$libdir "$tmp/cc/cxx" || {
			cat "$tmp/cxx.log"
			return 1
		}
	}
	check "the headers from C++" cxx_ok
else
	say "# c++ not found: headers not tried from C++"
fi

if command -v readelf >/dev/null 2>&1; then
	needs() { readelf -d "$1" | grep -q "NEEDED.*\[$2"; }
	check "shared examples need libevsock.so.0" \
	    needs "$tmp/shared/embed" libevsock.so.0
	check "static examples do not need libevsock.so" \
	    eval '! needs "$tmp/static/embed" libevsock'
else
	say "# readelf not found: linkage not inspected"
fi

# --- run them --------------------------------------------------------------

# run_examples KIND: the conversations, with the KIND build.
run_examples() {
	kind=$1
	bin=$tmp/$kind
	if [ "$kind" = shared ]; then
		LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		export LD_LIBRARY_PATH
	fi

	# upper: a custom line service.
	spawn "$kind-upper" $vg "$bin/upper" -v 127.0.0.1:0
	pid=$last
	if port=$(port_of "$pid" "$tmp/$kind-upper.out" upper); then
		check "$kind upper upper-cases lines" talk upper "$port"
		out=$($vg "$bin/request" "127.0.0.1:$port" hello from request)
		check "$kind request gets HELLO FROM REQUEST" \
		    test "$out" = "HELLO FROM REQUEST"
		rm -f "$tmp/ready"
		spawn "$kind-hold" "$PYTHON" "$tmp/talk.py" hold-upper "$port" "$tmp/ready"
		hold=$last
		if wait_file "$tmp/ready"; then
			kill -TERM "$pid"
			reap "$pid" 100
			check "$kind upper exits 0 on SIGTERM" test $? -eq 0
			reap "$hold" 100
			check "$kind upper client done" test $? -eq 0
			check "$kind upper says goodbye" grep -q \
			    "server going down" "$tmp/$kind-hold.out"
			check "$kind library logs through upper's handler" \
			    grep -q "^upper: conn [0-9]* from 127.0.0.1 opened" \
			    "$tmp/$kind-upper.err"
		else
			check "$kind upper client connected" false
		fi
	else
		check "$kind upper prints its port" false
	fi
	reap "$pid" 1 || :
	[ -s "$tmp/$kind-upper.err" ] && sed "s/^/  upper: /" \
	    "$tmp/$kind-upper.err"

	# embed: echo and chat on the program's own event_base.
	spawn "$kind-embed" $vg "$bin/embed" 127.0.0.1:0 127.0.0.1:0
	pid=$last
	if eport=$(port_of "$pid" "$tmp/$kind-embed.out" echo) &&
	    cport=$(port_of "$pid" "$tmp/$kind-embed.out" chat); then
		check "$kind embed echoes bytes" talk echo "$eport"
		out=$($vg "$bin/request" "127.0.0.1:$eport" echo me)
		check "$kind request through embed's echo" \
		    test "$out" = "echo me"
		check "$kind embed's chat welcomes with 001" talk chat "$cport"
		rm -f "$tmp/ready"
		spawn "$kind-hold" "$PYTHON" "$tmp/talk.py" hold-chat "$cport" "$tmp/ready"
		hold=$last
		if wait_file "$tmp/ready"; then
			kill -TERM "$pid"
			reap "$pid" 100
			check "$kind embed exits 0 on SIGTERM" test $? -eq 0
			reap "$hold" 100
			check "$kind chat client done" test $? -eq 0
			check "$kind chat client told of the shutdown" \
			    grep -q "^ERROR " "$tmp/$kind-hold.out"
			check "$kind embed's done callback ran" grep -q \
			    "shutdown complete" "$tmp/$kind-embed.err"
		else
			check "$kind chat client registered" false
		fi
	else
		check "$kind embed prints both ports" false
	fi
	reap "$pid" 1 || :
	[ -s "$tmp/$kind-embed.err" ] && sed "s/^/  embed: /" \
	    "$tmp/$kind-embed.err"

	# chatmin: the short version from docs/EMBEDDING.md.
	spawn "$kind-chatmin" $vg "$bin/chatmin" 127.0.0.1:0
	pid=$last
	if port=$(port_of "$pid" "$tmp/$kind-chatmin.out" chat); then
		check "$kind chatmin welcomes with 001" talk chat "$port"
	else
		check "$kind chatmin prints its port" false
	fi
	kill -TERM "$pid" 2>/dev/null
	reap "$pid" 50 || :
	[ -s "$tmp/$kind-chatmin.err" ] && sed "s/^/  chatmin: /" \
	    "$tmp/$kind-chatmin.err"

	# request: a refused connection is an error, not a hang.
	"$bin/request" "127.0.0.1:$(free_port)" x >/dev/null 2>&1
	check "$kind request fails on a refused connection" test $? -eq 1
}

# free_port: a loopback port nobody listens on (bound, then released).
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Static first: the shared run exports LD_LIBRARY_PATH.
run_examples static
run_examples shared

if [ "$failed" -ne 0 ]; then
	say "FAIL"
	exit 1
fi
say "PASS"
exit 0
