#!/bin/sh
# Regenerate the databases released camaudit versions wrote (see README.md in this folder).
#
# Runs each released version's OWN code: a temporary git worktree at its commit with its own
# venv, a real audit of its own simulated facility (Linux network namespaces: run as root on a
# machine where `make demo` works). Nothing leaves the lab's namespaces.
#
#   sh tests/data/databases/make.sh            # writes tests/data/databases/v0.1.0.db
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
WORK=$(mktemp -d /tmp/camaudit-fixtures-XXXXXX)
TAG=fxv010

v010() {
    COMMIT=f5c037fb6d8bcaf82c467980565fcd3ccd9bc1c2   # v0.1.0: auditor/__init__.py __version__ = "0.1.0", schema v4
    SRC="$WORK/v0.1.0"
    git -C "$REPO" worktree add --detach "$SRC" "$COMMIT" >/dev/null
    python3 -m venv "$SRC/.venv"
    "$SRC/.venv/bin/pip" install --quiet -e "$SRC"
    CAM="$SRC/.venv/bin/camaudit"
    DB="$WORK/v0.1.0.db"
    cd "$WORK"
    # scans 1 and 2: the demo audit (every probe, the demo rules with waivers, credentials), twice
    "$CAM" demo --tag "$TAG" --db "$DB" -o "$WORK/r1.html" --quiet || [ $? -eq 1 ]
    "$CAM" demo --tag "$TAG" --db "$DB" -o "$WORK/r2.html" --quiet --keep || [ $? -eq 1 ]
    # scan 3: stopped by its deadline (interrupted), default rules, routed subnet only
    "$CAM" lab exec --tag "$TAG" -- "$CAM" scan 198.18.32.0/24 -i lan0 --db "$DB" --deadline 1 --quiet \
        || [ $? -eq 2 ]
    # scan 4: killed with SIGKILL while probing: left 'running' by a dead run
    # (`ip netns exec` execs the command, so $! is the scan itself)
    NS=$("$SRC/.venv/bin/python" -c "from auditor.lab import topology; print(topology.ns_name('$TAG', 'scan'))")
    ip netns exec "$NS" "$CAM" scan 198.18.0.0/24 -i lan0 --db "$DB" --quiet --rate 20 --probes arp,ports,http &
    SCAN=$!
    sleep 4
    kill -KILL "$SCAN"
    wait "$SCAN" || true
    "$CAM" lab down --tag "$TAG"
    # scan 1 re-identified by v0.1.0 itself (devices and findings rewritten)
    "$CAM" identify --scan 1 --db "$DB" >/dev/null
    cp "$DB" "$HERE/v0.1.0.db"
    git -C "$REPO" worktree remove --force "$SRC"
}

trap '"${CAM:-true}" lab down --tag "$TAG" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
v010
echo "wrote $HERE/v0.1.0.db"
