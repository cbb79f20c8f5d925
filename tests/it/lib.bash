# Shared helpers for the integration tests (tests/it/*.sh). Sourced, never run on its own:
# its name does not match the tests/it/*.sh glob on purpose.
#
# A test script does:
#   . "$(dirname "$0")/lib.bash"
#   it_init            # work dir in $T (removed on exit), $VMSPKI checked
#   ... checks ...
#   it_done            # prints "N passed, M failed" and exits 0 only if nothing failed
#
# Every check prints one line, "ok - ..." or "not ok - ..."; diagnostics go on "# " lines.

IT_PASS=0
IT_FAIL=0
IT_DONE=0
T=""

# ---------------------------------------------------------------- counting and assertions

ok() { IT_PASS=$((IT_PASS + 1)); printf 'ok - %s\n' "$*"; }
not_ok() { IT_FAIL=$((IT_FAIL + 1)); printf 'not ok - %s\n' "$*"; }
diag() { printf '# %s\n' "$@"; }
# diag_file FILE [LINES]: the first lines of a file as diagnostics.
diag_file() {
	[ -s "$1" ] || return 0
	head -n "${2:-8}" "$1" | sed 's/^/#   /'
}

# check DESC CMD...: ok when CMD exits 0.
check() {
	local desc=$1
	shift
	if "$@" >"$T/.check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		diag_file "$T/.check.out"
	fi
}

# check_not DESC CMD...: ok when CMD exits non-zero.
check_not() {
	local desc=$1
	shift
	if "$@" >"$T/.check.out" 2>&1; then
		not_ok "$desc"
		diag_file "$T/.check.out"
	else
		ok "$desc"
	fi
}

# assert_eq EXPECTED ACTUAL DESC
assert_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3"
		diag "expected: $1" "actual:   $2"
	fi
}

# assert_rc EXPECTED DESC: the exit status of the last vp run.
assert_rc() {
	if [ "$RC" = "$1" ]; then
		ok "$2 (exit $RC)"
	else
		not_ok "$2 (expected exit $1, got $RC)"
		diag_file "$VP_ERR"
	fi
}

# assert_stderr REGEX DESC: the stderr of the last vp run matches REGEX (extended, no case).
assert_stderr() {
	if grep -Eiq -- "$1" "$VP_ERR"; then
		ok "$2"
	else
		not_ok "$2 (stderr does not match /$1/)"
		diag_file "$VP_ERR"
	fi
}

# assert_grep REGEX FILE DESC / assert_no_grep REGEX FILE DESC (extended regex, case-sensitive)
assert_grep() {
	if grep -Eq -- "$1" "$2" 2>/dev/null; then
		ok "$3"
	else
		not_ok "$3 (no /$1/ in $(basename "$2"))"
		diag_file "$2" 20
	fi
}
assert_no_grep() {
	if grep -Eq -- "$1" "$2" 2>/dev/null; then
		not_ok "$3 (/$1/ found in $(basename "$2"))"
		grep -E -- "$1" "$2" | head -n 3 | sed 's/^/#   /'
	else
		ok "$3"
	fi
}

assert_file() { if [ -s "$1" ]; then ok "$2"; else not_ok "$2 ($1 missing or empty)"; fi; }
assert_no_file() { if [ -e "$1" ]; then not_ok "$2 ($1 exists)"; else ok "$2"; fi; }

# assert_mode MODE FILE DESC (octal, as stat %a prints it)
assert_mode() {
	local m
	m=$(stat -c %a "$2" 2>/dev/null || echo missing)
	if [ "$m" = "$1" ]; then ok "$3"; else not_ok "$3 (mode of $(basename "$2") is $m, want $1)"; fi
}

# ---------------------------------------------------------------- set-up and tear-down

