#!/usr/bin/env bash
# camsim, the camera simulator, checked from outside like a camera: curl --digest (MD5 and
# SHA-256, wrong password, stale and replayed nonces computed by hand), basicdeviceinfo and
# param.cgi, the REST flow (create_certificate -> get_csr -> sign with a throwaway CA -> PATCH
# -> bind over SOAP) and the SOAP flow (CreateCertificate2 -> GetPkcs10Request2 ->
# LoadCertificates -> bind), with openssl s_client seeing each new certificate without a
# restart; HTTPS-only closing the HTTP port; old firmware; a full store; every fault from the
# control endpoint; a restart keeping the state; keys never in an answer, passwords never in
# the log. Devices live on 127.21.R.x (R random) and ports picked at random.
. "$(dirname "$0")/lib.bash"
it_init curl jq openssl xmllint md5sum sha256sum

CAMSIM=${CAMSIM:-${VP_BUILD_DIR:-}/tools/camsim/camsim}
if [ ! -x "$CAMSIM" ]; then
	not_ok "the camsim binary is executable ($CAMSIM)"
	it_done
fi

NET="127.21.$((RANDOM % 250 + 1))"
HP=$(pick_port) && SP=$(pick_port) && CP=$(pick_port) || { not_ok "free ports"; it_done; }
[ "$HP" != "$SP" ] || SP=$((HP + 1))
CTL="$NET.250:$CP"
STATE="$T/state"
A11="$NET.1" A98="$NET.2" A65="$NET.3" A55="$NET.4" A118="$NET.5" AFULL="$NET.6"
APOL="$NET.7"
cat >"$T/fleet.json" <<EOF
[
 {"address":"$A11","http_port":$HP,"https_port":$SP,"firmware":"11.11.0","model":"P1367","user":"root","password":"pw-eleven"},
 {"address":"$A98","http_port":$HP,"https_port":$SP,"firmware":"9.80.1","user":"root","password":"pw-nine"},
 {"address":"$A65","http_port":$HP,"https_port":$SP,"firmware":"6.50.1.2","user":"root","password":"pw-six"},
 {"address":"$A55","http_port":$HP,"https_port":$SP,"firmware":"5.50.9.2","user":"root","password":"pw-five","faults":[{"kind":"garbage","op":"param","count":1}]},
 {"address":"$A118","http_port":$HP,"https_port":$SP,"firmware":"11.8.0","user":"admin","password":"pw-sha","digest":["SHA-256"]},
 {"address":"$AFULL","http_port":$HP,"https_port":$SP,"firmware":"11.11.0","password":"pw-full","store_slots":2},
 {"address":"$APOL","http_port":$HP,"https_port":$SP,"firmware":"7.30.1","password":"pw-pol","policy":"https","basic_auth":true}
]
EOF
PASSWORDS="pw-eleven pw-nine pw-six pw-five pw-sha pw-full pw-pol"

