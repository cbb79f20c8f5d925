#!/usr/bin/env bash
# Three `vmspki serve` on one PostgreSQL store (issue 22): they issue at once without repeating a
# serial, and they run one 300-camera task between them: the server that holds it is killed with
# SIGKILL in the middle, another takes it over, and every camera ends Enabled exactly once (one
# certificate of ours on each, checked on camsim), the task Finished, the audit chain verified.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
. "$(dirname "$0")/libpg.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }
pg_start
URI=$(pg_newdb fleet) || { not_ok "a database for the site"; it_done; }

export VMSPKI_PASSPHRASE="pg fleet test passphrase"
COUNT=${VP_FLEET_DEVICES:-300}
DIRS=("$T/s1" "$T/s2" "$T/s3")
for d in "${DIRS[@]}"; do
	mkdir -p "$d"
	printf '%s\n' "$URI" >"$d/store"
	chmod 600 "$d/store"
done

vp "${DIRS[0]}" ca init --key ec-p256
assert_rc 0 "the CA is made in the shared store"
camsim_start --state "$T/cs" --count "$COUNT" --first 127.26.0.1 --http-port 18080 \
    --https-port 18443 --keygen-delay-ms 300 --key-pool 16 --password cam-fleet-secret \
    --csv-out "$T/cams.csv" --quiet || it_done
vp "${DIRS[1]}" device import "$T/cams.csv"
assert_rc 0 "$COUNT cameras imported (through the second server's directory)"

PIDS=() PORTS=()
for i in 0 1 2; do
	daemon_start "${DIRS[$i]}" || { not_ok "server $((i + 1)) starts"; it_done; }
	PIDS+=("$DAEMON_PID")
	PORTS+=("$PORT")
done
ok "three servers run on one store"
TOK=$ADMIN_TOKEN
[ -n "$TOK" ] && ok "the first server made the admin token" || not_ok "the first server made the admin token"
# use I: talk to server I (0..2) with the api helper.
use() { PORT=${PORTS[$1]}; DAEMON_CA="${DIRS[$1]}/certs/ca.cert.pem"; }
for i in 0 1 2; do
	use "$i"
	api GET /api/v1/ca "$TOK"
	assert_status 200 "server $((i + 1)) answers with the token the first one made"
done

# ---------------------------------------------------------------- concurrent issuance
mk_key ec-p256 "$T/csr.key"
mk_csr "$T/csr.key" fleet.example "$T/fleet.csr"
issue_body "$T/issue.json" server "$T/fleet.csr" fleet.example
before=$(pg_sql "SELECT count(*) FROM certificates" fleet)
cpids=()
for i in 0 1 2; do
	for k in $(seq 1 10); do
		curl -gsS --max-time 120 --cacert "${DIRS[$i]}/certs/ca.cert.pem" -o "$T/iss.$i.$k" \
		    -w '%{http_code}\n' -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
		    --data-binary "@$T/issue.json" "https://127.0.0.1:${PORTS[$i]}/api/v1/issue" \
		    >"$T/iss.$i.$k.code" 2>&1 &
		cpids+=($!)
	done
done
for p in "${cpids[@]}"; do wait "$p"; done
is "$(cat "$T"/iss.*.code | grep -c '^201$')" 30 "30 issue requests to three servers at once all answer 201"
after=$(pg_sql "SELECT count(*) FROM certificates" fleet)
is "$((after - before))" 30 "30 certificates recorded"
is "$(jq -r .serial "$T"/iss.*.[0-9]* | sort -u | wc -l)" 30 "30 different serials were answered"
is "$(pg_sql "SELECT count(*) - count(DISTINCT serial) FROM certificates" fleet)" 0 \
    "no serial repeats in the store"

# ---------------------------------------------------------------- one task, a killed server
use 0
echo '{"kind":"https-enable","all":true,"concurrency":20}' >"$T/task.body"
api POST /api/v1/tasks "$TOK" "$T/task.body"
assert_status 201 "POST /api/v1/tasks creates the task"
TASK=$(jq -r .id "$API_BODY")

