# Device discovery (issue 19, item 8): `vmspki device discover` over a camsim range. Without
# credentials it finds exactly the addresses with a camera on them (REST v1, REST v1beta and
# SOAP firmware identified anonymously, a camera with anonymous identification turned off
# found as wanting credentials), nothing on the empty addresses and nothing on an HTTP server
# that is no camera; with --user and a password every camera is identified (the old firmware
# without basicdeviceinfo too). The result is a finished task with one item per device found;
# nothing is added until --add, which adds exactly the devices the inventory lacks. A reverse
# DNS name is reported when there is one. A range over the size limit, an IPv6 range and a
# malformed one are refused and leave no task.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="discover test passphrase"
NET=127.33.0
HP=18080
SP=18443
CAMS="3 7 12 20 25"          # the addresses with a camera in $NET.0/27
LOCALPORT=$(pick_port) || { not_ok "a free port"; it_done; }
LOCALSPORT=$(pick_port) || { not_ok "a free port"; it_done; }

# .3 REST v1 (11.11), .7 SOAP (9.80), .12 REST v1beta (11.6), .20 anonymous identification
# turned off (10.12), .25 firmware 8.30 (no basicdeviceinfo: identified with credentials
# only); all with the same administrator password. A sixth camera on 127.0.0.1 (its reverse
# DNS name is in /etc/hosts) on a port of its own.
jq -n --arg net "$NET" --argjson lp "$LOCALPORT" --argjson ls "$LOCALSPORT" '[
    {address: "\($net).3", firmware: "11.11.0"},
    {address: "\($net).7", firmware: "9.80.1"},
    {address: "\($net).12", firmware: "11.6.0"},
    {address: "\($net).20", firmware: "10.12.0", bdi_anonymous: false},
    {address: "\($net).25", firmware: "8.30.0"},
    {address: "127.0.0.1", firmware: "11.11.0", http_port: $lp, https_port: $ls}
    ] | map(. + {user: "root", password: "cam-discover-secret"})' >"$T/fleet.json"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --http-port $HP --https-port $SP --quiet || it_done
printf 'cam-discover-secret\n' >"$T/campw"
vp "$D" ca init --key ec-p256
assert_rc 0 "a CA is made"

# found FILE: the found devices of a --json answer as "ADDRESS:PORT/SERIAL/IDENTIFIED" lines.
found() { jq -r '.devices[] | "\(.address):\(.port)/\(.serial // "-")/\(.identified)"' "$1"; }
mac_of() { dev_state "$1" .serial; }

# ---------------------------------------------------------------- without credentials
vp "$D" device discover "$NET.0/27" --port $HP --json
assert_rc 0 "device discover $NET.0/27 (no credentials)"
cp "$VP_OUT" "$T/d1.json"
want=""
for i in 3 7 12; do want+="$NET.$i:$HP/$(mac_of $NET.$i)/anonymous"$'\n'; done
want+="$NET.20:$HP/-/needs-credentials"
is "$(found "$T/d1.json")" "$want" \
    "it finds exactly the cameras that identify themselves (v1, v1beta, SOAP) and the one that wants credentials, in address order, nothing on the 25 empty addresses"
is "$(jq -r '[.devices[] | select(.address == "'"$NET.3"'")][0] | [.model, .firmware, .brand] | join("|")' "$T/d1.json")" \
    "AXIS $(dev_state $NET.3 .model)|11.11.0|AXIS" "... with the model, firmware and brand the camera gives"
is "$(jq -r .other_answers "$T/d1.json")" 1 \
    "the camera without basicdeviceinfo (8.30) counts as one other HTTP answer, not as a device"
TASK1=$(jq -r .task "$T/d1.json")
task_json "$TASK1"
is "$(jq -r '[.kind, .state] | join(" ")' "$T/task.json")" "device-discover Finished" \
    "the discovery is a finished device-discover task"
is "$(jq -r '[.items[].item] | join(" ")' "$T/task.json")" "$NET.3:$HP $NET.7:$HP $NET.12:$HP $NET.20:$HP" \
    "... with one item per device found"
check "... whose detail names the serial number" \
    jq -e --arg m "$(mac_of $NET.7)" '.items[] | select(.item == "'"$NET.7:$HP"'") | .detail | contains($m)' "$T/task.json"
vp "$D" device list --json
is "$(jq length "$VP_OUT")" 0 "nothing was added to the inventory"
is "$(dev_state $NET.3 .unauthorized)" 0 "the anonymous identification sent no wrong credentials"

# The plain text output.
vp "$D" device discover "$NET.1-$NET.12" --port $HP
assert_rc 0 "device discover FIRST-LAST"
assert_grep "^task [0-9]+: discovery of $NET.1-$NET.12: 3 devices found" "$VP_OUT" "it says how many it found"

