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

# The CA starts ten days ago, so that an expired certificate of it can be made (faketime).
faketime -f '-10d' "$VMSPKI" --data "$D" ca init --key ec-p256 >"$T/ca-init.out" 2>&1
assert_eq 0 "$?" "the CA is made"
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

# ---- faults in the middle leave each camera with the 802.1X configuration it had
soap() {   # ADDR PASSWORD INNER: a SOAP request to the camera as its owner would send it
	curl -s --max-time 10 --digest -u "root:$2" -H 'Content-Type: application/soap+xml' \
	    --data-binary "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Body>$3</s:Body></s:Envelope>" \
	    "http://$1:$P80/vapix/services"
}
# camera 5 had an 802.1X configuration of its own before (on, with its factory certificate)
factory=$(dev_state $N.5 '.certificates[0].alias')
soap $N.5 pw-5-cam-secret "<tds:CreateDot1XConfiguration><tds:Dot1XConfiguration><tt:Dot1XConfigurationToken>factory</tt:Dot1XConfigurationToken><tt:Identity>installer-set</tt:Identity><tt:EAPMethod>13</tt:EAPMethod><tt:EAPMethodConfiguration><tt:TLSConfiguration><tt:CertificateID>$factory</tt:CertificateID></tt:TLSConfiguration></tt:EAPMethodConfiguration></tds:Dot1XConfiguration></tds:CreateDot1XConfiguration>" >/dev/null
soap $N.5 pw-5-cam-secret "<tds:SetNetworkInterfaces><tds:InterfaceToken>eth0</tds:InterfaceToken><tds:NetworkInterface><tt:Extension><tt:Dot3><tt:Dot1X><tt:Enabled>true</tt:Enabled><tt:Dot1XConfigurationToken>factory</tt:Dot1XConfigurationToken></tt:Dot1X></tt:Dot3></tt:Extension></tds:NetworkInterface></tds:SetNetworkInterfaces>" >/dev/null
is "$(d1x $N.5 .token)" "factory" "camera 5 starts with an 802.1X configuration of its own"
for i in 1 2 4 5 6; do d1x $N.$i '' >"$T/before$i.json"; done
fault() { ctl POST "/control/devices/$N.$1/faults" "$2" >/dev/null; }
fault 4 '{"kind":"timeout","op":"CreateDot1XConfiguration","count":1}'
fault 5 '{"kind":"soap_fault","op":"SetNetworkInterfaces","count":1,"reason":"Interface busy"}'
# a reset (twice: libcurl sends a request again once when a reused connection dies)
fault 6 '{"kind":"reset","op":"CreateDot1XConfiguration","count":2}'
# a reboot in the middle of the change: the roll-back waits for the camera to come back
fault 2 '{"kind":"reboot","op":"SetNetworkInterfaces","count":1,"seconds":1}'
fault 1 '{"kind":"500","op":"SetDot1XConfiguration","count":1}'
vp "$D" dot1x enable "$ID4" "$ID5" "$ID6" --request-timeout 3 --wait --json
assert_rc 1 "dot1x enable ends Failed when the cameras fail (exit 1)"
cp "$VP_OUT" "$T/task1.json"
vp "$D" dot1x update "$ID1" "$ID2" --wait --json
assert_rc 1 "dot1x update ends Failed when the cameras answer 500 or reboot"
jq -s '{results: (.[0].results + .[1].results)}' "$T/task1.json" "$VP_OUT" >"$T/task.json"
for i in 1 2 4 5 6; do
	eval "id=\$ID$i"
	is "$(result "$id" status)" "Failed" "camera $i (fault) failed"
	is "$(result "$id" step)" "configure-8021x" "camera $i failed at configure-8021x"
	d1x $N.$i '' >"$T/after$i.json"
	if cmp -s <(jq -S 'del(.configurations[].key_file)' "$T/before$i.json") \
	    <(jq -S 'del(.configurations[].key_file)' "$T/after$i.json"); then
		ok "camera $i keeps the 802.1X configuration it had (camsim's state)"
	else
		not_ok "camera $i keeps the 802.1X configuration it had (camsim's state)"
		diag "before: $(jq -c . "$T/before$i.json")" "after:  $(jq -c . "$T/after$i.json")"
	fi
