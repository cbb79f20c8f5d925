#!/usr/bin/env bash
# Crash safety: vmspki issue is killed with SIGKILL at random points (from a CSR, and with a
# generated key written as PKCS#12), again and again. Afterwards the store passes SQLite's
# integrity check, the audit chain verifies, every recorded certificate is whole and verifies
# against the CA, each has its audit row, no temporary file is left in the data dir, every
# certificate handed out in a file is recorded, and issuing still works.
# The random delays only decide where the kills land; no check depends on timing.
. "$(dirname "$0")/lib.bash"
it_init

ROUNDS=${VP_CRASH_ROUNDS:-40}
PASSF="$T/ca-pass"
P12PW="$T/p12-pass"
printf 'crash-test-CA-passphrase-77\n' >"$PASSF"
printf 'crash-test-p12-password-78\n' >"$P12PW"
D="$T/dd"
O="$T/out"
mkdir -p "$O"

t0=$(date +%s%N)
vp "$D" ca init --cn "Crash Root" --passphrase-file "$PASSF"
t1=$(date +%s%N)
assert_rc 0 "ca init (RSA 4096, so that signing takes a while)"
init_ms=$(( (t1 - t0) / 1000000 ))
CA="$T/ca.pem"
cp "$D/certs/ca.cert.pem" "$CA" 2>/dev/null
mk_key rsa2048 "$T/csr.key"
mk_csr "$T/csr.key" crash.example "$T/crash.csr"

# issue_cmd I: the command line of round I (even: from the CSR; odd: generated key to p12).
issue_cmd() {
	if [ $(($1 % 2)) = 0 ]; then
		CMD=("$VMSPKI" --data "$D" issue --profile server --csr "$T/crash.csr" --dns "crash$1.example"
		    --out "$O/r$1.pem" --passphrase-file "$PASSF")
		OUTF="$O/r$1.pem"
	else
		CMD=("$VMSPKI" --data "$D" issue --profile client --generate-key --cn "crash$1"
		    --p12 "$O/r$1.p12" --p12-passphrase-file "$P12PW" --passphrase-file "$PASSF")
		OUTF="$O/r$1.p12"
	fi
}

# How long one issue takes here, so that the kills spread over the whole run (0..1.3x).
t0=$(date +%s%N)
issue_cmd 1000
"${CMD[@]}" </dev/null >/dev/null 2>"$T/first.err"
rc=$?
t1=$(date +%s%N)
assert_eq 0 "$rc" "a first, undisturbed issue works"
span=$(( (t1 - t0) * 13 / 10000000 ))
[ "$span" -lt 400 ] && span=400
[ "$span" -gt 5000 ] && span=5000
diag "one issue took $(( (t1 - t0) / 1000000 )) ms; kills land in 0..$span ms"

