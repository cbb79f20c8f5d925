#!/usr/bin/env bash
# `vmspki store migrate --from sqlite:DIR --to postgresql://...` (issue 22): a site made by the
# SQLite store (CA, certificates, a token, settings, cameras with sealed passwords, a finished
# task) moves to PostgreSQL; every command answers the same before and after, the audit chain
# verifies, the devices' passwords still open, and a target that is not empty is refused.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
. "$(dirname "$0")/libpg.bash"
it_init jq
is() { assert_eq "$2" "$1" "$3"; }
pg_start
URI=$(pg_newdb moved) || { not_ok "a database for the site"; it_done; }

D="$T/site"
export VMSPKI_PASSPHRASE="pg migrate test passphrase"
vp "$D" ca init --key ec-p256 --cn "Migrated Root"
assert_rc 0 "a SQLite site: the CA"
vp "$D" issue --profile server --generate-key --dns a.migrate.example --out "$T/a.pem" \
    --key-out "$T/a.key"
assert_rc 0 "a SQLite site: a certificate"
vp "$D" token create ops-migrate
assert_rc 0 "a SQLite site: a token"
vp "$D" settings set device.cn fqdn
assert_rc 0 "a SQLite site: a setting"
camsim_start --state "$T/cs" --count 3 --first 127.27.0.1 --http-port 18080 --https-port 18443 \
    --password cam-migrate-secret --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "a SQLite site: three cameras"
vp "$D" https enable --all --wait
assert_rc 0 "a SQLite site: a finished task over them"

# What every command says, before and after.
snapshot() {
	local out=$1
	mkdir -p "$out"
	vp "$D" ca show; cp "$VP_OUT" "$out/ca"
	vp "$D" cert list --json; cp "$VP_OUT" "$out/certs"
	vp "$D" device list --json; jq 'map(del(.status_detail))' "$VP_OUT" >"$out/devices"
	vp "$D" task list --json; cp "$VP_OUT" "$out/tasks"
	vp "$D" task show 1 --json; cp "$VP_OUT" "$out/task1"
	vp "$D" token list; cp "$VP_OUT" "$out/tokens"
	vp "$D" settings list; cp "$VP_OUT" "$out/settings"
	vp "$D" audit list --json; cp "$VP_OUT" "$out/audit"
}
snapshot "$T/before"

vp "$D" store migrate --from "sqlite:$D" --to "postgresql://vmspki:pw-in-argv@127.0.0.1:$PG_PORT/moved"
assert_rc 1 "a password in --to is refused"
assert_no_file "$D/store" "and nothing was changed"

vp "$D" store migrate --from "sqlite:$D" --to "$URI"
assert_rc 0 "store migrate copies the site"
assert_grep 'audit log intact' "$VP_OUT" "it says the audit chain verified"
assert_file "$D/store" "the data directory now names the PostgreSQL store"
assert_mode 600 "$D/store" "the store file is 0600"

snapshot "$T/after"
for f in ca certs devices tasks task1 tokens settings; do
	if cmp -s "$T/before/$f" "$T/after/$f"; then
		ok "the same answer after the move: $f"
	else
		not_ok "the same answer after the move: $f"
		diff "$T/before/$f" "$T/after/$f" | head -n 8 | sed 's/^/#   /'
	fi
done
n=$(jq length "$T/before/audit")
is "$(jq ".[:$n]" "$T/after/audit" | jq -c .)" "$(jq -c . "$T/before/audit")" \
    "the audit rows are the same, the move's own row after them"
is "$(jq -r '.[-1].action' "$T/after/audit")" "store.migrate" "the move is in the audit log"
vp "$D" audit verify
assert_rc 0 "the audit chain verifies in PostgreSQL"
is "$(pg_sql "SELECT count(*) FROM devices" moved)" 3 "the devices are in PostgreSQL"

# The sealed passwords still open: a new task reaches the cameras through the new store.
vp "$D" https update --all --wait
assert_rc 0 "a task after the move logs in to the cameras (their sealed passwords open)"
vp "$D" issue --profile client --generate-key --cn after-move --out "$T/b.pem" --key-out "$T/b.key"
assert_rc 0 "issue after the move (the ids go on after the copied ones)"

# A target that is not empty is refused, and nothing is written to it.
E="$T/other"
vp "$E" ca init --key ec-p256 --cn "Other Root"
assert_rc 0 "another SQLite site"
before=$(pg_sql "SELECT count(*) FROM certificates" moved)
vp "$E" store migrate --from "sqlite:$E" --to "$URI"
assert_rc 1 "store migrate into a database that holds a site is refused"
assert_stderr 'not empty' "the refusal says the target is not empty"
is "$(pg_sql "SELECT count(*) FROM certificates" moved)" "$before" "nothing was added to it"
assert_no_file "$E/store" "the other site still uses its SQLite store"

camsim_stop
it_done
