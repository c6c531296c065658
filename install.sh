#!/usr/bin/env bash
# install.sh: put a laas agent (or controller) on a Linux server, in one command.
#
#   sudo bash install.sh agent --controller wss://HOST:PORT --enroll-token-file FILE \
#        [--ca ca.pem] [--labels role=web,env=prod] [--id NAME]
#   sudo bash install.sh controller [--listen 127.0.0.1:7070] [--hosts NAME,…]
#   sudo bash install.sh --uninstall [--purge]
#
# Run it from a release (laas-VERSION.tar.gz, made by "npm run pack") or from a checkout where
# "npm run pack" has run. It installs the single-file bundles into /opt/laas (no node_modules),
# writes /etc/laas, a systemd unit, enables and starts it. Re-running upgrades in place and keeps
# the config. Every step is named; --dry-run shows them all without doing anything.
# Run "install.sh --help" for every option.

# Re-run under bash when started as "sh install.sh".
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -Eeuo pipefail
umask 022

readonly USAGE="usage:
  install.sh agent --controller wss://HOST:PORT (--enroll-token-file FILE | --token-file FILE --signing-key FILE) [options]
  install.sh controller [--listen HOST:PORT] [--hosts NAME,...] [options]
  install.sh [agent|controller] --uninstall [--purge]

agent options:
  --controller URL      the controller's agent link, ws:// or wss:// (wss:// off this host)
  --enroll-token-file FILE  a file holding a one-time enrollment token (laas agents enroll-token
                        on the controller); - reads it from standard input
  --token-file FILE     a file holding a shared agent token instead (one of the controller's
                        agentTokens); - reads it from standard input
  --signing-key FILE    with a shared token: the controller's public signing key (laas signing-key
                        --out FILE on the controller); without it the agent runs no instruction
  --enroll-token TOKEN, --token TOKEN
                        the same tokens on the command line (still accepted, but visible in ps
                        and shell history: prefer the -file forms)
  --ca FILE             the CA certificate that signed the controller's (laas certs init: ca.pem)
  --labels K=V,...      labels for rules to select hosts by, e.g. role=web,env=prod
  --id NAME             this agent's id (default: this host's name)

controller options:
  --listen HOST:PORT    where it listens for agents and the API (default 127.0.0.1:7070);
                        any address but loopback gets TLS (a CA and certificate are made)
  --hosts NAMES         names and addresses agents reach it by, for its certificate
                        (default: this host's names and the listen address)
  --user NAME           the system user it runs as (default laas; created when missing)

common options:
  --prefix DIR          install under DIR as root directory (DIR/opt/laas, DIR/etc/laas, ...):
                        for packaging and tests; systemctl is not called
  --no-user             create no user and change no owner (with --prefix, for packaging)
  --from PATH           install from this release tarball or unpacked release folder
                        (default: the folder install.sh is in)
  --node PATH           the Node.js (>= 20) to use (default: node on PATH)
  --install-node        install the distribution's Node.js package when it is new enough
  --reconfigure         rewrite the config from the flags even though one exists
  --no-start            install and enable, but do not start or restart the service
  --dry-run             print every step without doing any of it
  --uninstall           remove what install.sh installed; config and data are kept
  --purge               with --uninstall: also remove config, data and the user it created
  -h, --help            this help"

# ----------------------------------------------------------------------------- arguments

ROLE=""
CONTROLLER_URL=""
ENROLL_TOKEN=""
SHARED_TOKEN=""
ENROLL_TOKEN_FILE=""
SHARED_TOKEN_FILE=""
TOKEN_ON_ARGV=""
SIGNING_KEY_FILE=""
CA_FILE=""
LABELS=""
AGENT_ID=""
LISTEN="127.0.0.1:7070"
LISTEN_GIVEN=0
CERT_HOSTS=""
RUN_USER="laas"
PREFIX=""
NO_USER=0
FROM=""
NODE=""
INSTALL_NODE=0
RECONFIGURE=0
NO_START=0
DRY_RUN=0
UNINSTALL=0
PURGE=0

die_usage() {
  printf 'install.sh: %s\n\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then die_usage "$1 needs a value"; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    agent|controller)
      [ -z "$ROLE" ] || die_usage "give one of agent or controller, not both"
      ROLE="$1" ;;
    --controller) need_value "$@"; CONTROLLER_URL="$2"; shift ;;
    --enroll-token) need_value "$@"; ENROLL_TOKEN="$2"; TOKEN_ON_ARGV="$1"; shift ;;
    --token) need_value "$@"; SHARED_TOKEN="$2"; TOKEN_ON_ARGV="$1"; shift ;;
    --enroll-token-file) need_value "$@"; ENROLL_TOKEN_FILE="$2"; shift ;;
    --token-file) need_value "$@"; SHARED_TOKEN_FILE="$2"; shift ;;
    --signing-key) need_value "$@"; SIGNING_KEY_FILE="$2"; shift ;;
    --ca) need_value "$@"; CA_FILE="$2"; shift ;;
    --labels) need_value "$@"; LABELS="$2"; shift ;;
    --id) need_value "$@"; AGENT_ID="$2"; shift ;;
    --listen) need_value "$@"; LISTEN="$2"; LISTEN_GIVEN=1; shift ;;
    --hosts) need_value "$@"; CERT_HOSTS="$2"; shift ;;
    --user) need_value "$@"; RUN_USER="$2"; shift ;;
    --prefix) need_value "$@"; PREFIX="$2"; shift ;;
    --no-user) NO_USER=1 ;;
    --from) need_value "$@"; FROM="$2"; shift ;;
    --node) need_value "$@"; NODE="$2"; shift ;;
    --install-node) INSTALL_NODE=1 ;;
    --reconfigure) RECONFIGURE=1 ;;
    --no-start) NO_START=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
    --*=*) die_usage "write options as two words: ${1%%=*} ${1#*=}" ;;
    *) die_usage "unknown argument: $1" ;;
  esac
  shift
done

if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then die_usage "--purge goes with --uninstall"; fi

