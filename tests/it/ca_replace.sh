# CA replacement (issue 6, "What it must show", second item): `vmspki ca init --replace` on a
# camsim fleet of 50 cameras (REST v1, REST v1beta and SOAP firmware) and 3 components, run by
# the daemon, which is killed with SIGKILL in the middle and started again. Afterwards every
# camera serves a certificate that verifies against the new CA only (and not against the old
# one), holds the new CA and no longer the old one, every component certificate is issued by
# the new CA (its reload command ran) and a real nats-server and clients use them, the daemon
# switched its API certificate without a restart, and the old CA is retired (ca.cert.pem, ca
# show). Then `ca import --replace` on 4 cameras without a daemon: a camera that refuses the
# new certificate fails the task (exit 1) and keeps serving its old valid certificate, the old
# CA stays trusted, a second --replace is refused, and `task retry-failed` finishes the job.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl nats-server
is() { assert_eq "$2" "$1" "$3"; }

NC=${VP_NATS_CLIENT:-${VP_BUILD_DIR:-}/tests/tools/vmspki-test-nats-client}
if [ ! -x "$NC" ]; then
	not_ok "the NATS test client is executable ($NC; target vmspki-test-nats-client)"
	it_done
fi

D="$T/data"
D2="$T/data2"
export VMSPKI_PASSPHRASE="ca replace test passphrase"
NET=127.29.0            # cameras 1-50: part one; 51-54 (and 55, never enabled): part two
HP=18080
SP=18443
COUNT=50
CD="$D/components/certificates"
RELOADS="$T/reloads.log"

# ---------------------------------------------------------------- helpers

# fps_of FILE: the fingerprints of a PEM bundle on one line, in order.
fps_of() { pem_fps "$1" | tr '\n' ' ' | sed 's/ $//'; }

