#!/usr/bin/env bash
# Several vmspki servers on one site sharing a PostgreSQL store (issue 22), through the command
# line: --store and the data directory's store file choose it, a password never goes on the
# command line (and never into an error), three data directories see one CA, one certificate
# list and one audit chain, and issuance from all of them at once never repeats a serial.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/libpg.bash"
it_init
pg_start
URI=$(pg_newdb site) || { not_ok "a database for the site"; it_done; }

S="$T/secret"
O="$T/out"
mkdir -p "$S" "$O"
PASS='pg-site-CA-passphrase-7Qd2'
printf '%s\n' "$PASS" >"$S/pass"
A="$T/a" B="$T/b" C="$T/c"

# ---------------------------------------------------------------- choosing the store
vp "$A" --store "postgresql://vmspki:sekrit-pw-123@127.0.0.1:$PG_PORT/site" cert list
assert_rc 1 "--store with a password in it is refused"
assert_stderr 'PGPASSFILE|password file' "the refusal says where the password goes"
assert_no_grep 'sekrit-pw-123' "$VP_ERR" "the refusal does not repeat the password"

vp "$A" --store "mysql://x@127.0.0.1/site" cert list
assert_rc 1 "--store takes postgresql:// or sqlite: only"

vp "$A" --store "$URI" ca init --cn "PG Site Root" --key ec-p256 --passphrase-file "$S/pass"
assert_rc 0 "ca init into the PostgreSQL store (--store)"
assert_no_file "$A/vmspki.db" "no SQLite file is made beside a PostgreSQL store"
n=$(pg_sql "SELECT count(*) FROM key_value" site)
[ "${n:-0}" -gt 0 ] && ok "the CA is in PostgreSQL's key_value ($n rows)" || not_ok "the CA is in PostgreSQL's key_value"

# B names the store in its store file, with the password in it (0600), as a site would.
mkdir -p "$B" "$C"
pw=$(cut -d: -f5 "$PGPASSFILE")
printf 'postgresql://vmspki:%s@127.0.0.1:%s/site\n' "$pw" "$PG_PORT" >"$B/store"
chmod 600 "$B/store"
printf '%s\n' "$URI" >"$C/store"
chmod 600 "$C/store"
vp "$B" ca show
assert_rc 0 "a second data directory reads the CA through its store file"
assert_grep 'PG Site Root' "$VP_OUT" "it is the same CA"
assert_no_grep "$pw" "$VP_OUT" "ca show does not print the store's password"

vp "$A" --store "$URI" issue --profile server --generate-key --dns one.pg.example \
    --out "$O/one.pem" --key-out "$O/one.key" --passphrase-file "$S/pass"
assert_rc 0 "issue from A"
vp "$C" cert list --json
assert_rc 0 "cert list from C"
assert_grep 'one.pg.example' "$VP_OUT" "C lists the certificate A issued"

# A wrong password in the store file: a sentence without the password in it.
mkdir -p "$T/wrongpw"
printf 'postgresql://vmspki:Wr0ng-pw-77@127.0.0.1:%s/site\n' "$PG_PORT" >"$T/wrongpw/store"
chmod 600 "$T/wrongpw/store"
PGPASSFILE=/dev/null vp "$T/wrongpw" cert list
assert_rc 1 "a wrong password is refused"
assert_stderr 'cannot connect to the PostgreSQL store' "the refusal names the store"
assert_no_grep 'Wr0ng-pw-77' "$VP_ERR" "and never the password"

# A bad store file is refused with a sentence, not taken for a SQLite path.
mkdir -p "$T/bad"
printf 'not a store\n' >"$T/bad/store"
vp "$T/bad" cert list
assert_rc 1 "a store file that names no store is refused"
assert_stderr 'store must hold one line' "the refusal names the file's form"

# ---------------------------------------------------------------- concurrent issuance
# 3 data directories x 8 issuers at once, all into one PostgreSQL store.
pids=()
for d in "$A" "$B" "$C"; do
	for i in 1 2 3 4 5 6 7 8; do
		n=$(basename "$d")$i
		extra=()
		[ "$d" = "$A" ] && extra=(--store "$URI")
		"$VMSPKI" --data "$d" "${extra[@]}" issue --profile client --generate-key \
		    --cn "user-$n" --out "$O/$n.pem" --key-out "$O/$n.key" --passphrase-file "$S/pass" \
		    </dev/null >"$O/$n.out" 2>"$O/$n.err" &
		pids+=($!)
	done
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
assert_eq 0 "$fails" "24 issuances from three data directories at once all succeed"
[ "$fails" = 0 ] || diag_file "$(ls "$O"/*.err | head -1)"
total=$(pg_sql "SELECT count(*) FROM certificates" site)
distinct=$(pg_sql "SELECT count(DISTINCT serial) FROM certificates" site)
assert_eq 25 "$total" "every certificate is recorded (1 + 24)"
assert_eq "$total" "$distinct" "no serial repeats"
files=$(for f in "$O"/*.pem; do openssl x509 -in "$f" -noout -serial; done | sort -u | wc -l)
assert_eq 25 "$files" "the 25 certificate files have 25 different serials"

vp "$B" audit verify
assert_rc 0 "the audit chain verifies after concurrent appends from three directories"
rows=$(pg_sql "SELECT count(*) FROM audit_log" site)
ids=$(pg_sql "SELECT max(id) FROM audit_log" site)
assert_eq "$rows" "$ids" "the audit chain has no gap ($rows rows)"

# The append-only triggers hold on PostgreSQL too.
if pg_sql "UPDATE audit_log SET detail = 'x' WHERE id = 1" site >"$T/upd.out" 2>&1; then
	not_ok "PostgreSQL refuses to change an audit row"
else
	assert_grep 'append-only' "$T/upd.out" "PostgreSQL refuses to change an audit row"
fi

it_done