CAM_N=0
# cam_start [ARGS...]: camsim on the fleet, waits for its control endpoint; CAM_PID, CAM_ERR.
cam_start() {
	local i
	CAM_N=$((CAM_N + 1))
	CAM_ERR="$T/camsim.$CAM_N.err"
	"$CAMSIM" --state "$STATE" --fleet "$T/fleet.json" --control "$CTL" --keygen-delay-ms 300 \
	    "$@" </dev/null >"$T/camsim.$CAM_N.out" 2>"$CAM_ERR" &
	CAM_PID=$!
	track_pid "$CAM_PID"
	for ((i = 0; i < 600; i++)); do
		pid_alive "$CAM_PID" || return 1
		curl -s --max-time 2 "http://$CTL/control/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ctl METHOD PATH [JSON]: the control endpoint; CTL_STATUS, CTL_BODY.
ctl() {
	local a=(-s --max-time 30 -o "$T/ctl.body" -w '%{http_code}' -X "$1")
	[ -n "${3:-}" ] && a+=(-H 'Content-Type: application/json' --data-binary "$3")
	CTL_STATUS=$(curl "${a[@]}" "http://$CTL$2")
	CTL_BODY="$T/ctl.body"
}

# cam METHOD URL USER:PASS [BODYFILE] [CONTENT-TYPE]: one request with curl --digest; sets
# CAM_STATUS (000 without an answer), CAM_RC (curl's exit), CAM_BODY. Every answer is also
# kept in $T/answers/ to look for private keys at the end.
CAM_REQ=0
mkdir -p "$T/answers"
cam() {
	local a
	CAM_REQ=$((CAM_REQ + 1))
	CAM_BODY="$T/answers/$CAM_REQ"
	a=(-sS --max-time 20 -k --digest -o "$CAM_BODY" -w '%{http_code}' -X "$1" -H 'Expect:')
	printf 'user = "%s"\n' "$3" >"$T/.curlcfg"
	a+=(-K "$T/.curlcfg")
	[ -n "${4:-}" ] && a+=(-H "Content-Type: ${5:-application/json}" --data-binary "@$4")
	: >"$CAM_BODY"
	CAM_STATUS=$(curl "${a[@]}" "$2" 2>"$T/.cam.err")
	CAM_RC=$?
	[ -n "$CAM_STATUS" ] || CAM_STATUS=000
	return 0
}

assert_cam() {
	if [ "$CAM_STATUS" = "$1" ]; then
		ok "$2 (HTTP $CAM_STATUS)"
	else
		not_ok "$2 (expected HTTP $1, got $CAM_STATUS, curl exit $CAM_RC)"
		diag_file "$CAM_BODY" 5
	fi
}

SOAP_OPEN='<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:acertificates="http://www.axis.com/vapix/ws/certificates" xmlns:acert="http://www.axis.com/vapix/ws/cert" xmlns:aweb="http://www.axis.com/vapix/ws/webserver" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><SOAP-ENV:Body>'
SOAP_CLOSE='</SOAP-ENV:Body></SOAP-ENV:Envelope>'
# soap URL USER:PASS OPERATION-XML
soap() {
	printf '%s%s%s' "$SOAP_OPEN" "$3" "$SOAP_CLOSE" >"$T/soap.req"
	cam POST "$1" "$2" "$T/soap.req" 'application/soap+xml; charset=utf-8'
}
# xpath_text FILE LOCALNAME: the text of the first element with that local name.
xpath_text() { xmllint --xpath "string((//*[local-name()='$2'])[1])" "$1" 2>/dev/null; }

# served_fp ADDR: SHA-256 fingerprint of the certificate a new TLS connection gets.
served_fp() {
	openssl s_client -connect "$1:$SP" </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
file_fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'; }

# port_open ADDR PORT
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---------------------------------------------------------------- start
if cam_start --csv-out "$T/fleet.csv"; then
	ok "camsim started with a fleet of 7 (control on $CTL)"
else
	not_ok "camsim started"
	diag_file "$CAM_ERR" 20
	it_done
fi
assert_grep '^address,http_port,https_port,user,password,name$' "$T/fleet.csv" "--csv-out has the import header"
assert_eq 8 "$(wc -l <"$T/fleet.csv")" "--csv-out has one line per device"
assert_grep "^$A118,$HP,$SP,admin,pw-sha," "$T/fleet.csv" "--csv-out line: address,ports,user,password,name"
assert_mode 600 "$T/fleet.csv" "--csv-out is readable by its owner only (passwords)"
ctl GET /control/devices
assert_eq 7 "$(jq length "$CTL_BODY")" "the control endpoint lists 7 devices"
assert_eq "rest soap soap unsupported rest-beta rest soap" "$(jq -r '[.[].api] | join(" ")' "$CTL_BODY")" \
    "API by firmware: 11.11 rest, 9.80 soap, 6.50 soap, 5.50 unsupported, 11.8 rest-beta"

# ---------------------------------------------------------------- digest
BDI='{"apiVersion":"1.0","context":"it","method":"getAllProperties"}'
printf '%s' "$BDI" >"$T/bdi.json"
cam POST "http://$A11:$HP/axis-cgi/basicdeviceinfo.cgi" root:pw-eleven "$T/bdi.json"
assert_cam 200 "basicdeviceinfo with Digest (MD5)"
assert_eq "ACCC8E15$(printf '%02X' "${NET##*.}")01 11.11.0 P1367 AXIS" \
    "$(jq -r '.data.propertyList | "\(.SerialNumber) \(.Version) \(.ProdNbr) \(.Brand)"' "$CAM_BODY")" \
    "basicdeviceinfo: serial (the MAC), firmware, model, brand"
assert_eq it "$(jq -r .context "$CAM_BODY")" "basicdeviceinfo echoes the context"
cam POST "http://$A11:$HP/axis-cgi/basicdeviceinfo.cgi" root:wrong "$T/bdi.json"
assert_cam 401 "a wrong password gets 401"
cam POST "http://$A11:$HP/axis-cgi/basicdeviceinfo.cgi" nobody:pw-eleven "$T/bdi.json"
assert_cam 401 "a wrong user gets 401"
cam POST "http://$A118:$HP/axis-cgi/basicdeviceinfo.cgi" admin:pw-sha "$T/bdi.json"
assert_cam 200 "a device offering only SHA-256 Digest: curl authenticates"
curl -s -D "$T/hdr" -o /dev/null "http://$A118:$HP/axis-cgi/basicdeviceinfo.cgi" -d "$BDI"
assert_grep 'WWW-Authenticate: Digest realm="AXIS_ACCC8E[0-9A-F]{6}", nonce="[0-9a-f]+", algorithm=SHA-256, qop="auth"' \
    "$T/hdr" "the challenge: realm AXIS_<serial>, SHA-256, qop=auth"
assert_no_grep 'algorithm=MD5' "$T/hdr" "a SHA-256-only device offers no MD5"
printf 'user = "root:pw-eleven"\n' >"$T/.curlcfg"
st=$(curl -s -o /dev/null -w '%{http_code}' --basic -K "$T/.curlcfg" -d "$BDI" "http://$A11:$HP/axis-cgi/basicdeviceinfo.cgi")
assert_eq 401 "$st" "Basic is refused (not allowed for the device, and never over HTTP)"

# Digest by hand: a 200, then the same nonce after the device forgot it (stale=true), and a
# replayed nc.
URI=/axis-cgi/basicdeviceinfo.cgi
curl -s -D "$T/hdr" -o /dev/null "http://$A11:$HP$URI" -d "$BDI"
md5_nonce() { grep 'algorithm=MD5' "$T/hdr" | grep -o 'nonce="[0-9a-f]*"' | head -n 1 | cut -d'"' -f2; }
NONCE=$(md5_nonce)
REALM=$(grep -o 'realm="[^"]*"' "$T/hdr" | head -n 1 | cut -d'"' -f2)
md5() { printf '%s' "$1" | md5sum | cut -c1-32; }
digest_hdr() { # NC
	local ha1 ha2 resp
	ha1=$(md5 "root:$REALM:pw-eleven")
	ha2=$(md5 "POST:$URI")
	resp=$(md5 "$ha1:$NONCE:$1:c0ffee:auth:$ha2")
	printf 'Authorization: Digest username="root", realm="%s", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="c0ffee", response="%s"\n' \
	    "$REALM" "$NONCE" "$URI" "$1" "$resp" >"$T/.auth"
}
hand() { curl -s -D "$T/hdr2" -o "$T/hand.body" -w '%{http_code}' -H "@$T/.auth" -H 'Content-Type: application/json' -d "$BDI" "http://$A11:$HP$URI"; }
digest_hdr 00000001
assert_eq 200 "$(hand)" "a Digest response computed by hand (MD5, qop=auth, nc 1) is accepted"
assert_eq 401 "$(hand)" "the same nc again (a replay) is refused"
assert_grep 'stale=true' "$T/hdr2" "... with stale=true (a new challenge, not 'wrong password')"
digest_hdr 00000002
assert_eq 200 "$(hand)" "the next nc on the same nonce is accepted"
ctl POST "/control/devices/$A11/expire-nonces"
digest_hdr 00000003
assert_eq 401 "$(hand)" "after the device expired its nonces, the old nonce is refused"
assert_grep 'stale=true' "$T/hdr2" "... with stale=true"
curl -s -D "$T/hdr" -o /dev/null "http://$A11:$HP$URI" -d "$BDI"
NONCE=$(md5_nonce)
digest_hdr 00000001
sed -i 's/response="[0-9a-f]/response="x/' "$T/.auth"
assert_eq 401 "$(hand)" "a wrong response on a fresh nonce is refused"
assert_no_grep 'stale=true' "$T/hdr2" "... without stale (the credentials are wrong)"

# ---------------------------------------------------------------- identity on old firmware
cam POST "http://$A65:$HP/axis-cgi/basicdeviceinfo.cgi" root:pw-six "$T/bdi.json"
assert_cam 404 "firmware 6.50 has no basicdeviceinfo (from 8.40)"
cam GET "http://$A65:$HP/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties" root:pw-six
assert_cam 200 "param.cgi answers on 6.50"
assert_grep '^root.Properties.Firmware.Version=6.50.1.2$' "$CAM_BODY" "param.cgi: firmware"
assert_grep '^root.Properties.System.SerialNumber=ACCC8E[0-9A-F]{6}$' "$CAM_BODY" "param.cgi: serial"
assert_grep '^root.Brand.ProdShortName=AXIS ' "$CAM_BODY" "param.cgi: ProdShortName"
cam GET "http://$A55:$HP/axis-cgi/param.cgi?action=list&group=root.Properties" root:pw-five
check_not "a fault from the fleet file: 5.50's first param.cgi answer is garbage" grep -q '^root.Properties.Firmware.Version=5.50.9.2$' "$CAM_BODY"
cam GET "http://$A55:$HP/axis-cgi/param.cgi?action=list&group=root.Properties" root:pw-five
assert_grep '^root.Properties.Firmware.Version=5.50.9.2$' "$CAM_BODY" "... and the second is right (count 1)"
soap "http://$A55:$HP/vapix/services" root:pw-five '<aweb:GetWebServerTlsConfiguration/>'
assert_cam 404 "firmware 5.50: /vapix/services is 404"
cam GET "http://$A55:$HP/config/rest/cert/v1" root:pw-five
assert_cam 404 "firmware 5.50: the REST API is 404"
check_not "firmware 5.50: the HTTPS port is closed" port_open "$A55" "$SP"
check_not "firmware 6.50 (no factory certificate): the HTTPS port is closed" port_open "$A65" "$SP"
check "firmware 7.30 with policy https: the HTTPS port is open" port_open "$APOL" "$SP"
check_not "firmware 7.30 with policy https: the HTTP port is closed" port_open "$APOL" "$HP"
printf 'user = "root:pw-pol"\n' >"$T/.curlcfg"
st=$(curl -sk -o /dev/null -w '%{http_code}' --basic -K "$T/.curlcfg" "https://$APOL:$SP/axis-cgi/param.cgi?action=list")
assert_eq 200 "$st" "Basic over HTTPS where the fleet entry allows it"
soap "http://$A65:$HP/vapix/services" root:pw-six '<aweb:GetWebServerTlsConfiguration/>'
assert_eq "false Http" "$(xpath_text "$CAM_BODY" Tls) $(xpath_text "$CAM_BODY" Admin)" \
    "6.50: GetWebServerTlsConfiguration says Tls false, policy Http"

# ---------------------------------------------------------------- a throwaway CA
mk_root "$T/ca" ec-p256 "camsim test CA" 30 || { not_ok "test CA made"; it_done; }
sign() { # CSR OUT
	openssl x509 -req -in "$1" -CA "$T/ca.pem" -CAkey "$T/ca.key" -days 30 -sha256 \
	    -set_serial "0x$(openssl rand -hex 12)" -copy_extensions copyall -out "$2" 2>/dev/null
}

# ---------------------------------------------------------------- REST flow (11.11)
R="http://$A11:$HP/config/rest/cert/v1"
FP0=$(served_fp "$A11")
ctl GET "/control/devices/$A11"
assert_eq "$FP0" "$(jq -r .bound_fingerprint "$CTL_BODY")" "7.20+: a factory certificate is bound and served"
cam GET "$R" root:pw-eleven
assert_cam 200 "GET /config/rest/cert/v1 (the API data)"
assert_eq "Default HTTPS" "$(jq -r '.data.certificates[0].alias' "$CAM_BODY")" "the API data lists the factory certificate"
cat >"$T/create.json" <<EOF
{"data":{"alias":"vmspki-https-1","key_type":"RSA-2048","subject":"CN=$A11,O=Site","subject_alt_names":["IP:$A11","DNS:cam1.site.test"]}}
EOF
cam POST "$R/create_certificate" root:pw-eleven "$T/create.json"
assert_cam 200 "create_certificate"
assert_eq success "$(jq -r .status "$CAM_BODY")" "create_certificate: status success"
cam POST "$R/create_certificate" root:pw-eleven "$T/create.json"
assert_cam 400 "create_certificate with an alias in use"
assert_eq 5 "$(jq -r .error.code "$CAM_BODY")" "... error code 5 (validation)"
echo '{"data":{"alias":"x","key_type":"DSA-1024","subject":"CN=x"}}' >"$T/bad.json"
cam POST "$R/create_certificate" root:pw-eleven "$T/bad.json"
assert_cam 400 "create_certificate with an unknown key type"
cam PATCH "$R/create_certificate" root:pw-eleven "$T/create.json"
assert_cam 405 "create_certificate with PATCH (v1 takes POST)"
echo '{"data":{}}' >"$T/empty.json"
cam POST "$R/certificates/vmspki-https-1/get_csr" root:pw-eleven "$T/empty.json"
assert_cam 200 "get_csr"
jq -r .data "$CAM_BODY" >"$T/rest.csr"
check "the CSR is a PKCS#10 request signed by its key" openssl req -in "$T/rest.csr" -noout -verify
cam GET "$R/certificates/vmspki-https-1" root:pw-eleven
jq -r .data.certificate "$CAM_BODY" >"$T/rest.self.pem"
assert_eq "$(openssl x509 -in "$T/rest.self.pem" -noout -pubkey)" "$(openssl req -in "$T/rest.csr" -noout -pubkey)" \
    "the CSR's key is the key of the self-signed certificate create_certificate made"
assert_grep "IP Address:$A11" <(openssl req -in "$T/rest.csr" -noout -text) "the CSR carries the SANs asked for"
sign "$T/rest.csr" "$T/rest.leaf.pem" || not_ok "the test CA signed the CSR"
# A certificate for another key is refused like firmware does.
mk_key ec-p256 "$T/other.key"
openssl req -new -key "$T/other.key" -subj "/CN=other" -out "$T/other.csr" 2>/dev/null
sign "$T/other.csr" "$T/other.pem"
jq -n --rawfile c "$T/other.pem" '{data:{certificate:$c}}' >"$T/patch-other.json"
cam PATCH "$R/certificates/vmspki-https-1" root:pw-eleven "$T/patch-other.json"
assert_cam 400 "PATCH with a certificate for another key"
assert_grep 'does not match the private key' "$CAM_BODY" "... says the certificate does not match the key"
jq -n --rawfile c "$T/rest.leaf.pem" '{data:{certificate:$c}}' >"$T/patch.json"
cam PATCH "$R/certificates/nosuch" root:pw-eleven "$T/patch.json"
assert_cam 404 "PATCH of an unknown alias"
cam PATCH "$R/certificates/vmspki-https-1" root:pw-eleven "$T/patch.json"
assert_cam 200 "PATCH certificates/{alias} with the signed certificate"
jq -n --rawfile c "$T/ca.pem" '{data:{alias:"vmspki-ca-test",certificate:$c}}' >"$T/ca.json"
cam POST "$R/ca_certificates" root:pw-eleven "$T/ca.json"
assert_cam 201 "POST ca_certificates"
assert_eq "$FP0" "$(served_fp "$A11")" "until bound, HTTPS still serves the factory certificate"
BIND_HTTPS_ONLY='<aweb:SetWebServerTlsConfiguration><aweb:Configuration><aweb:Tls>true</aweb:Tls><aweb:ConnectionPolicies><aweb:Admin>Https</aweb:Admin></aweb:ConnectionPolicies><aweb:Ciphers><acert:Cipher>ECDHE-RSA-AES128-GCM-SHA256</acert:Cipher></aweb:Ciphers><aweb:CertificateSet><acert:Certificates><acert:Id>vmspki-https-1</acert:Id></acert:Certificates><acert:CACertificates><acert:Id>vmspki-ca-test</acert:Id></acert:CACertificates><acert:TrustedCertificates></acert:TrustedCertificates></aweb:CertificateSet></aweb:Configuration></aweb:SetWebServerTlsConfiguration>'
soap "http://$A11:$HP/vapix/services" root:pw-eleven "$BIND_HTTPS_ONLY"
assert_cam 200 "SetWebServerTlsConfiguration binds it, HTTPS only"
check "openssl s_client verifies the new certificate (chain and IP) without a restart" \
    sh -c "openssl s_client -connect '$A11:$SP' -CAfile '$T/ca.pem' -verify_return_error -verify_ip '$A11' </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"
assert_eq "$(file_fp "$T/rest.leaf.pem")" "$(served_fp "$A11")" "the served certificate is the one just installed"
printf 'user = "root:pw-eleven"\n' >"$T/.curlcfg"
check "curl --cacert over HTTPS works with the new certificate" \
    curl -s --fail --cacert "$T/ca.pem" --digest -K "$T/.curlcfg" "https://$A11:$SP/config/rest/cert/v1/certificates" -o /dev/null
for ((i = 0; i < 50; i++)); do port_open "$A11" "$HP" || break; sleep 0.1; done
check_not "HTTPS only: the HTTP port refuses connections" port_open "$A11" "$HP"
R="https://$A11:$SP/config/rest/cert/v1"
cam DELETE "$R/certificates/vmspki-https-1" root:pw-eleven
assert_cam 400 "deleting the bound certificate is refused"
soap "https://$A11:$SP/vapix/services" root:pw-eleven '<aweb:GetWebServerTlsConfiguration/>'
assert_eq "true Https vmspki-https-1" "$(xpath_text "$CAM_BODY" Tls) $(xpath_text "$CAM_BODY" Admin) $(xpath_text "$CAM_BODY" Id)" \
    "GetWebServerTlsConfiguration: Tls, Https, the bound Id"
cam DELETE "$R/certificates/Default%20HTTPS" root:pw-eleven
assert_cam 200 "DELETE of the unbound factory certificate (alias percent-encoded)"
cam GET "$R/certificates" root:pw-eleven
assert_eq "vmspki-https-1" "$(jq -r '[.data[].alias] | join(",")' "$CAM_BODY")" "the list has the new certificate only"

# ---------------------------------------------------------------- SOAP flow (9.80)
S="http://$A98:$HP/vapix/services"
soap "$S" root:pw-nine "<acertificates:CreateCertificate2><acertificates:Id>vmspki-https-2</acertificates:Id><acertificates:Subject><acert:CN>$A98</acert:CN><acert:O>Site</acert:O></acertificates:Subject><acertificates:ValidNotBefore>2025-01-01T00:00:00</acertificates:ValidNotBefore><acertificates:ValidNotAfter>2035-01-01T00:00:00</acertificates:ValidNotAfter></acertificates:CreateCertificate2>"
assert_cam 200 "CreateCertificate2"
assert_eq vmspki-https-2 "$(xpath_text "$CAM_BODY" Id)" "CreateCertificate2Response has the Id"
soap "$S" root:pw-nine "<acertificates:CreateCertificate2><acertificates:Id>vmspki-https-2</acertificates:Id><acertificates:Subject><acert:CN>x</acert:CN></acertificates:Subject></acertificates:CreateCertificate2>"
assert_cam 500 "CreateCertificate2 with an Id in use: a SOAP fault"
assert_eq "acertificates:CertificateIdInUseFault" "$(xmllint --xpath "string((//*[local-name()='Subcode']/*[local-name()='Subcode']/*[local-name()='Value'])[1])" "$CAM_BODY" 2>/dev/null)" \
    "... with the CertificateIdInUseFault subcode"
soap "$S" root:pw-nine '<acertificates:GetPkcs10Request2><acertificates:Id>vmspki-https-2</acertificates:Id></acertificates:GetPkcs10Request2>'
assert_cam 200 "GetPkcs10Request2"
xpath_text "$CAM_BODY" Pkcs10Request | base64 -d >"$T/soap.csr.der" 2>/dev/null
check "the SOAP CSR is base64 DER PKCS#10 with a valid signature" openssl req -inform DER -in "$T/soap.csr.der" -noout -verify
openssl req -inform DER -in "$T/soap.csr.der" -out "$T/soap.csr" 2>/dev/null
sign "$T/soap.csr" "$T/soap.leaf.pem"
B64=$(openssl x509 -in "$T/soap.leaf.pem" -outform DER | base64 -w 76)
soap "$S" root:pw-nine "<tds:LoadCertificates><tds:NVTCertificate><tt:CertificateID>vmspki-https-2</tt:CertificateID><tt:Certificate><tt:Data>$B64</tt:Data></tt:Certificate></tds:NVTCertificate></tds:LoadCertificates>"
assert_cam 200 "LoadCertificates (base64 with line breaks)"
B64CA=$(openssl x509 -in "$T/ca.pem" -outform DER | base64 -w 0)
soap "$S" root:pw-nine "<tds:LoadCACertificates><tds:CACertificate><tt:CertificateID>vmspki-ca-test</tt:CertificateID><tt:Certificate><tt:Data>$B64CA</tt:Data></tt:Certificate></tds:CACertificate></tds:LoadCACertificates>"
assert_cam 200 "LoadCACertificates"
soap "$S" root:pw-nine '<tds:GetCACertificates/>'
assert_eq vmspki-ca-test "$(xpath_text "$CAM_BODY" CertificateID)" "GetCACertificates lists it"
B64O=$(openssl x509 -in "$T/other.pem" -outform DER | base64 -w 0)
soap "$S" root:pw-nine "<tds:LoadCertificates><tds:NVTCertificate><tt:CertificateID>vmspki-https-2</tt:CertificateID><tt:Certificate><tt:Data>$B64O</tt:Data></tt:Certificate></tds:NVTCertificate></tds:LoadCertificates>"
assert_cam 500 "LoadCertificates with another key's certificate: a fault"
assert_grep 'ter:InvalidCertificate' "$CAM_BODY" "... ter:InvalidCertificate"
soap "$S" root:pw-nine '<aweb:SetWebServerTlsConfiguration><aweb:Configuration><aweb:Tls>true</aweb:Tls><aweb:ConnectionPolicies><aweb:Admin>HttpAndHttps</aweb:Admin></aweb:ConnectionPolicies><aweb:CertificateSet><acert:Certificates><acert:Id>vmspki-https-2</acert:Id></acert:Certificates><acert:CACertificates><acert:Id>vmspki-ca-test</acert:Id></acert:CACertificates></aweb:CertificateSet></aweb:Configuration></aweb:SetWebServerTlsConfiguration>'
assert_cam 200 "SetWebServerTlsConfiguration (HttpAndHttps)"
assert_eq "$(file_fp "$T/soap.leaf.pem")" "$(served_fp "$A98")" "9.80: HTTPS serves the certificate just installed"
check "9.80: HTTP still answers with HttpAndHttps" port_open "$A98" "$HP"
soap "$S" root:pw-nine '<aweb:SetWebServerTlsConfiguration><aweb:Configuration><aweb:Tls>true</aweb:Tls><aweb:CertificateSet><acert:Certificates><acert:Id>nosuch</acert:Id></acert:Certificates></aweb:CertificateSet></aweb:Configuration></aweb:SetWebServerTlsConfiguration>'
assert_cam 500 "binding an unknown Id: a fault"
assert_grep 'ter:CertificateID' "$CAM_BODY" "... ter:CertificateID"
soap "$S" root:pw-nine '<tds:NoSuchOperation/>'
assert_grep 'ter:ActionNotSupported' "$CAM_BODY" "an unknown operation: ter:ActionNotSupported"
printf '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>&a;</SOAP-ENV:Body></SOAP-ENV:Envelope>' >"$T/dtd.xml"
cam POST "$S" root:pw-nine "$T/dtd.xml" 'application/soap+xml'
assert_grep 'ter:TagMismatch' "$CAM_BODY" "a request with a DTD is refused"

# ---------------------------------------------------------------- 11.8: v1beta with PUT
RB="http://$A118:$HP/config/rest/cert"
cam GET "$RB/v1" admin:pw-sha
assert_cam 404 "11.8: /config/rest/cert/v1 is 404"
cam GET "$RB/v1beta" admin:pw-sha
assert_cam 200 "11.8: /config/rest/cert/v1beta answers"
echo '{"data":{"alias":"b1","key_type":"EC-P256","subject":"CN=beta"}}' >"$T/beta.json"
cam POST "$RB/v1beta/create_certificate" admin:pw-sha "$T/beta.json"
assert_cam 405 "v1beta: create_certificate with POST is refused"
cam PUT "$RB/v1beta/create_certificate" admin:pw-sha "$T/beta.json"
assert_cam 200 "v1beta: create_certificate with PUT (EC-P256)"
cam PUT "$RB/v1beta/certificates/b1/get_csr" admin:pw-sha "$T/empty.json"
assert_cam 200 "v1beta: get_csr with PUT"

# ---------------------------------------------------------------- a full store
RF="http://$AFULL:$HP/config/rest/cert/v1"
echo '{"data":{"alias":"f1","key_type":"EC-P256","subject":"CN=f1"}}' >"$T/f1.json"
echo '{"data":{"alias":"f2","key_type":"EC-P256","subject":"CN=f2"}}' >"$T/f2.json"
cam POST "$RF/create_certificate" root:pw-full "$T/f1.json"
assert_cam 200 "store of 2 slots: the second certificate fits"
cam POST "$RF/create_certificate" root:pw-full "$T/f2.json"
assert_cam 400 "store of 2 slots: the third is refused"
assert_grep 'Maximum number of certificates' "$CAM_BODY" "... with a clear error"

# ---------------------------------------------------------------- faults
ctl POST "/control/devices/$A98/faults" '{"kind":"500","op":"probe","count":1}'
assert_eq 200 "$CTL_STATUS" "a fault is added through the control endpoint"
cam GET "http://$A98:$HP/axis-cgi/param.cgi?action=list&group=root.Brand" root:pw-nine
assert_cam 500 "fault 500 on the next probe"
cam GET "http://$A98:$HP/axis-cgi/param.cgi?action=list&group=root.Brand" root:pw-nine
assert_cam 200 "... only once (count 1)"
ctl GET "/control/devices/$A98"
assert_eq "0 2" "$(jq -r '"\(.faults | length) \(.requests.param)"' "$CTL_BODY")" \
    "the control endpoint shows the fault used up and the param requests counted"

ctl POST "/control/devices/$A98/faults" '{"kind":"soap_fault","op":"key_create","reason":"Disk full on the camera"}'
soap "$S" root:pw-nine '<acertificates:CreateCertificate2><acertificates:Id>z</acertificates:Id><acertificates:Subject><acert:CN>z</acert:CN></acertificates:Subject></acertificates:CreateCertificate2>'
assert_cam 500 "soap_fault on key_create"
assert_eq "Disk full on the camera" "$(xpath_text "$CAM_BODY" Text)" "... the Fault carries the reason text"
ctl DELETE "/control/devices/$A98/faults"
assert_eq 0 "$(jq '.faults | length' "$CTL_BODY")" "DELETE clears the faults"

ctl POST "/control/devices/$A118/faults" '{"kind":"soap_fault","op":"key_create","reason":"TPM busy","http_status":503,"code":7,"count":1}'
cam PUT "$RB/v1beta/create_certificate" admin:pw-sha "$T/beta.json"
assert_cam 503 "soap_fault on a REST device: a REST error with the status asked"
assert_eq "error 7 TPM busy" "$(jq -r '"\(.status) \(.error.code) \(.error.message)"' "$CAM_BODY")" "... with code and message"

# Connection faults stay until cleared here: libcurl silently retries a request once when a
# re-used connection dies (as curl --digest's second leg does), so count 1 would not show.
ctl POST "/control/devices/$A98/faults" '{"kind":"reset","op":"probe"}'
cam GET "http://$A98:$HP/axis-cgi/param.cgi?action=list" root:pw-nine
assert_eq 56 "$CAM_RC" "reset: the connection is reset (curl exit 56)"
grep -q 'reset' "$T/.cam.err" && ok "... curl says: $(head -c 80 "$T/.cam.err")" || not_ok "curl says reset: $(head -c 80 "$T/.cam.err")"
ctl DELETE "/control/devices/$A98/faults"
ctl POST "/control/devices/$A98/faults" '{"kind":"timeout","count":1}'
printf 'user = "root:pw-nine"\n' >"$T/.curlcfg"
curl -s --max-time 2 --digest -K "$T/.curlcfg" -o /dev/null "http://$A98:$HP/axis-cgi/param.cgi?action=list" 2>/dev/null
assert_eq 28 "$?" "timeout: the client gives up waiting (curl exit 28)"
ctl GET "/control/devices/$A98"
assert_eq 1 "$(jq .pending_requests "$CTL_BODY")" "timeout: the request is held, never answered"
ctl POST "/control/devices/$A98/faults" '{"kind":"401","op":"probe","count":1}'
cam GET "http://$A98:$HP/axis-cgi/param.cgi?action=list" root:pw-nine
assert_cam 401 "401 fault: the right password gets 401"
ctl POST "/control/devices/$A98/faults" '{"kind":"garbage","op":"cert_list","count":1}'
soap "$S" root:pw-nine '<tds:GetCertificates/>'
check_not "garbage: the answer is not XML" xmllint --noout "$CAM_BODY"
ctl POST "/control/devices/$A98/faults" '{"kind":"oversize","op":"cert_list","count":1,"size":3000000}'
soap "$S" root:pw-nine '<tds:GetCertificates/>'
check "oversize: a 3 MB answer" test "$(stat -c %s "$CAM_BODY")" -ge 3000000

# wrong_csr: the CSR verifies but is not for the device's key.
ctl POST "/control/devices/$A98/faults" '{"kind":"wrong_csr","count":1}'
soap "$S" root:pw-nine '<acertificates:GetPkcs10Request2><acertificates:Id>vmspki-https-2</acertificates:Id></acertificates:GetPkcs10Request2>'
xpath_text "$CAM_BODY" Pkcs10Request | base64 -d >"$T/wrong.der" 2>/dev/null
check "wrong_csr: the CSR still verifies" openssl req -inform DER -in "$T/wrong.der" -noout -verify
if [ "$(openssl req -inform DER -in "$T/wrong.der" -noout -pubkey)" != "$(openssl x509 -in "$T/soap.leaf.pem" -noout -pubkey)" ]; then
	ok "wrong_csr: its key is not the device's key"
else
	not_ok "wrong_csr: its key is not the device's key"
fi

# lost_answer: the change is made, the answer never comes.
soap "$S" root:pw-nine '<acertificates:CreateCertificate2><acertificates:Id>lost1</acertificates:Id><acertificates:Subject><acert:CN>lost</acert:CN></acertificates:Subject></acertificates:CreateCertificate2>'
ctl POST "/control/devices/$A98/faults" '{"kind":"lost_answer","op":"cert_delete"}'
soap "$S" root:pw-nine '<tds:DeleteCertificates><tds:CertificateID>lost1</tds:CertificateID></tds:DeleteCertificates>'
assert_eq 52 "$CAM_RC" "lost_answer: no answer (curl exit 52, empty reply)"
ctl DELETE "/control/devices/$A98/faults"
ctl GET "/control/devices/$A98"
assert_eq 0 "$(jq '[.certificates[] | select(.alias == "lost1")] | length' "$CTL_BODY")" "lost_answer: the deletion was made"

# reboot: both ports down for a while, everything kept.
ctl POST "/control/devices/$A98/faults" '{"kind":"reboot","op":"tls_get","seconds":2,"count":1}'
soap "$S" root:pw-nine '<aweb:GetWebServerTlsConfiguration/>'
check_not "reboot fault: the request gets no answer (curl exit $CAM_RC)" test "$CAM_RC" = 0
ctl GET "/control/devices/$A98"
assert_eq "true false false" "$(jq -r '"\(.down) \(.listening.http) \(.listening.https)"' "$CTL_BODY")" \
    "reboot: the device is down, both ports closed"
for ((i = 0; i < 300; i++)); do port_open "$A98" "$HP" && break; sleep 0.1; done
check "reboot: the HTTP port is back" port_open "$A98" "$HP"
for ((i = 0; i < 50; i++)); do port_open "$A98" "$SP" && break; sleep 0.1; done
assert_eq "$(file_fp "$T/soap.leaf.pem")" "$(served_fp "$A98")" "reboot: it serves the same certificate after"
ctl POST "/control/devices/$A98/faults" '{"kind":"nonsense"}'
assert_eq 400 "$CTL_STATUS" "an unknown fault kind is refused"
assert_grep 'unknown fault kind' "$CTL_BODY" "... with a sentence"
ctl POST "/control/devices/127.0.0.99/faults" '{"kind":"reset"}'
assert_eq 404 "$CTL_STATUS" "a fault for an unknown device is refused"

# ---------------------------------------------------------------- secrets
if grep -l -- '-----BEGIN [A-Z ]*PRIVATE KEY-----' "$T"/answers/* >/dev/null 2>&1; then
	not_ok "no answer of any device holds a private key"
else
	ok "no answer of any device holds a private key ($CAM_REQ answers)"
fi
bad=""
for p in $PASSWORDS; do grep -q -- "$p" "$CAM_ERR" && bad="$bad $p"; done
assert_eq "" "$bad" "no password in camsim's log"
assert_no_grep 'PRIVATE KEY' "$CAM_ERR" "no key in camsim's log"
assert_grep "$A11 https GET /config/rest/cert/v1/certificates list_certificates 200" "$CAM_ERR" \
    "the log has one line per request: device, scheme, method, path, operation, status"
bad=$(find "$STATE" -path '*/keys/*.pem' ! -perm 600 | head -n 3)
assert_eq "" "$bad" "every key file in the state directory is 0600"

# ---------------------------------------------------------------- restart keeps the state
daemon_stop "$CAM_PID" TERM 30
assert_eq 0 "$DAEMON_RC" "SIGTERM: camsim exits 0"
if cam_start; then ok "camsim restarted on the same state"; else not_ok "camsim restarted"; diag_file "$CAM_ERR" 20; fi
assert_eq "$(file_fp "$T/rest.leaf.pem")" "$(served_fp "$A11")" "after a restart: 11.11 serves the certificate installed before"
check_not "after a restart: 11.11 is still HTTPS only" port_open "$A11" "$HP"
assert_eq "$(file_fp "$T/soap.leaf.pem")" "$(served_fp "$A98")" "after a restart: 9.80 serves its certificate"
cam GET "https://$A11:$SP/config/rest/cert/v1/ca_certificates" root:pw-eleven
assert_eq vmspki-ca-test "$(jq -r '.data[0].alias' "$CAM_BODY")" "after a restart: the CA certificate is there"
cam POST "https://$A11:$SP/config/rest/cert/v1/certificates/vmspki-https-1/get_csr" root:pw-eleven "$T/empty.json"
jq -r .data "$CAM_BODY" >"$T/rest.csr2"
assert_eq "$(openssl req -in "$T/rest.csr" -noout -pubkey)" "$(openssl req -in "$T/rest.csr2" -noout -pubkey)" \
    "after a restart: the same key signs the CSR"
ctl GET "/control/devices/$A98"
assert_eq 0 "$(jq '.faults | length' "$CTL_BODY")" "faults from the control endpoint do not survive a restart"

# ---------------------------------------------------------------- bad command lines / fleets
echo '[{"address":"not-an-ip"}]' >"$T/badfleet.json"
"$CAMSIM" --state "$T/s2" --fleet "$T/badfleet.json" >/dev/null 2>"$T/bad.err"
assert_eq 1 "$?" "a bad fleet file: exit 1"
assert_grep '"address" must be an IPv4 address' "$T/bad.err" "... saying which field is wrong"
"$CAMSIM" --state "$T/s2" >/dev/null 2>"$T/bad.err"
assert_eq 2 "$?" "no fleet given: exit 2 (usage)"
printf 'address,firmware,password,http_port,https_port\n%s.40,10.12.0,"p,w",%s,%s\n' "$NET" "$HP" "$SP" >"$T/fleet.csv2"
"$CAMSIM" --state "$T/s3" --fleet "$T/fleet.csv2" --control "$NET.251:$CP" --nonce-lifetime 1 \
    >/dev/null 2>"$T/csv.err" &
CSV_PID=$!
track_pid "$CSV_PID"
for ((i = 0; i < 300; i++)); do curl -s --max-time 2 "http://$NET.251:$CP/control/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
printf 'user = "root:p,w"\n' >"$T/.curlcfg"
st=$(curl -s --digest -K "$T/.curlcfg" -o "$T/csv.body" -w '%{http_code}' -d "$BDI" "http://$NET.40:$HP/axis-cgi/basicdeviceinfo.cgi")
assert_eq "200 10.12.0" "$st $(jq -r .data.propertyList.Version "$T/csv.body" 2>/dev/null)" \
    "a CSV fleet with a header (and a quoted password) works"
# A nonce older than --nonce-lifetime (1 s here) is stale, even with the right response.
curl -s -D "$T/hdr" -o /dev/null "http://$NET.40:$HP$URI" -d "$BDI"
NONCE=$(md5_nonce)
REALM=$(grep -o 'realm="[^"]*"' "$T/hdr" | head -n 1 | cut -d'"' -f2)
ha1=$(md5 "root:$REALM:p,w") ha2=$(md5 "POST:$URI")
printf 'Authorization: Digest username="root", realm="%s", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="ab", response="%s"\n' \
    "$REALM" "$NONCE" "$URI" "$(md5 "$ha1:$NONCE:00000001:ab:auth:$ha2")" >"$T/.auth"
sleep 2.5
st=$(curl -s -D "$T/hdr2" -o /dev/null -w '%{http_code}' -H "@$T/.auth" -d "$BDI" "http://$NET.40:$HP$URI")
assert_eq 401 "$st" "a nonce past --nonce-lifetime is refused"
assert_grep 'stale=true' "$T/hdr2" "... with stale=true"
daemon_stop "$CSV_PID" TERM 30
"$CAMSIM" --state "$T/s4" --count 3 --first "$NET.60" --firmware 10.12.1 --http-port "$HP" \
    --https-port "$SP" --password gen-pw --csv-out "$T/gen.csv" >/dev/null 2>"$T/gen.err" &
GEN_PID=$!
track_pid "$GEN_PID"
for ((i = 0; i < 300; i++)); do grep -q 'camsim: ready' "$T/gen.err" && break; sleep 0.1; done
assert_eq "$NET.60 $NET.61 $NET.62" "$(tail -n +2 "$T/gen.csv" | cut -d, -f1 | xargs)" "--count 3 --first: three addresses up from --first"
printf 'user = "root:gen-pw"\n' >"$T/.curlcfg"
st=$(curl -s --digest -K "$T/.curlcfg" -d "$BDI" "http://$NET.62:$HP/axis-cgi/basicdeviceinfo.cgi" | jq -r '.data.propertyList | "\(.Version) \(.SerialNumber)"')
assert_eq "10.12.1 ACCC8E15$(printf '%02X' "${NET##*.}")3E" "$st" "a generated device: --firmware and a serial from its address"
daemon_stop "$GEN_PID" TERM 30

daemon_stop "$CAM_PID" TERM 30
assert_eq 0 "$DAEMON_RC" "SIGTERM again: exit 0"
bad=""
for f in "$T"/camsim.*.err "$T/csv.err" "$T/gen.err"; do
	grep -Eq 'runtime error:|AddressSanitizer|LeakSanitizer' "$f" && bad="$bad $(basename "$f")"
done
assert_eq "" "$bad" "no sanitizer report in camsim's logs"
[ -z "$bad" ] || grep -Eh -A5 'runtime error:|Sanitizer' "$T"/camsim.*.err | head -n 20 | sed 's/^/#   /'
it_done
