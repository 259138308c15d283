#!/bin/sh
# The plain cron script users ran before jellyfin-failover (issue 9): stop both Jellyfins, one
# `rsync -aAXH --delete` of master's config dir to slave's over SSH, start both. No pre-copy, no snapshot, no
# check. bench/run.ts runs it for real, on master's side, with slave behind the shaped link. The only addition:
# a time stamp on stderr before each command (`phase <name> <epoch s>`), so the report can say where time goes.
#
# Environment: MASTER_CONTAINER, MASTER_DIR, SLAVE (user@host), SLAVE_CONTAINER, SLAVE_DIR, and SSH: the ssh
# command with its options (split on spaces, as rsync -e splits it: the bench's paths have none).
# Arguments: extra rsync options, e.g. the same --exclude list the service uses.
set -eu
phase() { echo "phase $1 $(date +%s.%N)" >&2; }
phase stop-master
docker stop "$MASTER_CONTAINER" >/dev/null
phase stop-slave
$SSH "$SLAVE" docker stop "$SLAVE_CONTAINER" >/dev/null
phase rsync
rsync -aAXH --delete --stats "$@" -e "$SSH" "$MASTER_DIR/" "$SLAVE:$SLAVE_DIR/"
phase start-master
docker start "$MASTER_CONTAINER" >/dev/null
phase start-slave
$SSH "$SLAVE" docker start "$SLAVE_CONTAINER" >/dev/null
phase end