# cam_problems ADDR NEWFP OLDFP: what is wrong with one camera after a replacement, one line
# (empty when nothing): it serves its bound certificate of ours, which verifies (chain and IP)
# against the new CA alone and not against the old one alone, holds exactly one certificate of
# ours and no key without a certificate, and holds the new CA (alias vmspki-ca-<12 hex>) and
# not the old one.
cam_problems() {
	local a=$1 nfp=$2 ofp=$3 st p=""
	st=$(ctl GET "/control/devices/$a" | jq -r --arg n "$nfp" --arg o "$ofp" '
	    [ ([.certificates[] | select(.alias | startswith("vmspki-"))] | length),
	      ([.certificates[] | select(.alias | startswith("vmspki-"))][0].fingerprint // ""),
	      .bound_fingerprint,
	      (.keys == (.certificates | length) and .keys_in_progress == 0),
	      ([.ca_certificates[]? | select(.fingerprint == $n and .alias == "vmspki-ca-" + $n[0:12])] | length),
	      ([.ca_certificates[]? | select(.fingerprint == $o)] | length),
	      ([.bound_ca_certificates[]? | select(. == "vmspki-ca-" + $o[0:12])] | length)
	    ] | map(tostring) | join(" ")')
	local -a f
	read -ra f <<<"$st"
	[ "${#f[@]}" = 7 ] || { echo "no state from camsim ($st)"; return; }
	[ "${f[0]}" = 1 ] || p+=" holds ${f[0]} certificates of ours;"
	[ "${f[1]}" = "${f[2]}" ] || p+=" the certificate of ours is not the bound one;"
	[ "${f[3]}" = true ] || p+=" a key without a certificate (or one being made);"
	[ "${f[4]}" = 1 ] || p+=" the new CA is not installed as vmspki-ca-${nfp:0:12};"
	[ "${f[5]}" = 0 ] || p+=" still holds the old CA;"
	[ "${f[6]}" = 0 ] || p+=" the old CA is still bound to the web server;"
	[ "$(served_fp "$a" $SP)" = "${f[2]}" ] || p+=" does not serve its bound certificate;"
	tls_ok "$a" $SP "$T/new.pem" || p+=" does not verify against the new CA: $(grep -m1 -i 'verify error' "$T/.tls.out");"
	tls_ok "$a" $SP "$T/old.pem" && p+=" verifies against the old CA alone;"
	echo "$p"
}

# task_api ID: GET /api/v1/tasks/ID into $T/task.json (the daemon must run).
task_api() { api GET "/api/v1/tasks/$1" "$ADMIN_TOKEN"; cp "$API_BODY" "$T/task.json"; }
# item NAME FIELD: a field of the item NAME of $T/task.json.
item() { jq -r --arg i "$1" ".items[]? | select(.item == \$i) | .$2" "$T/task.json"; }
# task_id_of FILE: N of the first line "task N:" of a command's stdout.
task_id_of() { sed -n 's/^task \([0-9][0-9]*\):.*/\1/p' "$1" | head -n 1; }
# serves_new_ca_cert WHAT: the daemon on $PORT completes a TLS handshake verified (chain and
# IP) against the new CA alone; "the WHAT an API certificate that verifies ..." is the check.
serves_new_ca_cert() {
	local label="the $1 an API certificate that verifies against the new CA alone"
	if openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/new.pem" -verify_return_error \
	    -verify_ip 127.0.0.1 </dev/null >"$T/s_client.out" 2>&1; then
		ok "$label"
	else
		not_ok "$label"
		diag_file "$T/s_client.out"
	fi
}

# ---------------------------------------------------------------- the fleet
# Every tenth camera from the third speaks SOAP (firmware 9.80), every tenth from the
# seventh REST v1beta (11.6), the others REST v1 (11.11).
jq -n --arg net "$NET" '[range(1; 56) | {address: "\($net).\(.)",
    firmware: (if . % 10 == 3 then "9.80.1" elif . % 10 == 7 then "11.6.0" else "11.11.0" end),
    user: "root", password: "cam-replace-secret-\(.)"}]' >"$T/fleet.json"
{
	echo "address,http_port,https_port,user,password,name"
	for i in $(seq 1 $COUNT); do echo "$NET.$i,$HP,$SP,root,cam-replace-secret-$i,"; done
} >"$T/cams.csv"
{
	echo "address,http_port,https_port,user,password,name"
	for i in 51 52 53 54 55; do echo "$NET.$i,$HP,$SP,root,cam-replace-secret-$i,"; done
} >"$T/cams2.csv"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --http-port $HP --https-port $SP \
    --keygen-delay-ms 300 --key-pool 64 --quiet || it_done

# ================================================================ part one: 50 cameras, daemon
vp "$D" ca init --key ec-p256
assert_rc 0 "the first CA is made"
cp "$D/certs/ca.cert.pem" "$T/old.pem"
OLDFP=$(fp "$T/old.pem")
vp "$D" device import "$T/cams.csv"
assert_rc 0 "$COUNT cameras imported"
vp "$D" https enable --all --wait
assert_rc 0 "HTTPS is enabled on the $COUNT cameras (the CLI runs the task)"
bad=0
for i in 1 25 $COUNT; do tls_ok $NET.$i $SP "$T/old.pem" || bad=$((bad + 1)); done
is "$bad" 0 "before the replacement the cameras verify against the first CA"

# Three components; each one's reload command appends its id to a file.
jq -n --arg log "$RELOADS" '{components: {
    "nats-broker": {reload: ("printf \"%s\\n\" \"$VMSPKI_COMPONENT\" >>" + $log)},
    "recorder": {publish: ["video.>"], subscribe: [],
        reload: ("printf \"%s\\n\" \"$VMSPKI_COMPONENT\" >>" + $log)},
    "analytics": {publish: [], subscribe: ["video.>"],
        reload: ("printf \"%s\\n\" \"$VMSPKI_COMPONENT\" >>" + $log)}}}' >"$D/components.json"
