#!/usr/bin/env bash
# Crash safety of component key/certificate pairs (issue 7): `vmspki component renew --all
# --force` (RSA 2048 keys made for 4 pairs, signed by an RSA 4096 CA, so that a run takes a
# while) is killed with SIGKILL at random points, again and again. After each kill the next
# component command (`component list`) recovers half-finished pairs (the spec: roll a pair
# forward when its <name>.cert.pem.new exists, else drop a lone key.new), and then:
#   - every pair is there and every *.key.pem matches its *.cert.pem (openssl pkey -pubout
#     against openssl x509 -pubkey);
#   - no *.new file is left; any leftover temporary file of an atomic write is 0600;
#   - every certificate on disk verifies against the CA and is recorded in the store.
# Random kills rarely land in the few milliseconds between the first .new file and the last
# rename, so the half-finished states are also made by hand first (both .new files; the key
# already renamed and cert.new left; key.new alone) and the recovery of each is checked.
# At the end the audit chain verifies, SQLite's integrity check is ok, an undisturbed renew
# works and `component renew --all` without --force finds nothing to do.
# The random delays only decide where the kills land; no check depends on timing.
. "$(dirname "$0")/lib.bash"
it_init

ROUNDS=${VP_NATS_CRASH_ROUNDS:-20}
D="$T/dd"
CD="$D/components/certificates"
DB="$D/vmspki.db"

vp "$D" ca init --key rsa4096 --remember --cn "Component Crash Root"
assert_rc 0 "ca init (RSA 4096, passphrase remembered)"
CA="$D/certs/ca.cert.pem"

# Four pairs: broker (server and client), recorder and viewer (client).
vp "$D" component add broker
assert_rc 0 "component add broker (server and client)"
for c in recorder viewer; do
	vp "$D" component add "$c" --client
	assert_rc 0 "component add $c --client"
done
PAIRS=(broker.server broker.client recorder.client viewer.client)