done
assert_grep "Interface busy" <(result "$ID5" error) "the SOAP fault's words are in the result"
assert_grep "HTTP 500" <(result "$ID1" error) "the 500 is in the result"
assert_grep "did not answer in time" <(result "$ID4" error) "the timeout is in the result"
assert_grep "reset|closed|recv|reached" <(result "$ID6" error) "the reset is in the result"
for i in 1 2 4 5 6; do ctl DELETE "/control/devices/$N.$i/faults" >/dev/null; done
vp "$D" dot1x enable "$ID4" "$ID5" "$ID6" --wait
assert_rc 0 "without the faults, dot1x enable finishes on them"
vp "$D" dot1x update "$ID1" --wait
assert_rc 0 "dot1x update renews camera 1's 802.1X certificate"
is "$(d1x $N.5 '.configurations | length')" "2" "camera 5 keeps its own configuration beside ours"
is "$(d1x $N.5 .token)" "vmspki-8021x" "camera 5 now uses ours"
n1=$(st $N.1 '[.certificates[].alias | select(startswith("vmspki-8021x-"))] | length')
is "$n1" "1" "after the renewal one 802.1X certificate of ours is left on camera 1"

# ---- the device list shows 802.1X
vp "$D" device list --json
cp "$VP_OUT" "$T/devices.json"
dj() { jq -r --argjson id "$1" ".[] | select(.id == \$id) | .$2" "$T/devices.json"; }
for i in 1 2 3 4 5 6; do
	eval "id=\$ID$i"
	is "$(dj "$id" dot1x)" "Enabled" "device list shows camera $i's 802.1X Enabled"
done
c6=$(st $N.6 ".certificates[] | select(.alias == \"$(d1x $N.6 '.configurations[0].certificate_id')\") | .certificate")
is "$(dj "$ID6" dot1x_not_after)" "$(date -u -d "$(openssl x509 -noout -enddate <<<"$c6" | sed 's/notAfter=//')" +%Y-%m-%dT%H:%M:%SZ)" \
    "... with its certificate's end"
is "$(dj "$ID1" dot1x_status)" "Finished" "... and the latest task's outcome"

# ---- a real FreeRADIUS with the configuration vmspki writes
command -v freeradius >/dev/null && command -v eapol_test >/dev/null || {
	not_ok "freeradius and eapol_test are installed (scripts/deps: freeradius, eapoltest)"; it_done; }
chmod 755 "$T"          # freerad must reach its files under the test's directory
vp "$D" dot1x radius-config --out "$T/radius" --name radius.site.test --ip 127.0.0.1
assert_rc 0 "dot1x radius-config writes the RADIUS side"
assert_mode 600 "$T/radius/radius.key" "the RADIUS key is 0600"
if openssl verify -CAfile "$CA" -purpose sslserver "$T/radius/radius.pem" >/dev/null 2>&1; then
	ok "the RADIUS server certificate verifies for serverAuth"
else not_ok "the RADIUS server certificate verifies for serverAuth"; fi
RP=$(pick_port) || { not_ok "a free port for RADIUS"; it_done; }
cp -a /etc/freeradius/3.0 "$T/raddb"
rm -f "$T/raddb/sites-enabled/"*          # the inner tunnel (127.0.0.1:18120) is not needed
cp "$T/radius/eap" "$T/raddb/mods-available/eap"
cat >"$T/raddb/sites-enabled/vmspki-test" <<EOF
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $RP
	}
	authorize {
		eap {
			ok = return
		}
	}
	authenticate {
		eap
	}
	post-auth {
		Post-Auth-Type REJECT {
			attr_filter.access_reject
		}
	}
}
EOF
chown -R freerad:freerad "$T/raddb" "$T/radius/radius.key"
freeradius -X -d "$T/raddb" >"$T/freeradius.log" 2>&1 &
RAD_PID=$!
track_pid "$RAD_PID"
for ((w = 0; w < 100; w++)); do
	grep -q "Ready to process requests" "$T/freeradius.log" && break
	pid_alive "$RAD_PID" || break
	sleep 0.2
done
if grep -q "Ready to process requests" "$T/freeradius.log"; then ok "freeradius starts with the eap module"
else not_ok "freeradius starts with the eap module"; diag_file "$T/freeradius.log" 30; it_done; fi