owner=""
for ((i = 0; i < 900; i++)); do
	api GET "/api/v1/tasks/$TASK" "$TOK"
	done_n=$(jq -r '.devices.finished' "$API_BODY" 2>/dev/null || echo 0)
	[ "${done_n:-0}" -ge $((COUNT / 3)) ] && break
	sleep 0.2
done
owner=$(pg_sql "SELECT claimed_by FROM tasks WHERE id = $TASK" fleet)
opid=$(cut -d: -f2 <<<"$owner")
# Which server works on which device: device list (JSON and table) and the API say it.
vp "${DIRS[2]}" device list --json
working=$(jq --arg o "$owner" '[.[] | select(.server == $o)] | length' "$VP_OUT")
check "device list --json names the server working on the running devices ($working)" \
    test "${working:-0}" -gt 0
others=$(jq --arg o "$owner" '[.[] | select(.server != null and .server != $o)] | length' "$VP_OUT")
is "$others" 0 "no device is shown with another server"
vp "${DIRS[2]}" device list
assert_grep '^ID +MAC address .*HTTPS +Server$' "$VP_OUT" "the table has a Server column on a shared store"
assert_grep "$owner" "$VP_OUT" "the table names the server"
use 1
api GET /api/v1/devices "$TOK"
check "GET /api/v1/devices names the server too" \
    jq -e --arg o "$owner" '[(.devices? // .)[] | select(.server == $o)] | length > 0' "$API_BODY"
use 0
victim=""
for i in 0 1 2; do [ "${PIDS[$i]}" = "$opid" ] && victim=$i; done
if [ -z "$victim" ]; then
	not_ok "one of the three servers holds the task (owner \"$owner\")"
	it_done
fi
kill -KILL "$opid"
wait "$opid" 2>/dev/null
diag "killed server $((victim + 1)) (pid $opid) with $done_n devices finished"
check "the server was killed in the middle of the task" test "$done_n" -lt "$COUNT"

alive=$(((victim + 1) % 3))
use "$alive"
st=""
for ((i = 0; i < 1500; i++)); do
	api GET "/api/v1/tasks/$TASK" "$TOK"
	st=$(jq -r .state "$API_BODY")
	[ "$st" = Finished ] || [ "$st" = Failed ] || [ "$st" = Cancelled ] && break
	sleep 0.2
done
is "$st" "Finished" "another server finishes the task"
is "$(jq '[.results[] | select(.status == "Finished")] | length' "$API_BODY")" "$COUNT" \
    "every device finished"
newowner=$(grep -l "taking it over\|resume" "$T"/daemon.*.err 2>/dev/null | wc -l)
check "a surviving server says it took the task over" test "$newowner" -ge 1

vp "${DIRS[$alive]}" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" "$COUNT" \
    "every device shows HTTPS Enabled"
vp "${DIRS[$alive]}" cert list --json
jq -r '.[] | select(.profile == "device-https") | .owner_id' "$VP_OUT" | sort | uniq -c |
    awk '$1 != 1' >"$T/twice"
is "$(jq '[.[] | select(.profile == "device-https")] | length' "$VP_OUT")" "$COUNT" \
    "one device certificate was issued per device"
check "no device got two certificates" test ! -s "$T/twice"

ctl GET /control/devices >"$T/cams.json"
bad=0
for a in $(jq -r '.[].address' "$T/cams.json"); do
	n=$(ctl GET "/control/devices/$a" | jq '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')
	[ "$n" = 1 ] || { bad=$((bad + 1)); diag "$a holds $n keys of ours"; }
done
is "$bad" 0 "each camera holds exactly one key of ours"
bad=0
for k in 1 $((COUNT / 2)) "$COUNT"; do
	a=$(jq -r ".[$((k - 1))].address" "$T/cams.json")
	tls_ok "$a" 18443 "${DIRS[$alive]}/certs/ca.cert.pem" || { bad=$((bad + 1)); diag_file "$T/.tls.out"; }
done
is "$bad" 0 "the first, middle and last cameras verify against the site CA"

vp "${DIRS[$alive]}" audit verify
assert_rc 0 "the audit chain is intact after the kill"
for i in 0 1 2; do
	[ "$i" = "$victim" ] && continue
	daemon_stop "${PIDS[$i]}"
done
assert_daemon_logs_clean
camsim_stop
it_done
