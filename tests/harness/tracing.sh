# shellcheck shell=bash
# tracing.sh: helpers for the span export tests (source servers.sh,
# relay.sh and routes.sh first, then call harness_init).
#
#   start_otlp_receiver [DIR]    tests/tools/otlp_receiver.py, storing the
#                                export requests under DIR (default
#                                $HARNESS_TMP/otlp); sets OTLP_DIR,
#                                OTLP_PORT, OTLP_URL (its base URL), OTLP_PID
#   otlp_fail SECONDS [RETRY_AFTER]  the receiver answers 503 that long
#   otlp_check ARGS...           tests/tools/otlp_check.py on OTLP_DIR

OTLP_RECEIVER=${OTLP_RECEIVER:-$ER_SRCDIR/tests/tools/otlp_receiver.py}
OTLP_CHECK=${OTLP_CHECK:-$ER_SRCDIR/tests/tools/otlp_check.py}

start_otlp_receiver() {
	OTLP_DIR=${1:-$HARNESS_TMP/otlp}
	mkdir -p "$OTLP_DIR"
	harness_spawn otlp python3 "$OTLP_RECEIVER" "$OTLP_DIR"
	OTLP_PID=$HARNESS_PID
	wait_for --deadline 30 test -s "$OTLP_DIR/port" ||
		h_fail "the OTLP receiver did not start: $(cat "$HARNESS_TMP/otlp.log")"
	OTLP_PORT=$(cat "$OTLP_DIR/port")
	OTLP_URL=http://127.0.0.1:$OTLP_PORT
	h_log "OTLP receiver $OTLP_PID on $OTLP_URL"
}

otlp_fail() {
	curl -sf -X POST -o /dev/null \
		"$OTLP_URL/control/fail?seconds=$1${2:+&retry_after=$2}" ||
		h_fail "the OTLP receiver did not take the fail command"
}

otlp_check() {
	python3 "$OTLP_CHECK" "$OTLP_DIR" "$@"
}
