#!/usr/bin/env bash
# The daemon's TLS, seen by three independent clients: curl (--cacert), gnutls-cli
# (--x509cafile) and openssl s_client (-verify_return_error, -verify_hostname/-verify_ip)
# connect with full verification to every listening address (127.0.0.1, [::1], localhost by
# name) and get /healthz; each also refuses a wrong CA or a wrong name (so the checks can fail).
# TLS 1.1 is refused (while the same client commands do speak 1.1 to an openssl s_server that
# allows it), TLS 1.2 and 1.3 are accepted, TLS 1.2 offers no suite without forward secrecy.
# The API server certificate: files and modes, names (every address of the host, its name,
# localhost, 127.0.0.1, ::1), validity <= 825 days, and it is what the daemon serves.
. "$(dirname "$0")/lib.bash"
it_init curl gnutls-cli jq

D="$T/dd"
if daemon_start "$D" --ca-key ec-p256; then
	ok "vmspki serve started on 127.0.0.1:$PORT and [::1]:$PORT"
else
	not_ok "vmspki serve started"
	it_done
fi
CA=$DAEMON_CA
assert_file "$CA" "first start made the CA (certs/ca.cert.pem)"

# A CA that has nothing to do with the daemon, for the negative checks.
mk_root "$T/other" ec-p256 "Some Other CA" 30

# ---------------------------------------------------------------- the certificate files
C="$D/certs"
assert_file "$C/server.crt" "certs/server.crt written"
assert_file "$C/server.key.pem" "certs/server.key.pem written"
assert_file "$C/public.pem" "certs/public.pem written"
assert_mode 600 "$C/server.key.pem" "certs/server.key.pem is 0600"
assert_eq 1 "$(count_pem_certs "$C/public.pem")" "public.pem holds the end-entity certificate alone"
n=$(count_pem_certs "$C/server.crt")
if [ "${n:-0}" -ge 2 ]; then ok "server.crt holds the certificate and its chain ($n certificates)"; else not_ok "server.crt holds the certificate and its chain (found ${n:-0})"; fi
first_cert "$C/server.crt" "$T/crt-first.pem"
assert_eq "$(fp "$C/public.pem")" "$(fp "$T/crt-first.pem")" "server.crt starts with the certificate of public.pem"
assert_eq "$(pubkey_of_cert "$C/public.pem")" "$(pubkey_of_key "$C/server.key.pem")" "server.key.pem is the key of public.pem"
check "public.pem verifies against the CA as a TLS server certificate (openssl)" \
    verify_openssl "$CA" "$C/public.pem" sslserver "$C/server.crt"
nb=$(not_before "$C/public.pem")
na=$(not_after "$C/public.pem")
days=$(( (na - nb) / 86400 ))
if [ $((na - nb)) -le $((825 * 86400)) ] && [ $((na - nb)) -gt 0 ]; then
	ok "public.pem is valid $days days (<= 825)"
else
	not_ok "public.pem is valid <= 825 days (notBefore..notAfter is $days days)"
fi