# read_token FLAG FILE: the token in FILE (- is standard input): its first line, blanks trimmed.
read_token() {
  local flag=$1 file=$2 token=""
  if [ "$file" = - ]; then
    [ ! -t 0 ] || die_usage "$flag -: give the token on standard input, e.g. $flag - <token-file"
    IFS= read -r token || true
  else
    if ! [ -r "$file" ] || ! [ -f "$file" ]; then die_usage "$flag $file cannot be read"; fi
    IFS= read -r token <"$file" || true
  fi
  token="${token#"${token%%[![:space:]]*}"}"
  token="${token%"${token##*[![:space:]]}"}"
  [ -n "$token" ] || die_usage "$flag $file: no token in it (expected the token on its first line)"
  printf '%s' "$token"
}
if [ -n "$ENROLL_TOKEN_FILE" ] && [ -n "$SHARED_TOKEN_FILE" ] && [ "$ENROLL_TOKEN_FILE" = - ] && [ "$SHARED_TOKEN_FILE" = - ]; then die_usage "standard input holds one token: give --enroll-token-file or --token-file, not both"; fi
if [ -n "$ENROLL_TOKEN_FILE" ]; then
  [ -z "$ENROLL_TOKEN" ] || die_usage "give --enroll-token or --enroll-token-file, not both"
  ENROLL_TOKEN="$(read_token --enroll-token-file "$ENROLL_TOKEN_FILE")"
fi
if [ -n "$SHARED_TOKEN_FILE" ]; then
  [ -z "$SHARED_TOKEN" ] || die_usage "give --token or --token-file, not both"
  SHARED_TOKEN="$(read_token --token-file "$SHARED_TOKEN_FILE")"
fi
if [ "$UNINSTALL" = 0 ] && [ -z "$ROLE" ]; then die_usage "say what to install: agent or controller"; fi

# --prefix: an absolute root directory with no trailing slash ("" is the real root).
if [ -n "$PREFIX" ]; then
  case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
  PREFIX="${PREFIX%/}"
  [ "$PREFIX" != "" ] || PREFIX=""
fi

# Final paths (what units and links name) and where they are written (under the prefix).
readonly OPT=/opt/laas ETC=/etc/laas VARLIB=/var/lib/laas UNITDIR=/etc/systemd/system BINLINK=/usr/local/bin/laas
at() { printf '%s%s' "$PREFIX" "$1"; }

# ----------------------------------------------------------------------------- output

STEP=0
STEP_NAME="starting"

if [ -t 1 ]; then BOLD=$'\033[1m'; RED=$'\033[31m'; YELLOW=$'\033[33m'; RESET=$'\033[0m'; else BOLD=""; RED=""; YELLOW=""; RESET=""; fi

step() {
  STEP=$((STEP + 1))
  STEP_NAME="$1"
  printf '%s==> [%d] %s%s\n' "$BOLD" "$STEP" "$1" "$RESET"
}
say() { printf '    %s\n' "$*"; }
note() { printf '    note: %s\n' "$*"; }
warn() { printf '    %swarning:%s %s\n' "$YELLOW" "$RESET" "$*" >&2; }

# fail WHAT TODO: stop with what went wrong and what to do about it.
fail() {
  printf '\n%sinstall.sh: %s%s\n' "$RED" "$1" "$RESET" >&2
  [ -z "${2:-}" ] || printf '  what to do: %s\n' "$2" >&2
  if [ "$STEP" -gt 0 ]; then printf '  (stopped in step %d, "%s"; it is safe to run install.sh again)\n' "$STEP" "$STEP_NAME" >&2; fi
  exit 1
}

on_error() {
  local code=$1 line=$2
  printf '\n%sinstall.sh: step %d, "%s", failed (exit %s at line %s).%s\n' "$RED" "$STEP" "$STEP_NAME" "$code" "$line" "$RESET" >&2
  printf '  what to do: read the message above, fix its cause and run the same command again;\n' >&2
  printf '  install.sh is safe to re-run (it upgrades in place and keeps the config). Add --dry-run to see every step.\n' >&2
  exit "$code"
}
trap 'on_error $? $LINENO' ERR

# act DESCRIPTION COMMAND...: run a command that changes the system, or only say it (--dry-run).
act() {
  local what=$1
  shift
  if [ "$DRY_RUN" = 1 ]; then
    printf '    would %s\n' "$what"
    printf '      $ %s\n' "$(quote "$@")"
  else
    say "$what"
    # Its own output, indented under the step (a failure stops install.sh through the ERR trap).
    "$@" 2>&1 | sed -u 's/^/      /'
  fi
}

quote() {
  local out="" a
  for a in "$@"; do out+="$(printf '%q' "$a") "; done
  printf '%s' "${out% }"
}

TMP=""
LOCKFILE=""
cleanup() {
  [ -z "$TMP" ] || rm -rf "$TMP"
  [ -z "$LOCKFILE" ] || rm -f "$LOCKFILE"
  [ -z "${STAGE:-}" ] || [ ! -d "$STAGE" ] || rm -rf "$STAGE"
}
trap cleanup EXIT
TMP="$(mktemp -d "${TMPDIR:-/tmp}/laas-install.XXXXXX")"

# ----------------------------------------------------------------------------- system

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
# Owners are set when running as root and not told otherwise.
SET_OWNERS=$IS_ROOT
[ "$NO_USER" = 0 ] || SET_OWNERS=0

OS_ID="" OS_LIKE="" OS_NAME="" OS_FAMILY=""
detect_os() {
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    OS_ID="$(. /etc/os-release && printf '%s' "${ID:-}")"
    # shellcheck disable=SC1091
    OS_LIKE="$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")"
    # shellcheck disable=SC1091
    OS_NAME="$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${ID:-}}")"
  fi
  case " $OS_ID $OS_LIKE " in
    *" debian "*|*" ubuntu "*) OS_FAMILY=debian ;;
    *" rhel "*|*" fedora "*|*" centos "*) OS_FAMILY=rhel ;;
    *) OS_FAMILY="" ;;
  esac
}

systemd_running() { [ -d /run/systemd/system ]; }

# Why systemctl is not called, or "" when it is.
NO_SYSTEMCTL_REASON=""
decide_systemctl() {
  if [ -n "$PREFIX" ]; then NO_SYSTEMCTL_REASON="installing under --prefix $PREFIX"
  elif ! systemd_running; then NO_SYSTEMCTL_REASON="systemd is not running here (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown))"
  elif ! command -v systemctl >/dev/null 2>&1; then NO_SYSTEMCTL_REASON="systemctl is not installed"
  fi
}

# ----------------------------------------------------------------------------- Node.js

# node_major PATH: the major version of that Node.js, or 0 when it is not one.
node_major() {
  local v
  v="$("$1" -e 'process.stdout.write(String(process.versions.node.split(".")[0]))' 2>/dev/null)" || v=0
  case "$v" in ''|*[!0-9]*) v=0 ;; esac
  printf '%s' "$v"
}

# The distribution's Node.js package version ("" when unknown) and how to install it.
DISTRO_NODE_VERSION="" DISTRO_NODE_CMD=()
distro_node() {
  case "$OS_FAMILY" in
    debian)
      if command -v apt-cache >/dev/null 2>&1; then
        DISTRO_NODE_VERSION="$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }' | sed 's/^[0-9]*://; s/[-+~].*//')"
        [ "$DISTRO_NODE_VERSION" != "(none)" ] || DISTRO_NODE_VERSION=""
        DISTRO_NODE_CMD=(apt-get install -y nodejs)
      fi ;;
    rhel)
      if command -v dnf >/dev/null 2>&1; then
        # RHEL 8/9 ship newer Node.js as module streams; Fedora and RHEL 10 as the plain package.
        local stream
        stream="$(dnf -q module list nodejs 2>/dev/null | awk '$1 == "nodejs" && $2 ~ /^[0-9]+$/ && $2 >= 20 { print $2 }' | sort -n | tail -1 || true)"
        if [ -n "$stream" ]; then
          DISTRO_NODE_VERSION="$stream"
          DISTRO_NODE_CMD=(dnf module install -y "nodejs:$stream/common")
        else
          DISTRO_NODE_VERSION="$(dnf -q repoquery --latest-limit 1 --qf '%{version}' nodejs 2>/dev/null | tail -1 || true)"
          DISTRO_NODE_CMD=(dnf install -y nodejs)
        fi
      fi ;;
  esac
}

