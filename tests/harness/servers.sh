# shellcheck shell=bash
# servers.sh: the integration tests' server harness (a bash library).
#
# An integration test sources this file, calls harness_init, starts the
# servers it needs and asserts; every server is private to the test (own
# ports, node name and data under one temporary directory) and is stopped
# by PID when the test exits, passes or fails, and the directory removed.
#
#   . "$srcdir/tests/harness/servers.sh"
#   harness_init
#   start_rabbitmq; start_redis; start_kafka_mock events:8
#   "$ER_PUBLISH" -u "$AMQP_URL" -q events -n 1000 --expected "$HARNESS_TMP/exp"
#
# Works under `set -euo pipefail`. Functions return non-zero on failure
# with a message on stderr; they never exit, except harness_cleanup and
# h_fail/h_skip. The test's exit code follows automake: 0 pass, 1 fail,
# 77 skip.
#
# The one thing to know before changing it: functions that are meant to
# be called as $(...) (free_port, queue_counts, kafka_cmd) run in a
# subshell, so any state they keep lives in files under $HARNESS_TMP or
# in the kernel (a pipe), never in shell variables.

# ---------------------------------------------------------------- paths

if [[ -n ${srcdir:-} && -f $srcdir/tests/harness/servers.sh ]]; then
	ER_SRCDIR=$(cd "$srcdir" && pwd)
else
	ER_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fi
ER_BUILDDIR=$(cd "${BUILDDIR:-.}" && pwd)
ER_PUBLISH=${ER_PUBLISH:-$ER_BUILDDIR/tests/tools/er-publish}
KAFKA_MOCK=${KAFKA_MOCK:-$ER_BUILDDIR/tests/tools/kafka-mock}
TCP_PROXY=${TCP_PROXY:-$ER_BUILDDIR/tests/tools/tcp-proxy}
READ_TOPIC=${READ_TOPIC:-$ER_SRCDIR/tests/harness/read_topic.sh}
export ER_SRCDIR ER_BUILDDIR ER_PUBLISH KAFKA_MOCK TCP_PROXY READ_TOPIC

# Started as root with no `user` setting, event-relayd refuses to run
# unless allow_root is set (event-relayd(8), SECURITY). The tests run as
# whoever runs them, root included, on private servers: allow it. A test
# of the refusal itself unsets it (sec_privileges.sh).
if [[ $(id -u) == 0 ]]; then
	export EVENT_RELAY_ALLOW_ROOT=${EVENT_RELAY_ALLOW_ROOT-true}
fi

# Where the Debian package keeps the real scripts. The /usr/sbin wrappers
# would su to the rabbitmq user and use its cookie and /var/log files; the
# harness runs the node as the invoking user with a private HOME instead.
RABBITMQ_SBIN=${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}

# Erlang's own distribution client (package erlang-base, which RabbitMQ
# needs): it asks a running node in milliseconds, where each rabbitmqctl
# boots a VM of its own (about 1 s and 1 CPU-second), a cost the polling
# loops (queue counts, start-up) paid on every poll.
if [[ -z ${ERL_CALL:-} ]]; then
	for ERL_CALL in /usr/lib/erlang/erts-*/bin/erl_call; do :; done
fi

# ---------------------------------------------------------- small tools

h_log() {
	printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2
}

h_fail() {
	_H_FAIL_MSG="$*"
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

h_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

# harness_require CMD...: skip the test (77) when a command is missing.
harness_require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || h_skip "$c not installed"
	done
}

# Milliseconds since the epoch.
_h_now_ms() {
	local t=${EPOCHREALTIME/./}
	printf '%s\n' $((t / 1000))
}

