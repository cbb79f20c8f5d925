# CA renewal (issue 19, item 5): `vmspki ca renew` on a camsim fleet (REST v1, REST v1beta and
# SOAP firmware) with components and certificates made with `vmspki issue`. The renewed CA
# keeps the key, the subject and the subject key identifier and ends later (its expiry alarm
# cleared); every certificate issued before verifies against it alone (openssl verify,
# certtool); every camera keeps serving the very certificate it had (no new key) and holds the
# renewed CA, bound to its web server, and no longer the old one; each component keeps its
# certificate and key and its files carry the renewed CA; the daemon still takes an admin
# client certificate issued before; the old CA certificate is trusted until the task ends,
# then retired; the key row in the store is untouched (still encrypted); the audit log says it.
# A camera that refuses the renewed CA fails the task and keeps serving its certificate, the old
# CA certificate staying trusted, until `task retry-failed` finishes the job. Refusals change
# nothing: a validity that would not extend the CA, a wrong passphrase, an intermediate CA, a
# renewal during a renewal.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/camsim.bash"
it_init jq curl
is() { assert_eq "$2" "$1" "$3"; }

D="$T/data"
export VMSPKI_PASSPHRASE="ca renew test passphrase"
NET=127.31.0
HP=18080
SP=18443
COUNT=5                  # cameras 1-5 enabled; camera 6 never enabled
CD="$D/components/certificates"
RELOADS="$T/reloads.log"

fps_of() { pem_fps "$1" | tr '\n' ' ' | sed 's/ $//'; }
ski_of() { ext_value "$1" "X509v3 Subject Key Identifier"; }
task_id_of() { sed -n 's/^task \([0-9][0-9]*\):.*/\1/p' "$1" | head -n 1; }
item() { jq -r --arg i "$1" ".items[]? | select(.item == \$i) | .$2" "$T/task.json"; }
kv() { sqlite3 "$D/vmspki.db" "SELECT hex(value) FROM key_value WHERE key = '$1';" 2>/dev/null; }

jq -n --arg net "$NET" '[range(1; 7) | {address: "\($net).\(.)",
    firmware: (if . % 3 == 1 then "9.80.1" elif . % 3 == 2 then "11.6.0" else "11.11.0" end),
    user: "root", password: "cam-renew-secret-\(.)"}]' >"$T/fleet.json"
{
	echo "address,http_port,https_port,user,password,name"
	for i in 1 2 3 4 5 6; do echo "$NET.$i,$HP,$SP,root,cam-renew-secret-$i,"; done
} >"$T/cams.csv"
camsim_start --state "$T/cs" --fleet "$T/fleet.json" --http-port $HP --https-port $SP --quiet || it_done

# ---------------------------------------------------------------- before: a CA that ends soon
vp "$D" ca init --key ec-p256 --days 20 --cn "CA renew test root"
assert_rc 0 "a CA valid for 20 days is made"
vp "$D" lifecycle run
assert_rc 0 "the nightly job runs"
vp "$D" alarm list --json
is "$(jq -r '[.[] | select(.kind == "ca-expiring" and .state == "raised")] | length' "$VP_OUT")" 1 \
    "... and raises the alarm: the CA is about to expire"
cp "$D/certs/ca.cert.pem" "$T/old.pem"
OLDFP=$(fp "$T/old.pem")
OLDKEYROW=$(kv ca.key)
vp "$D" device import "$T/cams.csv"
assert_rc 0 "six cameras imported"
vp "$D" https enable 1 2 3 4 5 --wait
assert_rc 0 "HTTPS is enabled on five of them"
jq -n --arg log "$RELOADS" '{components: {
    "nats-broker": {reload: ("printf \"%s\\n\" \"$VMSPKI_COMPONENT\" >>" + $log)},
    "recorder": {publish: ["video.>"], subscribe: [],
        reload: ("printf \"%s\\n\" \"$VMSPKI_COMPONENT\" >>" + $log)}}}' >"$D/components.json"
vp "$D" component add nats-broker --server
assert_rc 0 "component add nats-broker --server"
vp "$D" component add recorder --client
assert_rc 0 "component add recorder --client"
vp "$D" issue --profile server --generate-key --cn rec1.site --dns rec1.site --out "$T/rec1.pem" \
    --key-out "$T/rec1.key"
