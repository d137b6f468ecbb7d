#!/bin/sh
# Installs everything needed to build event-relay, run its test suite and
# its local demo on Debian 12: compilers and autotools, the libraries,
# RabbitMQ and Redis servers (started privately by the tests, never as
# system services), openssl (the TLS tests make their certificates),
# kcat, promtool (package prometheus), curl, mandoc,
# jq (ops_log_reopen checks the JSON log with it), python3 (the tracing
# tests' OTLP/HTTP receiver, sec_http_slow_clients' clients), clang and
# libclang-rt-dev (the libFuzzer targets of tests/fuzz), iproute2 (ss:
# sec_http_slow_clients), strace (tests/tools/seccomp_trace.py traces the
# workers' system calls with it), and for the packaging
# tests (tests/packaging): debhelper, lintian, systemd (systemd-analyze),
# systemd-container (systemd-nspawn runs the unit under systemd),
# logrotate, rpm (rpmbuild) and cpio, podman, runc and mmdebstrap (the
# container image), yamllint, unzip and npm (helm and kubectl come from
# an npm package).
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
  librabbitmq-dev libssl-dev librdkafka-dev libhiredis-dev libconfig-dev libyaml-dev
  libmicrohttpd-dev libcriterion-dev libcurl4-openssl-dev python3
  rabbitmq-server redis-server openssl kcat prometheus curl mandoc jq clang libclang-rt-dev
  iproute2 strace
  debhelper lintian systemd systemd-container logrotate
  rpm cpio podman runc mmdebstrap yamllint unzip"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi

missing=
for p in $PACKAGES; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# npm may come with a nodejs package from elsewhere (NodeSource's has it).
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
