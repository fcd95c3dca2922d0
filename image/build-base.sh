#!/usr/bin/env bash
# Build the *local* base image: a stand-in for the CUDA PyTorch base that image/Dockerfile
# defaults to, so the launcher image can be built and run on a machine without a registry
# or a GPU (CI, a laptop). It has what the real base gives the Dockerfile, and gcc (which the
# Dockerfile would otherwise install from apt; Triton needs one):
# a `python` on PATH whose environment already holds torch (CPU wheel, same version as the
# project's `torch` extra) and pip.
#
#   image/build-base.sh            prints the image name, building it only when missing
#
# Debian bookworm minbase by debootstrap, imported into buildah from a tarball, then a venv
# at /opt/venv (first on PATH, like /opt/conda/bin in the real base) with torch installed from
# wheels the host's pip fetched. The image is tagged with a hash of this script's commands
# (comments aside), so it is rebuilt exactly when its recipe changes, and reused from
# buildah's storage otherwise.
set -euo pipefail

TORCH_VERSION=2.13.0
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NAME=localhost/ocift-local-base

recipe_hash=$( { grep -v '^[[:space:]]*#' "$0"; echo "$MIRROR"; } | sha256sum | cut -c1-16)
image="$NAME:$recipe_hash"

if buildah inspect --type image "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null || { echo "build-base: $tool is missing (make image-tools installs it)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/ocift-base.XXXXXX)
ctr=""
cleanup() {
    [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
echo "build-base: debootstrap $SUITE minbase into $work/rootfs" >&2
debootstrap --variant=minbase --include=python3,python3-venv,gcc,libc6-dev "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# The package cache and lists are only needed to install more, which this base never does.
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
rm -rf "$work/rootfs"

# torch and its dependencies, fetched by the host's pip (its index and the local torch CPU
# wheel); the container installs them offline.
python3 -m pip download --quiet --dest "$work/wheels" "torch==$TORCH_VERSION" >&2

ctr=$(buildah from scratch)
buildah add "$ctr" "$work/rootfs.tar" / >/dev/null
buildah run --isolation chroot "$ctr" -- python3 -m venv /opt/venv
buildah run --isolation chroot --volume "$work/wheels:/wheels:ro" "$ctr" -- \
    /opt/venv/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels --quiet "torch==$TORCH_VERSION"
# buildah leaves the volume's mount point behind.
buildah run --isolation chroot "$ctr" -- rmdir /wheels
# CMD as Ubuntu-based images (the CUDA base among them) set it, which the Dockerfile must clear.
buildah config \
    --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd /bin/bash \
    --label org.opencontainers.image.title="ocift local base (Debian $SUITE, torch $TORCH_VERSION CPU)" \
    --label org.opencontainers.image.description="stand-in for the CUDA PyTorch base; built by image/build-base.sh" \
    --label dev.ocift.base.recipe="$recipe_hash" \
    "$ctr"
buildah commit --quiet "$ctr" "$image" >/dev/null
# Bases of older recipes are dead weight (about 1 GB each) once this one exists.
stale=$(buildah images --format '{{.Name}}:{{.Tag}}' | grep "^$NAME:" | grep -vxF "$image" || true)
[ -z "$stale" ] || buildah rmi $stale >/dev/null
echo "build-base: built $image in $(( $(date +%s) - start ))s" >&2
echo "$image"