find_node() {
  local candidate
  if [ -n "$NODE" ]; then
    [ -x "$NODE" ] || fail "--node $NODE is not an executable file" "give the path of a Node.js 20 or newer binary, e.g. --node /usr/bin/node"
    case "$NODE" in /*) ;; *) NODE="$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE")" ;; esac
  else
    for candidate in "$(command -v node 2>/dev/null || true)" /usr/bin/node /usr/local/bin/node; do
      if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(node_major "$candidate")" -ge 20 ]; then NODE="$candidate"; break; fi
    done
  fi
  [ -n "$NODE" ] && [ "$(node_major "$NODE")" -ge 20 ]
}

check_node() {
  step "Checking Node.js (20 or newer)"
  if find_node; then
    say "Node.js $("$NODE" -p process.versions.node) at $NODE"
    return
  fi
  local found=""
  found="$(command -v node 2>/dev/null || true)"
  if [ -n "$NODE" ]; then say "--node $NODE is not Node.js 20 or newer"
  elif [ -n "$found" ]; then say "found Node.js $("$found" -p process.versions.node 2>/dev/null || echo '?') at $found: too old, laas needs 20 or newer"
  else say "Node.js is not installed (no node on PATH, /usr/bin or /usr/local/bin)"; fi
  distro_node
  local major="${DISTRO_NODE_VERSION%%.*}"
  if [ -n "$major" ] && [ "$major" -ge 20 ] 2>/dev/null; then
    say "the package manager offers Node.js $DISTRO_NODE_VERSION (package nodejs): $(quote "${DISTRO_NODE_CMD[@]}")"
    local yes=$INSTALL_NODE
    if [ "$yes" = 0 ] && [ "$DRY_RUN" = 0 ] && [ -t 0 ]; then
      local answer=""
      read -r -p "    Install it now? [y/N] " answer || true
      case "$answer" in y|Y|yes|YES) yes=1 ;; esac
    fi
    if [ "$yes" = 1 ]; then
      [ "$OS_FAMILY" != debian ] || act "refresh the package lists" apt-get update -q
      act "install Node.js $DISTRO_NODE_VERSION with the package manager" "${DISTRO_NODE_CMD[@]}"
      if [ "$DRY_RUN" = 1 ]; then NODE=/usr/bin/node; return; fi
      find_node || fail "Node.js was installed but no node 20 or newer was found afterwards" "check with: node --version; or give --node /path/to/node"
      say "Node.js $("$NODE" -p process.versions.node) at $NODE"
      return
    fi
    fail "Node.js 20 or newer is needed" "install it with: $(quote "${DISTRO_NODE_CMD[@]}") — or re-run with --install-node to let install.sh do it"
  fi
  local why="${OS_NAME:-this system} offers no Node.js 20 or newer${DISTRO_NODE_VERSION:+ (its package is $DISTRO_NODE_VERSION)}"
  if [ "$DRY_RUN" = 1 ]; then
    warn "Node.js 20 or newer is needed and $why; a real run stops here"
    NODE=/usr/bin/node
    return
  fi
  fail "Node.js 20 or newer is needed, and $why" \
    "install Node.js 20 or 22 from NodeSource's packages (https://github.com/nodesource/distributions) or the official binaries (https://nodejs.org/en/download), then run install.sh again; if it is installed somewhere else, add --node /path/to/node"
}

# ----------------------------------------------------------------------------- the release

SRC="" VERSION=""
find_release() {
  step "Finding the release to install"
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  local from="${FROM:-$here}"
  if [ -f "$from" ]; then
    case "$from" in *.tar.gz|*.tgz) ;; *) fail "--from $from is not a .tar.gz release" "give the laas-VERSION.tar.gz made by npm run pack, or its unpacked folder" ;; esac
    tar -xzf "$from" -C "$TMP" || fail "cannot unpack $from" "download the release again; check it with: tar -tzf $from"
    from="$(find "$TMP" -mindepth 1 -maxdepth 1 -type d -name 'laas-*' | head -1)"
    [ -n "$from" ] || fail "$FROM holds no laas-VERSION/ folder" "use the tarball made by npm run pack"
  fi
  [ -d "$from" ] || fail "$from does not exist" "give --from a release tarball or folder"
  if [ -f "$from/laas-agent.mjs" ] && [ -f "$from/laas.mjs" ]; then
    SRC="$from"
    BUNDLES="$from"
    VERSION="$(cat "$from/VERSION" 2>/dev/null || true)"
    say "release folder $from"
  elif [ -f "$from/package.json" ] && grep -q '"name": "laas"' "$from/package.json"; then
    SRC="$from"
    BUNDLES="$from/dist/bundle"
    if ! [ -f "$BUNDLES/laas-agent.mjs" ] || ! [ -f "$BUNDLES/laas.mjs" ]; then
      fail "this checkout ($from) has no bundles in dist/bundle" "build them first, as your own user: npm ci && npm run pack — then run install.sh again (or use the release tarball: --from dist/laas-VERSION.tar.gz)"
    fi
    VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$from/package.json" | head -1)"
    say "checkout $from (bundles from dist/bundle)"
  else
    fail "no laas release in $from" "run install.sh from an unpacked laas-VERSION.tar.gz or from a checkout after npm run pack, or give --from"
  fi
  [ -n "$VERSION" ] || VERSION="unknown"
  local f
  for f in packaging/systemd/laas-agent.service packaging/systemd/laas-controller.service rules; do
    [ -e "$SRC/$f" ] || fail "the release in $SRC is incomplete: $f is missing" "use a release made by npm run pack"
  done
  say "laas $VERSION"
}

# ----------------------------------------------------------------------------- file helpers

# owner_args USER GROUP: install(1) owner flags, or none when owners are not set.
owner_args() {
  if [ "$SET_OWNERS" = 1 ]; then printf '%s\n' -o "$1" -g "$2"; fi
}

# put_file SRC DEST MODE USER GROUP: write a file atomically (temp file beside it, then rename,
# so SELinux labels and readers see the final file only).
put_file() {
  local src=$1 dest=$2 mode=$3 user=$4 group=$5
  local shown="${dest#"$PREFIX"}"
  local owner=""
  [ "$SET_OWNERS" = 0 ] || owner=" $user:$group"
  if [ "$DRY_RUN" = 1 ]; then
    printf '    would write %s (%s%s)\n' "$shown" "$mode" "$owner"
    return
  fi
  local tmp
  tmp="$(dirname "$dest")/.$(basename "$dest").new.$$"
  # shellcheck disable=SC2046
  install -m "$mode" $(owner_args "$user" "$group") "$src" "$tmp"
  mv -f "$tmp" "$dest"
  say "wrote $shown ($mode$owner)"
}

# make_dir DIR MODE USER GROUP
make_dir() {
  local dir=$1 mode=$2 user=$3 group=$4
  local shown="${dir#"$PREFIX"}"
  local owner=""
  [ "$SET_OWNERS" = 0 ] || owner=" $user:$group"
  if [ "$DRY_RUN" = 1 ]; then
    printf '    would make the folder %s (%s%s)\n' "$shown" "$mode" "$owner"
    return
  fi
  if [ -d "$dir" ]; then
    chmod "$mode" "$dir"
    [ "$SET_OWNERS" = 0 ] || chown "$user:$group" "$dir"
  else
    # shellcheck disable=SC2046
    install -d -m "$mode" $(owner_args "$user" "$group") "$dir"
    say "made the folder $shown ($mode$owner)"
  fi
}

# The directories above the install's own (DIR/opt, DIR/etc/systemd/system, ...) in a prefix.
prefix_parents() {
  [ -n "$PREFIX" ] || return 0
  [ "$DRY_RUN" = 0 ] || return 0
  mkdir -p "$(at /opt)" "$(at /etc)" "$(at "$UNITDIR")" "$(at /usr/local/bin)"
  if [ "$ROLE" = controller ]; then mkdir -p "$(at /var/lib)"; fi
}

# ----------------------------------------------------------------------------- steps

check_system() {
  step "Checking this system"
  detect_os
  say "${OS_NAME:-unknown Linux}${OS_FAMILY:+ ($OS_FAMILY family)}"
  if [ "$IS_ROOT" = 0 ]; then
    if [ -n "$PREFIX" ]; then note "not running as root: files are owned by $(id -un), no user is created"
    elif [ "$DRY_RUN" = 1 ]; then note "not running as root: a real run needs root"
    else fail "install.sh must run as root: it writes /opt/laas, /etc/laas and a systemd unit" "run it with sudo: sudo bash $0 …"; fi
  fi
  if [ -z "$PREFIX" ] && [ -z "$OS_FAMILY" ]; then
    warn "${OS_NAME:-this system} is neither Debian/Ubuntu nor RHEL-family; going on, as long as it has systemd and Node.js 20+"
  fi
  [ "$(uname -s)" = Linux ] || fail "laas installs on Linux only (this is $(uname -s))" "run laas there with npx laas agent --config agent.json instead"
  decide_systemctl
  if [ -n "$NO_SYSTEMCTL_REASON" ]; then note "systemctl will not be called: $NO_SYSTEMCTL_REASON"; fi
  local tool
  for tool in install tar sed awk; do
    command -v "$tool" >/dev/null 2>&1 || fail "the tool $tool is missing" "install it with the system's package manager (coreutils, tar, sed, gawk)"
  done
  if [ "$SET_OWNERS" = 1 ] && [ "$ROLE" = controller ] && [ "$UNINSTALL" = 0 ]; then
    command -v useradd >/dev/null 2>&1 || getent passwd "$RUN_USER" >/dev/null || fail "useradd is missing, and the user $RUN_USER does not exist" "install the passwd package (or shadow-utils), or create the user yourself"
  fi
}

validate_agent_flags() {
  local existing
  existing="$(at "$ETC")/agent.json"
  if [ -f "$existing" ] && [ "$RECONFIGURE" = 0 ]; then return; fi
  [ -n "$CONTROLLER_URL" ] || die_usage "agent needs --controller wss://HOST:PORT (the controller's address)"
  if ! [[ "$CONTROLLER_URL" =~ ^wss?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?/?$ ]]; then
    die_usage "--controller $CONTROLLER_URL is not a ws:// or wss:// URL like wss://controller.example.com:7443"
  fi
  if [ -z "$ENROLL_TOKEN" ] && [ -z "$SHARED_TOKEN" ]; then die_usage "agent needs --enroll-token-file FILE (make the token on the controller: laas agents enroll-token)"; fi
  if [ -n "$ENROLL_TOKEN" ] && [ -n "$SHARED_TOKEN" ]; then die_usage "give an enrollment token or a shared token, not both"; fi
  if [ -n "$TOKEN_ON_ARGV" ]; then warn "$TOKEN_ON_ARGV puts the token on the command line, where ps and shell history show it; next time use ${TOKEN_ON_ARGV}-file FILE (or - for standard input)"; fi
  if [ -n "$SIGNING_KEY_FILE" ]; then
    if ! [ -r "$SIGNING_KEY_FILE" ] || ! [ -f "$SIGNING_KEY_FILE" ]; then die_usage "--signing-key $SIGNING_KEY_FILE cannot be read"; fi
    grep -q -- '-----BEGIN PUBLIC KEY-----' "$SIGNING_KEY_FILE" || die_usage "--signing-key $SIGNING_KEY_FILE is not a PEM public key (expected what laas signing-key --out FILE writes)"
  elif [ -n "$SHARED_TOKEN" ]; then
    warn "a shared token without --signing-key: the agent will monitor and report, but refuse every instruction (heals) until agent.json pins the controller's key; get it with laas signing-key --out FILE on the controller"
  fi
  if [ -n "$CA_FILE" ]; then
    [ -r "$CA_FILE" ] || die_usage "--ca $CA_FILE cannot be read"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$CA_FILE" || die_usage "--ca $CA_FILE is not a PEM certificate (expected the ca.pem from laas certs init)"
  fi
  if [ -n "$LABELS" ]; then
    local pair
    local -a pairs
    IFS=',' read -r -a pairs <<<"$LABELS"
    for pair in "${pairs[@]}"; do
      [[ "$pair" =~ ^[^=]+=.*$ ]] || die_usage "--labels: \"$pair\" is not KEY=VALUE (write e.g. role=web,env=prod)"
    done
  fi
}

validate_controller_flags() {
  if ! [[ "$LISTEN" =~ ^(\[[0-9A-Fa-f:]+\]|[^:[:space:]]+):([0-9]{1,5})$ ]] || [ "${BASH_REMATCH[2]}" -lt 1 ] || [ "${BASH_REMATCH[2]}" -gt 65535 ]; then
    die_usage "--listen $LISTEN is not HOST:PORT like 0.0.0.0:7443 or 127.0.0.1:7070"
  fi
}

listen_host() { local h="${LISTEN%:*}"; h="${h#[}"; printf '%s' "${h%]}"; }
listen_port() { printf '%s' "${LISTEN##*:}"; }
is_loopback() { case "$1" in 127.*|::1|localhost) return 0 ;; *) return 1 ;; esac; }

ensure_user() {
  step "Creating the system user $RUN_USER"
  if [ "$SET_OWNERS" = 0 ]; then
    if [ "$NO_USER" = 1 ]; then say "skipped (--no-user): files keep the owner $(id -un)"; else say "skipped (not root): files keep the owner $(id -un)"; fi
    return
  fi
  if getent passwd "$RUN_USER" >/dev/null; then
    say "the user $RUN_USER exists already"
    return
  fi
  local shell=/usr/sbin/nologin
  [ -x "$shell" ] || shell=/sbin/nologin
  act "create the system user $RUN_USER (no login, home $VARLIB)" \
    useradd --system --user-group --home-dir "$VARLIB" --no-create-home --shell "$shell" --comment "laas controller" "$RUN_USER"
  CREATED_USER="$RUN_USER"
}
CREATED_USER=""

install_program() {
  step "Installing laas $VERSION into $OPT"
  prefix_parents
  local dest old=""
  dest="$(at "$OPT")"
  if [ -f "$dest/VERSION" ]; then old="$(cat "$dest/VERSION")"; fi
  if [ -n "$old" ] && [ "$old" = "$VERSION" ]; then say "reinstalling laas $VERSION in place"
  elif [ -n "$old" ]; then say "upgrading laas $old to $VERSION in place"; fi
  if [ "$DRY_RUN" = 1 ]; then
    printf '    would copy laas-agent.mjs, laas.mjs, rules/, dashboards/, README.md, SECURITY.md, VERSION and install.sh into %s (files 0644, programs 0755, root)\n' "$OPT"
    return
  fi
  # Stage beside the destination, then swap: a failed copy leaves the old install whole.
  STAGE="$(dirname "$dest")/.laas.new.$$"
  rm -rf "$STAGE"
  mkdir -m 0755 "$STAGE"
  install -m 0755 "$BUNDLES/laas-agent.mjs" "$BUNDLES/laas.mjs" "$STAGE/"
  install -m 0755 "$SRC/install.sh" "$STAGE/install.sh" 2>/dev/null || install -m 0755 "${BASH_SOURCE[0]}" "$STAGE/install.sh"
  local f
  for f in README.md SECURITY.md; do
    if [ -f "$SRC/$f" ]; then install -m 0644 "$SRC/$f" "$STAGE/$f"; fi
  done
  printf '%s\n' "$VERSION" >"$STAGE/VERSION"
  chmod 0644 "$STAGE/VERSION"
  mkdir -p "$STAGE/packaging"
  cp -R "$SRC/rules" "$STAGE/rules"
  if [ -d "$SRC/dashboards" ]; then cp -R "$SRC/dashboards" "$STAGE/dashboards"; fi
  cp -R "$SRC/packaging/systemd" "$STAGE/packaging/systemd"
  find "$STAGE" -mindepth 1 -type d -exec chmod 0755 {} +
  find "$STAGE" -mindepth 1 -type f ! -name '*.mjs' ! -name install.sh -exec chmod 0644 {} +
  [ "$SET_OWNERS" = 0 ] || chown -R root:root "$STAGE"
  if [ -d "$dest" ]; then
    mv "$dest" "$dest.old.$$"
    mv "$STAGE" "$dest"
    rm -rf "$dest.old.$$"
  else
    mv "$STAGE" "$dest"
  fi
  STAGE=""
  say "installed $OPT: laas-agent.mjs ($(du -k "$dest/laas-agent.mjs" | cut -f1) KiB), laas.mjs ($(du -k "$dest/laas.mjs" | cut -f1) KiB), rules/, dashboards/"
  relabel "$dest"
}

# SELinux: give files written by hand the labels policy expects (no-op elsewhere).
relabel() {
  if [ -z "$PREFIX" ] && [ "$DRY_RUN" = 0 ] && command -v restorecon >/dev/null 2>&1 && command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then
    restorecon -R "$@" || warn "restorecon failed for $*; if the service cannot start, run: restorecon -Rv $*"
  fi
}

install_command_link() {
  step "Linking the laas command ($BINLINK)"
  local link
  link="$(at "$BINLINK")"
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$OPT/laas.mjs" ]; then say "$BINLINK -> $OPT/laas.mjs is in place"; return; fi
  if [ -e "$link" ] && ! [ -L "$link" ]; then warn "$BINLINK exists and is not ours: left alone; run $OPT/laas.mjs instead"; return; fi
  act "link $BINLINK -> $OPT/laas.mjs" ln -sfn "$OPT/laas.mjs" "$link"
}

# Records what only install.sh knows, for --uninstall --purge later (0600, in the config folder).
write_state() {
  local state
  state="$(at "$ETC")/.install-state"
  [ "$DRY_RUN" = 0 ] && [ -n "$CREATED_USER" ] || return 0
  touch "$state"
  chmod 0600 "$state"
  if ! grep -qx "created_user=$CREATED_USER" "$state"; then printf 'created_user=%s\n' "$CREATED_USER" >>"$state"; fi
}

render_agent_json() {
  LAAS_I_CONTROLLER="$CONTROLLER_URL" LAAS_I_ENROLL="$ENROLL_TOKEN" LAAS_I_TOKEN="$SHARED_TOKEN" \
  LAAS_I_CA="${CA_FILE:+ca.pem}" LAAS_I_ID="$AGENT_ID" LAAS_I_LABELS="$LABELS" LAAS_I_KEY="$SIGNING_KEY_FILE" \
  "$NODE" -e '
    const e = process.env;
    const labels = {};
    for (const pair of (e.LAAS_I_LABELS || "").split(",").filter(Boolean)) {
      const i = pair.indexOf("=");
      labels[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
    const c = { controller: e.LAAS_I_CONTROLLER };
    if (e.LAAS_I_ENROLL) c.enrollToken = e.LAAS_I_ENROLL;
    if (e.LAAS_I_TOKEN) c.token = e.LAAS_I_TOKEN;
    if (e.LAAS_I_CA) c.ca = e.LAAS_I_CA;
    // A public key, inlined: agent.json then stands alone (and is 0600 anyway).
    if (e.LAAS_I_KEY) c.signingKey = require("node:fs").readFileSync(e.LAAS_I_KEY, "utf8");
    c.id = e.LAAS_I_ID;
    c.labels = labels;
    c.interval = "10s";
    c.services = [];
    c.scripts = {};
    c.cleanupRoots = [];
    process.stdout.write(JSON.stringify(c, null, 2) + "\n");
  '
}

write_agent_config() {
  step "Writing the agent config $ETC/agent.json"
  local etc config
  etc="$(at "$ETC")"
  config="$etc/agent.json"
  # A controller on this host may have made the folder group-readable for its user: keep that.
  local group=root
  if [ -d "$etc" ]; then group="$(stat -c %G "$etc")"; fi
  make_dir "$etc" 0750 root "$group"
  if [ -f "$config" ] && [ "$RECONFIGURE" = 0 ]; then
    say "kept the existing $ETC/agent.json (and the agent's credential, if it enrolled)"
    local given=""
    [ -z "$CONTROLLER_URL$ENROLL_TOKEN$SHARED_TOKEN$CA_FILE$LABELS$AGENT_ID$SIGNING_KEY_FILE" ] || given=1
    if [ -n "$given" ]; then note "the flags given were not applied to it; to rewrite it from the flags add --reconfigure"; fi
  else
    [ -n "$AGENT_ID" ] || AGENT_ID="$(uname -n)"
    if [ -n "$CA_FILE" ]; then put_file "$CA_FILE" "$etc/ca.pem" 0644 root root; fi
    if [ "$DRY_RUN" = 1 ]; then
      printf '    would write %s (0600 root:root): controller %s, id %s, labels %s, %s%s\n' "$ETC/agent.json" "$CONTROLLER_URL" "$AGENT_ID" "${LABELS:-none}" "${ENROLL_TOKEN:+enrollment token}${SHARED_TOKEN:+shared token}" "${SIGNING_KEY_FILE:+, the controller signing key}"
    else
      render_agent_json >"$TMP/agent.json"
      put_file "$TMP/agent.json" "$config" 0600 root root
    fi
    # A new enrollment token means enroll again: move the old credential aside.
    if [ -n "$ENROLL_TOKEN" ] && [ -f "$etc/credential.json" ]; then
      act "move the old credential aside to $ETC/credential.json.old (the agent enrolls again with the new token)" mv -f "$etc/credential.json" "$etc/credential.json.old"
    fi
    case "$CONTROLLER_URL" in
      ws://*) is_loopback "$(printf '%s' "$CONTROLLER_URL" | sed 's#^ws://##; s#:[0-9]*/*$##; s#^\[##; s#\]$##')" \
                || warn "the link to $CONTROLLER_URL is not encrypted: tokens and instructions cross the network in clear; use wss:// with --ca" ;;
      wss://*) [ -n "$CA_FILE" ] || note "no --ca: the controller's certificate must be signed by a CA this host trusts (with laas certs init, pass --ca ca.pem)" ;;
    esac
  fi
  if [ "$DRY_RUN" = 0 ]; then
    "$NODE" "$(at "$OPT")/laas-agent.mjs" --config "$config" --check >"$TMP/check.out" 2>&1 \
      || fail "the agent config $ETC/agent.json is not valid: $(cat "$TMP/check.out")" "fix the file (or re-run with --reconfigure and the flags) and run install.sh again"
    say "checked: $(cat "$TMP/check.out")"
  fi
  relabel "$etc"
}

