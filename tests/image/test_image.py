"""The launcher image, built and run for real with buildah on the local CPU base.

One module-scoped build: image/build-base.sh (reused from buildah's storage when its recipe is
unchanged), then image/build.sh on it, exactly as `make image-local` does. The container then
runs the image's own entrypoint, and a 2-node `ocift local` fine-tune (the command mounted
from this checkout: the image holds no user command) whose nodes are that entrypoint. Every
layer is exported and read for what must not be in an image: credential-looking files, pip
caches, leftover wheels or build trees, compilers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import REPO

# The first test builds: a cold base (debootstrap + torch) and the image take up to ~10 min on
# a busy 2-core machine, over the suite's default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

TAG = "localhost/ocift-launcher:pytest"
ENTRYPOINT = ["python", "-m", "launcher"]
UID = 10001

# File names that hold credentials by convention. Public CA bundles are PEM files too, and are
# expected (certifi, botocore, /etc/ssl/certs); any other .pem is a finding.
SECRET_NAME = re.compile(
    r"^(id_(rsa|dsa|ecdsa|ed25519)|\.env|\.netrc|\.pypirc|\.git-credentials|\.npmrc|\.dockercfg"
    r"|credentials(\.json)?|.*\.(key|p12|pfx|jks|ppk|tfstate|tfvars))$",
    re.IGNORECASE,
)
SECRET_PATH = re.compile(r"(^|/)(\.ssh/|\.oci/config$|\.aws/credentials$|\.docker/config\.json$)")
CA_BUNDLE = re.compile(r"(^etc/ssl/certs/|^usr/share/ca-certificates/|/cacert\.pem$)")
# Triton builds a C launcher per kernel at run time, so the image carries a C compiler (Dockerfile);
# nothing else of a toolchain: no C++ compiler, no clang.
C_COMPILER = re.compile(r"(^|/)bin/(gcc|x86_64-linux-gnu-gcc(-\d+)?)$")
OTHER_COMPILER = re.compile(r"(^|/)bin/(c\+\+|g\+\+|clang|clang\+\+|x86_64-linux-gnu-g\+\+(-\d+)?)$")


def buildah(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        pytest.fail(f"buildah {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def run_in(container: str, *command: str, volumes: tuple[str, ...] = (), timeout: float = 120):
    """`command` inside the container, as the image's user, in its working directory."""
    mounts = [arg for volume in volumes for arg in ("--volume", volume)]
    return buildah("run", "--isolation", "chroot", *mounts, container, "--", *command, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def base_image() -> str:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: `make image-tools` installs them (make test does)")
    result = subprocess.run([REPO / "image" / "build-base.sh"], capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.split()[-1]


@dataclass(frozen=True)
class Built:
    tag: str
    revision: str  # HEAD just before the build: others may commit to this tree meanwhile


@pytest.fixture(scope="module")
def image(base_image: str) -> Built:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    result = subprocess.run(
        [REPO / "image" / "build.sh", "--base", base_image, "--tag", TAG], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, (result.stdout[-6000:], result.stderr[-4000:])
    yield Built(TAG, head.stdout.strip())
    buildah("rmi", TAG, check=False)


@pytest.fixture(scope="module")
def config(image: Built) -> dict:
    return json.loads(buildah("inspect", "--type", "image", image.tag).stdout)["OCIv1"]["config"]


@pytest.fixture(scope="module")
def container(image: Built) -> str:
    name = buildah("from", "--pull-never", image.tag).stdout.strip()
    yield name
    buildah("rm", name, check=False)


@pytest.fixture(scope="module")
def layers(image: Built, base_image: str, tmp_path_factory) -> dict[str, list[list[str]]]:
    """Member names of each layer tarball: the base's layers, and the ones the build added."""
    out = tmp_path_factory.mktemp("layers") / "image"
    buildah("push", "--disable-compression", "--quiet", image.tag, f"dir:{out}", timeout=600)
    digests = [layer["digest"] for layer in json.loads((out / "manifest.json").read_text())["layers"]]
    base = json.loads(buildah("inspect", "--type", "image", base_image).stdout)["OCIv1"]["rootfs"]["diff_ids"]
    assert digests[: len(base)] == base, "the image does not start with its base's layers"
    names = []
    for digest in digests:  # uncompressed, so a layer's digest is its diff_id
        with tarfile.open(out / digest.split(":", 1)[1]) as tar:
            # A link holds no secret of its own (what it points at is listed where it lies).
            names.append([member.name.removeprefix("./") for member in tar if not member.issym()])
    shutil.rmtree(out)
    return {"base": names[: len(base)], "added": names[len(base) :]}


def test_entrypoint_prints_usage(config, container):
    assert config["Entrypoint"] == ENTRYPOINT
    assert not config.get("Cmd"), "a base's CMD would reach the launcher as training flags"
    result = run_in(container, *config["Entrypoint"], "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m launcher")
    assert "OCIFT_OUTPUT_URI" in result.stdout


def test_image_holds_the_runtime_only(layers, container):
    """contract/ and launcher/ are installed; no user command, infra package or console script is."""
    added = [name for layer in layers["added"] for name in layer]
    ours = {
        match.group(1)
        for name in added
        if (match := re.search(r"site-packages/(contract|launcher|ocift|cdk|stacks)/", name))
    }
    assert ours == {"contract", "launcher"}
    assert not [name for name in added if re.search(r"(^|/)bin/ocift$|/ocift-[^/]*\.dist-info/", name)]
    probe = (
        "import importlib.util as u; "
        "print(*(n for n in ('contract', 'launcher', 'ocift', 'cdk', 'stacks', 'cdktf') if u.find_spec(n)))"
    )
    result = run_in(container, "sh", "-c", f'python -c "{probe}"; command -v ocift || true')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["contract", "launcher"]


def test_runs_as_non_root_owning_home(config, container):
    assert config["User"] == f"{UID}:{UID}"
    probe = (
        "import os; print(os.getuid(), os.getgid(), "
        "os.access(os.path.expanduser('~/.cache/ocift'), os.W_OK), os.getcwd())"
    )
    result = run_in(container, "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(UID), str(UID), "True", "/home/ocift/work"]


def test_launcher_dependencies_sit_on_the_bases_torch(container):
    result = run_in(container, "sh", "-c", "python -m pip check && python -c 'import torch; print(torch.__version__)'")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[-1] == "2.13.0+cpu", "torch must be the base's build, not one pip pulled in"


def test_oci_labels_name_this_checkout(config, image):
    labels = config["Labels"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert labels["org.opencontainers.image.version"] == version
    assert re.fullmatch(rf"{image.revision}(-dirty)?", labels["org.opencontainers.image.revision"])
    created = datetime.strptime(labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(0) <= datetime.now(UTC) - created < timedelta(hours=2)
    origin = subprocess.run(["git", "remote", "get-url", "origin"], cwd=REPO, capture_output=True, text=True)
    assert labels["org.opencontainers.image.source"] == (origin.stdout.strip() if origin.returncode == 0 else "unknown")
    assert labels["org.opencontainers.image.base.name"].startswith("localhost/ocift-local-base:")


def test_two_node_local_finetune_writes_adapter(container, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)  # written by the image's user, not by this test's
    script = (
        "set -e; python -m launcher.train.tiny /home/ocift/work/tiny; "
        "PYTHONPATH=/tools python -m ocift.cli local --nnodes 2 --nproc-per-node 1 --timeout 600 --run-name img "
        "--output-uri file:///out -- "
        "--enable_fsdp --use_peft --peft_method lora --batch_size_training 1 --context_length 64 "
        "--model_name /home/ocift/work/tiny/model --data_path /home/ocift/work/tiny/data --max_train_step 4"
    )
    # `ocift local` is a user command, not in the image: mounted from this checkout, it drives the
    # image's own launcher (`python -m launcher` on every simulated node).
    volumes = (f"{out}:/out", f"{REPO / 'ocift'}:/tools/ocift:ro")
    result = run_in(container, "sh", "-c", script, volumes=volumes, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert "node 0 exited with status 0" in result.stderr + result.stdout
    run = out / "img"  # every run under its own name (docs/launcher.md)
    assert json.loads((run / "adapter_config.json").read_text())["peft_type"] == "LORA"
    with safe_open(run / "adapter_model.safetensors", "pt") as adapter:
        keys = list(adapter.keys())
    assert keys and all("lora_" in key for key in keys), keys


def test_no_credentials_caches_build_trees_or_dev_tools_and_only_a_c_compiler(layers, config):
    assert not [
        env
        for env in config.get("Env", [])
        if re.search(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY=|CERT", env.split("=", 1)[0] + "=")
    ]
    everything = [name for layer in layers["base"] + layers["added"] for name in layer]
    secrets = [
        name
        for name in everything
        if SECRET_NAME.match(Path(name).name)
        or SECRET_PATH.search(name)
        or (name.endswith(".pem") and not CA_BUNDLE.search(name))
    ]
    assert not secrets, secrets
    assert [name for name in everything if C_COMPILER.search(name)], "Triton needs a C compiler in the image"
    assert not [name for name in everything if OTHER_COMPILER.search(name)]
    assert layers["added"]
    leftovers = [
        name
        for layer in layers["added"]
        for name in layer
        if "/.cache/pip" in f"/{name}"
        or name.endswith(".whl")
        or re.match(r"(wheels|dist|src|run/secrets|tmp/.+)(/|$)", name)
    ]
    assert not leftovers, leftovers
    # pip, setuptools and wheel are the base's; the build must not add or upgrade any tool.
    tools = {
        match.group(1)
        for layer in layers["added"]
        for name in layer
        if (match := re.search(r"site-packages/(pip|setuptools|wheel|pytest|hypothesis|moto|build)/", name))
    }
    assert not tools, tools