it_cleanup() {
	local rc=$? p
	# Background processes this script started and has not reaped (IT_BG_PIDS, by id).
	for p in ${IT_BG_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
	if [ "$IT_DONE" = 0 ]; then
		not_ok "the script ran to its end (it stopped early, status $rc)"
		printf '%d passed, %d failed\n' "$IT_PASS" "$IT_FAIL"
	fi
	daemons_kill_all
	# A PostgreSQL server libpg.bash started.
	if declare -F pg_stop >/dev/null; then pg_stop; fi
	[ -n "${IT_KEEP:-}" ] && [ -n "$T" ] && { echo "# kept work dir $T" >&2; return; }
	[ -n "$T" ] && [ -d "$T" ] && rm -rf -- "$T"
}

it_done() {
	IT_DONE=1
	printf '%d passed, %d failed\n' "$IT_PASS" "$IT_FAIL"
	if [ "$IT_FAIL" -eq 0 ] && [ "$IT_PASS" -gt 0 ]; then exit 0; fi
	exit 1
}

# it_init: makes the work dir $T, finds $VMSPKI, checks the tools. Stops (failing) if the
# binary or a tool is missing, since nothing else could be checked.
it_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/vmspki-it.XXXXXX") || { echo "cannot make a temp dir" >&2; exit 1; }
	trap it_cleanup EXIT
	trap 'exit 143' TERM INT HUP   # so that a timeout still removes the work dir
	# A usual umask, so that a file vmspki leaves readable by others shows as such.
	umask 022
	export LC_ALL=C
	unset VMSPKI_PASSPHRASE VMSPKI_DATA
	VP_LOG="$T/transcript.log"   # every vp run's stdout and stderr, in order
	: >"$VP_LOG"
	if [ -z "${VMSPKI:-}" ]; then
		for c in "${VP_BUILD_DIR:-}/vmspki" "${VP_BUILD_DIR:-}/src/cli/vmspki"; do
			[ -x "$c" ] && VMSPKI=$c && break
		done
	fi
	if [ -z "${VMSPKI:-}" ] || [ ! -x "$VMSPKI" ]; then
		not_ok "the vmspki binary is executable (VMSPKI=${VMSPKI:-unset})"
		it_done
	fi
	local tool missing=""
	for tool in openssl certtool certutil sqlite3 "$@"; do
		command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
	done
	if [ -n "$missing" ]; then
		not_ok "tools present (missing:$missing; scripts/deps installs them)"
		it_done
	fi
}

# ---------------------------------------------------------------- running vmspki

# vp DATADIR ARGS...: runs vmspki --data DATADIR ARGS with stdin from /dev/null and a time
# limit. Sets RC, VP_OUT and VP_ERR (files holding this run's stdout and stderr); appends both
# to $VP_LOG. A DATADIR of "-" gives no --data option.
VP_N=0
vp() {
	local d=$1
	shift
	VP_N=$((VP_N + 1))
	VP_OUT="$T/.vp.$VP_N.out"
	VP_ERR="$T/.vp.$VP_N.err"
	if [ "$d" = "-" ]; then
		timeout 300 "$VMSPKI" "$@" </dev/null >"$VP_OUT" 2>"$VP_ERR"
	else
		timeout 300 "$VMSPKI" --data "$d" "$@" </dev/null >"$VP_OUT" 2>"$VP_ERR"
	fi
	RC=$?
	{
		printf '$ vmspki %s -> %s\n' "$*" "$RC"
		cat "$VP_OUT" "$VP_ERR"
	} >>"$VP_LOG"
	return 0
}


# ---------------------------------------------------------------- keys, CSRs and CAs (openssl)

# mk_key TYPE OUT: rsa1024|rsa2048|rsa3072|rsa4096|ec-p256|ec-p384 (unencrypted PKCS#8 PEM)
mk_key() {
	case $1 in
	rsa*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa}" -out "$2" 2>/dev/null ;;
	ec-p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" 2>/dev/null ;;
	ec-p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$2" 2>/dev/null ;;
	*) echo "mk_key: unknown key type $1" >&2; return 1 ;;
	esac
}