write_controller_config() {
  step "Writing the controller config $ETC/controller.json"
  local etc config host
  etc="$(at "$ETC")"
  config="$etc/controller.json"
  host="$(listen_host)"
  make_dir "$etc" 0750 root "$RUN_USER"
  make_dir "$(at "$VARLIB")" 0750 "$RUN_USER" "$RUN_USER"

  # Rules: the shipped set on first install; afterwards they are yours and are kept.
  if [ -d "$etc/rules" ]; then say "kept the existing rules in $ETC/rules"
  elif [ "$DRY_RUN" = 1 ]; then printf '    would copy the shipped rules into %s/rules (0644, root)\n' "$ETC"
  else
    cp -R "$SRC/rules" "$etc/rules"
    find "$etc/rules" -type d -exec chmod 0755 {} +
    find "$etc/rules" -type f -exec chmod 0644 {} +
    [ "$SET_OWNERS" = 0 ] || chown -R root:root "$etc/rules"
    say "copied the shipped rules into $ETC/rules"
  fi

  # An admin API token: with none the API would be open to anyone who reaches it.
  if [ -f "$etc/api-token" ]; then say "kept the existing API token $ETC/api-token"
  elif [ "$DRY_RUN" = 1 ]; then printf '    would write a new admin API token to %s/api-token (0640 root:%s)\n' "$ETC" "$RUN_USER"
  else
    "$NODE" -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("base64url") + "\n")' >"$TMP/api-token"
    put_file "$TMP/api-token" "$etc/api-token" 0640 root "$RUN_USER"
  fi

  # TLS for anything but loopback: the controller refuses to listen in clear beyond it.
  local tls=0
  if ! is_loopback "$host"; then
    tls=1
    if [ -f "$etc/tls/controller.pem" ]; then say "kept the existing certificate in $ETC/tls"
    else
      local names="$CERT_HOSTS"
      if [ -z "$names" ]; then
        names="$(uname -n)"
        local fqdn
        fqdn="$(hostname -f 2>/dev/null || true)"
        [ -z "$fqdn" ] || [ "$fqdn" = "$names" ] || names="$names,$fqdn"
        case "$host" in 0.0.0.0|::|'*') ;; *) names="$names,$host" ;; esac
        names="$names,localhost,127.0.0.1"
      fi
      make_dir "$etc/tls" 0750 root "$RUN_USER"
      act "make a CA and a controller certificate for $names in $ETC/tls (laas certs init)" \
        "$NODE" "$(at "$OPT")/laas.mjs" certs init --dir "$etc/tls" --hosts "$names"
      if [ "$DRY_RUN" = 0 ]; then
        chmod 0644 "$etc/tls/ca.pem" "$etc/tls/controller.pem"
        chmod 0640 "$etc/tls/controller-key.pem"
        chmod 0600 "$etc/tls/ca-key.pem"
        if [ "$SET_OWNERS" = 1 ]; then
          chown root:root "$etc/tls/ca.pem" "$etc/tls/controller.pem" "$etc/tls/ca-key.pem"
          chown root:"$RUN_USER" "$etc/tls/controller-key.pem"
        fi
      fi
    fi
  fi

  if [ -f "$config" ] && [ "$RECONFIGURE" = 0 ]; then
    say "kept the existing $ETC/controller.json"
    [ "$LISTEN_GIVEN" = 0 ] || note "--listen was not applied to it; to rewrite it from the flags add --reconfigure"
  elif [ "$DRY_RUN" = 1 ]; then
    printf '    would write %s (0640 root:%s): listen %s%s, data in %s, rules in %s/rules\n' "$ETC/controller.json" "$RUN_USER" "$LISTEN" "$([ "$tls" = 1 ] && echo ' with TLS')" "$VARLIB" "$ETC"
  else
    # Paths are written as they are on this root, so an install made with --prefix runs in place.
    LAAS_I_LISTEN="$LISTEN" LAAS_I_DATA="$(at "$VARLIB")" LAAS_I_RULES="$etc/rules" LAAS_I_TOKEN="$etc/api-token" \
    LAAS_I_TLS="$([ "$tls" = 1 ] && printf '%s' "$etc/tls")" \
    "$NODE" -e '
      const e = process.env;
      const c = { listen: e.LAAS_I_LISTEN, dataDir: e.LAAS_I_DATA, rulesDir: e.LAAS_I_RULES, agentTokens: [],
        apiTokens: [{ name: "admin", token: { file: e.LAAS_I_TOKEN }, role: "admin" }] };
      if (e.LAAS_I_TLS) c.tls = { cert: e.LAAS_I_TLS + "/controller.pem", key: e.LAAS_I_TLS + "/controller-key.pem" };
      process.stdout.write(JSON.stringify(c, null, 2) + "\n");
    ' >"$TMP/controller.json"
    put_file "$TMP/controller.json" "$config" 0640 root "$RUN_USER"
  fi
  if [ "$DRY_RUN" = 0 ]; then
    "$NODE" "$(at "$OPT")/laas.mjs" rules validate "$etc/rules" >"$TMP/check.out" 2>&1 \
      || fail "the rules in $ETC/rules are not valid: $(cat "$TMP/check.out")" "fix them (laas rules validate $ETC/rules) and run install.sh again"
    say "checked the rules: $(cat "$TMP/check.out")"
  fi
  relabel "$etc" "$(at "$VARLIB")"
}