# Nothing on an HTTP server that is not a camera (camsim's control endpoint).
CPORT=${CTRL##*:}
vp "$D" device discover 127.0.0.1 --port "$CPORT" --json
assert_rc 0 "device discover of an HTTP server that is no camera"
is "$(jq -c '[(.devices | length), .other_answers]' "$VP_OUT")" "[0,1]" "... finds no device there (one other answer)"

# ---------------------------------------------------------------- reverse DNS
LOCALNAME=$(getent hosts 127.0.0.1 | awk '{print $2; exit}')
vp "$D" device discover 127.0.0.1 --port "$LOCALPORT" --json
assert_rc 0 "device discover of the camera on 127.0.0.1"
if [ -n "$LOCALNAME" ]; then
	is "$(jq -r '.devices[0].name' "$VP_OUT")" "$LOCALNAME" "its reverse DNS name ($LOCALNAME) is reported"
else
	diag "127.0.0.1 has no name in the host's database: the reverse DNS check is skipped"
fi
vp "$D" device discover 127.0.0.1 --port "$LOCALPORT" --no-dns --json
is "$(jq -r '.devices[0].name' "$VP_OUT")" "null" "--no-dns: no name"

# ---------------------------------------------------------------- with credentials
vp "$D" device discover "$NET.0/27" --port $HP --user root --password-file "$T/campw" --json
assert_rc 0 "device discover with --user and --password-file"
cp "$VP_OUT" "$T/d2.json"
want=""
for i in 3 7 12; do want+="$NET.$i:$HP/$(mac_of $NET.$i)/anonymous"$'\n'; done
want+="$NET.20:$HP/$(mac_of $NET.20)/credentials"$'\n'
want+="$NET.25:$HP/$(mac_of $NET.25)/credentials"
is "$(found "$T/d2.json")" "$want" "with credentials every camera is identified, and only the cameras"
printf 'not the password\n' >"$T/badpw"
vp "$D" device discover "$NET.20" --port $HP --user root --password-file "$T/badpw" --json
is "$(found "$VP_OUT")" "$NET.20:$HP/-/refused" "a wrong password: the camera is reported as refusing it"

# ---------------------------------------------------------------- --add
vp "$D" device add "$NET.7:$HP" --user root --password-file "$T/campw"
assert_rc 0 "one camera added by hand first"
vp "$D" device discover "$NET.0/27" --port $HP --user root --password-file "$T/campw" --add --json
assert_rc 0 "device discover --add"
cp "$VP_OUT" "$T/d3.json"
is "$(jq -r '[.devices[] | select(.device_id != null)] | length' "$T/d3.json")" 5 "every device found has a device id"
vp "$D" device list --json
cp "$VP_OUT" "$T/list.json"
is "$(jq length "$T/list.json")" 5 "the inventory holds the five cameras (the one added by hand once)"
want=""
for i in $CAMS; do want+="$NET.$i/$(mac_of $NET.$i)"$'\n'; done
is "$(jq -r 'sort_by(.address | split(".") | map(tonumber)) | .[] | "\(.address)/\(.mac)"' "$T/list.json")" "${want%$'\n'}" \
    "... each identified by its MAC"
vp "$D" device discover "$NET.0/27" --port $HP --user root --password-file "$T/campw" --add --json
assert_rc 0 "a second --add"
vp "$D" device list --json
is "$(jq length "$VP_OUT")" 5 "... adds nothing more"
vp "$D" device discover "$NET.0/27" --port $HP --add
assert_rc 2 "--add without --user is a usage error"

# ---------------------------------------------------------------- refusals
vp "$D" task list --json
ntasks=$(jq length "$VP_OUT")
vp "$D" device discover 10.0.0.0/16
assert_rc 1 "a /16 (65534 addresses) is refused"
assert_stderr "65534 addresses.*at most 4096" "... saying how many and the limit"
vp "$D" device discover 10.0.0.1-10.0.31.1
assert_rc 1 "a FIRST-LAST range over the limit is refused"
vp "$D" device discover fd00::/120
assert_rc 1 "an IPv6 range is refused"
assert_stderr "IPv4" "... saying discovery walks IPv4 ranges"
vp "$D" device discover 10.0.0.50-10.0.0.10
assert_rc 1 "a reversed range is refused"
vp "$D" device discover not-a-range
assert_rc 1 "a malformed range is refused"
vp "$D" task list --json
is "$(jq length "$VP_OUT")" "$ntasks" "... and none of them made a task"

vp "$D" audit list
assert_grep "device\\.discover" "$VP_OUT" "the audit log records the discoveries"
assert_no_grep "cam-discover-secret|discover test passphrase" "$VP_LOG" "no secret in the transcript"
camsim_stop
it_done