vp "$D" component add nats-broker --server
assert_rc 0 "component add nats-broker --server"
vp "$D" component add recorder --client
assert_rc 0 "component add recorder --client"
vp "$D" component add analytics --client
assert_rc 0 "component add analytics --client"
COMPS="nats-broker.server recorder.client analytics.client"
for k in $COMPS; do
	cp "$CD/$k.cert.pem" "$T/old.$k.cert.pem"
	cp "$CD/$k.key.pem" "$T/old.$k.key.pem"
done

daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
ok "the daemon starts (pid $DAEMON_PID)"
PID0=$DAEMON_PID
served_cert 127.0.0.1 "$PORT" "$T/api0.pem"
check "the daemon's API certificate is issued by the first CA" verify_openssl "$T/old.pem" "$T/api0.pem" sslserver

# Half the cameras (the even ones) hold one request of the replacement 15 s: they are in the
# middle of install-ca, create-key, install-certificate, bind or cleanup/remove-old-ca when
# the daemon is killed.
ops=(ca_add key_create cert_install tls_set ca_delete)
for ((i = 2; i <= COUNT; i += 2)); do
	op=${ops[$(((i / 2) % 5))]}
	ctl POST "/control/devices/$NET.$i/faults" "{\"kind\":\"delay\",\"op\":\"$op\",\"ms\":15000}" >/dev/null
done
: >"$RELOADS"

vp "$D" ca init --replace --key ec-p256
assert_rc 0 "ca init --replace (the daemon runs the task)"
TASK=$(task_id_of "$VP_OUT")
check "ca init --replace prints \"task N:\" ($TASK)" test -n "$TASK"
TASK=${TASK:-0}
first_cert "$D/certs/ca.chain.pem" "$T/new.pem"
NEWFP=$(fp "$T/new.pem")
check "the new CA is another CA" test -n "$NEWFP" -a "$NEWFP" != "$OLDFP"
is "$(fps_of "$D/certs/ca.chain.pem")" "$NEWFP" "during the transition ca.chain.pem holds the new CA only"
is "$(fps_of "$D/certs/ca.cert.pem")" "$NEWFP $OLDFP" \
    "during the transition ca.cert.pem holds the new CA, then the old one"
vp "$D" ca show --json
cp "$VP_OUT" "$T/show1.json"
is "$(jq -r .sha256 "$T/show1.json")" "$NEWFP" "ca show: the current CA is the new one"
is "$(jq -r .replace_task "$T/show1.json")" "$TASK" "ca show: replace_task is the task"
is "$(jq -r .previous.fingerprint "$T/show1.json")" "$OLDFP" "ca show: previous is the old CA"
check "ca show: previous has a subject" jq -e '.previous.subject | type == "string" and length > 0' "$T/show1.json"
# The daemon picks up the CA the command line made, without a restart.
for ((i = 0; i < 50; i++)); do
	api GET /api/v1/ca "$ADMIN_TOKEN"
	[ "$(jq -r .sha256 "$API_BODY" 2>/dev/null)" = "$NEWFP" ] && break
	sleep 0.2
done
is "$(jq -r .sha256 "$API_BODY")" "$NEWFP" "GET /api/v1/ca: the running daemon shows the new CA"
is "$(jq -c '[.replace_task, .previous.fingerprint]' "$API_BODY")" "[$TASK,\"$OLDFP\"]" \
    "GET /api/v1/ca: replace_task and the previous CA"

# A second replacement while this one is unfinished: refused, and nothing changes.
vp "$D" task list --json
ntasks=$(jq length "$VP_OUT")
vp "$D" ca init --replace --key ec-p256
assert_rc 1 "a second ca init --replace during the transition is refused"
vp "$D" ca show --json
is "$(jq -c '{sha256, replace_task, previous}' "$VP_OUT")" "$(jq -c '{sha256, replace_task, previous}' "$T/show1.json")" \
    "... and the CA, the previous one and the task are unchanged"