write_unit() {
  local unit="laas-$1"
  step "Installing the systemd unit $unit.service"
  local dest
  dest="$(at "$UNITDIR")/$unit.service"
  sed -e "s#@NODE@#$NODE#g" -e "s#@USER@#$RUN_USER#g" "$SRC/packaging/systemd/$unit.service" >"$TMP/$unit.service"
  if [ -f "$dest" ] && cmp -s "$TMP/$unit.service" "$dest"; then say "$UNITDIR/$unit.service is up to date"; return; fi
  # A system without systemd (a container, a chroot) may not have the folder yet.
  if [ "$DRY_RUN" = 0 ] && ! [ -d "$(dirname "$dest")" ]; then mkdir -p "$(dirname "$dest")"; fi
  put_file "$TMP/$unit.service" "$dest" 0644 root root
  relabel "$dest"
}

start_unit() {
  local unit="laas-$1"
  step "Enabling and starting $unit"
  if [ -n "$NO_SYSTEMCTL_REASON" ]; then
    say "skipped: $NO_SYSTEMCTL_REASON"
    if [ -z "$PREFIX" ]; then note "start it by hand: $NODE $OPT/$( [ "$1" = agent ] && echo "laas-agent.mjs --config $ETC/agent.json" || echo "laas.mjs controller --config $ETC/controller.json")"; fi
    STARTED="not started ($NO_SYSTEMCTL_REASON)"
    return
  fi
  act "reload systemd's units" systemctl daemon-reload
  act "enable $unit at boot" systemctl enable --quiet "$unit.service"
  if [ "$NO_START" = 1 ]; then say "not started (--no-start): systemctl start $unit"; STARTED="enabled, not started (--no-start)"; return; fi
  SINCE="$(date '+%Y-%m-%d %H:%M:%S')"
  if systemctl is-active --quiet "$unit.service"; then act "restart $unit on the new version" systemctl restart "$unit.service"
  else act "start $unit" systemctl start "$unit.service"; fi
  STARTED="enabled and started"
}
STARTED=""
SINCE=""

