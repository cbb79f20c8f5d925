#!/usr/bin/env bash
# The camera inventory against camsim, from the command line and the REST API: add (probe:
# MAC, model, firmware, HTTPS state in the seed's words; HTTP-only, HTTPS-only, factory
# certificate, unsupported firmware, another HTTPS port), import of a CSV list with quoted
# fields where a malformed line is reported by its number and the good lines are added,
# list/show/remove; a wrong password is "Wrong credentials" and nothing is added, an address
# where nothing answers is "Unreachable"; a wrong CA passphrase is refused; the site key file.
# The device password never appears in any output, log, or the database and its WAL.
. "$(dirname "$0")/lib.bash"
it_init curl jq

CAMSIM=${VP_CAMSIM:-${VP_BUILD_DIR:-}/tools/camsim/camsim}
if [ ! -x "$CAMSIM" ]; then
	not_ok "the camsim binary is executable ($CAMSIM; build the camsim target)"
	it_done
fi

PASS="correct horse battery staple"
CAMPW='Cam-S3cret-7f3a'          # every camera's password...
ODDPW='Odd,"Pw"-9c1e'            # ...but one's, which needs quoting in CSV
printf '%s\n' "$PASS" >"$T/pass"
printf '%s\n' "$CAMPW" >"$T/campw"
printf 'not-the-password\n' >"$T/wrongpw"
printf 'not the CA passphrase\n' >"$T/wrongpass"
chmod 600 "$T/pass" "$T/campw" "$T/wrongpw" "$T/wrongpass"

D="$T/data"
vp "$D" ca init --key ec-p256 --cn "Inventory Test CA" --passphrase-file "$T/pass"
assert_rc 0 "ca init"

# ---------------------------------------------------------------- the fleet
HP=$(pick_port) || HP=20080
SP=$(pick_port) || SP=20443
SP2=$(pick_port) || SP2=20843
NET=127.23.7
mac() { printf 'ACCC8E17%02X%02X' 7 "$1"; }   # camsim: Axis prefix + the address's last octets
cat >"$T/fleet.json" <<EOF
[
 {"address":"$NET.1","http_port":$HP,"https_port":$SP,"firmware":"5.50.9.2","password":"$CAMPW"},
 {"address":"$NET.2","http_port":$HP,"https_port":$SP,"firmware":"6.50.1.2","password":"$CAMPW"},
 {"address":"$NET.3","http_port":$HP,"https_port":$SP,"firmware":"7.30.1","password":"$CAMPW"},
 {"address":"$NET.4","http_port":$HP,"https_port":$SP2,"firmware":"11.11.0","password":"$CAMPW"},
 {"address":"$NET.5","http_port":$HP,"https_port":$SP,"firmware":"9.80.1","policy":"https",
  "factory_cert":true,"password":"$CAMPW"},
 {"address":"$NET.6","http_port":$HP,"https_port":$SP,"firmware":"10.12.0","user":"admin",
  "factory_cert":false,
  "password":$(jq -n --arg p "$ODDPW" '$p')},
 {"address":"$NET.7","http_port":$HP,"https_port":$SP,"firmware":"11.11.0","password":"$CAMPW"},
 {"address":"$NET.8","http_port":$HP,"https_port":$SP,"firmware":"9.80.1","password":"$CAMPW"}
]
EOF
"$CAMSIM" --state "$T/camsim" --fleet "$T/fleet.json" --keygen-delay-ms 10 \
    >"$T/camsim.out" 2>"$T/camsim.err" &
CAMSIM_PID=$!
track_pid "$CAMSIM_PID"
for ((i = 0; i < 150; i++)); do
	grep -q 'camsim: ready' "$T/camsim.err" "$T/camsim.out" 2>/dev/null && break
	pid_alive "$CAMSIM_PID" || break
	sleep 0.2
done
if grep -q 'camsim: ready' "$T/camsim.err" "$T/camsim.out" 2>/dev/null; then
	ok "camsim runs 8 cameras on $NET.1-8 (HTTP $HP, HTTPS $SP and $SP2)"