# eap_try NAME IDENTITY CERT KEY: eapol_test's verdict (SUCCESS or FAILURE)
eap_try() {
	cat >"$T/eapol.$1.conf" <<EOF
network={
	key_mgmt=IEEE8021X
	eap=TLS
	identity="$2"
	ca_cert="$T/radius/ca.pem"
	client_cert="$3"
	private_key="$4"
	eapol_flags=0
}
EOF
	timeout 30 eapol_test -c "$T/eapol.$1.conf" -a 127.0.0.1 -p "$RP" -s testing123 -t 10 \
	    >"$T/eapol.$1.out" 2>&1
	tail -n 1 "$T/eapol.$1.out"
}
for i in 1 2 3 4 5 6; do
	a=$N.$i
	ident=$(d1x $a '.configurations[] | select(.token == "vmspki-8021x") | .identity')
	alias=$(d1x $a '.configurations[] | select(.token == "vmspki-8021x") | .certificate_id')
	key=$(d1x $a '.configurations[] | select(.token == "vmspki-8021x") | .key_file')
	st $a ".certificates[] | select(.alias == \"$alias\") | .certificate" >"$T/cam$i.pem"
	is "$(eap_try cam$i "$ident" "$T/cam$i.pem" "$key")" "SUCCESS" \
	    "camera $i ($(dev_state $a .api)) gets Access-Accept with its installed key and certificate"
done
grep -q "Sent Access-Accept" "$T/freeradius.log" && ok "freeradius says Access-Accept" ||
    not_ok "freeradius says Access-Accept"

# another CA's certificate with the right CN
ident1=$(d1x $N.1 '.configurations[] | select(.token == "vmspki-8021x") | .identity')
key1=$(d1x $N.1 '.configurations[] | select(.token == "vmspki-8021x") | .key_file')
mk_key ec-p256 "$T/other-ca.key"
openssl req -x509 -new -key "$T/other-ca.key" -subj "/CN=Other CA" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -out "$T/other-ca.pem" 2>/dev/null
openssl req -new -key "$key1" -subj "/CN=$ident1" -out "$T/other.csr" 2>/dev/null
openssl x509 -req -in "$T/other.csr" -CA "$T/other-ca.pem" -CAkey "$T/other-ca.key" \
    -set_serial 7 -days 30 -extfile <(printf 'extendedKeyUsage=clientAuth\n') \
    -out "$T/other.pem" 2>/dev/null
is "$(eap_try other "$ident1" "$T/other.pem" "$key1")" "FAILURE" \
    "a certificate from another CA gets Access-Reject"
# the camera's own certificate and key with another identity: check_cert_cn
is "$(eap_try wrongcn "ac:cc:8e:99:99:99" "$T/cam1.pem" "$key1")" "FAILURE" \
    "a certificate whose CN is not the identity gets Access-Reject"
# an expired certificate of the site CA (issued with the clock three days back, for one day)
openssl req -new -key "$key1" -subj "/CN=$ident1" -out "$T/exp.csr" 2>/dev/null
faketime -f '-3d' "$VMSPKI" --data "$D" issue --profile device-8021x \
    --csr "$T/exp.csr" --days 1 --out "$T/expired.pem" >"$T/exp.out" 2>&1
if [ -s "$T/expired.pem" ] && ! openssl x509 -in "$T/expired.pem" -noout -checkend 0 >/dev/null 2>&1
then ok "the expired certificate is expired"; else not_ok "the expired certificate is expired"; fi
is "$(eap_try expired "$ident1" "$T/expired.pem" "$key1")" "FAILURE" \
    "an expired certificate gets Access-Reject"
is "$(eap_try again "$ident1" "$T/cam1.pem" "$key1")" "SUCCESS" \
    "camera 1 is still accepted afterwards"
grep -q "Sent Access-Reject" "$T/freeradius.log" && ok "freeradius says Access-Reject" ||
    not_ok "freeradius says Access-Reject"

# ---- the same through the REST API
daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
printf '{"devices":[%s],"identity":"serial"}' "$ID2" >"$T/body.json"
api POST /api/v1/dot1x/update "$ADMIN_TOKEN" "$T/body.json"
assert_status 201 "POST /api/v1/dot1x/update makes the task"
tid=$(jq -r .id "$API_BODY")
is "$(jq -r .kind "$API_BODY")" "dot1x-update" "... a dot1x-update task"
for ((w = 0; w < 600; w++)); do
	api GET "/api/v1/tasks/$tid" "$ADMIN_TOKEN"
	case "$(jq -r .state "$API_BODY")" in Finished|Failed|Cancelled) break;; esac
	sleep 0.2
