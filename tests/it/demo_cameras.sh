# The camera demo beside the README's main command (issue 5, item 6): scripts/demo-cameras
# makes a CA, starts simulated cameras, imports them and (VP_DEMO_NO_SERVE=1) enables HTTPS on
# all of them; a second run keeps the CA, the cameras' state and the inventory.
. "$(dirname "$0")/lib.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

preset=$(basename "${VP_BUILD_DIR:?}")
D="$T/demo"
run_demo() {
	VP_DEMO_PRESET=$preset VP_DEMO_DATA=$D VP_DEMO_NO_SERVE=1 \
	    timeout 600 "${VP_SOURCE_DIR:?}/scripts/demo-cameras" 3 >"$T/demo.out" 2>&1
}
run_demo
is "$?" 0 "scripts/demo-cameras 3 runs to its end"
is "$(grep -c 'HTTPS enabled with certificate' "$T/demo.out")" 3 "three cameras got their certificate"
vp "$D" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" 3 "the inventory shows three cameras Enabled"
if openssl s_client -connect 127.30.0.2:8443 -CAfile "$D/certs/ca.cert.pem" -verify_return_error \
    -verify_ip 127.30.0.2 </dev/null >"$T/tls.out" 2>&1; then
	not_ok "the cameras stop with the demo"
else
	ok "the cameras stop with the demo"
fi
ca1=$(fp "$D/certs/ca.cert.pem")
run_demo
is "$?" 0 "a second run works on the same data"
is "$(fp "$D/certs/ca.cert.pem")" "$ca1" "it keeps the CA"
assert_grep "already" "$T/demo.out" "it says the cameras are already in the inventory"
vp "$D" device list --json
is "$(jq length "$VP_OUT")" 3 "the inventory still holds three cameras"
assert_no_file "$D/camsim/cameras.csv" "the cameras' CSV (it holds their password) is not left behind"
assert_mode 600 "$D/camsim/password" "the cameras' password file is 0600"
it_done
