#!/usr/bin/env python3
"""helm_check.py: checks the objects `helm template` rendered from the
event-relay chart (tests/packaging/helm.sh runs it).

Usage: helm_check.py default|custom RENDERED.yaml

Prints one line per object checked; exits 1 with every failure listed
("got X, want Y") when anything is wrong.
"""
import re
import sys

import yaml

errors = []


def want(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def load(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    objs = {}
    for d in docs:
        for k in ("apiVersion", "kind", "metadata"):
            want(k in d, f"an object has no {k}: {str(d)[:80]}")
        name = d.get("metadata", {}).get("name", "")
        want(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name or ""),
             f"{d.get('kind')}: bad metadata.name {name!r}")
        labels = d["metadata"].get("labels", {})
        for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                  "app.kubernetes.io/version", "helm.sh/chart"):
            want(k in labels, f"{d['kind']} {name}: no label {k}")
        want(d["kind"] not in objs, f"two objects of kind {d['kind']}")
        objs[d["kind"]] = d
    return objs


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def check(mode, path):
    objs = load(path)
    kinds = sorted(objs)
    expected = ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    if mode == "custom":
        expected = sorted(expected + ["ServiceMonitor"])
    if not want(kinds == expected, f"kinds: got {kinds}, want {expected}"):
        return

    dep = objs["Deployment"]
    spec = dep["spec"]
    pod = spec["template"]
    pod_labels = pod["metadata"]["labels"]
    ann = pod["metadata"].get("annotations", {})
    podspec = pod["spec"]
    want(selects(spec["selector"]["matchLabels"], pod_labels),
         "Deployment: selector does not match the pod labels")
    want(spec["replicas"] == (3 if mode == "custom" else 2),
         f"replicas: got {spec['replicas']}")
    want(spec["strategy"].get("rollingUpdate", {}).get("maxUnavailable") == 0,
         f"strategy: got {spec['strategy']}, want maxUnavailable 0")
    want(re.fullmatch(r"[0-9a-f]{64}", ann.get("checksum/config", "")),
         f"checksum/config: got {ann.get('checksum/config')!r}")
    want(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080"
         and ann.get("prometheus.io/path") == "/metrics",
         f"prometheus annotations: got {ann}")
    want(podspec.get("automountServiceAccountToken") is False,
         "the pod mounts a service account token")
    want(podspec.get("serviceAccountName") == objs["ServiceAccount"]["metadata"]["name"],
         "serviceAccountName is not the chart's ServiceAccount")
    want(podspec.get("terminationGracePeriodSeconds", 30) > 30,
         "terminationGracePeriodSeconds must exceed stop_timeout (30)")

    psc = podspec.get("securityContext", {})
    want(psc.get("runAsNonRoot") is True, f"pod runAsNonRoot: got {psc.get('runAsNonRoot')}")
    want(psc.get("runAsUser", 0) != 0, f"pod runAsUser: got {psc.get('runAsUser')}")
    want(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
         f"pod seccompProfile: got {psc.get('seccompProfile')}")

    cs = podspec["containers"]
    want(len(cs) == 1, f"containers: got {len(cs)}, want 1")
    c = cs[0]
    want(c.get("image", "").endswith(":0.1.0") or mode == "custom",
         f"image: got {c.get('image')}")
    sc = c.get("securityContext", {})
    want(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    want(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    want(sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"),
         f"capabilities: got {sc.get('capabilities')}, want drop [ALL], none added")
    want(sc.get("runAsNonRoot") is True, "container runAsNonRoot is not true")
    want(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
         f"container seccompProfile: got {sc.get('seccompProfile')}")
    ports = {p["name"]: p for p in c.get("ports", [])}
    want(ports.get("metrics", {}).get("containerPort") == 8080, f"ports: got {c.get('ports')}")
    for probe, url in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        g = c.get(probe, {}).get("httpGet", {})
        want(g.get("path") == url and g.get("port") == "metrics",
             f"{probe}: got {c.get(probe)}, want httpGet {url} on port metrics")
    res = c.get("resources", {})
    want(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
         and res.get("limits", {}).get("memory"), f"resources: got {res}")

    env = env_of(c)
    want(env.get("METRICS_LISTEN", {}).get("value") == "0.0.0.0:8080",
         f"METRICS_LISTEN: got {env.get('METRICS_LISTEN')}")
    for name in ("RABBITMQ_URL", "RABBITMQ_QUEUE", "KAFKA_BROKERS", "REDIS_ADDR",
                 "WORKER_COUNT", "LOG_LEVEL", "LOG_FORMAT"):
        want(name in env, f"no {name} in the environment")
    for e in env.values():
        want(("value" in e) != ("valueFrom" in e), f"env {e['name']}: want value or valueFrom")
        want("value" not in e or isinstance(e["value"], str), f"env {e['name']}: value is not a string")

    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in podspec.get("volumes", [])}
    cfg = mounts.get("/etc/event-relay", {})
    want(cfg.get("readOnly") is True, f"/etc/event-relay mount: got {cfg}")
    cm_vol = vols.get(cfg.get("name"), {}).get("configMap", {})
    want(cm_vol.get("name") == objs["ConfigMap"]["metadata"]["name"],
         "the config volume is not the chart's ConfigMap")
    items = {i["key"]: i["path"] for i in cm_vol.get("items", [])}
    want(items.get("event-relay.conf") == "event-relay.conf", f"config items: got {items}")
    for key in items:
        want(key in objs["ConfigMap"]["data"], f"config item {key} is not in the ConfigMap")
    tmp = mounts.get("/tmp", {})
    want("emptyDir" in vols.get(tmp.get("name"), {}), "no writable /tmp (emptyDir) for the control socket")

    svc = objs["Service"]
    want(selects(svc["spec"]["selector"], pod_labels), "Service: selector does not match the pods")
    sp = {p["name"]: p for p in svc["spec"]["ports"]}
    want(sp.get("metrics", {}).get("targetPort") == "metrics", f"Service ports: got {svc['spec']['ports']}")
    pdb = objs["PodDisruptionBudget"]
    want(selects(pdb["spec"]["selector"]["matchLabels"], pod_labels), "PDB: selector does not match the pods")
    want("maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"], "PDB: no budget")

    if mode == "default":
        want(env["RABBITMQ_URL"].get("value") == "amqp://guest:guest@rabbitmq:5672/",
             f"RABBITMQ_URL: got {env['RABBITMQ_URL']}")
        want("REDIS_PASSWORD" not in env, "REDIS_PASSWORD set without a Secret")
    else:
        ref = env["RABBITMQ_URL"].get("valueFrom", {}).get("secretKeyRef", {})
        want(ref == {"name": "relay-secrets", "key": "rabbitmq-url"},
             f"RABBITMQ_URL: got {env['RABBITMQ_URL']}, want the Secret relay-secrets/rabbitmq-url")
        ref = env.get("REDIS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
        want(ref == {"name": "relay-secrets", "key": "redis-password"},
             f"REDIS_PASSWORD: got {env.get('REDIS_PASSWORD')}")
        want(env.get("KAFKA_TOPIC", {}).get("value") == "orders", f"KAFKA_TOPIC: got {env.get('KAFKA_TOPIC')}")
        want(env.get("MAX_RETRIES", {}).get("value") == "10", "extraEnv MAX_RETRIES missing")
        want(items.get("route-orders.yaml") == "routes.d/orders.yaml", f"route items: got {items}")
        want("prefetch = 200;" in objs["ConfigMap"]["data"]["event-relay.conf"],
             "the configuration text is not in the ConfigMap")
        sm = objs["ServiceMonitor"]
        want(sm["apiVersion"] == "monitoring.coreos.com/v1", f"ServiceMonitor: {sm['apiVersion']}")
        want(selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]),
             "ServiceMonitor: selector does not match the Service")
        ep = sm["spec"]["endpoints"][0]
        want(ep.get("port") == "metrics" and ep.get("path") == "/metrics",
             f"ServiceMonitor endpoint: got {ep}")
        want(sm["metadata"]["labels"].get("release") == "prometheus",
             "ServiceMonitor: extra labels missing")
        with open(path, encoding="utf-8") as f:
            want("guest:guest" not in f.read(), "a password is in the rendered objects")

    for k in kinds:
        print(f"{mode}: {k} {objs[k]['metadata']['name']}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("default", "custom"):
        print(__doc__, file=sys.stderr)
        return 2
    check(sys.argv[1], sys.argv[2])
    for e in errors:
        print(f"FAIL: {sys.argv[1]}: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
