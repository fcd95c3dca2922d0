"""The tables in docs/ that mirror code (settings, rules, secret formats, config fields) are what the code says."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ocift import doctables
from stacks.config import EnvironmentConfig, LogsConfig, StorageConfig
from tests.support import REPO


def test_the_tables_are_current() -> None:
    assert not doctables.stale(), "rerun `.venv/bin/python -m ocift.doctables` and review the diff"


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    return tmp_path


def test_a_row_edited_by_hand_is_stale(docs_copy: Path) -> None:
    page = docs_copy / "docs" / "launcher.md"
    page.write_text(
        page.read_text().replace("| `29400` | rendezvous port on rank 0 |", "| `29500` | rendezvous port |")
    )
    assert doctables.stale(docs_copy) == ["docs/launcher.md: tables are stale"]


def test_a_missing_marker_is_stale(docs_copy: Path) -> None:
    page = docs_copy / "docs" / "rules.md"
    page.write_text(page.read_text().replace("<!-- table:secrets -->", "<!-- secrets -->"))
    assert "docs/rules.md: no <!-- table:secrets --> marker" in doctables.stale(docs_copy)


def test_check_exits_nonzero_when_stale(monkeypatch: pytest.MonkeyPatch, docs_copy: Path) -> None:
    (docs_copy / "docs" / "rules.md").write_text("no tables here\n")
    monkeypatch.setattr(doctables, "REPO", docs_copy)
    assert doctables.main(["--check"]) == 1


def test_readme_is_a_front_page_linking_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    pages = {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")}
    linked = set(re.findall(r"\]\((docs/[a-z-]+\.md)", readme))
    assert pages <= linked, f"not linked from the README: {sorted(pages - linked)}"
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert not [target for target in targets if not (REPO / target).exists()]


def test_a_config_description_changed_without_regenerating_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StorageConfig.model_fields["versioning"], "description", "Keep old objects.")
    assert doctables.stale() == ["docs/config.md: tables are stale"]


def test_a_config_field_added_without_a_description_fails(monkeypatch: pytest.MonkeyPatch, docs_copy: Path) -> None:
    class Logs(LogsConfig):
        keep_forever: bool = False

    monkeypatch.setattr(EnvironmentConfig.model_fields["logs"], "annotation", Logs)
    monkeypatch.setattr(doctables, "REPO", docs_copy)
    before = (docs_copy / "docs" / "config.md").read_text()
    problem = f"docs/config.md: {__name__}.Logs.keep_forever has no Field(description=...)"
    assert doctables.stale() == [problem]
    assert doctables.main(["--check"]) == 1
    assert doctables.main([]) == 1  # writing too refuses, and writes nothing
    assert (docs_copy / "docs" / "config.md").read_text() == before


def test_a_config_section_without_a_table_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctables, "CONFIG_SECTIONS", tuple(s for s in doctables.CONFIG_SECTIONS if s != "logs"))
    assert doctables.stale() == [
        "docs/config.md: stacks.config.EnvironmentConfig.logs is a section without a table: "
        "add it to doctables.CONFIG_SECTIONS"
    ]


def test_config_types_and_defaults_come_from_the_model() -> None:
    training = doctables.config_table("training")
    assert "| `node_groups[].block_storage_gbs` | integer 50-10240 | `100` |" in training
    assert (
        "| `secrets_compartment_ocid` | `ocid1.compartment.` or `ocid1.tenancy.` | `null` (= `compartment_ocid`) |"
        in (training)
    )
    state = doctables.config_table("state")
    assert '| `profile` (s3) | string | `""` |' in state
    assert "| `backend` | `oci` \\| `s3` \\| `local` | required | `oci`: Terraform's native backend" in state