assert_rc 0 "a recording-server certificate made with vmspki issue"
vp "$D" issue --profile client --generate-key --cn operator --owner admin:operator \
    --out "$T/op.pem" --key-out "$T/op.key"
assert_rc 0 "an admin client certificate made with vmspki issue"

# Every certificate the CA issued so far, and what each camera serves.
vp "$D" cert list --json
jq -r '.[] | "\(.serial) \(.profile)"' "$VP_OUT" >"$T/issued.txt"
NISSUED=$(wc -l <"$T/issued.txt")
is "$NISSUED" 10 "ten certificates were issued (the API server's by the nightly job, five cameras, two components, two with vmspki issue)"
mkdir -p "$T/issued"
while read -r serial profile; do
	vp "$D" cert show "$serial" --pem
	cp "$VP_OUT" "$T/issued/$serial.$profile.pem"
done <"$T/issued.txt"
for i in $(seq 1 $COUNT); do
	eval "SERVED_$i=$(served_fp $NET.$i $SP)"
	eval "KEYS_$i=$(dev_state $NET.$i '.keys')"
done
for k in nats-broker.server recorder.client; do
	cp "$CD/$k.cert.pem" "$T/before.$k.cert.pem"
	cp "$CD/$k.key.pem" "$T/before.$k.key.pem"
done

# ---------------------------------------------------------------- refusals change nothing
snapshot "$D" >"$T/snap0"
vp "$D" ca renew --days 10
assert_rc 1 "ca renew --days 10 (ends before the current CA) is refused"
assert_stderr "would not extend" "... saying it would not extend the CA"
printf 'not the passphrase\n' >"$T/wrongpw"
vp "$D" ca renew --passphrase-file "$T/wrongpw"
assert_rc 1 "ca renew with a wrong passphrase is refused"
vp "$D" ca renew --days 0
assert_rc 1 "ca renew --days 0 is refused"
assert_unchanged "$T/snap0" "$D" "... and none of them changed anything"

