# The nightly job's device check (issue 6, "The nightly job": re-install the CA certificate on
# devices where it is missing; refresh device states). Three simulated cameras with HTTPS
# enabled by vmspki: someone deletes the site CA from one (through the camera's own API), one
# goes down; `vmspki lifecycle run` puts the CA back where it went missing (seen from camsim),
# shows the down camera "Unreachable", and a camera that is back is "OK" after the next run.
# A camera vmspki never enabled is identified but gets no CA.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="device check test passphrase"
N=127.28.0
PW=cam-check-secret

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --count 4 --first "$N.1" --http-port 18080 --https-port 18443 \
    --keygen-delay-ms 50 --password "$PW" --csv-out "$T/cams.csv" --quiet || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "4 cameras imported"
vp "$D" https enable 1 2 3 --wait
assert_rc 0 "HTTPS enabled on cameras 1 to 3"
CA_FP=$(openssl x509 -in "$D/certs/ca.cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
    tr 'A-F' 'a-f')
ALIAS=$(dev_state "$N.1" '.ca_certificates[0].alias')
check "camera 1 holds the site CA ($ALIAS)" test "$(dev_state "$N.1" '.ca_certificates[0].fingerprint')" = "$CA_FP"

# Someone removes the CA through the camera's API (REST v1, Digest).
code=$(curl -s -o /dev/null -w '%{http_code}' --digest -u "root:$PW" -X DELETE \
    "http://$N.1:18080/config/rest/cert/v1/ca_certificates/$ALIAS")
is "$code" 200 "the CA is deleted on camera 1 through its own API"
is "$(dev_state "$N.1" '[.ca_certificates[] | select(.fingerprint == "'"$CA_FP"'")] | length')" 0 \
    "camera 1 no longer holds the site CA"
# Camera 2 stops answering: every connection is reset.
ctl POST "/control/devices/$N.2/faults" '{"kind":"reset"}' >/dev/null

vp "$D" lifecycle run --json
assert_rc 0 "lifecycle run"
LOG=$VP_ERR
CHECK=$(jq -r .check_task "$VP_OUT")
check "the run made a device check task ($CHECK)" test "$CHECK" -gt 0
is "$(jq -r .check_state "$VP_OUT")" "Failed" "the check task ends Failed (camera 2 is down)"
assert_grep "site CA was missing: installed it again" "$LOG" "the run says it put the CA back"
vp "$D" task show "$CHECK" --json
is "$(jq -r .kind "$VP_OUT")" "device-check" "its kind is device-check"
is "$(jq '.devices.total' "$VP_OUT")" 4 "every camera is checked"
is "$(jq -r '.results[] | select(.device_id == 1) | .status' "$VP_OUT")" Finished "camera 1: Finished"
is "$(jq -r '.results[] | select(.device_id == 2) | .status' "$VP_OUT")" Failed "camera 2: Failed"
is "$(dev_state "$N.1" '[.ca_certificates[] | select(.fingerprint == "'"$CA_FP"'")] | length')" 1 \
    "camera 1 holds the site CA again"
is "$(dev_state "$N.4" '.ca_certificates | length')" 0 \
    "camera 4 (HTTPS not enabled by vmspki) got no CA"
check "camera 1 still serves a certificate that verifies against the site CA" \
    tls_ok "$N.1" 18443 "$D/certs/ca.cert.pem"

vp "$D" device list --json
is "$(jq -r '.[] | select(.id == 2) | .status' "$VP_OUT")" "Unreachable" "camera 2 shows Unreachable"
is "$(jq -r '.[] | select(.id == 1) | .status' "$VP_OUT")" "OK" "camera 1 shows OK"
is "$(jq -r '.[] | select(.id == 2) | .https' "$VP_OUT")" "Enabled" \
    "camera 2 keeps HTTPS Enabled (its certificate is still there)"

# Back up: the next run shows it OK again, and puts nothing twice.
ctl DELETE "/control/devices/$N.2/faults" >/dev/null
vp "$D" lifecycle run --json
assert_rc 0 "lifecycle run again"
is "$(jq -r .check_state "$VP_OUT")" "Finished" "the second check task Finished"
vp "$D" device list --json
is "$(jq -r '.[] | select(.id == 2) | .status' "$VP_OUT")" "OK" "camera 2 shows OK again"
is "$(dev_state "$N.1" '[.ca_certificates[] | select(.fingerprint == "'"$CA_FP"'")] | length')" 1 \
    "camera 1 holds the site CA once"
it_done
