#!/usr/bin/env bash
# The store's unit tests against a real PostgreSQL (issue 22): the same cmocka programs that
# run on SQLite, with VMSPKI_TEST_PG pointing them at a server this script starts (libpg.bash:
# initdb in a temporary directory, pg_ctl on a loopback port, an unprivileged user, password
# authentication through PGPASSFILE).
set -u
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/libpg.bash"
it_init
pg_start
diag "PostgreSQL on 127.0.0.1:$PG_PORT"

UNIT_DIR="${VP_BUILD_DIR:-$(dirname "$VMSPKI")}/tests"

# unit NAME: runs the cmocka program NAME against a database of its own.
unit() {
	local name=$1 uri
	if [ ! -x "$UNIT_DIR/$name" ]; then
		not_ok "$name is built ($UNIT_DIR/$name)"
		return
	fi
	uri=$(pg_newdb "u_$name") || { not_ok "a database for $name"; return; }
	local passed skipped
	if VMSPKI_TEST_PG=$uri VP_TEST_TMP="$T" timeout 600 "$UNIT_DIR/$name" >"$T/$name.out" 2>&1; then
		passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/$name.out")
		skipped=$(sed -n 's/^ \([0-9]*\) SKIPPED TEST.*/\1/p' "$T/$name.out")
		ok "$name passes on PostgreSQL (${passed:-?} passed, ${skipped:-0} SQLite-only skipped)"
	else
		not_ok "$name passes on PostgreSQL"
		grep -E '^\[  (FAILED|ERROR) |error|Failure|expected|!=' "$T/$name.out" | head -30 | sed 's/^/#   /'
	fi
}

unit test_store
unit test_task
unit test_alarm
unit test_endpoint
unit test_engine

it_done
