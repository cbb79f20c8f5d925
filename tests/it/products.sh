# Per-product rules at identify (issue 19, item 2): one table of product class, minimum
# firmware, TLS ceiling and HTTPS capability in the VAPIX driver. A camera below firmware 6.10
# speaks TLS 1.1 only (ACS seed) and is reported Unsupported at identify with nothing written
# to it; an access-control product at firmware 1.25 (ADM seed) is enabled; a T85 PoE switch
# cannot do HTTPS (ADM seed). Before the table, every firmware was compared with 5.70: the
# TLS-1.1 camera got a key and a certificate and failed at verify, the door controller was
# Unsupported.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="products test passphrase"
N=127.23.19
P80=18080; P443=18443

cat >"$T/fleet.json" <<EOF2
[
 {"address":"$N.1","model":"P1224-E","firmware":"6.00.1","http_port":$P80,"https_port":$P443,"factory_cert":true,"policy":"both"},
 {"address":"$N.2","model":"A1601","firmware":"1.25.2","http_port":$P80,"https_port":$P443},
 {"address":"$N.3","model":"T8508","firmware":"1.10.2","http_port":$P80,"https_port":$P443},
 {"address":"$N.4","model":"P1367","firmware":"6.50.1.2","http_port":$P80,"https_port":$P443}
]
EOF2

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
CA="$D/certs/ca.cert.pem"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 --user root \
    --password pw-products || it_done
ok "camsim serves a TLS-1.1 camera, a door controller, a PoE switch and a camera"

# camsim's TLS-1.1 camera refuses TLS 1.2 and takes TLS 1.1 (the peer the rule is about).
check_not "the 6.00 camera refuses a TLS 1.2 handshake" \
    openssl s_client -connect "$N.1:$P443" -tls1_2 </dev/null

printf 'pw-products' >"$T/pw"
for i in 1 2 3 4; do
	vp "$D" device add "$N.$i:$P80" --https-port "$P443" --user root --password-file "$T/pw"
	assert_rc 0 "device add $N.$i"
done
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
f() { jq -r --arg a "$1" ".[] | select(.address == \$a) | .$2" "$T/devices.json"; }
for i in 1 2 3 4; do eval "ID$i=$(f $N.$i id)"; done
is "$(f $N.1 https)" "Unsupported firmware" "the TLS-1.1 camera is Unsupported at identify"
assert_grep "TLS 1.1" <(f $N.1 status_detail) "... and its status says why (TLS 1.1 only)"
assert_grep "6.10" <(f $N.1 status_detail) "... and from which firmware it would work"
is "$(f $N.2 api)" "soap" "the door controller at firmware 1.25 is managed (SOAP)"
is "$(f $N.2 https)" "Disabled (Missing server certificate)" "... and has no certificate yet"
is "$(f $N.3 https)" "Unsupported firmware" "the T85 PoE switch is Unsupported"
assert_grep "HTTPS cannot be enabled on AXIS T85" <(f $N.3 status_detail) "... because it has no HTTPS"

vp "$D" https enable --all --wait --json
assert_rc 1 "https enable --all --wait exits 1: two devices cannot be done"
cp "$VP_OUT" "$T/task.json"
is "$(result "$ID1" status)" "Failed" "the TLS-1.1 camera failed"
is "$(result "$ID1" step)" "identify" "... at identify, before anything was written"
assert_grep "TLS 1.1" <(result "$ID1" error) "... saying it speaks TLS 1.1 only"
is "$(result "$ID1" retryable)" "false" "... and that a retry would not help"
is "$(result "$ID3" step)" "identify" "the switch failed at identify"
is "$(result "$ID2" status)" "Finished" "the door controller at firmware 1.25 is enabled"
is "$(result "$ID4" status)" "Finished" "the 6.50 camera is enabled"

written=$(dev_state "$N.1" '[.requests | to_entries[] | select(.key | test("^(create|add_ca|replace|delete|Create|Load|Delete|Set)")) | .value] | add // 0')
is "$written" 0 "nothing was written to the TLS-1.1 camera (no key, CA, certificate or binding request)"
is "$(dev_state "$N.1" '.certificates | length')" 1 "... it still holds only its factory certificate"
is "$(dev_state "$N.3" '.certificates | length')" 0 "nothing was written to the switch"

vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
is "$(f $N.2 https)" "Enabled" "the door controller shows HTTPS Enabled"
check "its HTTPS port verifies against the site CA and its IP" tls_ok "$N.2" "$P443" "$CA"
check "the door controller serves the certificate vmspki issued" \
    test "$(served_fp "$N.2" "$P443")" = "$(dev_state "$N.2" .bound_fingerprint)"
is "$(f $N.1 https)" "Unsupported firmware" "the TLS-1.1 camera still shows Unsupported after the task"
assert_grep "TLS 1.1" <(f $N.1 status_detail) "... with the reason in its status"

camsim_stop
it_done
