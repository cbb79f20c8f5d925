# Faults on cameras (issue 5, "What it must show", second item): with each fault camsim can
# inject, on the step it hits, the task reports that step and the device's reason for that
# device, the device still serves its previous certificate (checked from outside), the other
# devices finish, and retry-failed succeeds once the faults are cleared.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="devices faults test passphrase"
N=127.24.0
HP=18080
SP=18443

# Devices 1-10 get a fault each; 11 and 12 none. 5 speaks SOAP (9.80), the others REST.
{
	echo '['
	for i in $(seq 1 12); do
		fw=11.11.0
		[ "$i" = 5 ] && fw=9.80.1
		printf ' {"address":"%s.%d","firmware":"%s","user":"root","password":"pw-%d-cam-secret"}%s\n' \
		    "$N" "$i" "$fw" "$i" "$([ "$i" = 12 ] || echo ,)"
	done
	echo ']'
} >"$T/fleet.json"
{
	echo "address,http_port,https_port,user,password,name"
	for i in $(seq 1 12); do echo "$N.$i,$HP,$SP,root,pw-$i-cam-secret,"; done
} >"$T/cams.csv"

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
CA="$D/certs/ca.cert.pem"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --http-port $HP --https-port $SP \
    --keygen-delay-ms 200 || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "twelve cameras imported"

# ---- a first certificate everywhere: the "previous certificate" the faults must not touch
vp "$D" https enable --all --wait
assert_rc 0 "HTTPS is enabled on all twelve"
for i in $(seq 1 12); do
	eval "PREV$i=$(served_fp $N.$i $SP)"
done
check "each device serves a certificate before the faults" test -n "$PREV1" -a -n "$PREV12"

# ---- the faults
fault() { ctl POST "/control/devices/$N.$1/faults" "$2" >/dev/null; }
fault 1 '{"kind":"timeout","op":"key_create"}'
fault 2 '{"kind":"reset","op":"csr_get"}'
fault 3 '{"kind":"401","op":"cert_install"}'
fault 4 '{"kind":"500","op":"tls_set"}'
fault 6 '{"kind":"wrong_csr"}'
fault 7 '{"kind":"garbage","op":"probe"}'
fault 8 '{"kind":"oversize","op":"cert_list"}'
fault 9 '{"kind":"lost_answer","op":"tls_set"}'
fault 10 '{"kind":"reboot","op":"cert_install","count":1,"seconds":3}'
before_put=$(dev_state $N.3 '.requests.replace_certificate // 0')

vp "$D" https update --all --request-timeout 6 --wait --json
assert_rc 1 "the update task ends with failures (exit 1)"
cp "$VP_OUT" "$T/task.json"
# Devices were imported in order: device i is $N.i.

expect() {   # DEVICE STEP REGEX DESC
	is "$(result "$1" status)" "Failed" "$4: the device failed"
	is "$(result "$1" step)" "$2" "$4: at the step $2"
	if result "$1" error | grep -Eqi -- "$3"; then ok "$4: the reason says /$3/"
	else not_ok "$4: the reason says /$3/"; diag "$(result "$1" error)"; fi
	is "$(served_fp $N.$1 $SP)" "$(eval echo "\$PREV$1")" \
	    "$4: the device still serves its previous certificate"
}
expect 1 create-key "timed out|timeout" "timeout while the camera makes its key"
is "$(result 1 attempts)" 3 "an unreachable device is tried three times"
is "$(result 1 retryable)" true "... and a retry may help"
expect 2 sign "reset|closed|recv|empty|failure" "connection reset when the CSR is fetched"
expect 3 install-certificate "user name or password|401" "401 when the certificate is installed"
is "$(result 3 attempts)" 1 "wrong credentials are not tried again (no account lock-out)"
after_put=$(dev_state $N.3 '.requests.replace_certificate // 0')
# One attempt is two requests: Digest's challenge, then the one refused.
check "the camera saw one attempt to install ($before_put -> $after_put requests)" \
    test "$((after_put - before_put))" -le 2
vp "$D" device show 3 --json
is "$(jq -r .status "$VP_OUT")" "Wrong credentials" "device 3 shows Wrong credentials"
expect 4 bind "500" "HTTP 500 when the certificate is bound"
expect 6 sign "not for the key" "a CSR for another key than the one made"
expect 7 identify "JSON|not|garbage|parse" "a garbage answer to the probe"
expect 8 create-key "larger than" "an over-long answer to the certificate list"
expect 9 bind "reset|closed|empty|recv|failure" "answers lost after the binding was applied"
is "$(dev_state $N.9 .bound_fingerprint)" "$PREV9" "the lost-answer device's binding was rolled back"
is "$(result 10 status)" "Finished" "a camera that reboots once is waited for and finishes"
for i in 11 12; do
	is "$(result $i status)" "Finished" "device $i without a fault finishes"
	check "device $i serves a new certificate" test "$(served_fp $N.$i $SP)" != "$(eval echo "\$PREV$i")"
done
is "$(result 5 status)" "Finished" "the SOAP device without a fault finishes"
# A SOAP fault, with the device's words, on the CA step of the SOAP device.
fault 5 '{"kind":"soap_fault","op":"ca_list","reason":"Certificate store is locked"}'
vp "$D" https update 5 --request-timeout 6 --wait --json
cp "$VP_OUT" "$T/task5.json"
is "$(jq -r '.results[0].status' "$T/task5.json")" "Failed" "a SOAP fault fails the device"
is "$(jq -r '.results[0].step' "$T/task5.json")" "install-ca" "... at install-ca"
assert_grep "Certificate store is locked" <(jq -r '.results[0].error' "$T/task5.json") \
    "... with the device's own words"
ctl DELETE "/control/devices/$N.5/faults" >/dev/null

# ---- cleared: retry-failed finishes every device
TASK=$(jq -r .id "$T/task.json")
ctl DELETE "/control/devices/all/faults" >/dev/null
vp "$D" task retry-failed "$TASK" --wait
assert_rc 0 "retry-failed finishes once the faults are cleared"
task_json "$TASK"
is "$(jq -r .state "$T/task.json")" "Finished" "the task is Finished"
is "$(jq '[.results[] | select(.status == "Finished")] | length' "$T/task.json")" 12 \
    "all twelve devices finished"
for i in 1 2 3 4 6 7 8 9; do
	vp "$D" device show "$i" --json
	serial=$(jq -r .certificate.serial "$VP_OUT")
	vp "$D" cert show "$serial" --json
	is "$(served_fp $N.$i $SP)" "$(jq -r .fingerprint "$VP_OUT")" "$N.$i now serves its new certificate"
	if tls_ok $N.$i $SP "$CA"; then ok "$N.$i verifies against the site CA"
	else not_ok "$N.$i verifies against the site CA"; diag_file "$T/.tls.out"; fi
	mine=$(ctl GET /control/devices/$N.$i | jq '[.certificates[] | select(.alias | startswith("vmspki-"))] | length')
	is "$mine" 1 "$N.$i holds one key of ours (the failed attempts left none behind)"
done
vp "$D" device show 3 --json
is "$(jq -r .status "$VP_OUT")" "OK" "device 3 is OK again"

camsim_stop
it_done
