"""One definition of each name constraint: the config model and the construct props agree at the limits.

Each case is a config field and the props field it becomes; the longest valid value passes both,
one character more (or one bad character) fails both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from cdk.registry import ImageReference
from cdk.storage import BucketProps
from cdk.training_job import ProjectProps
from contract.names import BUCKET_NAME, DIGEST, DISPLAY_NAME, IMAGE_TAG, NamePattern, is_secret_name, secret_format
from stacks.config import EnvironmentConfig
from tests.support import shipped

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexamplecompartment"
IMAGE = {"registry": "iad.ocir.io", "namespace": "ns", "repository": "ocift/launcher"}


def config_accepts(path: str, value: str) -> bool:
    data = copy.deepcopy(shipped("dev"))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    try:
        EnvironmentConfig.model_validate(data)
    except ValidationError as exc:
        assert all(".".join(map(str, error["loc"])) == path for error in exc.errors()), exc
        return False
    return True


# (pattern, config field, props problems for a value, the longest valid value, invalid values)
CASES: list[tuple[NamePattern, str, Callable[[str], list[str]], str, list[str]]] = [
    (
        BUCKET_NAME,
        "storage.outputs_bucket",
        lambda v: BucketProps(name=v, namespace="ns", compartment_id=COMPARTMENT).problems(),
        "b" * 255,
        ["b" * 256, "bad/name", ""],
    ),
    (
        DISPLAY_NAME,
        "training.project_name",
        lambda v: ProjectProps(display_name=v, compartment_id=COMPARTMENT).problems(),
        "p" * 255,
        ["p" * 256, "with space", ""],
    ),
    (
        IMAGE_TAG,
        "training.image.tag",
        lambda v: ImageReference(**IMAGE, tag=v).problems(),
        "t" * 128,
        ["t" * 129, "-leading-dash"],
    ),
    (
        DIGEST,
        "training.image.digest",
        lambda v: ImageReference(**IMAGE, tag="x", digest=v).problems(),
        "sha256:" + "a" * 64,
        ["sha256:" + "A" * 64, "sha256:" + "a" * 63],
    ),
]


@pytest.mark.parametrize(("pattern", "field", "props", "longest", "invalid"), CASES, ids=[c[1] for c in CASES])
def test_config_and_props_agree(
    pattern: NamePattern, field: str, props: Callable[[str], list[str]], longest: str, invalid: list[str]
) -> None:
    assert pattern.matches(longest) and config_accepts(field, longest) and not props(longest)
    for value in invalid:
        assert not pattern.matches(value), value
        assert not config_accepts(field, value), value
        assert props(value), value


@pytest.mark.parametrize("name", ["HF_TOKEN", "githubToken", "MY_APIKEY", "AWS_SECRET_ACCESS_KEY", "SSH_PRIVATEKEY"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "KEY_FIELD", "MONKEY", "OCIFT_OUTPUT_URI"])
def test_names_that_only_look_like_secrets(name: str) -> None:
    assert not is_secret_name(name)


def test_secret_formats_name_what_they_found() -> None:
    assert secret_format("token hf_" + "a1B2" * 8) == "a Hugging Face token"
    assert secret_format("https://user:hunter2@example.com/x") == "a URL with a password"
    assert secret_format("meta-llama/Llama-3.1-8B") == ""
