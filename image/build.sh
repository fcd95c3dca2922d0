#!/usr/bin/env bash
# Build image/Dockerfile with buildah, labelled with this checkout's version, revision and
# build time.
#
#   image/build.sh [--base IMAGE] [--tag NAME] [--iidfile FILE]
#
# --base defaults to the Dockerfile's pinned CUDA PyTorch image; tests pass the local
# stand-in (image/build-base.sh). Behind a TLS-inspecting proxy, PIP_CERT (a CA bundle on
# this host) goes to the stages that download as the secret `pip-cert`, which no layer keeps.
#
# No --layers: buildah 1.28 (Debian bookworm's) bind-mounts an empty directory for
# `RUN --mount=from=<stage>` when that stage came from its layer cache, and reuses a cached
# RUN even when the mounted stage or a build argument changed (buildah issues 4375, 4522),
# so a cached build could fail or ship a stale launcher. Every build is therefore complete
# (about 2-3 minutes on 2 cores); what is slow to make, the base, is cached by
# image/build-base.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

base="" tag="" iidfile=""
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --iidfile) iidfile=$2; shift 2 ;;
        *) echo "usage: image/build.sh [--base IMAGE] [--tag NAME] [--iidfile FILE]" >&2; exit 2 ;;
    esac
done
command -v buildah >/dev/null || { echo "image/build.sh: buildah is missing (make image-tools installs it)" >&2; exit 1; }

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# A build of uncommitted changes must not pass for the commit it started from.
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain -- contract launcher image/requirements.txt image/Dockerfile)" ]; then
    revision="$revision-dirty"
fi
source_url=$(git remote get-url origin 2>/dev/null || echo unknown)
created=$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} +%Y-%m-%dT%H:%M:%SZ)
tag=${tag:-localhost/ocift-launcher:$version}

args=(--isolation chroot --file image/Dockerfile --tag "$tag"
      --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
      --build-arg "CREATED=$created" --build-arg "SOURCE=$source_url")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
[ -n "$iidfile" ] && args+=(--iidfile "$iidfile")
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    args+=(--secret "id=pip-cert,src=$PIP_CERT")
fi
previous=$(buildah inspect --type image --format '{{.FromImageID}}' "$tag" 2>/dev/null || true)
buildah build "${args[@]}" .
# The image this tag named before is now untagged: about 1 GB of storage nothing refers to.
if [ -n "$previous" ] && [ "$previous" != "$(buildah inspect --type image --format '{{.FromImageID}}' "$tag")" ]; then
    buildah rmi "$previous" >/dev/null 2>&1 || echo "image/build.sh: kept $previous (still in use)" >&2
fi