# Waits up to 20 s for the agent to say it connected (or enrolled and connected), from its journal.
await_agent() {
  [ -z "$NO_SYSTEMCTL_REASON" ] && [ "$NO_START" = 0 ] && [ "$DRY_RUN" = 0 ] || return 0
  step "Waiting for the agent to connect"
  local i
  for i in $(seq 1 40); do
    if journalctl -u laas-agent.service --since "$SINCE" -o cat 2>/dev/null | grep -q '"connected to controller"'; then
      say "connected to the controller (after ~$((i / 2)) s)"
      STARTED="$STARTED, connected"
      return
    fi
    if ! systemctl is-active --quiet laas-agent.service && [ "$i" -gt 4 ]; then break; fi
    sleep 0.5
  done
  warn "the agent has not connected yet; its last words:"
  journalctl -u laas-agent.service --since "$SINCE" -o cat -n 5 --no-pager 2>/dev/null | sed 's/^/      /' >&2 || true
  warn "check: systemctl status laas-agent; journalctl -u laas-agent -e (a refused enrollment needs a new token: laas agents enroll-token on the controller, then install.sh agent --reconfigure …)"
  STARTED="$STARTED, not connected yet"
}

await_controller() {
  [ -z "$NO_SYSTEMCTL_REASON" ] && [ "$NO_START" = 0 ] && [ "$DRY_RUN" = 0 ] || return 0
  step "Waiting for the controller to answer"
  local i
  for i in $(seq 1 40); do
    if "$NODE" "$OPT/laas.mjs" status --config "$ETC/controller.json" >/dev/null 2>&1; then
      say "it answers /healthz (after ~$((i / 2)) s)"
      STARTED="$STARTED, healthy"
      return
    fi
    sleep 0.5
  done
  warn "the controller does not answer yet; check: systemctl status laas-controller; journalctl -u laas-controller -e"
  STARTED="$STARTED, not answering yet"
}

