"""The committed bindings are what the generator makes from the committed schema, and the real cdktf CLI
synthesizes them to HCL with every attribute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from cdk.oci import generate
from tests.support import REPO

from ._samples import RESOURCES, SCHEMA, as_blocks_lists, element_sample, schema_block

OCI_DIR = REPO / "cdk" / "oci"
CDKTF = REPO / "node_modules" / ".bin" / "cdktf"


def test_generated_modules_are_current(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "cdk.oci.generate", "--out", str(tmp_path)], cwd=REPO, check=True, capture_output=True
    )
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.py")}
    assert fresh, "the generator wrote nothing"
    stale = [name for name, text in fresh.items() if (OCI_DIR / name).read_text() != text]
    assert not stale, f"regenerate with `python -m cdk.oci.generate`: {stale} differ"
    hand_written = {"__init__.py", "_base.py", "generate.py"}
    assert {p.name for p in OCI_DIR.glob("*.py")} - hand_written == set(fresh), (
        "a generated module has no generator source"
    )


def test_one_module_per_service_holds_its_resources_and_data_sources() -> None:
    files = generate.render_all(SCHEMA)
    assert set(files) == {
        "artifacts.py",
        "core.py",
        "datascience.py",
        "identity.py",
        "kms.py",
        "logging.py",
        "objectstorage.py",
        "provider.py",
    }
    assert "class DataCoreServices(OciDataSource)" in files["core.py"]
    assert "class DataObjectstorageNamespace(OciDataSource)" in files["objectstorage.py"]


def test_unsupported_schema_types_are_refused() -> None:
    block = {"attributes": {"weights": {"type": ["list", "number"], "optional": True}}}
    with pytest.raises(ValueError, match=r"oci_x\.weights: settable attributes of type \['list', 'number'\]"):
        generate.collect("X", "doc", block, "oci_x", [])
    with pytest.raises(ValueError, match=r"oci_x\.w: unsupported type 'tuple'"):
        generate.collect("X", "doc", {"attributes": {"w": {"type": "tuple", "optional": True}}}, "oci_x", [])


def test_two_paths_that_would_make_the_same_class_name_are_refused() -> None:
    """``oci_x_y`` + block ``z`` and ``oci_x`` + block ``y_z`` would both be ``XYZ``."""
    child = {"block": {"attributes": {"a": {"type": "string", "optional": True}}}, "nesting_mode": "list"}
    elements = [
        ("resource", "oci_x", {"block": {"block_types": {"y_z": child}}}),
        ("resource", "oci_x_y", {"block": {"block_types": {"z": child}}}),
    ]
    with pytest.raises(ValueError, match=r"oci_x_y: class names \['XYZ'\] are generated twice in x\.py"):
        generate.render_service("x", elements)


def test_attribute_names_owned_by_the_cdktf_base_classes_are_refused() -> None:
    """A property named ``count`` would silently override the jsii meta-argument."""
    structs: list[generate.Struct] = []
    top = generate.collect(
        "X", "doc", {"attributes": {"count": {"type": "number", "computed": True}}}, "oci_x", structs
    )
    with pytest.raises(ValueError, match=r"oci_x\.count: the name is reserved"):
        generate.render_element(top, "oci_x", "OciResource", generate.reserved_names())


def test_the_importable_bindings_stay_small() -> None:
    """The community wheel is 80 MB; ours must stay a few hundred kilobytes of source."""
    total = sum(p.stat().st_size for p in OCI_DIR.glob("*.py"))
    assert total < 400_000, f"generated bindings grew to {total} bytes"


APP = """
import json, sys
from cdk.framework import App, TerraformStack
from tests.l1._samples import element_sample
from cdk.oci.provider import OciProvider
from tests.support import REPO

app = App()
stack = TerraformStack(app, "every")
OciProvider(stack, "oci", region="eu-frankfurt-1")
for tf_type in json.loads(sys.argv[1]):
    cls, sample = element_sample(tf_type, data=False, full=True)
    cls(stack, tf_type.removeprefix("oci_"), **sample.kwargs)
app.synth()
"""


def test_cdktf_cli_synth_hcl_shows_every_attribute(tmp_path: Path) -> None:
    """The real ``cdktf synth --hcl`` (no Testing shortcut): each resource's HCL equals its expected body."""
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "cdktf.json").write_text(
        json.dumps(
            {
                "language": "python",
                "app": f"{sys.executable} app.py '{json.dumps(RESOURCES)}'",
                "sendCrashReports": "false",
            }
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CHECKPOINT_DISABLE": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    run = subprocess.run(
        [str(CDKTF), "synth", "--hcl", "--output", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    text = (tmp_path / "out" / "stacks" / "every" / "cdk.tf").read_text()
    parsed = hcl2.loads(
        text, serialization_options=hcl2.SerializationOptions(explicit_blocks=False, strip_string_quotes=True)
    )
    bodies = {t: b for entry in parsed["resource"] for t, named in entry.items() for b in named.values()}
    assert sorted(bodies) == RESOURCES
    for tf_type in RESOURCES:
        _, sample = element_sample(tf_type, data=False, full=True)
        assert bodies[tf_type] == as_blocks_lists(sample.expected, schema_block(tf_type)), tf_type
    assert parsed["provider"] == [{"oci": {"region": "eu-frankfurt-1"}}]
