#!/bin/sh
# The manual pages pass mandoc's checks at warning level and above
# (style notes such as a cross-reference to a page this machine lacks
# depend on the machine, not on the pages).
# usage: test_man.sh SRCDIR
set -u
src=$1
if ! command -v mandoc >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "mandoc is not installed (CI=true)" >&2
		exit 1
	fi
	echo "mandoc is not installed: skipped"
	exit 77
fi
status=0
for page in "$src"/man/*.[1-8]; do
	if ! mandoc -Tlint -W warning "$page"; then
		echo "FAIL: $page" >&2
		status=1
	fi
	# Every page renders and says what it is.
	if ! mandoc -Tmarkdown "$page" | grep -q "^# NAME"; then
		echo "FAIL: $page does not render" >&2
		status=1
	fi
done
exit $status