# mk_csr KEYFILE CN OUT [SAN]: a PEM CSR (SAN like "DNS:a,IP:1.2.3.4" is requested in it).
mk_csr() {
	local extra=()
	[ -n "${4:-}" ] && extra=(-addext "subjectAltName=$4")
	openssl req -new -key "$1" -subj "/CN=$2" "${extra[@]}" -out "$3" 2>/dev/null
}

# mk_root PREFIX KEYTYPE CN DAYS [KEYUSAGE]: self-signed CA PREFIX.pem with key PREFIX.key.
# (Run it under faketime to move its validity.)
mk_root() {
	local ku=${5:-critical,keyCertSign,cRLSign}
	[ -s "$1.key" ] || mk_key "$2" "$1.key" || return 1
	openssl req -x509 -new -key "$1.key" -subj "/CN=$3" -days "$4" -sha256 \
	    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=$ku" \
	    -addext "subjectKeyIdentifier=hash" -out "$1.pem" 2>/dev/null
}

# mk_signed PREFIX ISSUER_PREFIX KEYTYPE CN DAYS EXTENSIONS: a certificate for a new key
# (PREFIX.key, PREFIX.pem) signed by ISSUER_PREFIX.{key,pem}. EXTENSIONS is config lines.
mk_signed() {
	local p=$1 i=$2
	[ -s "$p.key" ] || mk_key "$3" "$p.key" || return 1
	openssl req -new -key "$p.key" -subj "/CN=$4" -out "$p.csr" 2>/dev/null || return 1
	printf '%s\n' "$6" >"$p.ext"
	openssl x509 -req -in "$p.csr" -CA "$i.pem" -CAkey "$i.key" -days "$5" -sha256 \
	    -set_serial "0x$(openssl rand -hex 12)" -extfile "$p.ext" -out "$p.pem" 2>/dev/null
}

# mk_intermediate PREFIX ROOT_PREFIX KEYTYPE CN DAYS
mk_intermediate() {
	mk_signed "$1" "$2" "$3" "$4" "$5" "basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always"
}

# mk_p12 OUT KEY CERT PWFILE [CHAINFILE]: PKCS#12 (OpenSSL 3 defaults: AES-256-CBC, PBKDF2).
mk_p12() {
	local chain=()
	[ -n "${5:-}" ] && chain=(-certfile "$5")
	openssl pkcs12 -export -out "$1" -inkey "$2" -in "$3" "${chain[@]}" -passout "file:$4" \
	    -name vmspki-it 2>/dev/null
}

# ---------------------------------------------------------------- certificate facts

# fp CERT [INFORM]: SHA-256 fingerprint, lowercase hex without colons.
fp() {
	openssl x509 -in "$1" -inform "${2:-PEM}" -noout -fingerprint -sha256 2>/dev/null |
	    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}

# cert_text CERT: openssl x509 -text of the first certificate of CERT.
cert_text() { openssl x509 -in "$1" -noout -text 2>/dev/null; }

# ext_value CERT "X509v3 Extended Key Usage": the line after the extension's header ("" if
# the extension is absent). ext_in TEXT NAME: the same from a cert_text already in hand.
ext_in() { grep -A1 -F -- "$2" <<<"$1" | sed -n '2p' | sed 's/^ *//; s/ *$//'; }
ext_value() { ext_in "$(cert_text "$1")" "$2"; }

# ext_critical CERT NAME: 0 if the extension is marked critical.
ext_critical() { cert_text "$1" | grep -Fq "$2: critical"; }

