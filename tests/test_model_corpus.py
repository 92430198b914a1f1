"""SALMONN-omni on a real generated corpus (slow: renders ~0.5 min of dialogue): targets from every dialogue
record, a training step from a corpus batch, and the adapter streaming a corpus mic channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datagen.config import GeneratorConfig
from datagen.corpus import Corpus
from datagen.generate import generate
from datagen.schema import BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS, frame_labels, frame_of
from model.config import load_config
from model.salmonn import SalmonnOmni
from model.targets import build_targets, make_batch
from tests.conftest import SMALL_ACOUSTICS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("mcorpus")
    cfg = GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS), "dialogues_per_shard": 2,
                                     "dialogue_seconds": [12.0, 20.0]})
    generate(out, 0.5, seed=3, workers=1, config=cfg, progress=False)
    return Corpus(out)


def test_targets_follow_the_labels_on_real_dialogues(corpus):
    model = SalmonnOmni(load_config("tiny"))
    for dlg in corpus:
        labels = frame_labels(dlg)
        tg = build_targets(dlg, model.tokenizer, labels)
        state = labels["state"]
        # audio state == labels wherever the <shift> was not clamped at the dialogue start (starts D blocks late,
        # stops at once: interrupted answers included)
        np.testing.assert_array_equal(tg.audible[SYNTH_DELAY_BLOCKS:], state[SYNTH_DELAY_BLOCKS:])
        shifts = set(np.flatnonzero(tg.tokens == model.shift_id).tolist())
        for e in dlg.events:
            if e.expected == "stop":
                assert frame_of(e.decision) in shifts and not state[frame_of(e.decision) + 1]
        if state.any():
            assert (tg.tokens < model.base_vocab).any()


def test_corpus_batch_trains_and_adapter_streams(corpus, tmp_path):
    from benchmark.protocol import SessionInfo
    from benchmark.models import load_model
    from model.checkpoint import save_checkpoint

    model = SalmonnOmni(load_config("tiny")).train()
    items = list(corpus.iter_audio(channels=["mic", "assistant"]))[:2]
    batch = make_batch(items, model.tokenizer, max_blocks=80)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        out = model(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < losses[0]
    save_checkpoint(model.eval(), tmp_path / "ck")
    sess = load_model("salmonn-omni", checkpoint=str(tmp_path / "ck")).open_session(SessionInfo(items[0][0].id, "t"))
    mic = items[0][1]["mic"]
    for k in range(40):
        o = sess.step(mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES])
        assert o.audio.shape == (BLOCK_SAMPLES,) and o.state in ("<think>", "<shift>", "text")
    sess.close()
