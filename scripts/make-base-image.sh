#!/usr/bin/env bash
# Makes an offline Python base image for capsule's container tests, without a registry:
# debootstrap a minimal Debian with python3 and import it as a Docker image.
# Usage: scripts/make-base-image.sh [IMAGE]   (default: capsule-base:bookworm)
# Needs root, debootstrap and a running Docker engine. Does nothing if IMAGE already exists.
#
# The image's `python3` is this machine's exact interpreter (the one `python3` runs here, or
# $CAPSULE_BASE_PYTHON): its installation prefix is copied into the image at the same path,
# without site-packages and the test suite, with the Debian libraries it links against, and
# /usr/local/bin/python3 starts it. So a capsule built here reruns on the very X.Y.Z it was built
# with. The labels org.capsule.python.version and .prefix say which. An interpreter of Debian's
# own (prefix /usr) is not copied: the image's Debian python3 is then what runs.
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

# The interpreter to copy: its prefix, X.Y.Z and X.Y, asked of it (-E -S: nothing of its
# environment or site-packages can change the answer).
python="${CAPSULE_BASE_PYTHON:-python3}"
read -r prefix version xy < <("$python" -E -S -c \
  'import sys, platform; print(sys.base_prefix, platform.python_version(), "%d.%d" % sys.version_info[:2])')
if [ "$prefix" = "/usr" ]; then
  echo "$python is Debian's own Python $version: the image's Debian python3 will run capsules"
  prefix=""
fi

# The Debian packages of the libraries the interpreter and its extension modules link against
# (tkinter's Tk and X11 are left out: an analysis rerun draws no window).
libraries=()
if [ -n "$prefix" ]; then
  mapfile -t libraries < <(
    find "$prefix/bin" "$prefix/lib" -maxdepth 1 -name "python$xy" -o -name "libpython*.so*" \
      | cat - <(find "$prefix/lib/python$xy/lib-dynload" -name '*.so' ! -name '_tkinter*') \
      | xargs ldd 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u \
      | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | sort -u)
fi
include="python3,python3-venv,python3-pip,ca-certificates"
if [ "${#libraries[@]}" -gt 0 ]; then
  include="$include,$(IFS=,; echo "${libraries[*]}")"
fi

rootfs="$(mktemp -d /tmp/capsule-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite from $mirror into $rootfs (log: $rootfs.log)"
debootstrap --variant=minbase --include="$include" \
  "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 3; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

labels=()
if [ -n "$prefix" ]; then
  echo "copying Python $version from $prefix (without site-packages and tests)"
  mkdir -p "$rootfs$prefix"
  tar -C "$prefix" -c \
    --exclude="./lib/python$xy/site-packages/*" --exclude="./lib/python$xy/test" \
    --exclude="./lib/python$xy/idlelib" --exclude="./lib/python$xy/tkinter" \
    --exclude="./lib/python$xy/config-$xy-*/*.a" --exclude="./share" --exclude="./include" \
    --exclude="./bin/*" . | tar -C "$rootfs$prefix" -x
  mkdir -p "$rootfs$prefix/bin"
  cp -a "$prefix/bin/python$xy" "$rootfs$prefix/bin/"
  ln -sf "python$xy" "$rootfs$prefix/bin/python3"
  # Every folder above the prefix (/root is 0700) must let the sandbox's user in.
  folder="$prefix"
  while [ "$folder" != "/" ]; do
    chmod a+rx "$rootfs$folder"
    folder="$(dirname "$folder")"
  done
  # A script, not a link: `python3 -m venv` must see the interpreter's own path, or the
  # environment would take Debian's standard library beside it.
  for name in python3 "python$xy"; do
    printf '#!/bin/sh\nexec %s "$@"\n' "$prefix/bin/python$xy" >"$rootfs/usr/local/bin/$name"
    chmod 0755 "$rootfs/usr/local/bin/$name"
  done
  labels=(--change "LABEL org.capsule.python.version=$version"
    --change "LABEL org.capsule.python.prefix=$prefix")
fi
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "${labels[@]}" - "$image"
rm -f "$rootfs.log"
echo "made $image (python3: $(docker run --rm --network none "$image" python3 -c \
  'import platform, sys; print(platform.python_version(), sys.executable)'))"