# Seconds (may have a fraction, "2.5") to milliseconds.
_h_ms() {
	local s=$1 int frac
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
		echo "harness: not a number of seconds: $s" >&2
		return 1
	}
	int=${s%%.*}
	frac=000
	[[ $s == *.* ]] && frac=${s#*.}000
	printf '%s\n' $((10#$int * 1000 + 10#${frac:0:3}))
}

# wait_for [--deadline S] CMD... [--deadline S]: run CMD every 0.1 s until
# it succeeds (0) or S seconds (default 30) pass (1). CMD's output is
# discarded.
wait_for() {
	local deadline=30 end
	if [[ ${1:-} == --deadline ]]; then
		deadline=$2
		shift 2
	elif (($# >= 3)) && [[ ${*:$#-1:1} == --deadline ]]; then
		deadline=${*:$#:1}
		set -- "${@:1:$#-2}"
	fi
	(($# > 0)) || {
		echo "wait_for: no command" >&2
		return 2
	}
	end=$(($(_h_now_ms) + $(_h_ms "$deadline")))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if (($(_h_now_ms) > end)); then
			echo "wait_for: gave up after ${deadline}s: $*" >&2
			return 1
		fi
		sleep 0.1 # poll interval of the deadline loop above
	done
}

# _h_stat PID: print "STATE PPID" of PID (from /proc; comm may hold
# spaces, so split after its closing parenthesis).
_h_stat() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	printf '%s\n' "${rest% "${rest#* * }"}"
}

# _h_read_pid VAR FILE: VAR = the number in FILE (no newline needed).
_h_read_pid() {
	local -n _var=$1
	_var=
	{ read -r _var <"$2"; } 2>/dev/null || true
	[[ $_var =~ ^[0-9]+$ ]] || {
		echo "harness: no pid in $2" >&2
		return 1
	}
}

# True when PID runs (a zombie counts as gone).
_h_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(_h_stat "$1") || return 1
	[[ ${st%% *} != Z ]]
}

_h_port_in_use() {
	local p=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Htan "( sport = :$p )" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
	fi
}

_h_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: print a TCP port that nothing on 127.0.0.1 uses, below the
# kernel's ephemeral range and not handed out before by this harness.
free_port() {
	local p i used=${HARNESS_TMP:+$HARNESS_TMP/.ports}
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if [[ -n $used && -f $used ]] && grep -qx "$p" "$used"; then
			continue
		fi
		_h_port_in_use "$p" && continue
		[[ -n $used ]] && echo "$p" >>"$used"
		echo "$p"
		return 0
	done
	echo "free_port: no free port found" >&2
	return 1
}

# Runs an external command with the harness's own pipe ends to the Kafka
# mock closed, so that a daemon it starts does not keep them open.
_h_exec_clean() {
	if [[ -n ${_H_KAFKA_IN:-} ]]; then
		"$@" {_H_KAFKA_IN}>&- {_H_KAFKA_OUT}<&-
	else
		"$@"
	fi
}

# Sends TERM to PID, waits up to TIMEOUT_S (default 30) for it to go,
# then KILLs it. For a child of this shell, returns its exit status.
harness_stop_pid() {
	local pid=$1 timeout=${2:-30} end rc=0 child=1 st err=/dev/null
	[[ -n $pid ]] || return 0
	# Alive and not ours: no status to collect. Gone: bash may hold the
	# status of a child it reaped already, so ask wait.
	if st=$(_h_stat "$pid") && [[ ${st#* } != "$BASHPID" ]]; then
		child=0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	end=$(($(_h_now_ms) + $(_h_ms "$timeout")))
	while _h_alive "$pid"; do
		if (($(_h_now_ms) > end)); then
			echo "harness: pid $pid ignored TERM for ${timeout}s: KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			end=$(($(_h_now_ms) + 10000))
			timeout=10
		fi
		sleep 0.05 # poll interval until the deadline
	done
	if ((child)); then
		[[ -d ${HARNESS_TMP:-} ]] && err=$HARNESS_TMP/.wait.err
		wait "$pid" 2>"$err" || rc=$?
		if ((rc == 127)) && { [[ $err == /dev/null ]] ||
			grep -q 'not a child' "$err"; }; then
			rc=0
		fi
	fi
	return "$rc"
}

# harness_track_pid PID: stop PID (TERM, then KILL) at cleanup.
harness_track_pid() {
	_H_TRACKED+=("$1")
}

# harness_spawn NAME CMD...: start CMD in the background, output in
# $HARNESS_TMP/NAME.log, stopped at cleanup; its PID is in HARNESS_PID.
harness_spawn() {
	local name=$1
	shift
	# exec: HARNESS_PID is CMD itself, not a subshell waiting for it,
	# so signals sent to it reach CMD.
	_h_exec_clean exec "$@" >"$HARNESS_TMP/$name.log" 2>&1 &
	HARNESS_PID=$!
	harness_track_pid "$HARNESS_PID"
}

# ------------------------------------------------------ init and cleanup

# harness_init: make the temporary directory (HARNESS_TMP) and arrange
# for harness_cleanup to run on EXIT, INT, TERM and HUP.
harness_init() {
	HARNESS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-test.XXXXXXXX")
	export HARNESS_TMP
	_H_TRACKED=()
	RABBIT_PID='' REDIS_PID='' KAFKA_MOCK_PID=''
	_H_RABBIT_DIST_PORT='' _H_REDIS_PORT=''
	_H_RABBIT_LAUNCHED=0 _H_REDIS_LAUNCHED=0
	trap harness_cleanup EXIT
	# Under set -e a failed command ends the test: say which one.
	set -o errtrace
	trap '_h_on_err $? "$BASH_COMMAND" "${BASH_SOURCE[0]}" "$LINENO"' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

_h_on_err() {
	[[ $- == *e* ]] || return 0
	echo "harness: '$2' failed with status $1 at ${3##*/}:$4" >&2
}

# Last lines of each server log, to see why a failed test failed.
_h_dump_logs() {
	local f
	[[ -d ${HARNESS_TMP:-} ]] || return 0
	while IFS= read -r f; do
		echo "---- last lines of ${f#"$HARNESS_TMP"/}" >&2
		tail -n 25 "$f" >&2
	done < <(find "$HARNESS_TMP" -name '*.log' -size +0 2>/dev/null | sort)
}

# What a failed test's servers hold: the queues (read through the node's
# distribution port and, as a cross-check, with rabbitmqctl), and
# whatever harness_fail_state (if a test file defines it) prints.
_h_fail_state() {
	if [[ -n ${RABBIT_PID:-} ]] && _h_alive "$RABBIT_PID"; then
		echo "queues (name ready unacked consumers):"
		rmq_queues name messages_ready messages_unacknowledged consumers
		echo "queues, rabbitmqctl list_queues:"
		rmq_ctl list_queues -q --no-table-headers --timeout 30 name \
			messages_ready messages_unacknowledged consumers
	fi
	if declare -F harness_fail_state >/dev/null; then
		harness_fail_state
	fi
}

# harness_teardown: stop every server the harness started and remove
# HARNESS_TMP (kept when HARNESS_KEEP=1). Safe to call twice.
harness_teardown() {
	local pid
	for pid in "${_H_TRACKED[@]}"; do
		harness_stop_pid "$pid" 10 || true
	done
	_H_TRACKED=()
	_h_sanitizer_check
	stop_kafka_mock || true
	stop_redis || true
	stop_rabbitmq --kill || true
	if [[ -n ${HARNESS_TMP:-} && -d $HARNESS_TMP ]]; then
		if [[ ${HARNESS_KEEP:-0} == 1 ]]; then
			echo "harness: kept $HARNESS_TMP" >&2
		else
			rm -rf "$HARNESS_TMP"
		fi
	fi
	HARNESS_TMP=''
}

# A sanitizer report in any log of the test's own processes (the relay,
# tools) fails the test even when the relay recovered from the crash:
# sets _H_SANITIZER_FAILED. So does a system call refused by a worker's
# seccomp filter (a gap in src/worker/seccomp.def): the master restarts
# the worker and the test could pass without it being seen.
_h_sanitizer_check() {
	local f
	[[ -n ${HARNESS_TMP:-} && -d $HARNESS_TMP ]] || return 0
	for f in "$HARNESS_TMP"/*.log; do
		[[ -f $f ]] || continue
		if grep -Eq 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f"; then
			echo "---- sanitizer report in ${f##*/}:" >&2
			grep -E -A 20 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f" |
				head -n 60 >&2
			_H_SANITIZER_FAILED=1
		fi
		if grep -Eq 'seccomp filter refused system call|seccomp: refused system call' "$f"; then
			echo "---- system call refused by a worker's seccomp filter in ${f##*/}:" >&2
			grep -E 'seccomp filter refused system call|seccomp: refused system call' "$f" |
				head -n 10 >&2
			_H_SANITIZER_FAILED=1
		fi
	done
}

# The EXIT trap: tear down, keep the test's exit status (1 if a
# sanitizer reported anything).
harness_cleanup() {
	local rc=$?
	set +e
	trap - EXIT ERR
	trap '' INT TERM HUP # finish the cleanup, whatever comes
	if ((rc != 0 && rc != 77)); then
		_h_dump_logs
		# The state when it failed, and the reason again: the end of a
		# long log is what a CI report shows.
		echo "---- state at the failure" >&2
		_h_fail_state >&2 2>&1
		[[ -z ${_H_FAIL_MSG:-} ]] || printf 'FAIL: %s\n' "$_H_FAIL_MSG" >&2
	fi
	harness_teardown
	if [[ ${_H_SANITIZER_FAILED:-0} == 1 ]] && ((rc == 0 || rc == 77)); then
		echo "FAIL: sanitizer report or refused system call (see above)" >&2
		rc=1
	fi
	exit "$rc"
}

# -------------------------------------------------------------- RabbitMQ

# _h_rmq_env VAR DIR NODE PORT DIST_PORT HOME: the environment of a
# private node (data under DIR) as the array VAR; one node here, each of
# a cluster in cluster.sh.
_h_rmq_env() {
	local -n _env=$1
	local d=$2
	_h_rmq_plugins "$d"
	_env=(
		"HOME=$6"
		"RABBITMQ_NODENAME=$3"
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
		"RABBITMQ_NODE_PORT=$4"
		"RABBITMQ_DIST_PORT=$5"
		"RABBITMQ_MNESIA_BASE=$d/mnesia"
		"RABBITMQ_LOG_BASE=$d/log"
		"RABBITMQ_PID_FILE=$d/rabbitmq.pid"
		"RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins"
		"RABBITMQ_PLUGINS_DIR=$d/plugins"
		"RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf"
		"RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config"
		"RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf"
		"RABBITMQ_SERVER_ERL_ARGS=+sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}"
		"ERL_CRASH_DUMP=$d/erl_crash.dump"
		"ERL_EPMD_ADDRESS=127.0.0.1"
	)
}

# _h_rmq_plugins DIR: DIR/plugins (made once), the node's plugins
# directory: links to the applications of the package's own that the
# broker runs on (every one not named rabbitmq_*, and rabbitmq_prelaunch)
# and to the plugins _H_RABBIT_PLUGINS enables. A node reads every
# application of its plugins directory at boot, 70 in Debian's package:
# with only these a start takes about half a second less.
_h_rmq_plugins() {
	local out=$1/plugins a name
	[[ -d $out ]] && return 0
	mkdir -p "$out"
	for a in "$RABBITMQ_SBIN"/../lib/rabbitmq_server-*/plugins/*; do
		name=${a##*/}
		case $name in
		README*) continue ;;
		rabbitmq_prelaunch-*) ;;
		rabbitmq_*) [[ ,${_H_RABBIT_PLUGINS:-}, == *,"${name%-*}",* ]] || continue ;;
		esac
		ln -s "$a" "$out/$name"
	done
}

# rmq_ctl ARGS...: rabbitmqctl against the test node.
rmq_ctl() {
	env "${_H_RABBIT_ENV[@]}" "$RABBITMQ_SBIN/rabbitmqctl" \
		-n "$RABBIT_NODE" "$@"
}

# start_rabbitmq [CONF_LINE...]: start (or restart) the test node; extra
# rabbitmq.conf lines such as "consumer_timeout = 10000" may be given.
# Exports AMQP_PORT, AMQP_URL, RABBIT_NODE. A restart keeps the node
# name, ports and data (durable queues survive).
start_rabbitmq() {
	local d=$HARNESS_TMP/rabbitmq start line deadline=${RABBITMQ_START_DEADLINE:-90}
	[[ -x $RABBITMQ_SBIN/rabbitmq-server ]] ||
		h_skip "rabbitmq-server not found in $RABBITMQ_SBIN"
	if [[ -n ${RABBIT_PID:-} ]] && _h_alive "$RABBIT_PID"; then
		echo "start_rabbitmq: already running (pid $RABBIT_PID)" >&2
		return 1
	fi
	mkdir -p "$d/home" "$d/mnesia" "$d/log"
	_H_RABBIT_FRESH=0
	if [[ -z ${_H_RABBIT_DIST_PORT:-} ]]; then
		_H_RABBIT_FRESH=1
		RABBIT_NODE=er$RANDOM$RANDOM@localhost
		AMQP_PORT=$(free_port)
		_H_RABBIT_DIST_PORT=$(free_port)
	fi
	AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f
	export AMQP_PORT AMQP_URL RABBIT_NODE
	echo "[${_H_RABBIT_PLUGINS:-}]." >"$d/enabled_plugins"
	if (($# > 0)); then
		for line in "$@"; do
			echo "$line"
		done >"$d/rabbitmq.conf"
	fi
	_h_rmq_env _H_RABBIT_ENV "$d" "$RABBIT_NODE" "$AMQP_PORT" "$_H_RABBIT_DIST_PORT" "$d/home"
	rm -f "$d/rabbitmq.pid"
	_H_RABBIT_LAUNCHED=1

	start=$(_h_now_ms)
	(cd "$d" && _h_exec_clean env "${_H_RABBIT_ENV[@]}" \
		"$RABBITMQ_SBIN/rabbitmq-server" -detached) \
		>>"$d/log/start.log" 2>&1 || {
		echo "start_rabbitmq: rabbitmq-server -detached failed" >&2
		return 1
	}
	# The pid file comes early; the AMQP port opens near the end of the
	# boot; await_startup then confirms the node is fully up.
	if ! wait_for test -s "$d/rabbitmq.pid" --deadline 30; then
		echo "start_rabbitmq: no pid file after 30s" >&2
		return 1
	fi
	_h_read_pid RABBIT_PID "$d/rabbitmq.pid"
	wait_for _h_rmq_port_or_dead --deadline "$deadline" || true
	wait_for _h_rmq_booted_or_dead --deadline "$deadline" || true
	if ! _h_alive "$RABBIT_PID" || ! _h_rmq_booted _H_RABBIT_ENV; then
		grep -s -m 5 -E '\[(error|critical)\]' \
			"$d/log/$RABBIT_NODE.log" >&2 || true
		harness_stop_pid "$RABBIT_PID" 30 || true
		RABBIT_PID='' _H_RABBIT_LAUNCHED=0
		# A port taken between free_port and the node's bind is the
		# likely cause on a first start: try again on other ports.
		if [[ ${_H_RABBIT_FRESH:-0} == 1 ]] &&
			((${_H_RABBIT_TRIES:-0} < 3)); then
			_H_RABBIT_TRIES=$((${_H_RABBIT_TRIES:-0} + 1))
			echo "start_rabbitmq: node $RABBIT_NODE failed to start;" \
				"retrying on other ports" >&2
			rm -rf "$d/mnesia" "$d/log"
			_H_RABBIT_DIST_PORT=''
			start_rabbitmq "$@"
			return
		fi
		echo "start_rabbitmq: node $RABBIT_NODE did not start" >&2
		return 1
	fi
	_H_RABBIT_TRIES=0
	h_log "rabbitmq $RABBIT_NODE up on $AMQP_PORT in" \
		"$(($(_h_now_ms) - start))ms (pid $RABBIT_PID)"
}

# make_test_certs DIR: certificates made by openssl for the TLS tests
# (EC P-256, valid 2 days): ca.pem (key ca.key); server.pem/server.key
# for the name "localhost" only (no IP address in it, so 127.0.0.1 fails
# the host name check); client.pem/client.key, CN relay-ext (a client
# certificate, for EXTERNAL login); other-ca.pem, a CA that signed none
# of them.
make_test_certs() {
	local dir=$1 name
	harness_require openssl
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		for name in ca other-ca; do
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-keyout "$name.key" -out "$name.pem" -days 2 -subj "/CN=er-test-$name" \
				-addext basicConstraints=critical,CA:TRUE 2>/dev/null || exit 1
		done
		_h_cert server /CN=localhost 'subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth' || exit 1
		_h_cert client /CN=relay-ext 'extendedKeyUsage=clientAuth' || exit 1
		chmod 0600 ./*.key
	) || {
		echo "make_test_certs: openssl failed in $dir" >&2
		return 1
	}
}

# _h_cert NAME SUBJECT EXTENSIONS: NAME.pem and NAME.key signed by ca.pem.
_h_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null &&
		printf 'basicConstraints=CA:FALSE\n%s\n' "$3" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}

# start_rabbitmq_tls [CONF_LINE...]: start_rabbitmq with a TLS listener
# on 127.0.0.1:AMQPS_PORT as well as the plain one, certificates from
# make_test_certs in TLS_DIR ($HARNESS_TMP/tls), a client certificate
# verified when one is sent (not required), and EXTERNAL login offered
# (plugin rabbitmq_auth_mechanism_ssl; the user is the certificate's CN).
# Exports AMQPS_PORT and TLS_DIR; a restart keeps both.
start_rabbitmq_tls() {
	TLS_DIR=$HARNESS_TMP/tls
	[[ -f $TLS_DIR/ca.pem ]] || make_test_certs "$TLS_DIR" || return 1
	[[ -n ${AMQPS_PORT:-} ]] || AMQPS_PORT=$(free_port) || return 1
	export AMQPS_PORT TLS_DIR
	_H_RABBIT_PLUGINS=rabbitmq_auth_mechanism_ssl start_rabbitmq \
		"listeners.ssl.default = 127.0.0.1:$AMQPS_PORT" \
		"ssl_options.cacertfile = $TLS_DIR/ca.pem" \
		"ssl_options.certfile = $TLS_DIR/server.pem" \
		"ssl_options.keyfile = $TLS_DIR/server.key" \
		"ssl_options.verify = verify_peer" \
		"ssl_options.fail_if_no_peer_cert = false" \
		"auth_mechanisms.1 = PLAIN" \
		"auth_mechanisms.2 = AMQPLAIN" \
		"auth_mechanisms.3 = EXTERNAL" \
		"ssl_cert_login_from = common_name" \
		"$@" || return 1
	wait_for _h_port_open "$AMQPS_PORT" --deadline 30 || {
		echo "start_rabbitmq_tls: no TLS listener on $AMQPS_PORT" >&2
		return 1
	}
}

_h_rmq_port_or_dead() {
	_h_port_open "$AMQP_PORT" || ! _h_alive "$RABBIT_PID"
}

_h_rmq_booted_or_dead() {
	_h_rmq_booted _H_RABBIT_ENV || ! _h_alive "$RABBIT_PID"
}

# _h_erl_call VAR ERL_CALL_ARG...: erl_call against the node whose
# environment is the array VAR (_h_rmq_env): its distribution port, and
# the Erlang cookie the node keeps in its HOME.
_h_erl_call() {
	local -n _ec_env=$1
	local v port='' home='' cookie
	shift
	[[ -x $ERL_CALL ]] || {
		echo "erl_call not found (package erlang-base); set ERL_CALL" >&2
		return 1
	}
	for v in "${_ec_env[@]}"; do
		case $v in
		RABBITMQ_DIST_PORT=*) port=${v#*=} ;;
		HOME=*) home=${v#*=} ;;
		esac
	done
	cookie=$(<"$home/.erlang.cookie") || return 1
	"$ERL_CALL" -address "127.0.0.1:$port" -c "$cookie" -timeout 60 "$@"
}

# _h_rmq_booted VAR: the node of environment VAR has finished booting
# (what rabbitmqctl await_startup waits for).
_h_rmq_booted() {
	[[ $(_h_erl_call "$1" -a 'rabbit is_booted []' 2>/dev/null) == true ]]
}

# rmq_queues ITEM...: the queues of vhost / (of every running node of
# the cluster of the node rmq_ctl talks to), one line each, the ITEMs
# (list_queues' item names: name, messages_ready, messages_unacknowledged,
# type, policy...) separated by tabs: what `rmq_ctl list_queues -q
# --no-table-headers ITEM...` prints. Like rabbitmqctl, each node is
# asked about the queues it holds (a quorum queue's counts are kept on
# its leader's node).
rmq_queues() {
	local out keys
	keys=$(
		IFS=,
		echo "$*"
	)
	out=$(_h_erl_call _H_RABBIT_ENV -e <<ERL
Keys = [$keys],
F = fun({resource, _, _, N}) -> binary_to_list(N);
       (V) when is_binary(V) -> binary_to_list(V);
       (V) when is_atom(V) -> atom_to_list(V);
       (V) -> lists:flatten(io_lib:format("~p", [V])) end,
Local = fun() -> [rabbit_amqqueue:info(Q, Keys) || Q <- rabbit_amqqueue:list_local(<<"/">>)] end,
Infos = lists:append([erpc:call(N, Local) || N <- rabbit_nodes:all_running()]),
lists:flatten([[lists:join("\t", [F(proplists:get_value(K, I, '')) || K <- Keys]), "\n"]
               || I <- Infos]).
ERL
	) || return 1
	# erl_call prints {ok, "TEXT"} (a tab and a newline as \t and \n),
	# {ok, []} when there is no queue, or {error, WHY}.
	case $out in
	'{ok, []}') ;;
	'{ok, "'*'"}')
		out=${out#'{ok, "'}
		out=${out%'"}'}
		out=${out//\\t/$'\t'}
		printf '%s' "${out//\\n/$'\n'}"
		;;
	*)
		echo "rmq_queues: $out" >&2
		return 1
		;;
	esac
}

# stop_rabbitmq [--kill]: stop the node (TERM: a clean shutdown), wait
# until the process is gone. The data stays for restart_rabbitmq. With
# --kill (the teardown, whose data goes with the directory), KILL: a
# clean shutdown takes a second of CPU and wall time for nothing.
stop_rabbitmq() {
	local start pid
	[[ -n ${RABBIT_PID:-} || ${_H_RABBIT_LAUNCHED:-0} == 1 ]] || return 0
	start=$(_h_now_ms)
	if [[ -z ${RABBIT_PID:-} ]]; then
		# Stopped while starting: find the node by its pid file, or by
		# the pid file path in its environment if it has not written
		# the file yet.
		_h_read_pid RABBIT_PID "$HARNESS_TMP/rabbitmq/rabbitmq.pid" \
			2>/dev/null || RABBIT_PID=$(_h_rmq_find_pids)
	fi
	for pid in $RABBIT_PID; do
		if [[ ${1:-} == --kill ]]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		harness_stop_pid "$pid" 60 || true
	done
	h_log "rabbitmq $RABBIT_NODE stopped in $(($(_h_now_ms) - start))ms${1:+ (${1#--})}"
	RABBIT_PID='' _H_RABBIT_LAUNCHED=0
}

# PIDs of the processes whose environment names this harness's RabbitMQ
# pid file: the node this harness launched (and its launch scripts).
_h_rmq_find_pids() {
	local e want="RABBITMQ_PID_FILE=$HARNESS_TMP/rabbitmq/rabbitmq.pid" p
	for e in /proc/[0-9]*/environ; do
		p=${e#/proc/}
		p=${p%/environ}
		[[ $p == "$BASHPID" ]] && continue
		if grep -qzxF "$want" "$e" 2>/dev/null; then
			printf '%s\n' "$p"
		fi
	done
}

# kill_rabbitmq: KILL the node, as a crash would.
kill_rabbitmq() {
	[[ -n ${RABBIT_PID:-} ]] || return 0
	kill -KILL "$RABBIT_PID" 2>/dev/null || true
	wait_for eval '! _h_alive '"$RABBIT_PID" --deadline 30
	RABBIT_PID='' _H_RABBIT_LAUNCHED=0
}

# restart_rabbitmq [CONF_LINE...]: stop, then start on the same ports.
restart_rabbitmq() {
	stop_rabbitmq
	start_rabbitmq "$@"
}

# rmq_stop_app / rmq_start_app: stop or start the rabbit application
# inside a running node (connections drop, the port closes; quicker than
# a restart).
rmq_stop_app() {
	rmq_ctl stop_app >/dev/null
}

rmq_start_app() {
	rmq_ctl start_app >/dev/null &&
		wait_for _h_port_open "$AMQP_PORT" --deadline 60
}

# queue_counts QUEUE: print "<ready> <unacked>" for QUEUE (vhost /).
queue_counts() {
	local out
	out=$(rmq_queues name messages_ready messages_unacknowledged) || return 1
	awk -F'\t' -v q="$1" '$1 == q { print $2, $3; found = 1 }
		END { exit !found }' <<<"$out" || {
		echo "queue_counts: no queue $1" >&2
		return 1
	}
}

_h_queue_empty() {
	[[ $(queue_counts "$1") == "0 0" ]]
}

# wait_queue_empty QUEUE DEADLINE_S: wait until QUEUE has no ready and
# no unacked message.
wait_queue_empty() {
	wait_for _h_queue_empty "$1" --deadline "${2:-60}"
}

# ----------------------------------------------------------------- Redis

# start_redis [REDIS_ARG...]: start (or restart, on the same port) a
# private redis-server. Exports REDIS_PORT, REDIS_ADDR.
start_redis() {
	local d=$HARNESS_TMP/redis start fresh=0
	command -v redis-server >/dev/null 2>&1 || h_skip "redis-server not installed"
	mkdir -p "$d"
	if [[ -z ${_H_REDIS_PORT:-} ]]; then
		fresh=1
		_H_REDIS_PORT=$(free_port)
	fi
	REDIS_PORT=$_H_REDIS_PORT
	REDIS_ADDR=127.0.0.1:$REDIS_PORT
	export REDIS_PORT REDIS_ADDR
	rm -f "$d/redis.pid"
	start=$(_h_now_ms)
	_H_REDIS_LAUNCHED=1
	_h_exec_clean redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
		--dir "$d" --save "" --appendonly no --daemonize yes \
		--pidfile "$d/redis.pid" --logfile "$d/redis.log" "$@" || {
		echo "start_redis: redis-server failed" >&2
		return 1
	}
	# The daemon writes its pid file once it listens, and exits when
	# it cannot bind.
	wait_for _h_redis_started "$d" --deadline 20 || true
	if [[ ! -s $d/redis.pid ]]; then
		_H_REDIS_LAUNCHED=0
		grep -s 'Could not create' "$d/redis.log" >&2 || true
		if ((fresh)) && ((${_H_REDIS_TRIES:-0} < 3)); then
			_H_REDIS_TRIES=$((${_H_REDIS_TRIES:-0} + 1))
			echo "start_redis: retrying on another port" >&2
			: >"$d/redis.log"
			_H_REDIS_PORT=''
			start_redis "$@"
			return
		fi
		echo "start_redis: redis-server did not start on $REDIS_PORT" >&2
		return 1
	fi
	_H_REDIS_TRIES=0
	_h_read_pid REDIS_PID "$d/redis.pid"
	if ! wait_for _h_redis_ping --deadline 20; then
		echo "start_redis: no PONG on $REDIS_PORT" >&2
		return 1
	fi
	h_log "redis up on $REDIS_PORT in $(($(_h_now_ms) - start))ms" \
		"(pid $REDIS_PID)"
}

_h_redis_started() {
	[[ -s $1/redis.pid ]] ||
		grep -qs 'Could not create server TCP listening socket' "$1/redis.log"
}

_h_redis_ping() {
	[[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

# stop_redis: stop the server (TERM), wait until it is gone.
stop_redis() {
	[[ -n ${REDIS_PID:-} || ${_H_REDIS_LAUNCHED:-0} == 1 ]] || return 0
	if [[ -z ${REDIS_PID:-} ]]; then
		# Stopped while starting: the daemon writes its pid file at once.
		wait_for test -s "$HARNESS_TMP/redis/redis.pid" --deadline 5 || true
		_h_read_pid REDIS_PID "$HARNESS_TMP/redis/redis.pid" || return 1
	fi
	harness_stop_pid "$REDIS_PID" 20 || true
	REDIS_PID='' _H_REDIS_LAUNCHED=0
}

# ------------------------------------------------------------ Kafka mock

# start_kafka_mock [-b BROKERS] [TOPIC:PARTITIONS...]: start the mock
# cluster (3 brokers by default) with these topics. Exports KAFKA_BROKERS.
start_kafka_mock() {
	local d=$HARNESS_TMP/kafka brokers=3 args=() t start
	if [[ ${1:-} == -b ]]; then
		brokers=$2
		shift 2
	fi
	[[ -x $KAFKA_MOCK ]] || {
		echo "start_kafka_mock: $KAFKA_MOCK not built" >&2
		return 1
	}
	if [[ -n ${KAFKA_MOCK_PID:-} ]]; then
		echo "start_kafka_mock: already running" >&2
		return 1
	fi
	for t in "$@"; do
		args+=(-t "$t")
	done
	mkdir -p "$d"
	rm -f "$d/in" "$d/out"
	mkfifo "$d/in" "$d/out"
	start=$(_h_now_ms)
	# The tool opens in, then out; this shell opens them in the same
	# order, so neither side blocks for good.
	"$KAFKA_MOCK" -b "$brokers" "${args[@]}" <"$d/in" >"$d/out" \
		2>"$d/kafka-mock.log" &
	KAFKA_MOCK_PID=$!
	exec {_H_KAFKA_IN}>"$d/in"
	exec {_H_KAFKA_OUT}<"$d/out"
	if ! IFS= read -r -t 20 -u "$_H_KAFKA_OUT" KAFKA_BROKERS; then
		echo "start_kafka_mock: no bootstrap list" >&2
		cat "$d/kafka-mock.log" >&2
		return 1
	fi
	export KAFKA_BROKERS
	h_log "kafka mock up ($KAFKA_BROKERS) in $(($(_h_now_ms) - start))ms" \
		"(pid $KAFKA_MOCK_PID)"
}

# kafka_cmd "COMMAND": send one command to the mock and print its answer;
# returns 0 when the answer is "ok". Commands: see tests/tools/kafka_mock.c.
kafka_cmd() {
	local ans
	[[ -n ${_H_KAFKA_IN:-} ]] || {
		echo "kafka_cmd: mock not running" >&2
		return 1
	}
	# In a subshell: if the tool died, SIGPIPE must not end the test.
	if ! (trap '' PIPE && printf '%s\n' "$*" >&"$_H_KAFKA_IN") 2>/dev/null; then
		echo "kafka_cmd: kafka-mock is gone" >&2
		return 1
	fi
	if ! IFS= read -r -t "${KAFKA_CMD_TIMEOUT:-30}" -u "$_H_KAFKA_OUT" ans; then
		echo "kafka_cmd: no answer to '$*'" >&2
		return 1
	fi
	printf '%s\n' "$ans"
	[[ $ans == ok ]]
}

# stop_kafka_mock: ask the mock to quit (TERM if it does not), wait.
stop_kafka_mock() {
	[[ -n ${KAFKA_MOCK_PID:-} ]] || return 0
	if [[ -n ${_H_KAFKA_IN:-} ]]; then
		# Read the answer before closing, so the tool's last write works.
		kafka_cmd quit >/dev/null 2>&1 || true
		exec {_H_KAFKA_IN}>&- {_H_KAFKA_OUT}<&-
		_H_KAFKA_IN='' _H_KAFKA_OUT=''
	fi
	harness_stop_pid "$KAFKA_MOCK_PID" 10 || true
	KAFKA_MOCK_PID=''
}

# ------------------------------------------------------------- tcp-proxy

# start_tcp_proxy TARGET_PORT: a tcp-proxy (tests/tools/tcp_proxy.c) in
# front of 127.0.0.1:TARGET_PORT; sets PROXY_PORT and PROXY_PID. The
# proxy is stopped at cleanup. proxy_blackhole makes it silent (nothing
# forwarded, nothing closed), proxy_restore forwards again.
start_tcp_proxy() {
	[[ -x $TCP_PROXY ]] || {
		echo "start_tcp_proxy: $TCP_PROXY not built" >&2
		return 1
	}
	harness_spawn tcp-proxy "$TCP_PROXY" "$1"
	PROXY_PID=$HARNESS_PID
	if ! wait_for --deadline 10 test -s "$HARNESS_TMP/tcp-proxy.log"; then
		echo "start_tcp_proxy: no port from tcp-proxy" >&2
		return 1
	fi
	PROXY_PORT=$(head -n 1 "$HARNESS_TMP/tcp-proxy.log")
	h_log "tcp-proxy on $PROXY_PORT -> $1 (pid $PROXY_PID)"
}

proxy_blackhole() {
	kill -USR1 "$PROXY_PID"
}

proxy_restore() {
	kill -USR2 "$PROXY_PID"
}
