#!/usr/bin/env bash
# The start program of the dummy service every tool in bench/fault-to-fix.ts heals (laas's
# "restart" argv and Monit's "start program" alike): starts dist/cli/demo-service.js
# detached, like an init script, and returns once it answers on 127.0.0.1:PORT (exit 0), or
# after 5 s (exit 1). Plain bash so the start costs one Node start-up, not two.
#
#   bench/anchors/demo-start.sh PORT PIDFILE [NODE]
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 PORT PIDFILE [NODE]" >&2
  exit 2
fi
port=$1
pidfile=$2
node=${3:-node}
service="$(cd "$(dirname "$0")/../.." && pwd)/dist/cli/demo-service.js"

# No fork per poll: a fork and an exec of sleep cost tens of milliseconds on a loaded machine.
# The connect is a redirection on a builtin (closed again at once); the wait is a read with a
# timeout on a pipe that never gets data.
answers() { { : 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; }
exec {pause}<> <(:)

if answers; then exit 0; fi
setsid "$node" "$service" "$port" "$pidfile" </dev/null >/dev/null 2>&1 &
for _ in {1..1000}; do
  if answers; then exit 0; fi
  read -r -t 0.005 -u "$pause" _ || true
done
echo "demo service did not answer on 127.0.0.1:$port within 5 s" >&2
exit 1