completed=0
killed=0
declare -a DONE_OK=()
for ((i = 0; i < ROUNDS; i++)); do
	issue_cmd "$i"
	"${CMD[@]}" </dev/null >/dev/null 2>"$O/r$i.err" &
	pid=$!
	IT_BG_PIDS=$pid
	ms=$(( (RANDOM * 32768 + RANDOM) % (span + 1) ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$rc" = 137 ]; then
		killed=$((killed + 1))
	elif [ "$rc" = 0 ]; then
		completed=$((completed + 1))
		DONE_OK+=("$i")
	else
		not_ok "round $i: vmspki exited $rc before the kill (not 0, not killed)"
		diag_file "$O/r$i.err"
	fi
done
diag "$ROUNDS rounds: $killed killed, $completed completed before the kill"

DB="$D/vmspki.db"
assert_eq ok "$(sqlite3 "$DB" 'PRAGMA integrity_check;' 2>&1)" "PRAGMA integrity_check says ok"
vp "$D" audit verify
assert_rc 0 "vmspki audit verify"
assert_eq "$(fp "$CA")" "$(fp "$D/certs/ca.cert.pem")" "certs/ca.cert.pem is still the CA"

# Every recorded certificate: its PEM parses, its fingerprint and serial columns match it, it
# verifies against the CA.
ncert=$(rows "$DB" certificates)
diag "certificates recorded: $ncert (1 undisturbed + $completed completed + those committed just before a kill)"
if [ "$ncert" -ge $((completed + 1)) ] 2>/dev/null && [ "$ncert" -le $((ROUNDS + 1)) ]; then
	ok "recorded certificates between completed runs and started runs ($ncert)"
else
	not_ok "recorded certificates between completed runs + 1 and started runs + 1 (got $ncert, completed $completed)"
fi
bad=0
mkdir -p "$T/rec"
sqlite3 "$DB" "SELECT serial FROM certificates;" >"$T/serials" 2>/dev/null
while read -r s; do
	sqlite3 "$DB" "SELECT pem FROM certificates WHERE serial = '$s';" >"$T/rec/$s.pem"
	want_fp=$(sqlite3 "$DB" "SELECT fingerprint FROM certificates WHERE serial = '$s';")
	got_serial=$(openssl x509 -in "$T/rec/$s.pem" -noout -serial 2>/dev/null | sed 's/^serial=//; s/^0*//' | tr 'A-F' 'a-f')
	if ! openssl verify -x509_strict -CAfile "$CA" "$T/rec/$s.pem" >/dev/null 2>&1; then
		bad=$((bad + 1)); diag "certificate $s does not verify"
	elif [ "$(fp "$T/rec/$s.pem")" != "$want_fp" ]; then
		bad=$((bad + 1)); diag "certificate $s: fingerprint column does not match its PEM"
	elif [ "$got_serial" != "$s" ]; then
		bad=$((bad + 1)); diag "certificate $s: serial column does not match its PEM ($got_serial)"
	fi
done <"$T/serials"
assert_eq 0 "$bad" "every recorded certificate is whole, matches its columns and verifies against the CA"
assert_eq "$ncert" "$(wc -l <"$T/serials")" "every certificate row has a serial"

# One audit row per recorded certificate, and no issuance row without its certificate.
no_audit=$(sqlite3 "$DB" "SELECT count(*) FROM certificates c WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.serial = c.serial);")
assert_eq 0 "$no_audit" "every certificate has an audit row"
issue_rows=$(sqlite3 "$DB" "SELECT count(*) FROM audit_log WHERE action LIKE '%issue%';")
assert_eq "$ncert" "$issue_rows" "audit rows for issuance = certificates recorded"
orphan=$(sqlite3 "$DB" "SELECT count(*) FROM audit_log a WHERE a.action LIKE '%issue%' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = a.serial);")
assert_eq 0 "$orphan" "no issuance audit row without its certificate"

# Temporary files: none in the data dir.
left=$(find "$D" -name '*.tmp.*' 2>/dev/null | sed "s|^$T/||" | tr '\n' ' ')
if [ -z "$left" ]; then ok "no temporary files (*.tmp.*) left in the data dir"; else not_ok "no temporary files left in the data dir (found: $left)"; fi
diag "data dir after the kills: $(cd "$D" && find . -type f | sort | tr '\n' ' ')"

# Output files: those of completed runs exist; any output certificate that exists (complete
# or not) must be recorded, since whoever got it may deploy it. Leftover temporaries are reported.
missing=0
for i in "${DONE_OK[@]}"; do
	issue_cmd "$i"
	[ -s "$OUTF" ] || missing=$((missing + 1))
done
assert_eq 0 "$missing" "every completed run left its output file"
unrec=0
nout=0
for ((i = 0; i < ROUNDS; i++)); do
	issue_cmd "$i"
	[ -s "$OUTF" ] || continue
	nout=$((nout + 1))
	if [ "${OUTF##*.}" = p12 ]; then
		openssl pkcs12 -in "$OUTF" -nokeys -clcerts -passin "file:$P12PW" -out "$T/o.pem" 2>/dev/null || { diag "r$i.p12 exists but does not open"; continue; }
	else
		openssl x509 -in "$OUTF" -out "$T/o.pem" 2>/dev/null || { diag "r$i.pem exists but does not parse"; continue; }
	fi
	s=$(openssl x509 -in "$T/o.pem" -noout -serial 2>/dev/null | sed 's/^serial=//; s/^0*//' | tr 'A-F' 'a-f')
	if ! grep -qx "$s" "$T/serials"; then unrec=$((unrec + 1)); diag "r$i: output certificate $s is not recorded"; fi
done
assert_eq 0 "$unrec" "every certificate written to an output file is recorded ($nout output files)"
otmp=$(find "$O" -name '*.tmp.*' | sed "s|^$O/||" | tr '\n' ' ')
diag "temporary output files left by killed runs: ${otmp:-none}"

# ---------------------------------------------------------------- kills during ca init
# Each in its own data dir; afterwards the dir holds either a whole CA (shown, exported, its
# certificate file in place, audit chain intact) or none (and ca init then works).
INIT_ROUNDS=${VP_CRASH_INIT_ROUNDS:-4}
ispan=$(( init_ms * 13 / 10 ))
[ "$ispan" -lt 500 ] && ispan=500
[ "$ispan" -gt 8000 ] && ispan=8000
for ((j = 0; j < INIT_ROUNDS; j++)); do
	DJ="$T/init$j"
	"$VMSPKI" --data "$DJ" ca init --cn "Init Crash $j" --passphrase-file "$PASSF" </dev/null >/dev/null 2>&1 &
	pid=$!
	IT_BG_PIDS=$pid
	ms=$(( (RANDOM * 32768 + RANDOM) % (ispan + 1) ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ -f "$DJ/vmspki.db" ]; then
		assert_eq ok "$(sqlite3 "$DJ/vmspki.db" 'PRAGMA integrity_check;' 2>&1)" "init round $j: integrity_check ok"
	fi
	left=$(find "$DJ" -name '*.tmp.*' 2>/dev/null | sed "s|^$T/||" | tr '\n' ' ')
	if [ -z "$left" ]; then ok "init round $j: no temporary files left"; else not_ok "init round $j: no temporary files left (found: $left)"; fi
	vp "$DJ" ca show
	if [ "$RC" = 0 ]; then
		diag "init round $j (exit $rc after ${ms} ms): a whole CA"
		vp "$DJ" ca export
		if [ -s "$DJ/certs/ca.cert.pem" ] && [ "$(fp "$VP_OUT")" = "$(fp "$DJ/certs/ca.cert.pem")" ]; then
			ok "init round $j: the CA in the store has its certs/ca.cert.pem"
		else
			not_ok "init round $j: the CA in the store has its certs/ca.cert.pem"
			diag "files: $(cd "$DJ" && find . -type f | sort | tr '\n' ' ')"
		fi
		vp "$DJ" audit verify
		assert_rc 0 "init round $j: audit verify"
		vp "$DJ" issue --profile client --generate-key --cn after-init --out "$DJ.leaf.pem" --key-out "$DJ.leaf.key" --passphrase-file "$PASSF"
		assert_rc 0 "init round $j: the CA issues"
	else
		diag "init round $j (exit $rc after ${ms} ms): no CA ($(head -n 1 "$VP_ERR"))"
		vp "$DJ" ca init --key ec-p256 --cn "Init Again $j" --passphrase-file "$PASSF"
		assert_rc 0 "init round $j: with no CA left, ca init works in the same dir"
	fi
done

IT_BG_PIDS=""

# ---------------------------------------------------------------- afterwards
# Issuing still works, and is recorded.
vp "$D" issue --profile server --csr "$T/crash.csr" --dns after.example --out "$O/after.pem" --passphrase-file "$PASSF"
assert_rc 0 "issue after the kills"
assert_eq $((ncert + 1)) "$(rows "$DB" certificates)" "the new certificate is recorded"
check "the new certificate verifies against the CA" openssl verify -x509_strict -purpose sslserver -CAfile "$CA" "$O/after.pem"
vp "$D" audit verify
assert_rc 0 "audit verify after the new issue"

it_done
