"""Launcher image: build time, total size and each layer's size, for the local CPU-base build.

    .venv/bin/python bench/image.py [--keep]

Builds like `make image-local` (image/build-base.sh, reused when cached; then image/build.sh),
timing both; exports the image twice, uncompressed (what a node's disk holds) and gzip (what
the registry stores and a node pulls); reads the layers the build added to show which
installed distributions weigh most. Prints a table and appends it, with the machine, to
bench/RESULTS.md. The CUDA base cannot be pulled here: its layers come on top of the numbers
for "added" below, in place of the local base's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/ocift-launcher:bench"
MB = 1e6
SITE = re.compile(r"site-packages/([^/]+)/")


def timed(*command: str) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.monotonic() - start, result.stdout


def export(image: str, transport_dir: Path, compress: bool) -> list[tuple[str, int]]:
    """(digest, size) of each layer as `buildah push` writes it."""
    flags = [] if compress else ["--disable-compression"]
    subprocess.run(
        ["buildah", "push", "--quiet", *flags, image, f"dir:{transport_dir}"], check=True, capture_output=True
    )
    manifest = json.loads((transport_dir / "manifest.json").read_text())
    return [(layer["digest"], layer["size"]) for layer in manifest["layers"]]


def heaviest(layer_tar: Path, top: int = 8) -> list[tuple[str, int]]:
    """The top-level site-packages entries that take the most bytes in a layer."""
    sizes: Counter[str] = Counter()
    with tarfile.open(layer_tar) as tar:
        for member in tar:
            match = SITE.search(member.name)
            if match and member.isfile():
                sizes[match.group(1)] += member.size
    return sizes.most_common(top)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, load average {load:.1f} at the start"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help=f"keep {TAG} afterwards")
    args = parser.parse_args()
    where = machine()

    base_s, out = timed(str(ROOT / "image" / "build-base.sh"))
    base = out.split()[-1]
    image_s, _ = timed(str(ROOT / "image" / "build.sh"), "--base", base, "--tag", TAG)
    base_ids = json.loads(
        subprocess.run(
            ["buildah", "inspect", "--type", "image", base], capture_output=True, text=True, check=True
        ).stdout
    )["OCIv1"]["rootfs"]["diff_ids"]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        plain = export(TAG, Path(tmp) / "plain", compress=False)
        added = [digest for digest, _ in plain if digest not in base_ids]
        weights = [item for digest in added for item in heaviest(Path(tmp) / "plain" / digest.split(":", 1)[1])]
        shutil.rmtree(Path(tmp) / "plain")
        packed = export(TAG, Path(tmp) / "gzip", compress=True)
    if not args.keep:
        subprocess.run(["buildah", "rmi", TAG], capture_output=True)

    rows = [
        ("base" if digest in base_ids else "added", digest[7:19], size, gz)
        for (digest, size), (_, gz) in zip(plain, packed)
    ]
    buildah = subprocess.run(["buildah", "--version"], capture_output=True, text=True).stdout.split()[2]
    driver = subprocess.run(
        ["buildah", "info", "--format", "{{.store.GraphDriverName}}"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"## launcher image, local CPU base ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {where}. buildah {buildah}, chroot isolation, {driver} storage.",
        "",
        "| layer | from | uncompressed MB | gzip MB |",
        "|---|---|---:|---:|",
        *[f"| {digest} | {origin} | {size / MB:.0f} | {gz / MB:.0f} |" for origin, digest, size, gz in rows],
        f"| **total** | | **{sum(r[2] for r in rows) / MB:.0f}** | **{sum(r[3] for r in rows) / MB:.0f}** |",
        f"| **added by image/Dockerfile** | | **{sum(r[2] for r in rows if r[0] == 'added') / MB:.0f}** "
        f"| **{sum(r[3] for r in rows if r[0] == 'added') / MB:.0f}** |",
        "",
        f"- build: base {base_s:.0f} s ({'reused from storage' if base_s < 30 else 'built: debootstrap + torch'}), "
        f"image {image_s:.0f} s (image/build.sh: download the locked wheels, build ours, install, commit).",
        "- heaviest in the added layer (MB uncompressed): "
        + ", ".join(f"{name} {size / MB:.0f}" for name, size in weights)
        + ".",
        "- On OCI the base is the CUDA PyTorch image instead; the added layer stays about this size.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    results = ROOT / "bench" / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmarks\n\nAppended by the bench scripts; newest last.\n\n")
    with results.open("a") as handle:
        handle.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
