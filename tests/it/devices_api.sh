# Tasks through the REST API (POST/GET /api/v1/tasks, cancel, retry-failed) and through the CLI
# while the daemon runs: bad requests are refused with the error body and change nothing; a good
# one is run by the daemon's engine; the CLI follows a task the daemon runs.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="devices api test passphrase"
N=127.26.0

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --count 4 --first $N.1 --http-port 18080 --https-port 18443 \
    --keygen-delay-ms 1500 --password cam-api-secret --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "four cameras imported"
daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
ok "the daemon starts"

body() { printf '%s' "$1" >"$T/body.json"; }
tasks_now() { sqlite3 "$D/vmspki.db" "SELECT count(*) FROM tasks"; }

# ---- refused requests: status, error code, nothing stored
n0=$(tasks_now)
body '{"kind":"https-enable","all":true}'
api POST /api/v1/tasks "" "$T/body.json"
assert_status 401 "no token: 401"
api POST /api/v1/tasks "vmspki_wrongtokenwrongtokenwrongtoken00000" "$T/body.json"
assert_status 401 "a wrong token: 401"
body '{"kind":"https-enable",'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 400 "malformed JSON: 400"
assert_error_body "bad_json" "malformed JSON has an error body"
body '{"kind":"https-enable","all":true,"colour":"blue"}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 400 "an unknown field: 400"
assert_grep "colour" "$API_BODY" "the error names the unknown field"
body '{"kind":"make-coffee","all":true}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 422 "an unknown kind: 422"
assert_grep "https-enable" "$API_BODY" "the error names the kinds there are"
body '{"kind":"https-enable","devices":["one"]}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 422 "device ids that are not numbers: 422"
body '{"kind":"https-enable","devices":[999]}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 404 "an unknown device: 404"
assert_grep "999" "$API_BODY" "the error names the device"
body '{"kind":"https-enable"}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 422 "no devices: 422"
body '{"kind":"https-enable","all":true,"cn":"mac"}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 422 "a common name that is neither ip nor fqdn: 422"
body '{"kind":"https-enable","all":true,"concurrency":0}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 400 "concurrency 0: 400"
is "$(tasks_now)" "$n0" "no refused request made a task"
api GET /api/v1/tasks/77 "$ADMIN_TOKEN"
assert_status 404 "an unknown task: 404"
api GET /api/v1/tasks/abc "$ADMIN_TOKEN"
assert_status 404 "a task id that is not a number: 404"
api DELETE /api/v1/tasks/1 "$ADMIN_TOKEN"
assert_status 405 "DELETE on a task: 405"

# ---- a task over two devices, cancelled while the cameras make their keys
body '{"kind":"https-enable","devices":[1,2,3],"concurrency":1}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 201 "a task over devices 1-3, one at a time: 201"
TASK=$(jq -r .id "$API_BODY")
is "$(jq -r '.results | length' "$API_BODY")" 3 "the answer lists a result per device"
body '{"kind":"https-enable","devices":[1]}'
api POST /api/v1/tasks "$ADMIN_TOKEN" "$T/body.json"
assert_status 409 "a device already in a running task cannot be in another: 409"
api POST "/api/v1/tasks/$TASK/cancel" "$ADMIN_TOKEN"
assert_status 200 "cancel: 200"
for ((i = 0; i < 300; i++)); do
	api GET "/api/v1/tasks/$TASK" "$ADMIN_TOKEN"
	st=$(jq -r .state "$API_BODY")
	[ "$st" = Running ] || [ "$st" = Queued ] || break
	sleep 0.2
done
check "the cancelled task ends (state $st)" test "$st" = Cancelled -o "$st" = Failed -o "$st" = Finished
is "$(jq '[.results[] | select(.status == "Cancelled")] | length > 0' "$API_BODY")" true \
    "devices not done are Cancelled"
for i in 2 3; do
	a=$N.$i
	is "$(dev_state $a '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')" 0 \
	    "cancelled device $a got no certificate of ours bound ($(dev_state $a .bound))"
done
api POST "/api/v1/tasks/$TASK/retry-failed" "$ADMIN_TOKEN"
assert_status 200 "retry-failed after cancel: 200"

# The CLI sees the daemon and follows its task.
vp "$D" task retry-failed "$TASK" --wait
check "the CLI refuses to retry a task still running, or follows it to its end" \
    test "$RC" = 1 -o "$RC" = 0
for ((i = 0; i < 300; i++)); do
	api GET "/api/v1/tasks/$TASK" "$ADMIN_TOKEN"
	st=$(jq -r .state "$API_BODY")
	[ "$st" = Running ] || [ "$st" = Queued ] || break
	sleep 0.2
done
is "$st" "Finished" "the retried task finishes"
vp "$D" https enable 4 --wait
assert_rc 0 "https enable --wait while the daemon runs: the daemon runs it, the CLI follows"
assert_grep "daemon runs task" "$VP_ERR" "the CLI says the daemon runs the task"
api GET /api/v1/tasks "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/tasks"
# (The daemon's nightly job, run at its start, may have added a device-check task.)
is "$(jq '[.tasks[] | select(.kind != "device-check")] | length' "$API_BODY")" 2 \
    "the two HTTPS tasks are listed"
vp "$D" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" 4 "all four devices are Enabled"
assert_no_grep "cam-api-secret" "$DAEMON_ERR" "no device password in the daemon's log"
daemon_stop "$DAEMON_PID"
is "$DAEMON_RC" 0 "the daemon stops on SIGTERM with status 0"
assert_daemon_logs_clean
camsim_stop
it_done
