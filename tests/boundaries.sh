#!/usr/bin/env bash
# The boundaries docs/architecture.md draws, checked on the source tree: SQL only in the store
# files, the front ends on the public headers only, device protocols behind the driver table,
# the data directory's layout named once, one growing buffer. Each rule prints the lines that
# break it; the test fails if any rule is broken.
set -uo pipefail

src=${VP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src" || exit 1
broken=0

# rule NAME < <(command): the command prints the offending lines; any line is a failure.
# (Not a pipe into rule: a pipeline's last part runs in a subshell and would lose the count.)
rule() {
	local name=$1 hits
	hits=$(cat)
	if [ -n "$hits" ]; then
		printf 'BROKEN: %s\n%s\n' "$name" "$hits"
		broken=$((broken + 1))
	else
		printf 'ok: %s\n' "$name"
	fi
}

# 1. The store: SQLite, libpq and SQL text only in src/lib/store_*.c (store_internal.h is theirs).
rule "sqlite3 outside the store files" < <(
	grep -rn 'sqlite3' src --include='*.c' --include='*.h' |
	grep -v '^src/lib/store_[a-z0-9_]*\.[ch]:')
rule "libpq outside the store files" < <(
	grep -rnE 'libpq-fe\.h|\bPQ[a-z]+\(' src --include='*.c' --include='*.h' |
	grep -v '^src/lib/store_[a-z0-9_]*\.[ch]:')
rule "SQL text outside the store files" < <(
	grep -rnE '"(SELECT|INSERT|UPDATE|DELETE|CREATE|BEGIN|COMMIT|PRAGMA) ' src --include='*.c' |
	grep -v '^src/lib/store_[a-z0-9_]*\.c:')

# 2. The front ends: only include/vmspki/*.h and their own headers.
rule "a front end includes a private header" < <(
	grep -rnE '#include "[^"]*"' src/cli src/daemon |
	grep -vE '#include "(vmspki/[a-z0-9_]+\.h|cli\.h|daemon\.h)"')

# 3. Devices: the engine and device code reach VAPIX only through the driver table.
rule "vp_driver_vapix named outside the driver table" < <(
	grep -rn 'vp_driver_vapix' src |
	grep -vE '^src/lib/(driver\.c|driver_impl\.h|vapix[a-z0-9_]*\.c):')
rule "a VAPIX header included outside the VAPIX driver" < <(
	grep -rnE '#include "(vapix|vapix_internal)\.h"' src |
	grep -vE '^src/lib/vapix[a-z0-9_]*\.[ch]:')

# 4. The data directory's layout is named in datadir.c alone.
rule "a data-directory path spelled outside datadir.c" < <(
	grep -rnE '"(%s/)?(certs/|components/|vmspki\.db|components\.json|ca\.passphrase)' src \
	    --include='*.c' |
	grep -v '^src/lib/datadir\.c:')

# 5. One growing buffer type (buf.c); no stdio memory streams.
rule "open_memstream instead of vp_buf" < <(
	grep -rn 'open_memstream' src)

if [ "$broken" -gt 0 ]; then
	echo "boundaries: $broken rule(s) broken (see docs/architecture.md)"
	exit 1
fi
echo "boundaries: all rules hold"
