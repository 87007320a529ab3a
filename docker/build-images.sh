#!/usr/bin/env bash
# Builds faultline's images, tagged TAG (a hash of this directory, computed when
# faultline is compiled; `faultline images build` is the usual way to call this script):
#
#   faultline/base:BASE_TAG Debian bookworm + the packages of base/packages.txt, security updates included
#   faultline/redis:TAG     base + redis/
#   faultline/postgres:TAG  base + postgres/
#   faultline/host:TAG      postgres + host/ (sshd; the hosts of `faultline hosts up`)
#
# The base comes from `debian:bookworm-slim` where a registry is reachable, and otherwise
# from a rootfs debootstrapped from the mirror in this machine's apt sources, then
# `docker import`ed. FAULTLINE_BASE=pull|debootstrap forces one way.
set -euo pipefail

tag=${1:?usage: build-images.sh TAG BASE_TAG}
base_tag=${2:?usage: build-images.sh TAG BASE_TAG}
here=$(cd "$(dirname "$0")" && pwd)
base="faultline/base:$base_tag"
label="faultline.definition=$tag"
started=$SECONDS

step() { printf '[%3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }
# Runs a command quietly; shows its output only if it fails.
quiet() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; die "failed: $*"; fi
  rm -f "$log"
}

docker info >/dev/null 2>&1 || die "cannot reach Docker: is the Docker daemon running? (try: docker info)"

# The URIs of the apt sources stanza whose suites include $1, from deb822 or one-line sources.
mirror_for() {
  local suite=$1 f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (u != "" && s ~ ("(^| )" suite "( |$)")) { print u; exit } u = ""; s = ""; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { $1 = ""; s = substr($0, 2) }
      END { if (u != "" && s ~ ("(^| )" suite "( |$)")) print u }' "$f" | head -n 1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
}

base_by_pull() {
  step "base: building from debian:bookworm-slim"
  quiet docker build --label "faultline.definition=$base_tag" -t "$base" "$here/base"
}

base_by_debootstrap() {
  local mirror security rootfs packages
  mirror=$(mirror_for bookworm)
  security=$(mirror_for bookworm-security)
  [ -n "$mirror" ] || die "no Debian bookworm mirror in /etc/apt/sources.list(.d): add one, or build where a registry is reachable"
  if ! command -v debootstrap >/dev/null; then
    [ "$(id -u)" = 0 ] || die "debootstrap is not installed and this is not root: run 'sudo apt-get install debootstrap', then build again"
    step "installing debootstrap"
    quiet apt-get install -y debootstrap
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root: run 'sudo faultline images build'"
  rootfs=$(mktemp -d /var/tmp/faultline-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "mountpoint -q '$rootfs/proc' && umount '$rootfs/proc'; rm -rf --one-file-system '$rootfs'" EXIT
  packages=$(paste -sd, "$here/base/packages.txt")
  step "base: debootstrap bookworm ($packages)"
  quiet debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror"
  # Keep package scripts from starting daemons in the chroot, which shares this network.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  if [ -n "$security" ]; then
    step "base: applying bookworm-security updates"
    rm -f "$rootfs/etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$security" >"$rootfs/etc/apt/sources.list.d/debian.sources"
    quiet chroot "$rootfs" apt-get update
    quiet chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -y upgrade
  fi
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/postgresql/15/main "$rootfs"/etc/postgresql/15/main "$rootfs"/var/log/apt/* "$rootfs"/var/log/*.log
  mountpoint -q "$rootfs/proc" && umount "$rootfs/proc"
  step "base: docker import"
  tar --numeric-owner -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' -c "LABEL faultline.definition=$base_tag" - "$base" >/dev/null
}

can_pull() {
  exists debian:bookworm-slim || timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1
}

if exists "$base"; then
  step "base: $base is present"
else
  case "${FAULTLINE_BASE:-auto}" in
    pull) base_by_pull ;;
    debootstrap) base_by_debootstrap ;;
    auto) if can_pull; then base_by_pull; else step "base: no registry reachable, building offline"; base_by_debootstrap; fi ;;
    *) die "FAULTLINE_BASE must be pull, debootstrap or auto" ;;
  esac
fi

for image in redis postgres; do
  step "$image: building faultline/$image:$tag"
  quiet env DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$base" --label "$label" \
    -t "faultline/$image:$tag" "$here/$image"
done
step "host: building faultline/host:$tag"
quiet env DOCKER_BUILDKIT=0 docker build --build-arg "BASE=faultline/postgres:$tag" --label "$label" \
  -t "faultline/host:$tag" "$here/host"
step "done: faultline/redis:$tag faultline/postgres:$tag faultline/host:$tag"
