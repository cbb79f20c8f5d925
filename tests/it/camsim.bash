# Helpers for tests that need cameras: start camsim (tools/camsim) and ask its control
# endpoint. Sourced after lib.bash; its name does not match tests/it/*.sh on purpose.

CAMSIM=${CAMSIM:-${VP_BUILD_DIR:-}/tools/camsim/camsim}
CAMSIM_N=0

# camsim_start ARGS...: starts camsim with a control endpoint on a free port; waits until it
# answers. Sets CAMSIM_PID, CTRL (http://127.0.0.1:PORT), CAMSIM_ERR.
camsim_start() {
	local i cport try
	[ -x "$CAMSIM" ] || { not_ok "camsim is built ($CAMSIM)"; return 1; }
	for ((try = 1; try <= 5; try++)); do
		cport=$(pick_port) || return 1
		CAMSIM_N=$((CAMSIM_N + 1))
		CAMSIM_ERR="$T/camsim.$CAMSIM_N.err"
		"$CAMSIM" --control "127.0.0.1:$cport" "$@" </dev/null >"$T/camsim.$CAMSIM_N.out" \
		    2>"$CAMSIM_ERR" &
		CAMSIM_PID=$!
		track_pid "$CAMSIM_PID"
		CTRL="http://127.0.0.1:$cport"
		for ((i = 0; i < 300; i++)); do
			pid_alive "$CAMSIM_PID" || break
			curl -sf --max-time 2 "$CTRL/control/healthz" >/dev/null 2>&1 && return 0
			sleep 0.2
		done
		wait "$CAMSIM_PID" 2>/dev/null
		CAMSIM_RC=$?
		# Someone took the control port between the pick and the bind: another one.
		grep -q "for the control endpoint" "$CAMSIM_ERR" && continue
		break
	done
	not_ok "camsim starts"
	diag "camsim exit status: ${CAMSIM_RC:-none (still running, its control endpoint never answered)}"
	diag_file "$CAMSIM_ERR" 20
	diag_file "$T/camsim.$CAMSIM_N.out" 5
	return 1
}

# camsim_stop: SIGTERM, and wait.
camsim_stop() {
	kill -TERM "$CAMSIM_PID" 2>/dev/null
	wait "$CAMSIM_PID" 2>/dev/null
}

# ctl METHOD PATH [JSON]: the control endpoint's answer on stdout.
ctl() {
	if [ -n "${3:-}" ]; then
		curl -s --max-time 10 -X "$1" -H 'Content-Type: application/json' --data-binary "$3" \
		    "$CTRL$2"
	else
		curl -s --max-time 10 -X "$1" "$CTRL$2"
	fi
}

# dev_state ADDR FILTER: a jq filter over the device's state (e.g. .bound_fingerprint).
dev_state() { ctl GET "/control/devices/$1" | jq -r "$2"; }

# served_fp ADDR PORT: SHA-256 fingerprint (lowercase hex) of the certificate served there.
served_fp() {
	openssl s_client -connect "$1:$2" </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null |
	    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}

# tls_ok ADDR PORT CAFILE [NAME]: a handshake that verifies the chain against CAFILE and the
# IP address (or NAME, sent as SNI too).
tls_ok() {
	local name=${4:-}
	if [ -n "$name" ]; then
		openssl s_client -connect "$1:$2" -servername "$name" -CAfile "$3" -verify_return_error \
		    -verify_hostname "$name" </dev/null >"$T/.tls.out" 2>&1
	else
		openssl s_client -connect "$1:$2" -CAfile "$3" -verify_return_error -verify_ip "$1" \
		    </dev/null >"$T/.tls.out" 2>&1
	fi
}

# task_json ID: `vmspki task show ID --json` into $T/task.json (uses $D).
task_json() { vp "$D" task show "$1" --json; cp "$VP_OUT" "$T/task.json"; }
# result DEVICE FIELD: a field of the device's result in $T/task.json.
result() { jq -r --argjson d "$1" ".results[] | select(.device_id == \$d) | .$2" "$T/task.json"; }