is "$(fps_of "$D/certs/ca.cert.pem")" "$NEWFP $OLDFP" "... and ca.cert.pem too"
vp "$D" task list --json
is "$(jq length "$VP_OUT")" "$ntasks" "... and no task was made"

# Wait until a part of the devices is done, then kill the daemon.
done_n=0
st=""
for ((i = 0; i < 600; i++)); do
	task_api "$TASK"
	done_n=$(jq -r '.devices.finished // 0' "$T/task.json" 2>/dev/null || echo 0)
	st=$(jq -r '.state // ""' "$T/task.json" 2>/dev/null)
	[ "${done_n:-0}" -ge 10 ] || [ "$st" = Finished ] || [ "$st" = Failed ] && break
	sleep 0.2
done
is "$(jq -r .kind "$T/task.json")" "ca-replace" "the task is a ca-replace task"
is "$(jq -r '.devices.total' "$T/task.json")" "$COUNT" "it covers the $COUNT cameras"
check "the daemon got at least 10 cameras done ($done_n)" test "${done_n:-0}" -ge 10
if pid_alive "$PID0" && [ "$DAEMON_PID" = "$PID0" ]; then
	ok "the daemon is still the same process (pid $PID0)"
else
	not_ok "the daemon is still the same process (pid $PID0)"
fi
is "$(item "server certificate" status)" "Finished" "the API server certificate item is Finished"
serves_new_ca_cert "running daemon already serves"
check_not "... and not against the old CA alone" openssl s_client -connect "127.0.0.1:$PORT" \
    -CAfile "$T/old.pem" -verify_return_error </dev/null
running=$(jq -r '.devices.running' "$T/task.json")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
diag "killed the daemon with $done_n cameras finished and $running running"
check "the daemon was killed in the middle of the task" test "${done_n:-0}" -lt "$COUNT"

# The cameras finish what they were asked before the daemon died (the held requests), while
# no daemon runs; then no more delays.
ctl DELETE /control/devices/all/faults >/dev/null
for ((i = 0; i < 150; i++)); do
	pend=$(ctl GET /control/devices | jq -r '.[].address' | while read -r a; do
		ctl GET "/control/devices/$a" | jq -r '.pending_requests + .keys_in_progress'
	done | awk '{s += $1} END {print s + 0}')
	[ "$pend" = 0 ] && break
	sleep 0.2
done
is "$pend" 0 "the cameras finished the requests they held"

daemon_start "$D" || { not_ok "the daemon starts again"; it_done; }
ok "the daemon starts again"
for ((i = 0; i < 1500; i++)); do
	task_api "$TASK"
	st=$(jq -r .state "$T/task.json")
	[ "$st" = Finished ] || [ "$st" = Failed ] || [ "$st" = Cancelled ] && break
	sleep 0.2
done
is "$st" "Finished" "the restarted daemon finishes the replacement"
is "$(jq '[.results[] | select(.status == "Finished" and .step == "done")] | length' "$T/task.json")" \
    "$COUNT" "every camera finished"
jq -r '.results[] | select(.status != "Finished") | "device \(.device_id): \(.status) at \(.step): \(.error)"' \
    "$T/task.json" | head -n 5 | while read -r l; do diag "$l"; done
assert_grep "taking it over|resume" "$DAEMON_ERR" "the new daemon says it took the task over"
is "$(jq -c '[.items[].item] | sort' "$T/task.json")" \
    '["component analytics","component nats-broker","component recorder","old CA","server certificate"]' \
    "the items: three components, the server certificate and the old CA"
is "$(jq '[.items[] | select(.status == "Finished")] | length' "$T/task.json")" 5 "every item Finished"
jq -r '.items[] | select(.status != "Finished") | "\(.item): \(.status): \(.detail)"' "$T/task.json" |
    while read -r l; do diag "$l"; done