# parse_cert CERT: reads the first certificate of CERT with one openssl call and bash builtins
# (the tests look at many certificates). Sets C_TXT (the -text output), C_SUBJECT ("CN = x"),
# C_ISSUER, C_NB / C_NA (notBefore / notAfter as epoch seconds), C_PUBKEY ("(2048 bit)" line),
# C_EXT[name] (the first value line of "X509v3 <name>") and C_CRIT[name] (1 if critical).
# Returns 1 if openssl cannot read it.
declare -A C_EXT C_CRIT
parse_cert() {
	local line name prev="" nb="" na=""
	C_EXT=() C_CRIT=() C_SUBJECT="" C_ISSUER="" C_NB=0 C_NA=0 C_PUBKEY=""
	C_TXT=$(openssl x509 -in "$1" -noout -text 2>/dev/null)
	[ -n "$C_TXT" ] || return 1
	while IFS= read -r line; do
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		if [ -n "$prev" ]; then
			C_EXT[$prev]=$line
			prev=""
			continue
		fi
		case $line in
		"X509v3 extensions:") ;;
		"X509v3 "*:*)
			name=${line%%:*}
			name=${name#X509v3 }
			[[ ${line#*:} == *critical* ]] && C_CRIT[$name]=1
			prev=$name ;;
		"Subject: "*) C_SUBJECT=${line#Subject: } ;;
		"Issuer: "*) C_ISSUER=${line#Issuer: } ;;
		"Not Before: "*) nb=${line#Not Before: } ;;
		"Not After : "*) na=${line#Not After : } ;;
		"Public-Key: "*) C_PUBKEY=${line#Public-Key: } ;;
		esac
	done <<<"$C_TXT"
	{ read -r C_NB; read -r C_NA; } < <(printf '%s\n%s\n' "$nb" "$na" | date -u -f - +%s 2>/dev/null)
	return 0
}

# epoch "Mon DD HH:MM:SS YYYY GMT" -> seconds
epoch() { date -u -d "$1" +%s; }
not_after() { epoch "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')"; }
not_before() { epoch "$(openssl x509 -in "$1" -noout -startdate | sed 's/^notBefore=//')"; }

# serial_info CERT: "<content length> <sign>" of the serial INTEGER as encoded (DER): the
# first INTEGER at depth 2 of openssl asn1parse (the version is at depth 3, inside [0]).
serial_info() {
	local line len="" val=""
	while IFS= read -r line; do
		if [[ $line =~ d=2\ +hl=[0-9]+\ +l=\ *([0-9]+)\ prim:\ +INTEGER\ +:(.*)$ ]]; then
			len=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			break
		fi
	done < <(openssl asn1parse -in "$1" 2>/dev/null)
	case $val in
	-*) echo "$len negative" ;;   # asn1parse prints a minus for a negative INTEGER
	*) echo "$len positive" ;;
	esac
}

# pubkey_of_cert CERT / pubkey_of_key KEY [PASSIN]: SPKI PEM, to compare.
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
pubkey_of_key() { openssl pkey -in "$1" -pubout 2>/dev/null; }

# first_cert IN OUT: the first certificate of a PEM bundle.
first_cert() { openssl x509 -in "$1" -out "$2" 2>/dev/null; }

# split_pem FILE PREFIX: writes each certificate of a PEM bundle to PREFIX.1.pem, PREFIX.2.pem,
# ... and prints their names.
split_pem() {
	rm -f -- "$2".[0-9]*.pem
	awk -v p="$2" '/-----BEGIN CERTIFICATE-----/{n++; f=p "." n ".pem"} f{print > f} /-----END CERTIFICATE-----/{close(f); f=""}' "$1"
	ls -1 -- "$2".[0-9]*.pem 2>/dev/null
}

# pem_fps FILE: the SHA-256 fingerprint of every certificate in a PEM bundle, one a line.
pem_fps() {
	local c
	for c in $(split_pem "$1" "$T/.split"); do fp "$c"; done
}

# count_pem_certs FILE
count_pem_certs() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- the three verifiers

# verify_openssl CA LEAF PURPOSE [UNTRUSTED]: openssl verify -x509_strict.
verify_openssl() {
	local u=()
	[ -n "${4:-}" ] && u=(-untrusted "$4")
	openssl verify -x509_strict -CAfile "$1" "${u[@]}" -purpose "$3" "$2" >"$T/.vo" 2>&1 &&
	    grep -q ': OK$' "$T/.vo"
}

# verify_gnutls CA CHAINFILE PURPOSE_OID [HOSTNAME]: certtool --verify; CHAINFILE holds the
# leaf first, then any intermediates.
verify_gnutls() {
	local h=()
	[ -n "${4:-}" ] && h=(--verify-hostname "$4")
	certtool --verify --verify-profile medium --load-ca-certificate "$1" --infile "$2" \
	    --verify-purpose "$3" "${h[@]}" >"$T/.vg" 2>&1 &&
	    grep -q 'Chain verification output: Verified' "$T/.vg"
}

# verify_nss CA LEAF USAGE [INTERMEDIATE...]: a fresh NSS database trusting only CA.
# USAGE: V (SSL server) or C (SSL client).
NSS_N=0
verify_nss() {
	local ca=$1 leaf=$2 usage=$3 i n=0 db
	shift 3
	NSS_N=$((NSS_N + 1))
	db="$T/nss.$NSS_N"
	mkdir -p "$db" && certutil -N --empty-password -d "sql:$db" >"$T/.vn" 2>&1 &&
	    certutil -A -n ca -t "CT,C,C" -i "$ca" -d "sql:$db" >>"$T/.vn" 2>&1 || return 1
	for i in "$@"; do
		n=$((n + 1))
		certutil -A -n "intermediate$n" -t ",," -i "$i" -d "sql:$db" >>"$T/.vn" 2>&1 || return 1
	done
	certutil -A -n leaf -t ",," -i "$leaf" -d "sql:$db" >>"$T/.vn" 2>&1 &&
	    certutil -V -n leaf -u "$usage" -d "sql:$db" >>"$T/.vn" 2>&1 &&
	    grep -q 'certificate is valid' "$T/.vn"
	local rc=$?
	rm -rf -- "$db"
	return $rc
}

# verify_all DESC CA LEAF KIND [INTERMEDIATE] [HOSTNAME]: the three verifiers, one check each.
# KIND: server or client.
verify_all() {
	local desc=$1 ca=$2 leaf=$3 kind=$4 inter=${5:-} host=${6:-}
	local purpose oid usage chainf="$T/.chain.pem"
	if [ "$kind" = server ]; then
		purpose=sslserver oid=1.3.6.1.5.5.7.3.1 usage=V
	else
		purpose=sslclient oid=1.3.6.1.5.5.7.3.2 usage=C
	fi
	if verify_openssl "$ca" "$leaf" "$purpose" "$inter"; then
		ok "$desc: openssl verify -x509_strict -purpose $purpose"
	else
		not_ok "$desc: openssl verify -x509_strict -purpose $purpose"
		diag_file "$T/.vo"
	fi
	cat "$leaf" ${inter:+"$inter"} >"$chainf"
	if verify_gnutls "$ca" "$chainf" "$oid" "$host"; then
		ok "$desc: certtool --verify (purpose $oid${host:+, host $host})"
	else
		not_ok "$desc: certtool --verify (purpose $oid${host:+, host $host})"
		grep -E 'Output|output' "$T/.vg" | head -n 4 | sed 's/^/#   /'
	fi
	if verify_nss "$ca" "$leaf" "$usage" ${inter:+"$inter"}; then
		ok "$desc: NSS certutil -V -u $usage"
	else
		not_ok "$desc: NSS certutil -V -u $usage"
		diag_file "$T/.vn"
	fi
}

# ---------------------------------------------------------------- the data directory

# rows DB TABLE: row count, or "none" when the table or database is missing.
rows() {
	[ -f "$1" ] || { echo none; return; }
	sqlite3 "$1" "SELECT count(*) FROM $2;" 2>/dev/null || echo none
}

# snapshot DIR: one line per file (mode, sha256, path; WAL/SHM files left out) and the row
# counts of the three tables, so that two snapshots can be compared with =.
snapshot() {
	local d=$1
	if [ -d "$d" ]; then
		(cd "$d" && find . -type f ! -name '*-wal' ! -name '*-shm' ! -name '*-journal' -print0 |
		    sort -z | xargs -0 -r stat -c '%a %n' | while read -r m f; do
			printf '%s %s %s\n' "$m" "$(sha256sum <"$f" | cut -c1-64)" "$f"
		done)
		(cd "$d" && find . -type d | sort)
	else
		echo "no directory"
	fi
	local t
	for t in certificates key_value audit_log; do
		printf '%s=%s\n' "$t" "$(rows "$d/vmspki.db" "$t")"
	done
}

# assert_unchanged BEFORE_FILE DIR DESC
assert_unchanged() {
	snapshot "$2" >"$T/.snap.after"
	if cmp -s "$1" "$T/.snap.after"; then
		ok "$3"
	else
		not_ok "$3"
		diff "$1" "$T/.snap.after" | head -n 10 | sed 's/^/#   /'
	fi
}

# ---------------------------------------------------------------- the daemon (vmspki serve)
# daemon_start DATADIR [SERVE ARGS...] starts `vmspki serve` on 127.0.0.1:PORT and [::1]:PORT
# (a free port picked at random, another one if the daemon cannot bind it), waits until
# /healthz answers and sets:
#   DAEMON_PID, PORT, DAEMON_DIR, DAEMON_OUT/DAEMON_ERR (its stdout/stderr files),
#   DAEMON_CA (DATADIR/certs/ca.cert.pem), ADMIN_TOKEN (the vmspki_... token it printed at first
#   start; unchanged on a later start that prints none).
# Every daemon started so is killed (SIGKILL) when the test exits. daemon_stop stops one.
# DAEMON_WAIT (seconds, default 180: first start makes a CA; ASan is slow) bounds the wait.
DAEMON_PIDS=()
DAEMON_N=0
ADMIN_TOKEN=""

# pid_alive PID: 0 while the process runs (a zombie, exited but not yet waited for, is not).
pid_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# port_busy PORT: 0 when something accepts TCP connections on 127.0.0.1:PORT or [::1]:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
	(exec 3<>"/dev/tcp/::1/$1") 2>/dev/null && return 0
	return 1
}

