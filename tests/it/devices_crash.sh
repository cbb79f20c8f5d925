# A task survives the daemon's death (issue 5, "What it must show"): the daemon runs a task over
# 200 simulated cameras, is killed with SIGKILL in the middle, starts again, and finishes the
# task: every device Enabled, one certificate issued per device (none signed twice), one key of
# ours per device on the cameras (no orphaned keys).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="devices crash test passphrase"
COUNT=${VP_CRASH_DEVICES:-200}

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --count "$COUNT" --first 127.25.0.1 --http-port 18080 \
    --https-port 18443 --keygen-delay-ms 400 --key-pool 16 --password cam-crash-secret \
    --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "$COUNT cameras imported"

daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
ok "the daemon starts"
echo '{"kind":"https-enable","all":true,"concurrency":20}' >"$T/task.body"
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/task.body"
assert_status 201 "POST /api/v1/tasks creates the task"
TASK=$(jq -r .id "$API_BODY")

# Kill it once a part of the devices is done, and some are in the middle.
done_n=0
for ((i = 0; i < 600; i++)); do
	api GET "/api/v1/tasks/$TASK" "$ADMIN_TOKEN"
	done_n=$(jq -r '.devices.finished' "$API_BODY" 2>/dev/null || echo 0)
	[ "${done_n:-0}" -ge $((COUNT / 3)) ] && break
	sleep 0.2
done
running=$(jq -r '.devices.running' "$API_BODY")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
diag "killed the daemon with $done_n devices finished and $running running"
check "the daemon was killed in the middle of the task" test "$done_n" -lt "$COUNT"

daemon_start "$D" || { not_ok "the daemon starts again"; it_done; }
ok "the daemon starts again"
for ((i = 0; i < 1500; i++)); do
	api GET "/api/v1/tasks/$TASK" "$ADMIN_TOKEN"
	st=$(jq -r .state "$API_BODY")
	[ "$st" = Finished ] || [ "$st" = Failed ] || [ "$st" = Cancelled ] && break
	sleep 0.2
done
is "$st" "Finished" "the restarted daemon finishes the task"
is "$(jq '[.results[] | select(.status == "Finished")] | length' "$API_BODY")" "$COUNT" \
    "every device finished"
jq -r '.results[] | select(.status != "Finished") | "device \(.device_id): \(.status) at \(.step): \(.error)"' \
    "$API_BODY" | head -n 5 | while read -r l; do diag "$l"; done
assert_grep "taking it over|resume" "$DAEMON_ERR" "the new daemon says it took the task over"

vp "$D" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" "$COUNT" \
    "every device shows HTTPS Enabled"
vp "$D" cert list --json
jq -r '.[] | select(.profile == "device-https") | .owner_id' "$VP_OUT" | sort | uniq -c |
    awk '$1 != 1' >"$T/twice"
is "$(jq '[.[] | select(.profile == "device-https")] | length' "$VP_OUT")" "$COUNT" \
    "one device certificate was issued per device"
check "no device got two certificates" test ! -s "$T/twice"

# On the cameras: exactly one key of ours each, bound and served.
ctl GET /control/devices >"$T/cams.json"
bad=0
for a in $(jq -r '.[].address' "$T/cams.json"); do
	n=$(ctl GET "/control/devices/$a" | jq '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')
	[ "$n" = 1 ] || { bad=$((bad + 1)); diag "$a holds $n keys of ours"; }
done
is "$bad" 0 "each camera holds exactly one key of ours (no orphan from the crash)"
bad=0
for k in 1 $((COUNT / 2)) "$COUNT"; do
	a=$(jq -r ".[$((k - 1))].address" "$T/cams.json")
	tls_ok "$a" 18443 "$D/certs/ca.cert.pem" || { bad=$((bad + 1)); diag_file "$T/.tls.out"; }
done
is "$bad" 0 "the first, middle and last cameras verify against the site CA"

vp "$D" audit verify
assert_rc 0 "the audit chain is intact after the crash"
daemon_stop "$DAEMON_PID"
assert_daemon_logs_clean
camsim_stop
it_done
