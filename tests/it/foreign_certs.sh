# Certificates and CA certificates other tools left on a camera (issue 19, item 11): AXIS Camera
# Station and AXIS Device Manager name theirs "[GS] ...", "[CA] ..." (ACS seed). A site moving
# to vmspki sees them in `device show` once a task has looked, and `https update --clean`
# removes them after its own certificate is verified, never the factory certificate and never
# a certificate without such a header. Before, they were neither shown nor removed.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="foreign certs test passphrase"
N=127.23.22
P80=18080; P443=18443
cat >"$T/fleet.json" <<EOF2
[ {"address":"$N.1","firmware":"11.11.0","http_port":$P80,"https_port":$P443} ]
EOF2
vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 --user root \
    --password pw-fg || it_done

# What ACS left: its device certificate (a key on the camera) and its CA; the operator's own
# certificate without a header stays whatever happens.
R="http://$N.1:$P80/config/rest/cert/v1"
put() { # PATH JSONFILE
	printf 'user = "root:pw-fg"\n' >"$T/.curlcfg"
	curl -sS --max-time 20 --digest -K "$T/.curlcfg" -o "$T/.put.out" -w '%{http_code}' \
	    -X POST -H 'Content-Type: application/json' --data-binary "@$2" "$R/$1"
}
for a in "[GS]_D0CD1_device-example-P1367" "operator-own"; do
	jq -n --arg a "$a" '{data:{alias:$a,key_type:"EC-P256",subject:"CN=old"}}' >"$T/c.json"
	is "$(put create_certificate "$T/c.json")" 200 "camsim holds certificate $a"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/acs.key" \
    -out "$T/acs.pem" -days 365 -subj "/CN=AXIS Camera Station Root CA" 2>/dev/null
jq -n --arg p "$(cat "$T/acs.pem")" '{data:{alias:"[CA] AXIS Camera Station",certificate:$p}}' \
    >"$T/ca.json"
put ca_certificates "$T/ca.json" >"$T/.st"
check "camsim holds ACS's CA certificate" grep -q '^20' "$T/.st"

printf 'pw-fg' >"$T/pw"
vp "$D" device add "$N.1:$P80" --https-port "$P443" --user root --password-file "$T/pw"
assert_rc 0 "device add"
ID=1
vp "$D" device show "$ID"
assert_grep "not looked at yet" "$VP_OUT" "before any task, device show says it has not looked"

vp "$D" https enable "$ID" --wait
assert_rc 0 "https enable"
vp "$D" device show "$ID" --json
cp "$VP_OUT" "$T/show.json"
is "$(jq -r '[.other_tools.certificates[].alias] | join(",")' "$T/show.json")" \
    "[GS]_D0CD1_device-example-P1367" "device show --json lists ACS's device certificate"
is "$(jq -r '[.other_tools.ca_certificates[].alias] | join(",")' "$T/show.json")" \
    "[CA] AXIS Camera Station" "... and ACS's CA certificate"
vp "$D" device show "$ID"
assert_grep "other tools' CA certificate: *\[CA\] AXIS Camera Station" "$VP_OUT" \
    "device show prints them"
is "$(dev_state "$N.1" '[.certificates[].alias | select(startswith("[GS]"))] | length')" 1 \
    "https enable without --clean leaves them on the camera"

vp "$D" https update "$ID" --clean --wait
assert_rc 0 "https update --clean"
aliases=$(dev_state "$N.1" '[.certificates[].alias] | sort | join(",")')
cas=$(dev_state "$N.1" '[.ca_certificates[].alias] | join(",")')
assert_no_grep '\[GS\]' <(echo "$aliases") "ACS's device certificate is removed"
assert_no_grep '\[CA\]' <(echo "$cas") "ACS's CA certificate is removed"
assert_grep "Default HTTPS" <(echo "$aliases") "the factory certificate stays"
assert_grep "operator-own" <(echo "$aliases") "a certificate without a tool's header stays"
assert_grep "vmspki-ca-" <(echo "$cas") "the site CA stays"
check "the camera serves vmspki's certificate, verified" tls_ok "$N.1" "$P443" "$D/certs/ca.cert.pem"
vp "$D" device show "$ID" --json
is "$(jq -r '(.other_tools.certificates | length) + (.other_tools.ca_certificates | length)' \
    "$VP_OUT")" 0 "device show lists nothing left by other tools"

camsim_stop
it_done