else
	not_ok "camsim started"
	diag_file "$T/camsim.err"
	it_done
fi

# dev_json ID: the device as `device show --json` prints it, in $T/dev.json.
dev_json() { vp "$D" device show "$1" --json; cp "$VP_OUT" "$T/dev.json"; }
# id_of ADDRESS: the device id of an address from `device list --json` ("" when absent).
id_of() {
	vp "$D" device list --json
	jq -r --arg a "$1" '.[] | select(.address == $a) | .id' "$VP_OUT" 2>/dev/null
}
count_devices() { rows "$D/vmspki.db" devices; }

# ---------------------------------------------------------------- CLI: add
vp "$D" device list
assert_rc 0 "device list on an empty inventory"
assert_grep 'no devices' "$VP_OUT" "an empty inventory says how to add devices"

vp "$D" device add "$NET.2:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/pass"
assert_rc 0 "device add $NET.2 (firmware 6.50, HTTP only, no certificate)"
assert_grep "MAC address: +$(mac 2)" "$VP_OUT" "add prints the MAC the probe read"
assert_grep 'HTTPS: +Disabled \(Missing server certificate\)' "$VP_OUT" \
    "firmware 6.50 without a certificate: HTTPS Disabled (Missing server certificate)"
assert_grep 'status: +OK' "$VP_OUT" "status OK"
ID2=$(id_of "$NET.2")
dev_json "$ID2"
assert_eq "6.50.1.2 soap false" "$(jq -r '"\(.firmware) \(.api) \(.https_only)"' "$T/dev.json")" \
    "the JSON has the firmware, the SOAP API and HTTP as the way in"
assert_eq "true" "$(jq -r '.model | length > 0' "$T/dev.json")" "the model was read"
assert_eq "null" "$(jq -r '.password // null' "$T/dev.json")" "the JSON has no password field"

n0=$(count_devices)
vp "$D" device add "$NET.8:$HP" --https-port "$SP" --user root --password-file "$T/wrongpw" \
    --passphrase-file "$T/pass"
assert_rc 1 "device add with a wrong device password is refused"
assert_stderr 'Wrong credentials' "the refusal says Wrong credentials"
assert_stderr 'not added' "and that the device was not added"
assert_eq "$n0" "$(count_devices)" "nothing was stored for it"
assert_eq "" "$(id_of "$NET.8")" "it is not in the list"

vp "$D" device add "$NET.200:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/pass"
assert_rc 1 "device add of an address where nothing answers is refused"
assert_stderr 'Unreachable' "the refusal says Unreachable"
assert_stderr "$NET.200" "and names the address"
assert_eq "$n0" "$(count_devices)" "nothing was stored for it"

vp "$D" device add "$NET.200:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/pass" --keep-unreachable --json
assert_rc 0 "--keep-unreachable stores it anyway"
assert_eq "Unreachable" "$(jq -r .status "$VP_OUT")" "with the status Unreachable"
vp "$D" device remove "$(jq -r .id "$VP_OUT")"
assert_rc 0 "device remove of the unreachable one"

vp "$D" device add "$NET.2:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/pass"
assert_rc 1 "the same address and port twice is refused"
assert_stderr 'already in the inventory' "saying it is already in the inventory"

vp "$D" device add "$NET.7:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/wrongpass"
assert_rc 1 "device add with a wrong CA passphrase is refused"
assert_stderr 'wrong passphrase' "saying wrong passphrase"
assert_eq "" "$(id_of "$NET.7")" "and nothing is added"

vp "$D" device add "$NET.7" --user root --password=x
assert_rc 2 "a password given as an argument is a usage error"
assert_no_grep 'x' "$VP_OUT" "nothing is printed on stdout"

