"""Prices and what a job costs: the shipped table, a user's override, unknown never $0."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ocift.cost import PRICES_FILE, Amount, PriceTableError, job_costs, load_prices, main
from ocift.review import review_trees
from ocift.review.render import to_json, to_markdown
from tests.review._pairs import STACK, Variant, synth, write_tree


def test_the_shipped_table_gives_every_figure_a_source_or_none() -> None:
    data = json.loads(PRICES_FILE.read_text())
    for shape, entry in data["shapes"].items():
        assert entry["source"], shape
        assert (entry["per_node_hour"] is None) == (entry["date"] is None), shape  # a figure has a date
    prices = load_prices(environ={})
    assert prices.hourly("BM.GPU.H100.8", 2) == 160.0  # $10 per GPU-hour x 8 GPUs x 2 nodes
    assert prices.hourly("BM.GPU.A100-v2.8", 1) == 32.0


def test_an_unknown_shape_has_no_price_and_never_reads_as_zero() -> None:
    prices = load_prices(environ={})
    assert prices.hourly("VM.GPU.A10.1", 1) is None
    assert prices.hourly("BM.GPU.Imaginary.9", 4) is None
    assert Amount.of(None, "BM.GPU.Imaginary.9").text() == "(price unknown: BM.GPU.Imaginary.9)"
    assert "$0" not in (Amount.of(None, "x") + Amount.of(None, "y")).text()


def test_a_users_file_overrides_and_adds(tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text(
        json.dumps(
            {
                "shapes": {
                    "BM.GPU.H100.8": {"per_node_hour": 60.0, "source": "our contract"},
                    "VM.GPU.A10.1": {"per_node_hour": 1.5},
                },
                "block_volume_gb_month": {"price": 0.0255, "source": "our contract"},
            }
        )
    )
    for prices in (load_prices(override, environ={}), load_prices(environ={"OCIFT_PRICES": str(override)})):
        assert prices.hourly("BM.GPU.H100.8") == 60.0 and prices.hourly("VM.GPU.A10.1", 2) == 3.0
        assert prices.hourly("BM.GPU.A100-v2.8") == 32.0  # the rest still from the shipped table
        assert prices.sources["BM.GPU.H100.8"] == "our contract" and prices.block_volume_gb_month == 0.0255


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a readable price file"),
        ('{"shapes": {"BM.GPU.H100.8": {"per_node_hour": -1}}}', "shapes.BM.GPU.H100.8.per_node_hour"),
        ('{"shapes": {"BM.GPU.H100.8": 80}}', "expected an object with 'per_node_hour'"),
    ],
)
def test_a_bad_price_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text(text)
    with pytest.raises(PriceTableError, match=message):
        load_prices(bad, environ={})


def test_a_jobs_worst_case_is_every_node_for_the_maximum_runtime(tmp_path: Path) -> None:
    (job,) = job_costs(STACK, synth(Variant(replicas=3)), load_prices(environ={}))
    assert job.max_runtime_hours == 10  # the pair's job: 600 minutes
    assert job.hourly.known == 3 * 80.0 and job.per_run.known == 3 * 80.0 * 10
    assert job.per_run.unknown == ("block volume",)  # the shipped table has no block volume price
    override = tmp_path / "prices.json"
    override.write_text('{"block_volume_gb_month": {"price": 0.073}}')
    (priced,) = job_costs(STACK, synth(Variant(replicas=3)), load_prices(override, environ={}))
    gbs = priced.groups[0].block_gbs
    assert priced.per_run.unknown == () and gbs
    assert priced.per_run.known == pytest.approx(10 * (3 * 80.0 + 0.073 * gbs * 3 / 730))


def test_the_review_prices_the_change_and_the_runs_it_starts() -> None:
    base, head = synth(Variant()), synth(dataclasses.replace(Variant(), replicas=4))
    report = review_trees({STACK: base}, {STACK: head}, load_prices(environ={}))
    cost = report.stacks[0].cost
    (job,) = cost.jobs
    assert (job.base_per_run.known, job.head_per_run.known, job.delta_per_run.known) == (1600.0, 3200.0, 1600.0)
    (run,) = cost.runs_started  # the declared run is replaced with its job: apply starts it again
    assert run.job == job.address and run.worst_case.known == 3200.0
    data = json.loads(to_json(report))["stacks"][0]["cost"]
    assert data["jobs"][0]["delta_per_run"]["known"] == 1600.0 and data["started"]["known"] == 3200.0
    text = to_markdown(report)
    assert "#### Cost" in text and "+$1,600.00" in text and "1 run(s) start on apply" in text


def test_a_tag_change_costs_nothing_and_shows_no_cost_section() -> None:
    base = synth(Variant())
    head = synth(dataclasses.replace(Variant(), tags={"project": "ocift", "environment": "prod", "team": "ml"}))
    report = review_trees({STACK: base}, {STACK: head}, load_prices(environ={}))
    assert not report.stacks[0].cost and "#### Cost" not in to_markdown(report)


def test_cli_prices_a_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = write_tree(tmp_path / "out", synth(Variant()))
    assert main(["--tree", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "2 x BM.GPU.H100.8" in out and "$1,600.00" in out and "price of BM.GPU.H100.8:" in out
    assert main(["--tree", str(tree), "--format", "json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    assert job["per_run"]["known"] == 1600.0


def test_cli_names_a_bad_price_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = write_tree(tmp_path / "out", synth(Variant()))
    assert main(["--tree", str(tree), "--prices", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: not a readable price file" in capsys.readouterr().err


def test_cli_synthesizes_the_named_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod"]) == 0
    out = capsys.readouterr().out
    assert "prod-training" in out and "dev-" not in out and "BM.GPU.H100.8" in out


def test_review_names_a_bad_price_file_before_synthesizing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ocift.review import main as review

    assert review(["--base-ref", "no-such-ref", "--prices", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: not a readable price file" in capsys.readouterr().err