done
is "$(jq -r .state "$API_BODY")" "Finished" "the daemon runs it to Finished"
is "$(d1x $N.2 '.configurations[] | select(.token == "vmspki-8021x") | .identity')" \
    "$(dev_state $N.2 .serial)" "identity serial: the camera's EAP identity is its serial number"
printf '{"all":true,"identity":"colour"}' >"$T/body.json"
api POST /api/v1/dot1x/enable "$ADMIN_TOKEN" "$T/body.json"
assert_status 422 "an unknown identity: 422"
api GET /api/v1/dot1x "$ADMIN_TOKEN"
assert_status 200 "GET /api/v1/dot1x"
is "$(jq -r .eap_ca "$API_BODY")" "null" "... says none was set (the site CA serves)"
daemon_stop "$DAEMON_PID"

# ---- the nightly job renews 802.1X certificates near their end, keeping each identity
alias3=$(d1x $N.3 '.configurations[] | select(.token == "vmspki-8021x") | .certificate_id')
alias1=$(d1x $N.1 '.configurations[] | select(.token == "vmspki-8021x") | .certificate_id')
faketime -f '+345d' "$VMSPKI" --data "$D" lifecycle run >"$T/lc.out" 2>&1
assert_eq 0 "$?" "lifecycle run 345 days later finishes"
grep -q "renewing the 802.1X certificates" "$T/lc.out" && ok "it renews the 802.1X certificates" ||
    { not_ok "it renews the 802.1X certificates"; diag_file "$T/lc.out" 20; }
new3=$(d1x $N.3 '.configurations[] | select(.token == "vmspki-8021x") | .certificate_id')
new1=$(d1x $N.1 '.configurations[] | select(.token == "vmspki-8021x") | .certificate_id')
[ -n "$new3" ] && [ "$new3" != "$alias3" ] && [ -n "$new1" ] && [ "$new1" != "$alias1" ] &&
    ok "the cameras use new 802.1X certificates ($new1, $new3)" ||
    not_ok "the cameras use new 802.1X certificates ($alias1 -> $new1, $alias3 -> $new3)"
is "$(d1x $N.3 '.configurations[] | select(.token == "vmspki-8021x") | .identity')" \
    "cam3.site.test" "the camera enabled with --identity name keeps its identity"
is "$(d1x $N.1 .enabled)" "true" "802.1X stays on"

# ---- another EAP CA (the RADIUS server's certificate from elsewhere): kept, installed
vp "$D" dot1x enable "$ID6" --eap-ca "$T/radius/radius.pem" --wait
assert_rc 1 "--eap-ca with a file that is not one CA certificate is refused"
assert_grep "not a CA|more than one" "$VP_ERR" "... saying why"
vp "$D" dot1x update "$ID6" --eap-ca "$T/other-ca.pem" --wait
assert_rc 0 "dot1x update --eap-ca FILE finishes"
eap6=$(d1x $N.6 '.configurations[] | select(.token == "vmspki-8021x") | .ca_certificate_id')
st $N.6 ".ca_certificates[] | select(.alias == \"$eap6\") | .certificate" >"$T/eap6.pem"
is "$(fp "$T/eap6.pem")" "$(fp "$T/other-ca.pem")" "camera 6 now trusts the other EAP CA for the RADIUS server"

# ---- no secret anywhere
for pw in $PASSWORDS; do
	for f in "$VP_LOG" "$T/freeradius.log" "$CAMSIM_ERR"; do
		if grep -qF -- "$pw" "$f"; then not_ok "a device password is in $(basename "$f")"; fi
	done
	if sqlite3 "$D/vmspki.db" .dump | grep -qF -- "$pw"; then
		not_ok "a device password is in the database"
	fi
done
ok "no device password checked in any output, log or database row"
if grep -q -- "PRIVATE KEY" "$VP_LOG" || sqlite3 "$D/vmspki.db" .dump | grep -q "PRIVATE KEY"; then
	not_ok "no private key in vmspki's output or database"
else ok "no private key in vmspki's output or database"; fi
kill "$RAD_PID" 2>/dev/null
it_done
