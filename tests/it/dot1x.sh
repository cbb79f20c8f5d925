# IEEE 802.1X on a mixed fleet of simulated cameras (issue 18): vmspki dot1x enable puts an
# EAP-TLS client certificate made on each camera (SOAP and REST firmware) and switches 802.1X on;
# a real FreeRADIUS (freeradius -X on loopback ports, configured by vmspki dot1x radius-config)
# and eapol_test, authenticating with the key and certificate camsim keeps for each camera,
# accept them; another CA's certificate, an expired one and a wrong CN are rejected; faults in
# the middle of the change leave each camera with the 802.1X configuration it had.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="dot1x test passphrase"
P80=$(pick_port) && P443=$(pick_port) || { not_ok "free ports"; it_done; }
N=127.24.$((RANDOM % 200 + 1))

cat >"$T/fleet.json" <<EOF
[
 {"address":"$N.1","firmware":"9.80.1","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-1-cam-secret"},
 {"address":"$N.2","firmware":"11.11.0","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-2-cam-secret"},
 {"address":"$N.3","firmware":"11.8.0","http_port":$P80,"https_port":$P443,"name":"cam3.site.test","user":"root","password":"pw-3-cam-secret"},
 {"address":"$N.4","firmware":"6.50.1.2","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-4-cam-secret"},
 {"address":"$N.5","firmware":"11.11.0","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-5-cam-secret"},
 {"address":"$N.6","firmware":"10.12.0","http_port":$P80,"https_port":$P443,"user":"root","password":"pw-6-cam-secret"}
]
EOF
PASSWORDS="pw-1-cam-secret pw-2-cam-secret pw-3-cam-secret pw-4-cam-secret pw-5-cam-secret pw-6-cam-secret"
{
	echo "address,http_port,https_port,user,password,name"
	jq -r '.[] | [.address, .http_port, .https_port, .user, .password, (.name // "")] | @csv' \
	    "$T/fleet.json" | tr -d '"'
} >"$T/cams.csv"

vp "$D" ca init --key ec-p256
assert_rc 0 "the CA is made"
CA="$D/certs/ca.cert.pem"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --keygen-delay-ms 100 || it_done
vp "$D" device import "$T/cams.csv"
assert_rc 0 "device import adds the fleet"
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
id_of() { jq -r --arg a "$1" '.[] | select(.address == $a) | .id' "$T/devices.json"; }
for i in 1 2 3 4 5 6; do eval "ID$i=$(id_of $N.$i)"; done
d1x() { dev_state "$1" ".dot1x$2"; }
# st ADDR FILTER: camsim's saved state of the device (certificates with their PEM).
st() { jq -r "$2" "$T/cs/$1/state.json"; }
mac_of() { dev_state "$1" .serial | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//'; }

# ---- enable on SOAP (9.80) and REST (11.11 v1, 11.8 v1beta) cameras; one with --identity name
vp "$D" dot1x enable "$ID1" "$ID2" --wait --json
assert_rc 0 "dot1x enable --wait finishes on a SOAP and a REST camera"
cp "$VP_OUT" "$T/task.json"
is "$(jq -r .kind "$T/task.json")" "dot1x-enable" "the task is a dot1x-enable task"
vp "$D" dot1x enable "$ID3" --identity name --wait
assert_rc 0 "dot1x enable --identity name finishes on an 11.8 (v1beta) camera"
for i in 1 2 3; do
	a=$N.$i
	is "$(d1x $a .enabled)" "true" "$a: 802.1X is on in camsim's state"
	is "$(d1x $a .token)" "vmspki-8021x" "$a: ... with vmspki's configuration"
	is "$(d1x $a '.configurations[0].eap_method')" "13" "$a: EAP method 13 (EAP-TLS)"
	alias=$(d1x $a '.configurations[0].certificate_id')
	case "$alias" in vmspki-8021x-*) ok "$a: its client certificate has an 802.1X alias ($alias)";;
	*) not_ok "$a: its client certificate has an 802.1X alias ($alias)";; esac
	st $a ".certificates[] | select(.alias == \"$alias\") | .certificate" >"$T/c$i.pem"
	ca_alias=$(d1x $a '.configurations[0].ca_certificate_id')
	st $a ".ca_certificates[] | select(.alias == \"$ca_alias\") | .certificate" >"$T/eapca$i.pem"
	is "$(fp "$T/eapca$i.pem")" "$(fp "$CA")" "$a: the EAP CA on the camera is the site CA"
	if openssl verify -CAfile "$CA" -purpose sslclient "$T/c$i.pem" >/dev/null 2>&1; then
		ok "$a: its 802.1X certificate verifies against the site CA for clientAuth"
	else not_ok "$a: its 802.1X certificate verifies against the site CA for clientAuth"; fi
	https_key=$(dev_state $a '.bound')
	[ "$https_key" != "$alias" ] && ok "$a: the 802.1X key is not the HTTPS key" ||
	    not_ok "$a: the 802.1X key is not the HTTPS key"
done
is "$(openssl x509 -in "$T/c1.pem" -noout -subject -nameopt RFC2253)" "subject=CN=$(mac_of $N.1)" \
    "the CN of the SOAP camera's certificate is its MAC"
is "$(d1x $N.2 '.configurations[0].identity')" "$(mac_of $N.2)" "the EAP identity is the MAC"
is "$(openssl x509 -in "$T/c3.pem" -noout -subject -nameopt RFC2253)" "subject=CN=cam3.site.test" \
    "--identity name: the CN is the device's name"
it_done