# ---- the CA: the old one retired
is "$(fps_of "$D/certs/ca.cert.pem")" "$NEWFP" "afterwards ca.cert.pem holds the new CA only"
is "$(fps_of "$D/certs/ca.chain.pem")" "$NEWFP" "afterwards ca.chain.pem holds the new CA only"
vp "$D" ca show --json
is "$(jq -r .sha256 "$VP_OUT")" "$NEWFP" "ca show: the new CA"
is "$(jq -c '[has("replace_task"), has("previous")]' "$VP_OUT")" "[false,false]" \
    "ca show: no replace_task and no previous any more"
for ((i = 0; i < 50; i++)); do
	api GET /api/v1/ca "$ADMIN_TOKEN"
	[ "$(jq -r 'has("replace_task")' "$API_BODY" 2>/dev/null)" = false ] && break
	sleep 0.2
done
is "$(jq -c '[.sha256 == "'"$NEWFP"'", has("replace_task"), has("previous")]' "$API_BODY")" \
    "[true,false,false]" "GET /api/v1/ca: the new CA, no replacement any more"

# ---- every camera
bad=0
for ((i = 1; i <= COUNT; i++)); do
	p=$(cam_problems $NET.$i "$NEWFP" "$OLDFP")
	[ -z "$p" ] && continue
	bad=$((bad + 1))
	[ "$bad" -le 8 ] && diag "$NET.$i:$p"
done
is "$bad" 0 "every camera serves its one certificate of ours, which verifies against the new CA only (not the old), and holds the new CA and not the old one"
vp "$D" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" "$COUNT" "every camera shows HTTPS Enabled"