# check_pairs LABEL: checks the component files now; adds to the counters below and prints
# diagnostics for each problem. Returns the number of problems. (Few processes: the machine
# may be busy and this runs after every kill.)
BAD_PAIRS=0 LEFT_NEW=0 BAD_TMP=0 BAD_VERIFY=0 UNRECORDED=0
check_pairs() {
	local label=$1 p cert key pk pc probs=0 f out serials=() certs=() n
	for p in "${PAIRS[@]}"; do
		cert="$CD/$p.cert.pem" key="$CD/$p.key.pem"
		if [ ! -s "$cert" ] || [ ! -s "$key" ]; then
			diag "$label: $p: $( [ -s "$cert" ] || printf 'no certificate ')$( [ -s "$key" ] || printf 'no key')"
			BAD_PAIRS=$((BAD_PAIRS + 1)) probs=$((probs + 1))
			continue
		fi
		pk=$(pubkey_of_key "$key")
		out=$(openssl x509 -in "$cert" -noout -serial -pubkey 2>/dev/null)
		pc=$(sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' <<<"$out")
		if [ -z "$pk" ] || [ "$pk" != "$pc" ]; then
			diag "$label: $p: the key does not match the certificate"
			BAD_PAIRS=$((BAD_PAIRS + 1)) probs=$((probs + 1))
			continue
		fi
		p=$(sed -n 's/^serial=//p' <<<"$out")
		p=${p,,}
		while [[ $p == 0?* ]]; do p=${p#0}; done
		serials+=("$p")
		certs+=("$cert")
	done
	# Every certificate on disk verifies against the CA (openssl verify reads the first
	# certificate of each file) and is recorded in the store.
	if [ ${#certs[@]} -gt 0 ]; then
		n=$(openssl verify -CAfile "$CA" "${certs[@]}" 2>/dev/null | grep -c ': OK$')
		if [ "$n" != "${#certs[@]}" ]; then
			diag "$label: $((${#certs[@]} - n)) certificate(s) do not verify against the CA"
			BAD_VERIFY=$((BAD_VERIFY + 1)) probs=$((probs + 1))
		fi
		n=$(sqlite3 "file:$DB?mode=ro" "SELECT count(DISTINCT serial) FROM certificates WHERE serial IN ($(printf "'%s'," "${serials[@]}" | sed 's/,$//'));" 2>/dev/null)
		if [ "$n" != "${#serials[@]}" ]; then
			diag "$label: $((${#serials[@]} - ${n:-0})) certificate(s) on disk not recorded in the store"
			UNRECORDED=$((UNRECORDED + 1)) probs=$((probs + 1))
		fi
	fi
	# Any other key or certificate file must be part of a whole pair too (no stray halves).
	for f in "$CD"/*.key.pem; do
		[ -e "$f" ] || continue
		[ -e "${f%.key.pem}.cert.pem" ] || { diag "$label: $(basename "$f") without its certificate"; BAD_PAIRS=$((BAD_PAIRS + 1)) probs=$((probs + 1)); }
	done
	while IFS= read -r f; do
		diag "$label: left over: ${f#"$D/"}"
		LEFT_NEW=$((LEFT_NEW + 1)) probs=$((probs + 1))
	done < <(find "$D" -name '*.new' 2>/dev/null)
	while IFS= read -r f; do
		if [ "$(stat -c %a "$f")" != 600 ]; then
			diag "$label: temporary file ${f#"$D/"} is mode $(stat -c %a "$f") (may hold a key)"
			BAD_TMP=$((BAD_TMP + 1)) probs=$((probs + 1))
		fi
	done < <(find "$D" -name '*.tmp.*' 2>/dev/null)
	return "$probs"
}

check_pairs "before the kills"
assert_eq 0 "$?" "before the kills: ${#PAIRS[@]} pairs, each key matching its certificate"

# renew_cmd: the command that is killed.
renew_cmd=("$VMSPKI" --data "$D" component renew --all --force)

# The pairs in place now (P0), kept to stage half-finished replacements below.
S="$T/staged"
mkdir -p "$S"
SP=broker.client
cp -p "$CD/$SP.key.pem" "$S/p0.key"
cp -p "$CD/$SP.cert.pem" "$S/p0.cert"

# How long one forced renewal takes here, so that the kills spread over the whole run.
t0=$(date +%s%N)
"${renew_cmd[@]}" </dev/null >"$T/first.out" 2>"$T/first.err"
rc=$?
t1=$(date +%s%N)
assert_eq 0 "$rc" "a first, undisturbed component renew --all --force works"
nren=$(grep -c 'renewed' "$T/first.out")
if [ "$nren" -ge "${#PAIRS[@]}" ]; then
	ok "it renewed every certificate ($nren 'renewed' lines for ${#PAIRS[@]} certificates)"
else
	not_ok "it renewed every certificate ($nren 'renewed' lines for ${#PAIRS[@]} certificates)"
	diag_file "$T/first.out" 12
fi
check_pairs "after the undisturbed renewal"
assert_eq 0 "$?" "after the undisturbed renewal: every key matches its certificate"
cp -p "$CD/$SP.key.pem" "$S/p1.key"
cp -p "$CD/$SP.cert.pem" "$S/p1.cert"

# How long loading the CA key takes (its passphrase KDF): one issuance from a small CSR. The
# kills land after it, while keys are made and pairs replaced.
mk_key ec-p256 "$T/calib.key"
mk_csr "$T/calib.key" calibration "$T/calib.csr"
t2=$(date +%s%N)
vp "$D" issue --profile component-client --csr "$T/calib.csr" --cn calibration --out "$T/calib.pem"
t3=$(date +%s%N)
assert_rc 0 "one issuance (to time the CA key's loading)"
dur=$(( (t1 - t0) / 1000000 ))
base=$(( (t3 - t2) / 1000000 * 8 / 10 ))
span=$(( dur * 11 / 10 ))
[ "$span" -lt $((base + 600)) ] && span=$((base + 600))
[ "$span" -gt 8000 ] && span=8000
diag "one renew --all --force took $dur ms, loading the CA key about $((base * 10 / 8)) ms; kills land in $base..$span ms"

# ---------------------------------------------------------------- staged half-finished pairs
# pair_is NAME: 0 when $SP's key and certificate in place are NAME's ($S/NAME.key, .cert).
pair_is() {
	cmp -s "$CD/$SP.key.pem" "$S/$1.key" && cmp -s "$CD/$SP.cert.pem" "$S/$1.cert"
}
# In place now: P1. Stage 1: both .new files written (P0), nothing renamed yet.
cp -p "$S/p0.key" "$CD/$SP.key.pem.new"
cp -p "$S/p0.cert" "$CD/$SP.cert.pem.new"
vp "$D" component list
assert_rc 0 "staged key.new + cert.new: component list"
if pair_is p0; then ok "staged key.new + cert.new: rolled forward (both renamed into place)"; else not_ok "staged key.new + cert.new: rolled forward (both renamed into place)"; fi
check_pairs "staged key.new + cert.new"
assert_eq 0 "$?" "staged key.new + cert.new: every pair matches, no .new left"

# Stage 2: key.new already renamed over the key (P1's key in place, P0's certificate), cert.new
# (P1) not yet.
cp -p "$S/p1.key" "$CD/$SP.key.pem"
cp -p "$S/p1.cert" "$CD/$SP.cert.pem.new"
vp "$D" component list
assert_rc 0 "staged key renamed, cert.new left: component list"
if pair_is p1; then ok "staged key renamed, cert.new left: rolled forward (cert.new renamed)"; else not_ok "staged key renamed, cert.new left: rolled forward (cert.new renamed)"; fi
check_pairs "staged key renamed + cert.new"
assert_eq 0 "$?" "staged key renamed, cert.new left: every pair matches, no .new left"

# Stage 3: key.new alone (killed before cert.new was written): dropped, the old pair stays.
cp -p "$S/p0.key" "$CD/$SP.key.pem.new"
vp "$D" component list
assert_rc 0 "staged key.new alone: component list"
if pair_is p1; then ok "staged key.new alone: dropped, the pair in place kept"; else not_ok "staged key.new alone: dropped, the pair in place kept"; fi
check_pairs "staged key.new alone"
assert_eq 0 "$?" "staged key.new alone: every pair matches, no .new left"

# The same recovery before a renewal (any component command recovers first).
cp -p "$S/p0.key" "$CD/$SP.key.pem.new"
cp -p "$S/p0.cert" "$CD/$SP.cert.pem.new"
vp "$D" component renew broker
assert_rc 0 "staged key.new + cert.new, then component renew broker (no --force)"
check_pairs "staged, then renew"
assert_eq 0 "$?" "staged, then renew: every pair matches, no .new left"

# ---------------------------------------------------------------- random kills
killed=0 completed=0 recovered_rounds=0 list_fail=0 mismatch_before=0
for ((i = 0; i < ROUNDS; i++)); do
	"${renew_cmd[@]}" </dev/null >"$T/r$i.out" 2>"$T/r$i.err" &
	pid=$!
	IT_BG_PIDS=$pid
	ms=$(( base + (RANDOM * 32768 + RANDOM) % (span - base + 1) ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	IT_BG_PIDS=""
	case $rc in
	137) killed=$((killed + 1)) ;;
	0) completed=$((completed + 1)) ;;
	*)
		not_ok "round $i: vmspki exited $rc before the kill (not 0, not killed)"
		diag_file "$T/r$i.err"
		;;
	esac
	# What the kill left, before any recovery (only reported: it shows which windows were hit).
	nnew=$(find "$CD" -name '*.new' 2>/dev/null | wc -l)
	if [ "$nnew" -gt 0 ]; then
		recovered_rounds=$((recovered_rounds + 1))
		for p in "${PAIRS[@]}"; do
			if [ "$(pubkey_of_key "$CD/$p.key.pem")" != "$(pubkey_of_cert "$CD/$p.cert.pem")" ]; then
				mismatch_before=$((mismatch_before + 1))
				break
			fi
		done
	fi
	# The next component command recovers.
	vp "$D" component list
	if [ "$RC" != 0 ]; then
		list_fail=$((list_fail + 1))
		diag "round $i: component list exited $RC: $(head -n 1 "$VP_ERR")"
	fi
	check_pairs "round $i (killed after $ms ms, exit $rc)"
done
diag "$ROUNDS rounds: $killed killed, $completed completed before the kill"
diag "rounds that left .new files: $recovered_rounds; rounds that left a key not matching its certificate before recovery: $mismatch_before"

assert_eq 0 "$list_fail" "component list after each kill works (exit 0 every time)"
assert_eq 0 "$BAD_PAIRS" "after each kill and the next component command: every pair whole, every key matching its certificate"
assert_eq 0 "$LEFT_NEW" "after each kill and the next component command: no .new file left"
assert_eq 0 "$BAD_VERIFY" "every certificate on disk verifies against the CA"
assert_eq 0 "$UNRECORDED" "every certificate on disk is recorded in the store"
assert_eq 0 "$BAD_TMP" "any leftover temporary file is 0600"
left=$(find "$D" -name '*.tmp.*' 2>/dev/null | sed "s|^$D/||" | tr '\n' ' ')
diag "temporary files left by killed atomic writes: ${left:-none}"

# ---------------------------------------------------------------- afterwards
assert_eq ok "$(sqlite3 "$DB" 'PRAGMA integrity_check;' 2>&1)" "PRAGMA integrity_check says ok"
vp "$D" audit verify
assert_rc 0 "vmspki audit verify"
vp "$D" component renew --all --force
assert_rc 0 "an undisturbed component renew --all --force after the kills"
check_pairs "after the last renewal"
assert_eq 0 "$?" "after the last renewal: every key matches its certificate, nothing left over"
vp "$D" component renew --all
assert_rc 0 "component renew --all (no --force)"
assert_no_grep 'renewed' "$VP_OUT" "nothing to renew: every certificate is current"
vp "$D" component list
assert_rc 0 "component list"
assert_no_grep 'Missing|another CA|expire' "$VP_OUT" "component list: no certificate missing, foreign or expiring"
for p in "${PAIRS[@]}"; do
	assert_mode 600 "$CD/$p.key.pem" "$p.key.pem is 0600"
done
vp "$D" audit verify
assert_rc 0 "vmspki audit verify at the end"
it_done