summary() {
  local role=$1
  printf '\n'
  if [ "$DRY_RUN" = 1 ]; then
    printf '%sDry run: nothing was changed.%s Run the same command without --dry-run to do the %d steps above.\n' "$BOLD" "$RESET" "$STEP"
    return
  fi
  printf '%slaas %s %s is installed%s%s.\n' "$BOLD" "$role" "$VERSION" "${PREFIX:+ under $PREFIX}" "$RESET"
  printf '  program   %s (Node.js %s at %s)\n' "$OPT/$([ "$role" = agent ] && echo laas-agent.mjs || echo laas.mjs)" "$("$NODE" -p process.versions.node)" "$NODE"
  printf '  config    %s\n' "$ETC/$role.json"
  printf '  unit      %s/laas-%s.service: %s\n' "$UNITDIR" "$role" "${STARTED:-installed}"
  printf '  command   %s -> %s/laas.mjs\n' "$BINLINK" "$OPT"
  printf '\nCheck it:\n'
  printf '  systemctl status laas-%s\n' "$role"
  printf '  journalctl -u laas-%s -f\n' "$role"
  if [ "$role" = agent ]; then
    printf '  laas status                      # controller, agent id, enrolled?, controller reachable?\n'
    printf '\nWhat the agent watches and may heal is in %s/agent.json (services, scripts, cleanupRoots);\n' "$ETC"
    printf 'after editing it: systemctl restart laas-agent.\n'
  else
    local scheme=http host
    [ ! -d "$(at "$ETC")/tls" ] || scheme=https
    host="$(listen_host)"
    case "$host" in 0.0.0.0|::|'*') host="$(uname -n)" ;; esac
    printf '  laas status --config %s/controller.json\n' "$ETC"
    printf '\nAdd agents: make an enrollment token here, then run install.sh agent on each server:\n'
    # shellcheck disable=SC2016 # the $(cat …) is for the reader's shell
    printf '  export LAAS_URL=%s://%s:%s LAAS_TOKEN="$(cat %s/api-token)"%s\n' "$scheme" "$host" "$(listen_port)" "$ETC" "$([ "$scheme" = https ] && printf ' NODE_EXTRA_CA_CERTS=%s/tls/ca.pem' "$ETC")"
    printf '  laas agents enroll-token --uses 10 --ttl 1d\n'
    printf '  sudo bash install.sh agent --controller %s://%s:%s --enroll-token-file TOKEN_FILE%s\n' "$([ "$scheme" = https ] && echo wss || echo ws)" "$host" "$(listen_port)" "$([ "$scheme" = https ] && printf ' --ca ca.pem   # ca.pem: a copy of %s/tls/ca.pem' "$ETC")"
    if [ "$scheme" = https ]; then printf '\nMove %s/tls/ca-key.pem somewhere offline: it signs controller certificates.\n' "$ETC"; fi
    if is_loopback "$(listen_host)"; then printf '\nIt listens on %s only (loopback): agents on other servers need --listen 0.0.0.0:7443 (TLS is set up for it).\n' "$LISTEN"; fi
  fi
  printf '\nUpgrade: run a newer release'"'"'s install.sh %s (the config is kept). Remove: %s/install.sh --uninstall [--purge]\n' "$role" "$OPT"
}

