#!/usr/bin/env bash
# Installs the anchors that bench/fault-to-fix.ts and bench/agent-footprint.ts measure laas
# against: Monit, Prometheus, Alertmanager and node_exporter, all from Debian's own packages.
# Idempotent: a package already installed is left alone, and nothing is fetched when all are.
#
# The benches never use the packages' systemd services or /etc configs: they start each
# binary directly on 127.0.0.1 with a temporary config. If this machine runs systemd, the
# services the packages enable are stopped and disabled again so they do not hold ports or
# skew the footprint figures (pass --keep-services to leave them as the package set them).
#
#   sudo bench/anchors/install.sh [--keep-services]
set -euo pipefail

PACKAGES=(monit prometheus prometheus-alertmanager prometheus-node-exporter)
SERVICES=(monit prometheus prometheus-alertmanager prometheus-node-exporter)
keep_services=0
for arg in "$@"; do
  case "$arg" in
    --keep-services) keep_services=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # --no-install-recommends: the recommended extras (mail servers, collectors) are not measured.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "already installed: ${PACKAGES[*]}"
fi

if [ "$keep_services" -eq 0 ] && [ -d /run/systemd/system ]; then
  for s in "${SERVICES[@]}"; do
    systemctl disable --now "$s" >/dev/null 2>&1 || true
  done
fi

for b in monit prometheus prometheus-alertmanager prometheus-node-exporter; do
  command -v "$b" >/dev/null || { echo "install.sh: $b is still missing" >&2; exit 1; }
done
echo "anchors ready: $(monit -V | head -n1); $(prometheus --version 2>&1 | head -n1)"
