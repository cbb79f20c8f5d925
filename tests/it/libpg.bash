# A real PostgreSQL for the tests (sourced after lib.bash, never run on its own: its name does
# not match the tests/it/*.sh glob). Debian's server binaries, a cluster made with initdb in
# $T, pg_ctl on a free loopback port; as root the server runs as an unprivileged user, since
# PostgreSQL refuses to run as root. Password authentication (scram) only, the password in a
# PGPASSFILE, so that the tests go the way a site does.
#
#   pg_start            # sets PG_URI (no password in it), PGPASSFILE, PG_PORT
#   pg_sql "SQL"        # runs SQL as the superuser in the test database
#   pg_newdb NAME       # an empty database NAME; prints its URI
#   (pg_stop runs at exit through it_cleanup's trap)

PG_BIN=""
PG_DIR=""
PG_PORT=""
PG_URI=""
PG_USER=""

pg_find() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && PG_BIN=$d
	done
	[ -n "$PG_BIN" ]
}

# pg_as CMD...: runs CMD as the cluster's owner.
pg_as() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$(id -u "$PG_USER")" --regid="$(id -g "$PG_USER")" --clear-groups --reset-env -- \
		    env PATH="$PG_BIN:$PATH" "$@"
	else
		env PATH="$PG_BIN:$PATH" "$@"
	fi
}

pg_stop() {
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] &&
		pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
	PG_DIR=""
}

pg_start() {
	local pw try
	if ! pg_find; then
		not_ok "PostgreSQL's server is installed (scripts/deps: postgresql)"
		it_done
	fi
	PG_DIR=$(mktemp -d "$T/pg.XXXXXX")
	if [ "$(id -u)" = 0 ]; then
		PG_USER=nobody
		# The cluster's directories must be the owner's; $T itself is root's 0700.
		chmod 711 "$T"
		chown "$PG_USER" "$PG_DIR"
	else
		PG_USER=$(id -un)
	fi
	pw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$pw" >"$PG_DIR/pw"
	chown "$PG_USER" "$PG_DIR/pw" 2>/dev/null || true
	chmod 600 "$PG_DIR/pw"
	if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U vmspki --pwfile="$PG_DIR/pw" \
	    --auth=scram-sha-256 --no-locale -E UTF8 >"$PG_DIR/initdb.log" 2>&1; then
		not_ok "initdb makes a PostgreSQL cluster"
		diag_file "$PG_DIR/initdb.log" 20
		it_done
	fi
	for try in 1 2 3 4 5 6 7 8; do
		PG_PORT=$((20000 + RANDOM % 20000))
		if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories='' -c fsync=off -c max_connections=200" \
		    start >/dev/null 2>&1; then
			break
		fi
		PG_PORT=""
	done
	if [ -z "$PG_PORT" ]; then
		not_ok "PostgreSQL starts on a loopback port"
		diag_file "$PG_DIR/server.log" 20
		it_done
	fi
	# The client's password file: host:port:database:user:password, 0600.
	export PGPASSFILE="$T/pgpass"
	printf '127.0.0.1:%s:*:vmspki:%s\n' "$PG_PORT" "$pw" >"$PGPASSFILE"
	chmod 600 "$PGPASSFILE"
	PG_URI="postgresql://vmspki@127.0.0.1:$PG_PORT/postgres"
	export PG_URI PG_PORT
}

# pg_sql SQL [DB]: psql as the superuser, quietly, stopping on the first error.
pg_sql() {
	"$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
	    "postgresql://vmspki@127.0.0.1:$PG_PORT/${2:-postgres}" -c "$1"
}

pg_newdb() {
	pg_sql "CREATE DATABASE $1" >/dev/null || return 1
	printf 'postgresql://vmspki@127.0.0.1:%s/%s\n' "$PG_PORT" "$1"
}