# Names. openssl prints IPv6 addresses in full, upper case, without leading zeros.
ip6_full() {
	local a=${1,,} head tail g out=() n i
	if [[ $a == *::* ]]; then
		head=${a%%::*} tail=${a#*::}
		local hs=() ts=()
		[ -n "$head" ] && IFS=: read -ra hs <<<"$head"
		[ -n "$tail" ] && IFS=: read -ra ts <<<"$tail"
		n=$((8 - ${#hs[@]} - ${#ts[@]}))
		out=("${hs[@]}")
		for ((i = 0; i < n; i++)); do out+=(0); done
		out+=("${ts[@]}")
	else
		IFS=: read -ra out <<<"$a"
	fi
	local r=()
	for g in "${out[@]}"; do r+=("$(printf '%X' "0x$g")"); done
	(IFS=:; echo "${r[*]}")
}
SANS=$(ext_value "$C/public.pem" "X509v3 Subject Alternative Name")
diag "SAN: $SANS"
has_san() { grep -Fq -- ", $1," <<<", $SANS,"; }
want=("DNS:localhost" "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1" "DNS:$(hostname)")
for a in $(hostname -I 2>/dev/null); do
	case $a in
	*:*) want+=("IP Address:$(ip6_full "$a")") ;;
	*) want+=("IP Address:$a") ;;
	esac
done
for w in "${want[@]}"; do
	if has_san "$w"; then ok "the certificate names $w"; else not_ok "the certificate names $w (SAN: $SANS)"; fi
done
cn=$(openssl x509 -in "$C/public.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
case $cn in
"$(hostname)" | "$(hostname -f 2>/dev/null)") ok "its CN is the host name ($cn)" ;;
*) not_ok "its CN is the host name (got '$cn', host $(hostname))" ;;
esac
eku=$(ext_value "$C/public.pem" "X509v3 Extended Key Usage")
assert_eq "TLS Web Server Authentication" "$eku" "its extended key usage is serverAuth"

# ---------------------------------------------------------------- every address, every client
# target NAME: how each client spells the address, and what it verifies.
for host in 127.0.0.1 ::1 localhost; do
	case $host in
	*:*) url="https://[$host]:$PORT/healthz"; conn="[$host]:$PORT" ;;
	*) url="https://$host:$PORT/healthz"; conn="$host:$PORT" ;;
	esac
	case $host in
	localhost) vflag=(-servername localhost -verify_hostname localhost) ;;
	*) vflag=(-verify_ip "$host") ;;
	esac

	# curl
	code=$(curl -gsS --max-time 30 --cacert "$CA" -o "$T/curl.body" -w '%{http_code}' "$url" 2>"$T/curl.err")
	rc=$?
	if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
		ok "curl --cacert $url: verified, HTTP 200"
	else
		not_ok "curl --cacert $url: verified, HTTP 200 (curl exit $rc, HTTP $code)"
		diag_file "$T/curl.err"
	fi
	curl -gsS --max-time 30 --cacert "$T/other.pem" -o /dev/null "$url" 2>"$T/curl.err"
	rc=$?
	if [ "$rc" = 60 ]; then ok "curl with another CA refuses $url (exit 60)"; else not_ok "curl with another CA refuses $url (expected exit 60, got $rc)"; diag_file "$T/curl.err"; fi

	# gnutls-cli: it checks the name (or IP) it connected to against the certificate. It stops
	# when its input ends, so the input stays open a little while the answer comes.
	{ printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host"; sleep 3; } |
	    timeout 60 gnutls-cli --x509cafile "$CA" -p "$PORT" "$host" --logfile "$T/gnutls.log" >"$T/gnutls.out" 2>&1
	rc=$?
	if grep -q 'Handshake was completed' "$T/gnutls.log" &&
	    grep -q 'Status: The certificate is trusted' "$T/gnutls.log" &&
	    ! grep -Eq 'NOT trusted|verification of server certificate failed' "$T/gnutls.log" "$T/gnutls.out" &&
	    grep -q '^HTTP/1.1 200' "$T/gnutls.out"; then
		ok "gnutls-cli --x509cafile $host port $PORT: handshake completed, certificate trusted, HTTP 200"
	else
		not_ok "gnutls-cli --x509cafile $host port $PORT: handshake completed, certificate trusted, HTTP 200 (exit $rc)"
		grep -E 'Status|Handshake|\*\*\*|HTTP/' "$T/gnutls.log" "$T/gnutls.out" | head -n 6 | sed 's/^/#   /'
	fi
	if [ "$host" = 127.0.0.1 ]; then
		# "Connection: close": the daemon ends TLS with close_notify before closing TCP.
		if [ "$rc" = 0 ] && ! grep -q 'non-properly terminated' "$T/gnutls.out"; then
			ok "gnutls-cli: the daemon ends the TLS connection properly (close_notify)"
		else
			not_ok "gnutls-cli: the daemon ends the TLS connection properly (close_notify) (exit $rc)"
			grep -E '^\*\*\*' "$T/gnutls.out" | head -n 2 | sed 's/^/#   /'
		fi
	fi
	timeout 60 gnutls-cli --x509cafile "$T/other.pem" -p "$PORT" "$host" --logfile "$T/gnutls.log" </dev/null >"$T/gnutls.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && grep -q 'NOT trusted' "$T/gnutls.log" "$T/gnutls.out"; then
		ok "gnutls-cli with another CA refuses $host"
	else
		not_ok "gnutls-cli with another CA refuses $host (exit $rc)"
	fi

	# openssl s_client
	printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" |
	    timeout 60 openssl s_client -verify_return_error -CAfile "$CA" -connect "$conn" "${vflag[@]}" \
	    -ign_eof >"$T/ossl.out" 2>&1
	rc=$?
	# (The exit status also tells how the connection ended: judged apart, below.)
	if grep -q 'Verify return code: 0 (ok)' "$T/ossl.out" && ! grep -q 'Cipher is (NONE)' "$T/ossl.out" &&
	    grep -q '^HTTP/1.1 200' "$T/ossl.out"; then
		ok "openssl s_client -verify_return_error -CAfile ${vflag[*]} -connect $conn: verified, HTTP 200"
	else
		not_ok "openssl s_client -verify_return_error -CAfile ${vflag[*]} -connect $conn: verified, HTTP 200 (exit $rc)"
		grep -E 'Verify return|error|HTTP/' "$T/ossl.out" | head -n 4 | sed 's/^/#   /'
	fi
	if [ "$host" = 127.0.0.1 ]; then
		if [ "$rc" = 0 ] && ! grep -q 'unexpected eof' "$T/ossl.out"; then
			ok "openssl s_client: the daemon ends the TLS connection properly (close_notify)"
		else
			not_ok "openssl s_client: the daemon ends the TLS connection properly (close_notify) (exit $rc)"
			grep -E ':error:' "$T/ossl.out" | head -n 2 | sed 's/^/#   /'
		fi
	fi
	timeout 60 openssl s_client -verify_return_error -CAfile "$CA" -connect "$conn" \
	    -verify_hostname wrong-name.example </dev/null >"$T/ossl.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && grep -Eq 'hostname mismatch|Verify return code: 62' "$T/ossl.out"; then
		ok "openssl s_client -verify_hostname wrong-name.example refuses $conn (hostname mismatch)"
	else
		not_ok "openssl s_client -verify_hostname wrong-name.example refuses $conn (exit $rc)"
		grep -E 'Verify return|error' "$T/ossl.out" | head -n 3 | sed 's/^/#   /'
	fi
	timeout 60 openssl s_client -verify_return_error -CAfile "$T/other.pem" -connect "$conn" </dev/null >"$T/ossl.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then ok "openssl s_client with another CA refuses $conn"; else not_ok "openssl s_client with another CA refuses $conn"; fi

	# What is served there is certs/public.pem, with its chain.
	timeout 60 openssl s_client -showcerts -connect "$conn" </dev/null 2>/dev/null >"$T/served.txt"
	split_pem "$T/served.txt" "$T/served" >/dev/null
	assert_eq "$(fp "$C/public.pem")" "$(fp "$T/served.1.pem")" "$conn serves certs/public.pem"
	if [ "$(count_pem_certs "$T/served.txt")" -ge 2 ]; then
		ok "$conn sends the chain too ($(count_pem_certs "$T/served.txt") certificates)"
	else
		not_ok "$conn sends the chain too (got $(count_pem_certs "$T/served.txt") certificate)"
	fi
	nb=$(not_before "$T/served.1.pem")
	na=$(not_after "$T/served.1.pem")
	if [ -n "$na" ] && [ $((na - nb)) -le $((825 * 86400)) ]; then ok "the certificate served on $conn is valid <= 825 days"; else not_ok "the certificate served on $conn is valid <= 825 days"; fi
done

# ---------------------------------------------------------------- protocol versions
# The probes first prove themselves against an openssl s_server that allows TLS 1.1.
mk_signed "$T/probe" "$T/other" ec-p256 localhost 30 "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
CPORT=$(pick_port)
openssl s_server -accept "127.0.0.1:$CPORT" -cert "$T/probe.pem" -key "$T/probe.key" -www -quiet \
    -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null >/dev/null 2>&1 &
CPID=$!
track_pid "$CPID"
for ((i = 0; i < 100; i++)); do port_busy "$CPORT" && break; sleep 0.1; done
ossl11=(openssl s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -CAfile "$T/other.pem" -verify_return_error)
gnu11=(gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' --x509cafile "$T/other.pem")
timeout 60 "${ossl11[@]}" -connect "127.0.0.1:$CPORT" </dev/null >"$T/p.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -Eq 'Protocol *: TLSv1.1' "$T/p.out"; then
	ok "control: the openssl TLS 1.1 probe connects to a server that allows TLS 1.1"
else
	not_ok "control: the openssl TLS 1.1 probe connects to a server that allows TLS 1.1 (exit $rc)"
fi
timeout 60 "${gnu11[@]}" -p "$CPORT" 127.0.0.1 </dev/null >"$T/p.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q 'Handshake was completed' "$T/p.out"; then
	ok "control: the gnutls-cli TLS 1.1 probe connects to a server that allows TLS 1.1"
else
	not_ok "control: the gnutls-cli TLS 1.1 probe connects to a server that allows TLS 1.1 (exit $rc)"
fi
kill "$CPID" 2>/dev/null
wait "$CPID" 2>/dev/null

ossl11=(openssl s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -CAfile "$CA")
gnu11=(gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' --x509cafile "$CA")
for conn in "127.0.0.1:$PORT" "[::1]:$PORT"; do
	timeout 60 "${ossl11[@]}" -connect "$conn" </dev/null >"$T/p.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && grep -q 'Cipher is (NONE)' "$T/p.out"; then
		ok "TLS 1.1 refused on $conn (openssl: $(grep -Eo 'alert [a-z ]+' "$T/p.out" | head -n 1))"
	else
		not_ok "TLS 1.1 refused on $conn (openssl exit $rc)"
		grep -E 'Protocol|Cipher is' "$T/p.out" | head -n 2 | sed 's/^/#   /'
	fi
	h=${conn%:*}; h=${h#[}; h=${h%]}
	timeout 60 "${gnu11[@]}" -p "$PORT" "$h" </dev/null >"$T/p.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && ! grep -q 'Handshake was completed' "$T/p.out"; then
		ok "TLS 1.1 refused on $conn (gnutls-cli)"
	else
		not_ok "TLS 1.1 refused on $conn (gnutls-cli exit $rc)"
	fi
	for v in 1.2 1.3; do
		timeout 60 openssl s_client "-tls${v/./_}" -verify_return_error -CAfile "$CA" -connect "$conn" </dev/null >"$T/p.out" 2>&1
		rc=$?
		if [ "$rc" = 0 ] && grep -Eq "Protocol *: TLSv$v|New, TLSv$v," "$T/p.out"; then
			ok "TLS $v accepted on $conn (openssl: $(grep -Eo 'Cipher is [A-Z0-9_-]+' "$T/p.out" | head -n 1))"
		else
			not_ok "TLS $v accepted on $conn (openssl exit $rc)"
		fi
		timeout 60 gnutls-cli --priority "NORMAL:-VERS-ALL:+VERS-TLS$v" --x509cafile "$CA" -p "$PORT" "$h" \
		    </dev/null >"$T/p.out" 2>&1
		rc=$?
		if [ "$rc" = 0 ] && grep -q 'Handshake was completed' "$T/p.out" && grep -q "(TLS$v" "$T/p.out"; then
			ok "TLS $v accepted on $conn (gnutls-cli)"
		else
			not_ok "TLS $v accepted on $conn (gnutls-cli exit $rc)"
			grep -E 'Description|\*\*\*' "$T/p.out" | head -n 2 | sed 's/^/#   /'
		fi
	done
done

# TLS 1.2 suites: forward secrecy and AEAD only (the TLS 1.2 suites without them are refused).
for cs in AES128-SHA AES256-GCM-SHA384 ECDHE-RSA-AES128-SHA; do
	timeout 60 openssl s_client -tls1_2 -cipher "$cs" -CAfile "$CA" -connect "127.0.0.1:$PORT" </dev/null >"$T/p.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then ok "TLS 1.2 with $cs refused"; else not_ok "TLS 1.2 with $cs refused (it was accepted)"; fi
done

if pid_alive "$DAEMON_PID"; then ok "the daemon is still running"; else not_ok "the daemon is still running"; fi
daemon_stop "$DAEMON_PID" TERM 60
assert_eq 0 "$DAEMON_RC" "SIGTERM: the daemon exits 0"

assert_daemon_logs_clean

it_done
