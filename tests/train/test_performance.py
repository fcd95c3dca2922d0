"""Performance features, checked for the same math: document masking, the chunked loss, and a
training step that never waits for the device."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from contract.recipe import TrainConfig
from launcher.train.data import IGNORE, Example, collate, pack
from launcher.train.loop import accumulate, batch_loss, model_inputs
from launcher.train.loss import linear_cross_entropy
from tests.support import base_args, metrics, torchrun

CPU = torch.device("cpu")


def load(tiny, attn: str = "sdpa"):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny["model"], attn_implementation=attn)
    model.config.use_cache = False
    return model


def document(seed: int, length: int, labelled: bool) -> Example:
    ids = torch.randint(5, 300, (length,), generator=torch.Generator().manual_seed(seed)).tolist()
    return Example(ids, ids if labelled else [IGNORE] * length)


def packed_row(*docs: Example) -> dict:
    (row,) = pack(list(docs), sum(len(d.input_ids) for d in docs))
    return collate([row], pad_id=0)


# ---- document masking ---------------------------------------------------------------------------


@pytest.mark.parametrize("attn", ["sdpa", "eager", "flex_attention"])
def test_masked_packing_sees_each_document_alone_and_unmasked_packing_leaks(tiny, attn):
    model = load(tiny, attn).eval()
    a, b, c = document(1, 13, True), document(2, 9, False), document(3, 17, False)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([a.input_ids])).logits[0]

        def logits_of_a(before: Example, masking: bool) -> torch.Tensor:
            batch = packed_row(before, a)
            out = model(**model_inputs(model, batch, CPU, masking)).logits[0]
            return out[len(before.input_ids) :]

        after_b, after_c = logits_of_a(b, True), logits_of_a(c, True)
        torch.testing.assert_close(after_b, alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(after_c, alone, atol=1e-5, rtol=1e-5)
        leaked_b, leaked_c = logits_of_a(b, False), logits_of_a(c, False)
        assert (leaked_b - leaked_c).abs().max() > 1e-2  # the test can fail: unmasked, A depends on its neighbour

        # The loss (labels only on A) is A's own loss, whatever precedes it.
        losses = {
            (before.input_ids[0], masking): batch_loss(model, packed_row(before, a), CPU, masking)[0].item()
            for before in (b, c)
            for masking in (True, False)
        }
        own = F.cross_entropy(alone[:-1], torch.tensor(a.input_ids[1:]), reduction="sum").item()
        assert losses[b.input_ids[0], True] == pytest.approx(own, rel=1e-5)
        assert losses[c.input_ids[0], True] == pytest.approx(own, rel=1e-5)
        assert losses[b.input_ids[0], False] != pytest.approx(losses[c.input_ids[0], False], rel=1e-3)


def test_flex_mask_skips_the_blocks_between_documents():
    """Why flex_attention is the cheap pairing: with samsum-sized documents (~200 tokens) in a
    4096-token row, 93% of the (128 x 128) blocks are never computed, against 48% for causal."""
    from launcher.train.attention import document_mask

    documents = (torch.arange(4096) // 200)[None]
    assert document_mask(documents, "flex_attention").sparsity() > 90
    assert document_mask(torch.zeros_like(documents), "flex_attention").sparsity() < 50


def test_packing_records_document_pieces_and_padding_is_its_own_document():
    rows = pack([Example([1] * 5, [1] * 5), Example([2] * 7, [2] * 7), Example([3] * 9, [3] * 9)], 8)
    assert [r.lengths for r in rows] == [(5, 3), (4, 4), (5,)]
    batch = collate(rows, pad_id=0)
    assert batch["document_ids"].tolist() == [[0] * 5 + [1] * 3, [0] * 4 + [1] * 4, [0] * 5 + [1] * 3]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2], [0, 1, 2, 3] * 2, [0, 1, 2, 3, 4, 0, 1, 2]]
    # A document's first token is never a target: it would be predicted from another document.
    assert batch["labels"].tolist() == [
        [IGNORE, 1, 1, 1, 1, IGNORE, 2, 2],
        [IGNORE, 2, 2, 2, IGNORE, 3, 3, 3],
        [IGNORE, 3, 3, 3, 3] + [IGNORE] * 3,
    ]


# ---- chunked loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("weight_grad", [True, False])
def test_chunked_loss_equals_plain_head_and_cross_entropy(dtype, tol, weight_grad):
    torch.manual_seed(0)
    hidden = torch.randn(2, 37, 24).to(dtype).requires_grad_()
    weight = (torch.randn(50, 24) * 0.3).to(dtype).requires_grad_(weight_grad)
    targets = torch.randint(0, 50, (2, 37))
    targets[0, :11] = IGNORE
    targets[1, -5:] = IGNORE

    plain = F.cross_entropy(
        (hidden @ weight.T).float().reshape(-1, 50), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    (plain / 7.0).backward()
    expected = [hidden.grad] + ([weight.grad] if weight_grad else [])
    hidden.grad = weight.grad = None

    chunked = linear_cross_entropy(hidden, weight, targets, chunk=10)  # 74 tokens: the last chunk is short
    (chunked / 7.0).backward()
    assert chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, plain, rtol=tol, atol=tol)
    for got, want in zip([hidden.grad] + ([weight.grad] if weight_grad else []), expected):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    with torch.no_grad():
        assert linear_cross_entropy(hidden, weight, targets, chunk=16).item() == pytest.approx(plain.item(), rel=tol)


def window_of(tiny) -> list[dict]:
    """Two micro-batches of packed documents, the second with far fewer labelled tokens."""
    docs = [document(i, 11 + 3 * i, labelled=i % 3 != 0) for i in range(8)]
    return [collate(pack(docs[:5], 24)[:2], pad_id=0), collate(pack(docs[5:], 30), pad_id=0)]


@pytest.mark.parametrize("masking", [True, False])
def test_chunked_loss_gives_the_plain_step_loss_and_gradients(tiny, masking):
    """Through the model and the loop's accumulation: token means per micro-batch, over the window."""
    window = window_of(tiny)
    results = []
    for chunk in (0, 7):
        model = load(tiny)
        options = TrainConfig(document_masking=masking, loss_chunk_size=chunk)
        step_loss = accumulate(model, window, CPU, options)
        results.append((step_loss, {n: p.grad for n, p in model.named_parameters()}))
    (plain_loss, plain_grads), (chunk_loss, chunk_grads) = results
    by_hand = sum(batch_loss(load(tiny), b, CPU, masking)[0] / (b["label_tokens"] * 2) for b in window)
    torch.testing.assert_close(plain_loss, by_hand.detach())
    torch.testing.assert_close(chunk_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert plain_grads.keys() == chunk_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(chunk_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("method, rel", [(["--mixed_precision", "false"], 1e-4), (["--use_peft"], 2e-3)])
def test_chunked_loss_under_fsdp_trains_like_the_plain_loss(tiny, tmp_path, method, rel):
    """2 processes. Full fine-tuning in fp32: the head's gradient crosses FSDP2's reduce-scatter.
    LoRA in bf16 mixed precision: the head is frozen, the compute dtype is bf16."""
    runs = {}
    for chunk in ("0", "16"):
        out = tmp_path / chunk
        torchrun(
            base_args(
                tiny,
                out,
                "--max_train_step",
                "5",
                "--lr",
                "1e-3",
                "--run_validation",
                "false",
                "--save_model",
                "false",
                "--loss_chunk_size",
                chunk,
                *method,
            )
        )
        runs[chunk] = [r["loss"] for r in metrics(out)[0]]
    assert len(runs["0"]) == 5
    assert runs["16"] == pytest.approx(runs["0"], rel=rel)
    assert runs["0"][-1] < runs["0"][0]


# ---- no host syncs in a step --------------------------------------------------------------------


class HostReads(TorchDispatchMode):
    """Counts what makes the host wait for the device: scalar reads (`.item()`, `float(t)`,
    `if t:`), ops whose output size depends on values, and Python-level copies to the host."""

    DATA_DEPENDENT = (
        "_local_scalar_dense",
        "is_nonzero",
        "nonzero",
        "masked_select",
        "equal",
        "unique",
        "_unique2",
        "repeat_interleave",
    )

    def __init__(self, monkeypatch) -> None:
        super().__init__()
        self.reads: list[str] = []
        for name in ("tolist", "cpu", "numpy"):
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _name=name, _original=original, **kwargs):
                self.reads.append(_name)
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in self.DATA_DEPENDENT:
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("masking, chunk, reads_per_forward", [(True, 0, 0), (True, 7, 0), (False, 0, 1)])
def test_a_training_step_reads_nothing_back_from_the_device(tiny, monkeypatch, masking, chunk, reads_per_forward):
    """With document masking nothing in forward, loss or backward waits for the device. Without
    it transformers builds the causal mask itself and reads one value per forward (whether the
    rows are packed, or padded): the counter sees it, so it can fail."""
    model = load(tiny)
    window = [collate(pack([document(i, 20, True) for i in range(6)], 30)[:2], pad_id=0)] * 2
    options = TrainConfig(document_masking=masking, loss_chunk_size=chunk)
    accumulate(model, window, CPU, options)  # warm-up: lazy initialisation may read once
    with HostReads(monkeypatch) as counter:
        accumulate(model, window, CPU, options)
    assert len(counter.reads) == reads_per_forward * len(window), counter.reads


def test_chunked_loss_refuses_a_head_it_would_compute_differently(tiny):
    model = load(tiny)
    batch = collate([document(1, 12, True)], pad_id=0)
    model.config.final_logit_softcapping = 30.0
    with pytest.raises(ValueError, match="final_logit_softcapping"):
        batch_loss(model, batch, CPU, loss_chunk_size=8)
    assert batch_loss(model, batch, CPU, loss_chunk_size=0)[0] > 0


# ---- automatic choices ---------------------------------------------------------------------------


def test_auto_attention_takes_flex_for_masked_rows_on_cuda_and_sdpa_otherwise():
    from launcher.train.attention import resolve_implementation

    assert resolve_implementation("auto", "cuda", document_masking=True) == "flex_attention"
    assert resolve_implementation("auto", "cuda", document_masking=False) == "sdpa"  # flash-causal, no mask
    assert resolve_implementation("auto", "cpu", document_masking=True) == "sdpa"
    assert resolve_implementation("eager", "cuda", document_masking=True) == "eager"  # an explicit choice stands
    assert TrainConfig().attn_implementation == "auto"


def test_auto_loss_chunking_turns_on_above_the_vocabulary_threshold():
    from transformers import LlamaConfig, LlamaForCausalLM

    from launcher.train.loss import AUTO, AUTO_CHUNK_SIZE, AUTO_CHUNK_VOCABULARY, chunk_size

    def model(vocab: int):
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
        with torch.device("meta"):
            return LlamaForCausalLM(config)

    assert TrainConfig().loss_chunk_size == AUTO
    large, small = model(AUTO_CHUNK_VOCABULARY + 1), model(AUTO_CHUNK_VOCABULARY)
    assert chunk_size(large, AUTO) == AUTO_CHUNK_SIZE and chunk_size(small, AUTO) == 0
    assert chunk_size(large, 0) == 0 and chunk_size(small, 256) == 256  # explicit sizes stand
    large.config.final_logit_softcapping = 30.0  # a head the chunked loss would compute differently
    assert chunk_size(large, AUTO) == 0
    with pytest.raises(ValueError, match="final_logit_softcapping"):
        chunk_size(large, 512)
