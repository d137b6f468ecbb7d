# shellcheck shell=bash
# cluster.sh: a private RabbitMQ cluster for the scale-out tests (source
# servers.sh first). Nodes are numbered from 1; each has its own node
# name, AMQP and distribution ports and data directory under
# $HARNESS_TMP/cluster/N, and all share one HOME (so one Erlang cookie).
#
#   start_rabbit_cluster N   start N nodes and join 2..N to node 1;
#                            exports CLUSTER_URLS (amqp URLs, comma-
#                            separated, node order) and sets AMQP_URL,
#                            AMQP_PORT, RABBIT_NODE to node 1 so that
#                            rmq_ctl, queue_counts and the tools work
#   cnode_ctl N ARGS...      rabbitmqctl against node N
#   cnode_stop N             stop node N cleanly (its connections drop)
#   cnode_start N            start node N again (it rejoins the cluster)
#   cnode_use N              point rmq_ctl/AMQP_URL at node N
#   cnode_of_port PORT       the number of the node on AMQP port PORT

_H_CNODES=()    # node names, index N-1
_H_CPORTS=()    # AMQP ports
_H_CDIST=()     # distribution ports
_H_CPIDS=()     # pids (empty while stopped)

# _h_cnode_env N: the environment of node N in _H_CENV.
_h_cnode_env() {
	_h_rmq_env _H_CENV "$HARNESS_TMP/cluster/$1" "${_H_CNODES[$1 - 1]}" "${_H_CPORTS[$1 - 1]}" \
		"${_H_CDIST[$1 - 1]}" "$HARNESS_TMP/cluster/home"
}

cnode_ctl() {
	local i=$1
	shift
	_h_cnode_env "$i"
	env "${_H_CENV[@]}" "$RABBITMQ_SBIN/rabbitmqctl" -n "${_H_CNODES[i - 1]}" "$@"
}

# cnode_start N: launch node N (detached) and wait until it is fully up.
cnode_start() {
	local i=$1 d=$HARNESS_TMP/cluster/$1 pid t0
	t0=$(_h_now_ms)
	mkdir -p "$d/mnesia" "$d/log" "$HARNESS_TMP/cluster/home"
	echo "[]." >"$d/enabled_plugins"
	: >>"$d/rabbitmq.conf"
	rm -f "$d/rabbitmq.pid"
	_h_cnode_env "$i"
	(cd "$d" && _h_exec_clean env "${_H_CENV[@]}" "$RABBITMQ_SBIN/rabbitmq-server" -detached) \
		>>"$d/log/start.log" 2>&1 || {
		echo "cnode_start: node $i: rabbitmq-server -detached failed" >&2
		return 1
	}
	wait_for test -s "$d/rabbitmq.pid" --deadline 30 || {
		echo "cnode_start: node $i: no pid file after 30 s" >&2
		return 1
	}
	_h_read_pid pid "$d/rabbitmq.pid"
	_H_CPIDS[i - 1]=$pid
	harness_track_pid "$pid"
	wait_for --deadline 120 _h_cnode_booted_or_dead "$i" || true
	_h_cnode_env "$i"
	{ _h_alive "$pid" && _h_rmq_booted _H_CENV; } || {
		grep -s -m 5 -E '\[(error|critical)\]' "$d/log/${_H_CNODES[i - 1]}.log" >&2 || true
		echo "cnode_start: node $i (${_H_CNODES[i - 1]}) did not start" >&2
		return 1
	}
	h_log "rabbitmq node $i ${_H_CNODES[i - 1]} up on ${_H_CPORTS[i - 1]} in" \
		"$(($(_h_now_ms) - t0)) ms (pid $pid)"
}

_h_cnode_booted_or_dead() {
	_h_cnode_env "$1"
	_h_rmq_booted _H_CENV || ! _h_alive "${_H_CPIDS[$1 - 1]}"
}

# cnode_stop N: a clean stop of node N's VM; waits until it is gone.
cnode_stop() {
	local i=$1 pid=${_H_CPIDS[$1 - 1]}
	[[ -n $pid ]] || return 0
	cnode_ctl "$i" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
	wait_for --deadline 60 eval '! _h_alive '"$pid" || {
		echo "cnode_stop: node $i (pid $pid) did not stop" >&2
		return 1
	}
	_H_CPIDS[i - 1]=''
}

cnode_use() {
	local i=$1
	RABBIT_NODE=${_H_CNODES[i - 1]}
	AMQP_PORT=${_H_CPORTS[i - 1]}
	AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f
	_h_cnode_env "$i"
	_H_RABBIT_ENV=("${_H_CENV[@]}")
	export RABBIT_NODE AMQP_PORT AMQP_URL
}

cnode_of_port() {
	local i
	for i in "${!_H_CPORTS[@]}"; do
		[[ ${_H_CPORTS[i]} == "$1" ]] && echo $((i + 1)) && return 0
	done
	return 1
}

_h_cluster_running() {
	_h_cnode_env 1
	[[ $(_h_erl_call _H_CENV -e <<<'length(rabbit_nodes:all_running()).' 2>/dev/null) == "{ok, $1}" ]]
}

start_rabbit_cluster() {
	local n=$1 i base=er$RANDOM$RANDOM urls=''
	[[ -x $RABBITMQ_SBIN/rabbitmq-server ]] ||
		h_skip "rabbitmq-server not found in $RABBITMQ_SBIN"
	_H_CNODES=() _H_CPORTS=() _H_CDIST=() _H_CPIDS=()
	for ((i = 1; i <= n; i++)); do
		_H_CNODES+=("${base}n$i@localhost")
		_H_CPORTS+=("$(free_port)")
		_H_CDIST+=("$(free_port)")
		_H_CPIDS+=('')
		urls+=${urls:+,}amqp://guest:guest@127.0.0.1:${_H_CPORTS[i - 1]}/%2f
	done
	# Node 1 first: it writes the cookie the others read.
	cnode_start 1 || return 1
	for ((i = 2; i <= n; i++)); do
		cnode_start "$i" || return 1
		if ! { cnode_ctl "$i" stop_app >/dev/null &&
			cnode_ctl "$i" join_cluster "${_H_CNODES[0]}" >/dev/null &&
			cnode_ctl "$i" start_app >/dev/null; }; then
			echo "start_rabbit_cluster: node $i did not join node 1" >&2
			return 1
		fi
	done
	wait_for --deadline 60 _h_cluster_running "$n" || {
		echo "start_rabbit_cluster: the cluster does not show $n running nodes" >&2
		return 1
	}
	CLUSTER_URLS=$urls
	export CLUSTER_URLS
	cnode_use 1
	# The single-node harness has nothing to stop: the nodes are tracked.
	_H_RABBIT_LAUNCHED=0
	h_log "rabbitmq cluster of $n nodes: ${_H_CNODES[*]}"
}