# ---------------------------------------------------------------- the renewal
: >"$RELOADS"
# Camera 2 refuses to add a CA: the task fails there, the old CA stays trusted.
ctl POST "/control/devices/$NET.2/faults" '{"kind":"500","op":"ca_add"}' >/dev/null
vp "$D" ca renew --days 3650 --wait
assert_rc 1 "ca renew --days 3650 --wait: exit 1, a camera refused the renewed CA"
TASK=$(task_id_of "$VP_OUT")
check "it prints \"task N:\" ($TASK)" test -n "$TASK"
TASK=${TASK:-0}
first_cert "$D/certs/ca.chain.pem" "$T/new.pem"
NEWFP=$(fp "$T/new.pem")
task_json "$TASK"
is "$(jq -r .state "$T/task.json")" "Failed" "the task is Failed"
is "$(result 2 status)/$(result 2 step)" "Failed/install-ca" "camera 2 failed at install-ca"
is "$(item "old CA" status)" "Pending" "the old CA certificate is not retired (Pending)"
is "$(fps_of "$D/certs/ca.cert.pem")" "$NEWFP $OLDFP" "ca.cert.pem holds the renewed CA, then the old one"
is "$(served_fp $NET.2 $SP)" "$SERVED_2" "camera 2 still serves its certificate"
check "... which verifies against the renewed CA alone" tls_ok $NET.2 $SP "$T/new.pem"
check "... and against the old CA alone" tls_ok $NET.2 $SP "$T/old.pem"
is "$(dev_state $NET.2 "[.ca_certificates[]? | select(.fingerprint == \"$OLDFP\")] | length")" 1 \
    "camera 2 still holds the old CA"
snapshot "$D" >"$T/snap1"
vp "$D" ca renew --days 4000
assert_rc 1 "a second renewal during the first is refused"
assert_unchanged "$T/snap1" "$D" "... and changes nothing"
ctl DELETE "/control/devices/$NET.2/faults" >/dev/null
vp "$D" task retry-failed "$TASK" --wait
assert_rc 0 "task retry-failed --wait finishes the renewal"
check "the renewed CA is another certificate" test -n "$NEWFP" -a "$NEWFP" != "$OLDFP"
is "$(openssl x509 -in "$T/new.pem" -noout -subject)" "$(openssl x509 -in "$T/old.pem" -noout -subject)" \
    "... with the same subject"
is "$(pubkey_of_cert "$T/new.pem")" "$(pubkey_of_cert "$T/old.pem")" "... the same key"
is "$(ski_of "$T/new.pem")" "$(ski_of "$T/old.pem")" "... the same subject key identifier"
check "... a non-empty subject key identifier" test -n "$(ski_of "$T/new.pem")"
check "... a new serial" test "$(cert_serial "$T/new.pem")" != "$(cert_serial "$T/old.pem")"
check "... and it ends later (3650 days from now)" test "$(not_after "$T/new.pem")" -gt $(($(date +%s) + 3640 * 86400))
check "... self-signed, a CA (openssl verify against itself)" verify_openssl "$T/new.pem" "$T/new.pem" any
is "$(kv ca.key)" "$OLDKEYROW" "the CA key row in the store is untouched"
check "... and is an encrypted PKCS#8 key" sh -c "sqlite3 '$D/vmspki.db' \"SELECT value FROM key_value WHERE key = 'ca.key'\" | grep -q 'BEGIN ENCRYPTED PRIVATE KEY'"

task_json "$TASK"
is "$(jq -r .kind "$T/task.json")" "ca-renew" "the task is a ca-renew task"
is "$(jq -r .state "$T/task.json")" "Finished" "... Finished"
is "$(jq -r '[.results[].device_id] | sort | map(tostring) | join(",")' "$T/task.json")" "1,2,3,4,5" \
    "... over the five cameras vmspki enabled (not the sixth)"
is "$(jq '[.results[] | select(.status == "Finished" and .step == "done")] | length' "$T/task.json")" \
    "$COUNT" "... every camera Finished"
jq -r '.results[] | select(.status != "Finished") | "device \(.device_id): \(.status) at \(.step): \(.error)"' \
    "$T/task.json" | while read -r l; do diag "$l"; done
is "$(jq -c '[.items[].item] | sort' "$T/task.json")" \
    '["component nats-broker","component recorder","old CA"]' "the items: two components and the old CA"
is "$(jq '[.items[] | select(.status == "Finished")] | length' "$T/task.json")" 3 "every item Finished"
jq -r '.items[] | select(.status != "Finished") | "\(.item): \(.status): \(.detail)"' "$T/task.json" |
    while read -r l; do diag "$l"; done
is "$(fps_of "$D/certs/ca.cert.pem")" "$NEWFP" "afterwards ca.cert.pem holds the renewed CA alone"
vp "$D" ca show --json
is "$(jq -c '[.sha256 == "'"$NEWFP"'", has("replace_task"), has("previous")]' "$VP_OUT")" "[true,false,false]" \
    "ca show: the renewed CA, no transition left"
is "$(jq -r .certificates_issued "$VP_OUT")" "$NISSUED" "ca show: the certificates issued before count as the renewed CA's"

# ---- every certificate issued before verifies against the renewed CA alone
bad=0
badg=0
for f in "$T"/issued/*.pem; do
	case $f in
	*.client.pem | *.component-client.pem | *.device-8021x.pem) p=sslclient oid=1.3.6.1.5.5.7.3.2 ;;
	*) p=sslserver oid=1.3.6.1.5.5.7.3.1 ;;
	esac
	verify_openssl "$T/new.pem" "$f" $p || { bad=$((bad + 1)); diag "openssl: $(basename "$f"): $(cat "$T/.vo")"; }
	verify_gnutls "$T/new.pem" "$f" $oid || { badg=$((badg + 1)); diag "certtool: $(basename "$f")"; }
done
is "$bad" 0 "every one of the $NISSUED certificates issued before verifies against the renewed CA alone (openssl verify -x509_strict)"
is "$badg" 0 "... and with certtool --verify"

# ---- every camera: the same certificate, the renewed CA beside it, the old one gone
for i in $(seq 1 $COUNT); do
	a=$NET.$i p=""
	eval "want=\$SERVED_$i keys=\$KEYS_$i"
	[ "$(served_fp "$a" $SP)" = "$want" ] || p+=" serves another certificate;"
	[ "$(dev_state "$a" '.keys')" = "$keys" ] || p+=" holds another number of keys;"
	tls_ok "$a" $SP "$T/new.pem" || p+=" does not verify against the renewed CA;"
	[ "$(dev_state "$a" "[.ca_certificates[]? | select(.fingerprint == \"$NEWFP\" and .alias == \"vmspki-ca-${NEWFP:0:12}\")] | length")" = 1 ] ||
	    p+=" does not hold the renewed CA;"
	[ "$(dev_state "$a" "[.ca_certificates[]? | select(.fingerprint == \"$OLDFP\")] | length")" = 0 ] ||
	    p+=" still holds the old CA;"
	[ "$(dev_state "$a" "[.bound_ca_certificates[]? | select(. == \"vmspki-ca-${NEWFP:0:12}\")] | length")" = 1 ] ||
	    p+=" the renewed CA is not bound to the web server;"
	if [ -z "$p" ]; then ok "camera $a: the same certificate and key, the renewed CA in place of the old"; else not_ok "camera $a:$p"; fi
done
is "$(dev_state $NET.6 '[.ca_certificates[]? | select(.alias | startswith("vmspki-"))] | length')" 0 \
    "the camera vmspki did not enable got no CA"
vp "$D" device list --json
is "$(jq '[.[] | select(.https == "Enabled")] | length' "$VP_OUT")" "$COUNT" "the five cameras still show HTTPS Enabled"

# ---- the components: the same certificate and key, the renewed CA after it
for k in nats-broker.server recorder.client; do
	id=${k%.*}
	is "$(fp "$CD/$k.cert.pem")" "$(fp "$T/before.$k.cert.pem")" "$id: the same certificate"
	check "$id: the same key" cmp -s "$CD/$k.key.pem" "$T/before.$k.key.pem"
	fps=$(fps_of "$CD/$k.cert.pem")
	is "${fps#* }" "$NEWFP" "$id: its file carries the renewed CA after it"
	check "$id: its reload command ran" grep -qx "$id" "$RELOADS"
done

vp "$D" alarm list --json
is "$(jq -r '[.[] | select((.kind | startswith("ca-")) and .state == "raised")] | length' "$VP_OUT")" 0 \
    "the CA's expiry alarm was cleared by the renewal"
vp "$D" audit list
assert_grep "ca\\.renew .*renewed: the same key and subject" "$VP_OUT" "the audit log records the renewal"
vp "$D" audit verify
assert_rc 0 "the audit chain is intact"

# ---- after: the renewed CA issues, and a second renewal works
vp "$D" issue --profile server --generate-key --cn rec2.site --dns rec2.site --out "$T/rec2.pem" \
    --key-out "$T/rec2.key"
assert_rc 0 "a certificate issued after the renewal"
check "... verifies against the renewed CA" verify_openssl "$T/new.pem" "$T/rec2.pem" sslserver
check "... and against the old CA certificate too (the same key and name)" verify_openssl "$T/old.pem" "$T/rec2.pem" sslserver

# ---- the daemon still takes the admin client certificate issued before the renewal
daemon_start "$D" || { not_ok "the daemon starts"; it_done; }
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/new.pem" --cert "$T/op.pem" \
    --key "$T/op.key" "https://127.0.0.1:$PORT/api/v1/certificates")
is "$code" 200 "the daemon accepts the admin client certificate issued before the renewal"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/new.pem" "https://127.0.0.1:$PORT/api/v1/certificates")
is "$code" 401 "... and refuses the request without it"
daemon_stop "$DAEMON_PID"

# ---------------------------------------------------------------- an intermediate CA: refused
D2="$T/data2"
mk_root "$T/r" ec-p256 "CA renew test outer root" 3650
mk_intermediate "$T/i" "$T/r" ec-p256 "CA renew test intermediate" 1000
printf 'p12-renew-secret-77\n' >"$T/p12pw"
mk_p12 "$T/i.p12" "$T/i.key" "$T/i.pem" "$T/p12pw" "$T/r.pem"
vp "$D2" ca import "$T/i.p12" --p12-passphrase-file "$T/p12pw"
assert_rc 0 "an intermediate CA imported"
snapshot "$D2" >"$T/snap2"
vp "$D2" ca renew --days 3650
assert_rc 1 "ca renew of an intermediate CA is refused"
assert_stderr "intermediate" "... saying why"
assert_unchanged "$T/snap2" "$D2" "... and changes nothing"

assert_no_grep "ca renew test passphrase|cam-renew-secret|p12-renew-secret|PRIVATE KEY" \
    <(cat "$VP_LOG" "$RELOADS") "no secret in the logs"
camsim_stop
it_done