# pick_port: a port from 20000 up to the kernel's ephemeral range (where the outgoing
# connections of tests running beside this one take their local ports, so that a port free
# of listeners may still be taken at bind time) that nothing listens on (now).
pick_port() {
	local p i lo=20000 hi=59999 eph
	read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=
	[[ $eph =~ ^[0-9]+$ ]] && ((eph - 1 - lo >= 4000)) && hi=$((eph - 1))
	for ((i = 0; i < 50; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		port_busy "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# healthz_up PORT: 0 when https://127.0.0.1:PORT/healthz answers 200 (certificate not checked:
# this only says that the daemon is up; the TLS tests check the certificate).
healthz_up() {
	[ "$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/healthz" 2>/dev/null)" = 200 ]
}

daemon_start() {
	local d=$1 try n wait_s=${DAEMON_WAIT:-180} i
	shift
	for ((try = 1; try <= 5; try++)); do
		PORT=$(pick_port) || { diag "no free port found"; return 1; }
		DAEMON_N=$((DAEMON_N + 1))
		n=$DAEMON_N
		DAEMON_OUT="$T/daemon.$n.out"
		DAEMON_ERR="$T/daemon.$n.err"
		"$VMSPKI" --data "$d" serve --listen "127.0.0.1:$PORT" --listen "[::1]:$PORT" "$@" \
		    </dev/null >"$DAEMON_OUT" 2>"$DAEMON_ERR" &
		DAEMON_PID=$!
		DAEMON_PIDS+=("$DAEMON_PID")
		DAEMON_DIR=$d
		DAEMON_CA="$d/certs/ca.cert.pem"
		printf '$ vmspki --data %s serve --listen 127.0.0.1:%s --listen [::1]:%s %s (pid %s)\n' \
		    "$d" "$PORT" "$PORT" "$*" "$DAEMON_PID" >>"$VP_LOG"
		for ((i = 0; i < wait_s * 5; i++)); do
			pid_alive "$DAEMON_PID" || break
			if healthz_up "$PORT"; then
				local tok
				tok=$(grep -Eo 'vmspki_[A-Za-z0-9_-]+' "$DAEMON_OUT" | head -n 1)
				[ -n "$tok" ] && ADMIN_TOKEN=$tok
				return 0
			fi
			sleep 0.2
		done
		if pid_alive "$DAEMON_PID"; then
			diag "the daemon (pid $DAEMON_PID) did not answer /healthz within ${wait_s}s"
			diag_file "$DAEMON_ERR" 20
			return 1
		fi
		wait "$DAEMON_PID" 2>/dev/null
		# Someone took the port between the pick and the bind: another one.
		if grep -Eqi 'in use|EADDRINUSE' "$DAEMON_ERR"; then
			diag "port $PORT was taken; trying another"
			continue
		fi
		diag "the daemon exited before answering /healthz; its stderr:"
		diag_file "$DAEMON_ERR" 20
		diag_file "$DAEMON_OUT" 20
		return 1
	done
	return 1
}

# daemon_stop PID [SIGNAL] [SECONDS]: sends SIGNAL (TERM) and waits up to SECONDS (60) for the
# process to end. Sets DAEMON_RC to its exit status ("timeout" when it did not end: it is then
# killed). Only for daemons this test started (they are its children).
daemon_stop() {
	local pid=$1 sig=${2:-TERM} lim=${3:-60} i
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < lim * 10; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		DAEMON_RC=timeout
		return 1
	fi
	wait "$pid" 2>/dev/null
	DAEMON_RC=$?
	return 0
}

# track_pid PID: another background process of the test (a client, a helper server) to kill
# with the daemons when the test exits.
track_pid() { DAEMON_PIDS+=("$1"); }

# daemons_kill_all: SIGKILL to every daemon (and tracked process) still running (from it_cleanup).
daemons_kill_all() {
	local p
	for p in "${DAEMON_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	return 0
}

# assert_daemon_logs_clean: no sanitizer report (ASan, LSan, UBSan) in the stderr of any daemon
# this test started.
assert_daemon_logs_clean() {
	local f bad=""
	for f in "$T"/daemon.*.err; do
		[ -f "$f" ] || continue
		grep -Eq 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$f" && bad="$bad $(basename "$f")"
	done
	if [ -z "$bad" ]; then
		ok "no sanitizer report in the daemon's log"
	else
		not_ok "no sanitizer report in the daemon's log (found in:$bad)"
		grep -Eh -A3 'runtime error:|Sanitizer' "$T"/daemon.*.err | head -n 12 | sed 's/^/#   /'
	fi
}

# ---------------------------------------------------------------- talking to the API (curl)
# api METHOD PATH [TOKEN] [BODYFILE] [HOST]: one HTTPS request with full verification against
# DAEMON_CA to HOST (127.0.0.1) on PORT. The token goes in a header file, not on the command
# line. Sets API_STATUS (HTTP status, 000 when no answer), API_BODY (file holding the response
# body), API_RC (curl's exit status).
API_N=0
api() {
	local m=$1 p=$2 tok=${3:-} body=${4:-} host=${5:-127.0.0.1} args
	API_N=$((API_N + 1))
	API_BODY="$T/.api.$API_N.body"
	args=(-gsS --max-time 120 --cacert "$DAEMON_CA" -o "$API_BODY" -w '%{http_code}' -X "$m" -H 'Expect:')
	if [ -n "$tok" ]; then
		printf 'Authorization: Bearer %s\n' "$tok" >"$T/.api.hdr"
		args+=(-H "@$T/.api.hdr")
	fi
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
	: >"$API_BODY"
	API_STATUS=$(curl "${args[@]}" "https://$host:$PORT$p" 2>"$T/.api.err")
	API_RC=$?
	rm -f "$T/.api.hdr"
	[ -n "$API_STATUS" ] || API_STATUS=000
	return 0
}

# assert_status CODE DESC: the last api call answered CODE.
assert_status() {
	if [ "$API_STATUS" = "$1" ]; then
		ok "$2 (HTTP $API_STATUS)"
	else
		not_ok "$2 (expected HTTP $1, got $API_STATUS, curl exit $API_RC)"
		diag_file "$API_BODY" 5
		diag_file "$T/.api.err" 3
	fi
}

# assert_error_body CODE_REGEX DESC [MESSAGE_REGEX]: the last body is {"error":{"code":C,
# "message":M}} with C a non-empty string matching CODE_REGEX and M a non-empty sentence
# (matching MESSAGE_REGEX, extended and case-insensitive, when given).
assert_error_body() {
	local code msg
	if ! jq -e '(.error | type) == "object" and (.error.code | type) == "string" and
	    (.error.code | length) > 0 and (.error.message | type) == "string" and
	    (.error.message | length) > 0' "$API_BODY" >/dev/null 2>&1; then
		not_ok "$2 (body is not {\"error\":{\"code\",\"message\"}})"
		diag_file "$API_BODY" 5
		return
	fi
	code=$(jq -r .error.code "$API_BODY")
	msg=$(jq -r .error.message "$API_BODY")
	if ! grep -Eq -- "$1" <<<"$code"; then
		not_ok "$2 (error code '$code' does not match /$1/)"
	elif [ -n "${3:-}" ] && ! grep -Eiq -- "$3" <<<"$msg"; then
		not_ok "$2 (message does not match /$3/: $msg)"
	else
		ok "$2 (code $code)"
		diag "message: $msg"
	fi
}

# issue_body OUT PROFILE CSRFILE [DNS...]: the JSON of POST /api/v1/issue for a CSR.
issue_body() {
	local out=$1 prof=$2 csr=$3
	shift 3
	jq -n --arg p "$prof" --rawfile csr "$csr" '{profile: $p, csr: $csr}' |
	    jq --args '. + (if $ARGS.positional | length > 0 then {dns: $ARGS.positional} else {} end)' "$@" >"$out"
}

# norm_serial S: a serial as lowercase hex without colons or leading zeros (the store's form).
norm_serial() { tr -d ':' <<<"$1" | tr 'A-F' 'a-f' | sed 's/^0*//'; }

# cert_serial CERT: the serial of a PEM certificate in that form.
cert_serial() { norm_serial "$(openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/^serial=//')"; }

# db_count DATADIR: certificates recorded in the store (sqlite3, read only).
db_count() { rows "$1/vmspki.db" certificates; }

# db_has_serial DATADIR SERIAL: 0 when the store holds the certificate.
db_has_serial() {
	[ "$(sqlite3 "file:$1/vmspki.db?mode=ro" "SELECT count(*) FROM certificates WHERE serial = '$2';" 2>/dev/null)" = 1 ]
}

# served_cert HOST PORT OUT [SERVERNAME]: the certificate a new TLS connection gets (no
# verification: this only looks), PEM in OUT.
served_cert() {
	local sni=()
	[ -n "${4:-}" ] && sni=(-servername "$4")
	openssl s_client -connect "$1:$2" "${sni[@]}" </dev/null 2>/dev/null | openssl x509 -out "$3" 2>/dev/null
}