# ---- the components
for k in $COMPS; do
	id=${k%.*} kind=${k#*.}
	first_cert "$CD/$k.cert.pem" "$T/$k.leaf.pem"
	purpose=sslserver
	[ "$kind" = client ] && purpose=sslclient
	check "$id: the $kind certificate verifies against the new CA alone" \
	    verify_openssl "$T/new.pem" "$T/$k.leaf.pem" $purpose
	check_not "$id: ... and not against the old CA alone" \
	    verify_openssl "$T/old.pem" "$T/$k.leaf.pem" $purpose
	check "$id: it is not the old certificate" test "$(fp "$T/$k.leaf.pem")" != "$(fp "$T/old.$k.cert.pem")"
	fps=$(fps_of "$CD/$k.cert.pem")
	check "$id: its file carries the new CA and not the old one" \
	    test "${fps#* }" = "$NEWFP"
	if [ -n "$(pubkey_of_cert "$T/$k.leaf.pem")" ] &&
	    [ "$(pubkey_of_key "$CD/$k.key.pem")" = "$(pubkey_of_cert "$T/$k.leaf.pem")" ]; then
		ok "$id: the key file matches the new certificate"
	else
		not_ok "$id: the key file matches the new certificate"
	fi
	check "$id: its reload command ran" grep -qx "$id" "$RELOADS"
done
vp "$D" component list --json
is "$(jq -c '[.[].certificates[].status] | unique' "$VP_OUT")" '["OK"]' "component list: every certificate OK"

# ---- the API server certificate
first_cert "$D/certs/server.crt" "$T/api.pem"
check "the API server certificate on disk verifies against the new CA alone" verify_openssl "$T/new.pem" "$T/api.pem" sslserver
serves_new_ca_cert "restarted daemon serves"
assert_no_grep "$OLDFP" <(pem_fps "$D/certs/server.crt") "the old CA is not in the API server's chain"

# ---- a real nats-server with the new certificates
N="$T/nats"
mkdir -p "$N"
vp "$D" component nats-config nats-broker --out "$N/broker-tls.conf"
assert_rc 0 "component nats-config nats-broker"
NPORT=""
for ((try = 1; try <= 5; try++)); do
	NPORT=$(pick_port) || break
	printf 'listen: 127.0.0.1:%s\ninclude "broker-tls.conf"\n' "$NPORT" >"$N/main.conf"
	: >"$N/nats.log"
	nats-server -c "$N/main.conf" -l "$N/nats.log" </dev/null >"$N/nats.out" 2>&1 &
	NATS_PID=$!
	track_pid "$NATS_PID"
	for ((i = 0; i < 150; i++)); do
		pid_alive "$NATS_PID" || break
		grep -q 'Server is ready' "$N/nats.log" && break
		sleep 0.2
	done
	grep -q 'Server is ready' "$N/nats.log" && break
	kill -KILL "$NATS_PID" 2>/dev/null
	wait "$NATS_PID" 2>/dev/null
	grep -Eqi 'address already in use' "$N/nats.log" "$N/nats.out" || break
done
if grep -q 'Server is ready' "$N/nats.log"; then
	ok "nats-server runs with the configuration vmspki wrote (port $NPORT)"
else
	not_ok "nats-server runs with the configuration vmspki wrote"
	diag_file "$N/nats.log" 20
fi
# natsc CA CERT KEY ARGS...: one client run; sets NC_RC.
natsc() {
	local ca=$1 cert=$2 key=$3
	shift 3
	timeout 60 "$NC" --url "nats://127.0.0.1:$NPORT" --ca "$ca" --cert "$cert" --key "$key" \
	    --host localhost "$@" >"$T/nc.out" 2>&1
	NC_RC=$?
	{ printf '$ nats-client --cert %s %s -> %s\n' "$(basename "$cert")" "$*" "$NC_RC"; cat "$T/nc.out"; } >>"$VP_LOG"
}
"$NC" --url "nats://127.0.0.1:$NPORT" --ca "$T/new.pem" --cert "$CD/analytics.client.cert.pem" \
    --key "$CD/analytics.client.key.pem" --host localhost sub 'video.>' --count 1 --timeout 30 \
    >"$T/sub.out" 2>&1 &
SUB_PID=$!
track_pid "$SUB_PID"
for ((i = 0; i < 150; i++)); do
	grep -q '^subscribed to' "$T/sub.out" && break
	pid_alive "$SUB_PID" || break
	sleep 0.2
done
assert_grep '^subscribed to' "$T/sub.out" "analytics (new certificate, trusting the new CA only) subscribes to video.>"
natsc "$T/new.pem" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" pub video.cam1 frame-1
is "$NC_RC" 0 "recorder (new certificate, trusting the new CA only) publishes on video.cam1"
wait "$SUB_PID" 2>/dev/null
is "$?" 0 "analytics got it"
assert_grep '^received video.cam1: frame-1$' "$T/sub.out" "... the message recorder sent"
natsc "$T/new.pem" "$T/old.recorder.client.cert.pem" "$T/old.recorder.client.key.pem" connect
is "$NC_RC" 2 "recorder's old certificate (from the old CA) is refused by the broker"
natsc "$T/old.pem" "$CD/recorder.client.cert.pem" "$CD/recorder.client.key.pem" connect
is "$NC_RC" 2 "a client trusting only the old CA refuses the broker's new certificate"
kill -TERM "$NATS_PID" 2>/dev/null
wait "$NATS_PID" 2>/dev/null

vp "$D" audit verify
assert_rc 0 "the audit chain is intact"
daemon_stop "$DAEMON_PID"

# ================================================================ part two: 4 cameras, no daemon
D2P="$T/p2"
mkdir -p "$D2P"
vp "$D2" ca init --key ec-p256 --cn "CA replace test old root"
assert_rc 0 "part two: the first CA is made"
cp "$D2/certs/ca.cert.pem" "$D2P/old.pem"
OLD2=$(fp "$D2P/old.pem")
vp "$D2" device import "$T/cams2.csv"
assert_rc 0 "part two: five cameras imported"
vp "$D2" https enable 1 2 3 4 --wait
assert_rc 0 "part two: HTTPS enabled on four of them (not on the fifth)"
for i in 1 2 3 4; do eval "FP2_$i=$(served_fp $NET.$((50 + i)) $SP)"; done

# The new CA comes from a PKCS#12 file.
mk_root "$D2P/imp" ec-p384 "CA replace test imported root" 3650
printf 'p12-import-secret-42\n' >"$D2P/p12pw"
mk_p12 "$D2P/imp.p12" "$D2P/imp.key" "$D2P/imp.pem" "$D2P/p12pw"
NEW2=$(fp "$D2P/imp.pem")

# The wrong current passphrase: refused, nothing changes.
printf 'not the ca passphrase\n' >"$D2P/wrongpw"
snapshot "$D2" >"$D2P/snap0"
vp "$D2" ca import "$D2P/imp.p12" --replace --p12-passphrase-file "$D2P/p12pw" \
    --passphrase-file "$D2P/wrongpw" --wait
assert_rc 1 "ca import --replace with a wrong CA passphrase is refused"
assert_unchanged "$D2P/snap0" "$D2" "... and changes nothing"

# Camera 54 refuses the new certificate. Camera 52 resets the connection when our old
# certificate is removed (cleanup goes on) and when the old CA is (the camera is tried again
# from the top), twice each (curl itself sends a request again once on a kept connection
# that was reset): it must still end with both removed.
ctl POST "/control/devices/$NET.54/faults" '{"kind":"500","op":"cert_install"}' >/dev/null
ctl POST "/control/devices/$NET.52/faults" \
    '[{"kind":"reset","op":"delete_ca_certificate","count":2},{"kind":"reset","op":"delete_certificate","count":2}]' >/dev/null
vp "$D2" ca import "$D2P/imp.p12" --replace --p12-passphrase-file "$D2P/p12pw" --wait
assert_rc 1 "ca import --replace --wait: exit 1, a camera refused"
T2=$(task_id_of "$VP_OUT")
check "it prints \"task N:\" ($T2)" test -n "$T2"
T2=${T2:-0}
task_json() { vp "$D2" task show "$1" --json; cp "$VP_OUT" "$T/task.json"; }
task_json "$T2"
is "$(jq -r .state "$T/task.json")" "Failed" "the task is Failed"
is "$(jq -r .kind "$T/task.json")" "ca-replace" "... a ca-replace task"
is "$(jq -r '[.results[].device_id] | sort | map(tostring) | join(",")' "$T/task.json")" "1,2,3,4" \
    "it covers the four cameras vmspki enabled, not the fifth"
is "$(result 4 status)" "Failed" "camera 54 Failed"
is "$(result 4 step)" "install-certificate" "... at install-certificate"
is "$(jq '[.results[] | select(.status == "Finished")] | length' "$T/task.json")" 3 "the three others Finished"
is "$(result 2 attempts)" 2 "camera 52 was tried twice (the old CA's removal was reset)"
is "$(item "old CA" status)" "Pending" "the old CA is not retired (Pending)"
is "$(fps_of "$D2/certs/ca.cert.pem")" "$NEW2 $OLD2" "ca.cert.pem still holds the new CA, then the old one"
is "$(fps_of "$D2/certs/ca.chain.pem")" "$NEW2" "ca.chain.pem holds the imported CA"
vp "$D2" ca show --json
cp "$VP_OUT" "$D2P/show.json"
is "$(jq -r .sha256 "$D2P/show.json")" "$NEW2" "ca show: the imported CA is the current one"
is "$(jq -r .replace_task "$D2P/show.json")" "$T2" "ca show: still in transition (replace_task)"
is "$(jq -r .previous.fingerprint "$D2P/show.json")" "$OLD2" "ca show: previous is the old CA"
is "$(served_fp $NET.54 $SP)" "$FP2_4" "camera 54 still serves its old certificate"
check "... which still verifies against the old CA" tls_ok $NET.54 $SP "$D2P/old.pem"
check "... and against what the site trusts (ca.cert.pem)" tls_ok $NET.54 $SP "$D2/certs/ca.cert.pem"
check "camera 54 still holds the old CA" \
    test "$(dev_state $NET.54 "[.ca_certificates[] | select(.fingerprint == \"$OLD2\")] | length")" = 1
cp "$D2P/imp.pem" "$T/new.pem"
cp "$D2P/old.pem" "$T/old.pem"
bad=0
for i in 1 2 3; do
	p=$(cam_problems $NET.$((50 + i)) "$NEW2" "$OLD2")
	[ -n "$p" ] && { bad=$((bad + 1)); diag "$NET.$((50 + i)):$p"; }
done
is "$bad" 0 "the three other cameras are done: new CA only, old CA removed"
p=$(cam_problems $NET.54 "$NEW2" "$OLD2")
check "camera 54, not done yet, fails those checks ($p)" test -n "$p"
is "$(dev_state $NET.55 '[.ca_certificates[] | select(.alias | startswith("vmspki-"))] | length')" 0 \
    "the camera vmspki did not enable got no CA"

# A second replacement during the transition: refused, nothing changes.
mk_root "$D2P/third" ec-p256 "CA replace test third root" 3650
mk_p12 "$D2P/third.p12" "$D2P/third.key" "$D2P/third.pem" "$D2P/p12pw"
snapshot "$D2" >"$D2P/snap1"
vp "$D2" ca init --replace --key ec-p256 --wait
assert_rc 1 "ca init --replace during the transition is refused"
assert_stderr "." "... with a message"
vp "$D2" ca import "$D2P/third.p12" --replace --p12-passphrase-file "$D2P/p12pw" --wait
assert_rc 1 "ca import --replace during the transition is refused"
assert_unchanged "$D2P/snap1" "$D2" "... and they change nothing"

# The fault cleared, retry-failed finishes the job and retires the old CA.
ctl DELETE "/control/devices/$NET.54/faults" >/dev/null
vp "$D2" task retry-failed "$T2" --wait
assert_rc 0 "task retry-failed --wait"
task_json "$T2"
is "$(jq -r .state "$T/task.json")" "Finished" "the task is Finished"
is "$(result 4 status)" "Finished" "camera 54 Finished"
is "$(jq '[.items[] | select(.status == "Finished")] | length' "$T/task.json")" \
    "$(jq '.items | length' "$T/task.json")" "every item Finished"
is "$(item "old CA" status)" "Finished" "the old CA is retired"
is "$(fps_of "$D2/certs/ca.cert.pem")" "$NEW2" "ca.cert.pem holds the imported CA only"
vp "$D2" ca show --json
is "$(jq -c '[.sha256 == "'"$NEW2"'", has("replace_task"), has("previous")]' "$VP_OUT")" "[true,false,false]" \
    "ca show: the imported CA, no transition any more"
bad=0
for i in 1 2 3 4; do
	p=$(cam_problems $NET.$((50 + i)) "$NEW2" "$OLD2")
	[ -n "$p" ] && { bad=$((bad + 1)); diag "$NET.$((50 + i)):$p"; }
done
is "$bad" 0 "all four cameras: new CA only, old CA removed"
check "camera 54 serves a new certificate" test "$(served_fp $NET.54 $SP)" != "$FP2_4"
vp "$D2" audit verify
assert_rc 0 "part two: the audit chain is intact"

assert_no_grep "ca replace test passphrase|cam-replace-secret|p12-import-secret|PRIVATE KEY" \
    <(cat "$VP_LOG" "$T"/daemon.*.err "$T"/daemon.*.out "$RELOADS") "no secret in the logs"
assert_daemon_logs_clean
camsim_stop
it_done