# ----------------------------------------------------------------------------- uninstall

uninstall() {
  local roles=()
  if [ -n "$ROLE" ]; then roles=("$ROLE"); else roles=(agent controller); fi
  step "Checking this system"
  detect_os
  if [ "$IS_ROOT" = 0 ] && [ -z "$PREFIX" ] && [ "$DRY_RUN" = 0 ]; then fail "install.sh --uninstall must run as root" "run it with sudo"; fi
  decide_systemctl
  [ -z "$NO_SYSTEMCTL_REASON" ] || note "systemctl will not be called: $NO_SYSTEMCTL_REASON"

  local role unit
  for role in "${roles[@]}"; do
    unit="laas-$role.service"
    local file
    file="$(at "$UNITDIR")/$unit"
    step "Removing the $role service"
    if [ -z "$NO_SYSTEMCTL_REASON" ] && systemctl cat "$unit" >/dev/null 2>&1; then
      act "stop and disable $unit" systemctl disable --now --quiet "$unit"
    fi
    if [ -f "$file" ]; then act "remove $UNITDIR/$unit" rm -f "$file"; else say "no $UNITDIR/$unit"; fi
    if [ -d "$file.d" ]; then note "$UNITDIR/$unit.d (your drop-ins) is left in place"; fi
  done
  if [ -z "$NO_SYSTEMCTL_REASON" ]; then act "reload systemd's units" systemctl daemon-reload; fi

  # The program and the command link go when no laas service is left.
  local other_left=0
  for role in agent controller; do
    if [ -f "$(at "$UNITDIR")/laas-$role.service" ]; then other_left=1; fi
  done
  step "Removing the program"
  if [ "$other_left" = 1 ]; then
    say "kept $OPT and $BINLINK: another laas service still uses them"
  else
    local link
    link="$(at "$BINLINK")"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$OPT/laas.mjs" ]; then act "remove $BINLINK" rm -f "$link"; fi
    if [ -d "$(at "$OPT")" ]; then act "remove $OPT" rm -rf "$(at "$OPT")"; else say "no $OPT"; fi
  fi

  local etc state created_user=""
  etc="$(at "$ETC")"
  state="$etc/.install-state"
  [ ! -f "$state" ] || created_user="$(sed -n 's/^created_user=//p' "$state" | tail -1)"
  if [ "$PURGE" = 0 ]; then
    step "Keeping config and data"
    local kept=()
    [ ! -e "$etc" ] || kept+=("$ETC (config, the agent's credential, rules, API token, TLS files)")
    [ ! -e "$(at "$VARLIB")" ] || kept+=("$VARLIB (the controller's store and audit log)")
    if [ "${#kept[@]}" -gt 0 ]; then
      local k
      for k in "${kept[@]}"; do say "kept $k"; done
      say "a later install.sh run picks them up again; remove them with: install.sh --uninstall --purge"
    else say "nothing to keep"; fi
  else
    step "Purging config and data"
    local f
    for role in "${roles[@]}"; do
      if [ "$role" = agent ]; then
        for f in agent.json credential.json credential.json.old ca.pem; do
          if [ -e "$etc/$f" ]; then act "remove $ETC/$f" rm -f "$etc/$f"; fi
        done
        # What the agent keeps across its restarts (instruction ids, unacknowledged results), beside its config.
        for f in "$etc"/laas-*.runs.json* "$etc"/laas-*.outbox.json*; do
          if [ -e "$f" ]; then act "remove $ETC/${f##*/}" rm -f "$f"; fi
        done
      else
        for f in controller.json api-token rules tls; do
          if [ -e "$etc/$f" ]; then act "remove $ETC/$f" rm -rf "$etc/$f"; fi
        done
        if [ -e "$(at "$VARLIB")" ]; then act "remove $VARLIB" rm -rf "$(at "$VARLIB")"; fi
      fi
    done
    # The user goes with the controller's data, if install.sh created it.
    if [ -n "$created_user" ] && [[ " ${roles[*]} " == *" controller "* ]]; then
      if ! getent passwd "$created_user" >/dev/null; then :
      elif [ "$IS_ROOT" = 1 ]; then
        act "remove the system user $created_user (install.sh created it)" userdel "$created_user"
        if [ "$DRY_RUN" = 0 ] && getent group "$created_user" >/dev/null; then groupdel "$created_user" 2>/dev/null || true; fi
      else note "the user $created_user is left: removing it needs root"; fi
      if [ "$DRY_RUN" = 0 ] && [ -f "$state" ]; then sed -i "/^created_user=$created_user\$/d" "$state"; fi
      if [ "$DRY_RUN" = 0 ] && [ -d "$etc" ] && [ "$IS_ROOT" = 1 ]; then chgrp root "$etc"; fi
    fi
    # The folder goes when nothing else is left in it.
    if [ -d "$etc" ] && [ -z "$(find "$etc" -mindepth 1 ! -name .install-state -print -quit)" ]; then
      act "remove $ETC" rm -rf "$etc"
    elif [ -d "$etc" ]; then
      say "kept $ETC: it still holds $(find "$etc" -mindepth 1 -maxdepth 1 ! -name .install-state -printf '%f ' | sed 's/ $//')"
    fi
  fi
  [ -z "$PREFIX" ] || prune_prefix
  printf '\n'
  if [ "$DRY_RUN" = 1 ]; then printf '%sDry run: nothing was changed.%s\n' "$BOLD" "$RESET"; else printf '%slaas is uninstalled%s.%s\n' "$BOLD" "${PREFIX:+ from $PREFIX}" "$RESET"; fi
}

# Under a prefix, remove the empty folders install.sh made above its own (DIR/opt, ...).
prune_prefix() {
  [ "$DRY_RUN" = 0 ] || return 0
  local d
  for d in /usr/local/bin /usr/local /usr "$UNITDIR" /etc/systemd /etc /var/lib /var /opt; do
    rmdir "$(at "$d")" 2>/dev/null || true
  done
}

# ----------------------------------------------------------------------------- main

main() {
  if [ "$DRY_RUN" = 1 ]; then printf '%sDry run%s: every step is printed, nothing is changed.\n' "$BOLD" "$RESET"; fi
  if [ "$UNINSTALL" = 1 ]; then uninstall; return; fi
  if [ "$ROLE" = agent ]; then validate_agent_flags; else validate_controller_flags; fi
  check_system
  if [ -z "$PREFIX" ] && [ "$DRY_RUN" = 0 ] && [ -d /run/lock ] && command -v flock >/dev/null 2>&1; then
    exec 9>/run/lock/laas-install.lock
    flock -n 9 || fail "another install.sh is running" "wait for it to finish"
    LOCKFILE=/run/lock/laas-install.lock
  fi
  check_node
  find_release
  if [ "$ROLE" = controller ]; then ensure_user; fi
  install_program
  install_command_link
  if [ "$ROLE" = agent ]; then write_agent_config; else write_controller_config; fi
  write_state
  write_unit "$ROLE"
  start_unit "$ROLE"
  if [ "$ROLE" = agent ]; then await_agent; else await_controller; fi
  summary "$ROLE"
}

main
