#!/usr/bin/env bash
# Makes an offline Python base image for capsule's container tests, without a registry:
# debootstrap a minimal Debian with python3 and import it as a Docker image.
# Usage: scripts/make-base-image.sh [IMAGE]   (default: capsule-base:bookworm)
# Needs root, debootstrap and a running Docker engine. Does nothing if IMAGE already exists.
set -euo pipefail

image="${1:-capsule-base:bookworm}"
suite="bookworm"

if ! docker info >/dev/null 2>&1; then
  echo "error: no Docker engine answers; start one (\`dockerd &\`) first" >&2
  exit 3
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image already exists"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: debootstrap needs root: run this with sudo" >&2
  exit 3
fi
if ! command -v debootstrap >/dev/null; then
  echo "error: debootstrap is not installed: \`apt-get install debootstrap\`" >&2
  exit 3
fi

# The Debian mirror this machine's apt already uses for $suite itself (not -updates, -security or
# a third-party repository): no other host is reachable here. deb822 .sources files first, then
# one-line .list files.
mirror_from_sources() {
  local files=(/etc/apt/sources.list.d/*.sources)
  [ -e "${files[0]}" ] || return 0
  # Paragraph mode: one stanza per record; print the first URI of a `deb` stanza whose Suites
  # name $suite exactly and whose Components have main (third-party repositories have not).
  awk -v suite="$suite" '
    BEGIN { RS = ""; FS = "\n" }
    {
      uris = ""; suites = ""; types = ""; components = ""; enabled = "yes"
      for (i = 1; i <= NF; i++) {
        line = $i
        if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
        else if (line ~ /^Suites:/) { sub(/^Suites:/, "", line); suites = line " " }
        else if (line ~ /^Types:/) { sub(/^Types:/, "", line); types = line " " }
        else if (line ~ /^Components:/) { sub(/^Components:/, "", line); components = line " " }
        else if (line ~ /^Enabled:/) { sub(/^Enabled:[ \t]*/, "", line); enabled = line }
      }
      if (enabled != "no" && types ~ /[ \t]deb[ \t]/ && suites ~ ("[ \t]" suite "[ \t]") \
          && components ~ /[ \t]main[ \t]/) {
        split(uris, u, /[ \t]+/); print u[1]; exit
      }
    }' "${files[@]}"
}
mirror_from_lists() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  # `deb [options] URI SUITE COMPONENT...`; the options, if any, are dropped first.
  sed -E -n 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//p' "${files[@]}" 2>/dev/null \
    | awk -v suite="$suite" '$2 == suite && (" " $0 " ") ~ / main / { print $1; exit }'
}
mirror="$(mirror_from_sources)"
if [ -z "$mirror" ]; then
  mirror="$(mirror_from_lists)"
fi
if [ -z "$mirror" ]; then
  echo "error: no Debian $suite mirror found in the apt sources" >&2
  exit 3
fi

rootfs="$(mktemp -d /tmp/capsule-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite from $mirror into $rootfs (log: $rootfs.log)"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 3; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$image"
rm -f "$rootfs.log"
echo "made $image"
