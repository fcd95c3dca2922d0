"""Checkpoints in one process (a one-rank gloo group): commit, pick, clean up, fail safely."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from contract.manifest import MANIFEST, is_committed
from launcher.train import checkpoint as C
from launcher.train.checkpoint import Checkpointer, CheckpointError, TrainState


@pytest.fixture(scope="module")
def group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield dist.new_group(backend="gloo")
    dist.destroy_process_group()


def sharded_model() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("shard",))
    for layer in model:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(4, 8)).sum().backward()
    optimizer.step()
    return model, optimizer


def checkpointer(root, group, method="full", **options) -> Checkpointer:
    return Checkpointer(
        root,
        method=method,
        rank=0,
        writer_group=None,
        writes=True,
        control_group=group,
        meta={"method": method, "world_size": 1},
        **options,
    )


def test_save_commits_and_load_restores(group, tmp_path):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group)
    path = ckpt.save(model, optimizer, TrainState(step=3, epoch=1, samples_in_epoch=12))
    assert path.name == "step-00000003" and is_committed(path)
    assert json.loads((path / C.STATE_FILE).read_text())["samples_in_epoch"] == 12
    assert not list(tmp_path.glob(".tmp-*"))
    expected = [p.full_tensor().clone() for p in model.parameters()]

    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    state = checkpointer(tmp_path, group).load(path, model, optimizer)
    assert state == TrainState(step=3, epoch=1, samples_in_epoch=12)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.full_tensor(), e)
    assert optimizer.state_dict()["state"][0]["step"] == 1

    with pytest.raises(CheckpointError, match="holds a full fine-tune, this run is lora"):
        checkpointer(tmp_path, group, method="lora").load(path, model, optimizer)


def test_latest_skips_uncommitted_and_stale_tmp_is_removed(group, tmp_path):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group)
    for step in (2, 4):
        ckpt.save(model, optimizer, TrainState(step=step))
    partial = shutil.copytree(tmp_path / "step-00000004", tmp_path / "step-00000006")
    (partial / MANIFEST).unlink()  # a copy interrupted before its manifest
    truncated = shutil.copytree(tmp_path / "step-00000004", tmp_path / "step-00000008")
    shard = next(truncated.glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[:10])  # manifest present, file short
    (tmp_path / ".tmp-step-00000010").mkdir()
    assert C.latest(tmp_path).name == "step-00000004"
    assert C.resolve_resume("auto", tmp_path).name == "step-00000004"
    assert C.resolve_resume("", tmp_path) is None
    with pytest.raises(CheckpointError, match="not a committed checkpoint"):
        C.resolve_resume(str(partial), tmp_path)
    assert C.clean_stale(tmp_path) == [tmp_path / ".tmp-step-00000010"]
    assert C.latest(tmp_path / "missing") is None


def test_disk_full_is_a_clear_error_and_previous_checkpoint_stays(group, tmp_path, monkeypatch):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group)
    ckpt.save(model, optimizer, TrainState(step=5))

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(C.dcp, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"step-00000009.*No space left on device.*step-00000005 is intact"):
        ckpt.save(model, optimizer, TrainState(step=9))
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000005"]
    assert is_committed(tmp_path / "step-00000005")


def test_keep_prunes_all_but_the_newest_committed_checkpoints(group, tmp_path):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group, keep=2)
    for step in (1, 2, 3, 4):
        ckpt.save(model, optimizer, TrainState(step=step))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000003", "step-00000004"]
    assert all(is_committed(p) for p in tmp_path.iterdir())


def test_async_save_commits_when_written_and_loads_like_a_synchronous_one(group, tmp_path):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group, background=True)
    expected = [p.full_tensor().clone() for p in model.parameters()]
    path = ckpt.save(model, optimizer, TrainState(step=2), background=True)
    assert ckpt.pending is not None and not path.exists()  # staged; committed only once written
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # training goes on: the staged copy is what gets written
    ckpt.save(model, optimizer, TrainState(step=4))  # a synchronous save commits the pending one first
    assert ckpt.pending is None and is_committed(path) and is_committed(tmp_path / "step-00000004")
    checkpointer(tmp_path, group).load(path, model, optimizer)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.full_tensor(), e)


@pytest.mark.parametrize("grace_s, warned", [(1e-3, True), (1e6, False)])
def test_each_save_reports_its_write_rate_and_whether_it_fits_the_grace(group, tmp_path, capsys, grace_s, warned):
    model, optimizer = sharded_model()
    ckpt = checkpointer(tmp_path, group, grace_s=grace_s)
    ckpt.save(model, optimizer, TrainState(step=1))
    err = capsys.readouterr().err
    assert "checkpoint_saved" in err and "mb_per_s" in err
    assert ("checkpoint_exceeds_grace" in err) == warned
    assert C.grace_needed(40.0) == 90.0
    ckpt.save(model, optimizer, TrainState(step=2))
    assert "checkpoint_exceeds_grace" not in capsys.readouterr().err  # said once a run, not at every save


def test_hf_export_keeps_the_base_models_dtype(group, tiny, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from contract.recipe import Recipe
    from launcher.train.config import ProcessRanks, derive
    from launcher.train.outputs import save_hf_model

    base = tmp_path / "base"
    AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.bfloat16).save_pretrained(base)
    AutoTokenizer.from_pretrained(tiny["model"]).save_pretrained(base)
    trained = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)  # fp32 master weights, as trained
    cfg = derive(
        Recipe.from_args(["--model_name", str(base), "--output_dir", str(tmp_path), "--data_path", "d"]), ProcessRanks()
    )
    save_hf_model(trained, cfg, tmp_path / "model", AutoTokenizer.from_pretrained(base), group)
    assert {t.dtype for t in load_file(tmp_path / "model" / "model.safetensors").values()} == {torch.bfloat16}
    assert AutoConfig.from_pretrained(tmp_path / "model").dtype == torch.bfloat16
