#!/usr/bin/env bash
# Makes an offline Python base image for capsule's container tests, without a registry:
# debootstrap a minimal Debian with python3 and import it as a Docker image.
# Usage: scripts/make-base-image.sh [IMAGE]   (default: capsule-base:bookworm)
# Needs root, debootstrap and a running Docker engine. Does nothing if IMAGE already exists.
set -euo pipefail

image="${1:-capsule-base:bookworm}"
suite="bookworm"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image already exists"
  exit 0
fi

# The Debian mirror this machine's apt already uses: no other host is reachable here.
mirror="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -e security -e nodesource | head -n 1 || true)"
if [ -z "$mirror" ]; then
  mirror="$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n 1 || true)"
fi
if [ -z "$mirror" ]; then
  echo "error: no Debian mirror found in the apt sources" >&2
  exit 3
fi

rootfs="$(mktemp -d /tmp/capsule-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite from $mirror into $rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 3; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$image"
rm -f "$rootfs.log"
echo "made $image"
