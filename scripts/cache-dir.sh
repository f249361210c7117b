#!/usr/bin/env bash
# Prints the folder where the project caches what is slow to make and depends only on content
# (the cross builds, the Debian 11 root, the images' bases), outside any clone so that every
# fresh clone (CI's) reuses it: $TEMPORAL_SUPERVISOR_CACHE when set, else
# /var/cache/temporal-supervisor as root, else ~/.cache/temporal-supervisor. Makes it.
set -euo pipefail
if [[ -n ${TEMPORAL_SUPERVISOR_CACHE:-} ]]; then
  dir=$TEMPORAL_SUPERVISOR_CACHE
elif [[ $(id -u) -eq 0 ]]; then
  dir=/var/cache/temporal-supervisor
else
  dir=${XDG_CACHE_HOME:-$HOME/.cache}/temporal-supervisor
fi
mkdir -p "$dir"
echo "$dir"