# ---------------------------------------------------------------- CLI: import
csvq=${ODDPW//\"/\"\"}
cat >"$T/import.csv" <<EOF
address,http_port,https_port,user,password,name
$NET.1,$HP,$SP,root,$CAMPW,cam1.site.test
$NET.3,$HP,$SP,root,"$CAMPW"
$NET.4,$HP,$SP2,root,"$CAMPW,oops
"$NET.4",$HP,$SP2,"root","$CAMPW",cam4.site.test
$NET.5,$HP,$SP,root,$CAMPW
$NET.6,$HP,$SP,admin,"$csvq",
$NET.7,80x,$SP,root,$CAMPW
EOF
vp "$D" device import "$T/import.csv" --passphrase-file "$T/pass"
assert_rc 1 "device import with bad lines exits 1"
assert_grep '^line 4: refused: .*quoted field is not closed' "$VP_OUT" \
    "the malformed line is reported with its number (4)"
assert_grep '^line 8: refused: .*ports' "$VP_OUT" "a bad port is reported with its number (8)"
for l in 2 3 5 6 7; do
	assert_grep "^line $l: added as device [0-9]+" "$VP_OUT" "line $l was added"
done
assert_grep '^5 devices added, 2 lines refused' "$VP_OUT" "the summary counts both"
assert_no_grep '^line 1:' "$VP_OUT" "the header line is not reported"

vp "$D" device list --json
cp "$VP_OUT" "$T/list.json"
assert_eq 6 "$(jq length "$T/list.json")" "six devices in the inventory"
st() { jq -r --arg a "$1" '.[] | select(.address == $a) | "\(.status)|\(.https)|\(.mac)"' "$T/list.json"; }
assert_eq "OK|Unsupported firmware|$(mac 1)" "$(st "$NET.1")" "firmware 5.50: Unsupported firmware"
assert_eq "OK|Disabled|$(mac 3)" "$(st "$NET.3")" "firmware 7.30 with its factory certificate: Disabled"
assert_eq "OK|Disabled|$(mac 4)" "$(st "$NET.4")" "firmware 11.11 on HTTPS port $SP2: Disabled"
assert_eq "OK|Disabled|$(mac 5)" "$(st "$NET.5")" "an HTTPS-only camera is reached over HTTPS"
assert_eq "OK|Disabled (Missing server certificate)|$(mac 6)" "$(st "$NET.6")" \
    "the camera whose password has a comma and quotes (quoted in CSV) was reached"
assert_eq "true" "$(jq -r --arg a "$NET.5" '.[] | select(.address == $a) | .https_only' "$T/list.json")" \
    "the HTTPS-only camera is marked https_only"
assert_eq "rest $SP2 cam4.site.test" \
    "$(jq -r --arg a "$NET.4" '.[] | select(.address == $a) | "\(.api) \(.https_port) \(.name)"' "$T/list.json")" \
    "firmware 11.11: the REST API, its own HTTPS port and the name from the CSV"

vp "$D" device list
assert_rc 0 "device list"
assert_grep '^ID +MAC address +Status +Address +Model +Firmware +HTTPS$' "$VP_OUT" \
    "the list has the seed's columns"
assert_grep "$(mac 3) +OK +$NET.3:$HP .*7\.30\.1 +Disabled$" "$VP_OUT" "a row reads like the seed's"

ID3=$(id_of "$NET.3")
vp "$D" device show "$ID3"
assert_rc 0 "device show"
assert_grep "address: +$NET.3" "$VP_OUT" "show names the address"
vp "$D" device show 99999
assert_rc 1 "device show of an unknown id"
vp "$D" device show abc
assert_rc 2 "device show of a non-number is a usage error"
vp "$D" device remove "$ID3"
assert_rc 0 "device remove"
assert_eq "" "$(id_of "$NET.3")" "the removed device is gone from the list"
vp "$D" device remove "$ID3"
assert_rc 1 "removing it again is refused"
assert_stderr 'no device' "saying there is no such device"

# ---------------------------------------------------------------- REST API
if daemon_start "$D" --passphrase-file "$T/pass"; then
	ok "vmspki serve started (port $PORT)"
else
	not_ok "vmspki serve started"
	it_done
fi
vp "$D" token create it-devices
TOK=$(grep -Eo 'vmspki_[A-Za-z0-9_-]+' "$VP_OUT" | head -n 1)

api GET /api/v1/devices "$TOK"
assert_status 200 "GET /api/v1/devices"
assert_eq 5 "$(jq '.devices | length' "$API_BODY")" "the API lists the five devices"

jq -n --arg a "$NET.7" --argjson h "$HP" --argjson s "$SP" --arg p "$CAMPW" \
    '{address: $a, http_port: $h, https_port: $s, user: "root", password: $p}' >"$T/add7.json"
api POST /api/v1/devices "$TOK" "$T/add7.json"
assert_status 201 "POST /api/v1/devices adds $NET.7"
assert_eq "$(mac 7)|OK|rest" "$(jq -r '"\(.mac)|\(.status)|\(.api)"' "$API_BODY")" \
    "the reply has what the probe found"
ID7=$(jq -r .id "$API_BODY")

jq -n --arg a "$NET.8" --argjson h "$HP" --argjson s "$SP" \
    '{address: $a, http_port: $h, https_port: $s, user: "root", password: "nope-nope"}' >"$T/add8.json"
api POST /api/v1/devices "$TOK" "$T/add8.json"
assert_status 422 "POST /api/v1/devices with a wrong device password"
assert_error_body rejected "refused" 'Wrong credentials'

jq -n '{address: "127.23.7.8:80", user: "root", password: "x"}' >"$T/addbad.json"
api POST /api/v1/devices "$TOK" "$T/addbad.json"
assert_status 422 "an address with a port in the address field is refused"
jq -n '{address: "127.23.7.8", user: "root", password: "x", extra: 1}' >"$T/addextra.json"
api POST /api/v1/devices "$TOK" "$T/addextra.json"
assert_status 400 "an unknown field is refused"
api POST /api/v1/devices "" "$T/add7.json"
assert_status 401 "adding needs a token"

# The import endpoint: a CSV body, a malformed line 3, a good line 2 and a duplicate line 4.
printf '%s,%s,%s,root,%s\nbad"line,1,2,u,p\n%s,%s,%s,root,%s\n' "$NET.3" "$HP" "$SP" "$CAMPW" \
    "$NET.7" "$HP" "$SP" "$CAMPW" | sed '1i address,http_port,https_port,user,password' >"$T/api.csv"
printf 'Authorization: Bearer %s\n' "$TOK" >"$T/auth.hdr"
code=$(curl -gsS --max-time 120 --cacert "$DAEMON_CA" -H "@$T/auth.hdr" -H 'Content-Type: text/csv' \
    --data-binary "@$T/api.csv" -o "$T/import.body" -w '%{http_code}' \
    "https://127.0.0.1:$PORT/api/v1/devices/import" 2>"$T/import.err")
assert_eq 200 "$code" "POST /api/v1/devices/import answers 200"
assert_eq "1 2" "$(jq -r '"\(.added) \(.failed)"' "$T/import.body")" "one added, two refused"
assert_eq "2:added 3:refused 4:refused" \
    "$(jq -r '[.lines[] | "\(.line):\(.result)"] | join(" ")' "$T/import.body")" \
    "the report has one entry per line, by line number"
assert_eq "true" "$(jq -r '.lines[1].error | test("malformed quoting")' "$T/import.body")" \
    "line 3 is malformed quoting"
assert_eq "true" "$(jq -r '.lines[2].error | test("already in the inventory")' "$T/import.body")" \
    "line 4 is already in the inventory"
code=$(curl -gsS --max-time 60 --cacert "$DAEMON_CA" -H "@$T/auth.hdr" -H 'Content-Type: application/json' \
    --data-binary '{}' -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/api/v1/devices/import")
assert_eq 415 "$code" "an import body that is not CSV is refused (415)"
rm -f "$T/auth.hdr"

api GET "/api/v1/devices/$ID7" "$TOK"
assert_status 200 "GET /api/v1/devices/{id}"
assert_eq "$NET.7" "$(jq -r .address "$API_BODY")" "it is the device asked for"
api GET /api/v1/devices/x1 "$TOK"
assert_status 404 "a device path that is not a number"
api DELETE "/api/v1/devices/$ID7" "$TOK"
assert_status 200 "DELETE /api/v1/devices/{id}"
api GET "/api/v1/devices/$ID7" "$TOK"
assert_status 404 "the removed device is gone"
api DELETE "/api/v1/devices/$ID7" "$TOK"
assert_status 404 "deleting it again"

daemon_stop "$DAEMON_PID"
assert_eq 0 "$DAEMON_RC" "the daemon stops cleanly"
assert_daemon_logs_clean

# ---------------------------------------------------------------- the site key file
head -c 48 /dev/urandom >"$T/site.key"
chmod 600 "$T/site.key"
VMSPKI_SITE_KEY_FILE="$T/site.key" vp "$D" device add "$NET.8:$HP" --https-port "$SP" \
    --user root --password-file "$T/campw" --passphrase-file "$T/pass"
assert_rc 0 "with \$VMSPKI_SITE_KEY_FILE set (and the passphrase once) a device is added"
assert_eq file "$(sqlite3 "file:$D/vmspki.db?mode=ro" "SELECT json_extract(CAST(value AS TEXT), '\$.wrap') FROM key_value WHERE key = 'site.datakey'")" \
    "the site data key is now wrapped under the file"
vp "$D" device remove "$(id_of "$NET.8")"
VMSPKI_SITE_KEY_FILE="$T/site.key" vp "$D" device add "$NET.8:$HP" --https-port "$SP" \
    --user root --password-file "$T/campw"
assert_rc 0 "then no CA passphrase is needed"
vp "$D" device add "$NET.7:$HP" --https-port "$SP" --user root --password-file "$T/campw" \
    --passphrase-file "$T/pass"
assert_rc 1 "without the file, adding is refused"
assert_stderr 'VMSPKI_SITE_KEY_FILE' "naming the variable to set"

# ---------------------------------------------------------------- the password stays secret
for f in "$VP_LOG" "$T"/daemon.*.out "$T"/daemon.*.err "$T/import.body" "$T"/.api.*.body; do
	[ -f "$f" ] || continue
	if grep -aqF -e "$CAMPW" -e "$ODDPW" -e "$csvq" "$f"; then
		not_ok "no device password in $(basename "$f")"
	else
		ok "no device password in $(basename "$f")"
	fi
done
sqlite3 "$D/vmspki.db" "PRAGMA wal_checkpoint(PASSIVE);" >/dev/null 2>&1
leak=""
for f in "$D"/vmspki.db*; do
	grep -aqF -e "$CAMPW" -e "$ODDPW" "$f" && leak="$leak $(basename "$f")"
	# UTF-16 or hex would not be a clear password, but look for the hex too.
	grep -aqiF "$(printf '%s' "$CAMPW" | xxd -p | tr -d '\n')" "$f" && leak="$leak $(basename "$f")(hex)"
done
assert_eq "" "$leak" "no device password in clear in the database, its WAL or SHM"
assert_eq 0 "$(sqlite3 "file:$D/vmspki.db?mode=ro" "SELECT count(*) FROM audit_log WHERE detail LIKE '%S3cret%'")" \
    "no password in the audit log"
assert_eq true "$(sqlite3 "file:$D/vmspki.db?mode=ro" "SELECT min(length(secret)) > 28 FROM devices" | sed 's/1/true/')" \
    "every stored password is a sealed blob (version, nonce, ciphertext, tag)"

kill -TERM "$CAMSIM_PID" 2>/dev/null
wait "$CAMSIM_PID" 2>/dev/null
it_done
