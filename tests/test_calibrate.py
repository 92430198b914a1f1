"""`duplexkit calibrate`: the <shift> offsets chosen on a validation corpus, and the one decision rule that uses them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from datagen.common.config import ConfigError
from model.config import load_config
from model.salmonn import SalmonnOmni
from recipes.calibrate import Run, calibrate, choose, outcomes, runs_of

SHIFT = 9


def test_runs_end_at_each_target_shift_and_the_last_has_none():
    tokens = np.array([0, 0, SHIFT, 5, 5, SHIFT, 0, 0])
    mode_prev = np.array([0, 0, 0, 1, 1, 1, 0, 0])
    runs = runs_of(np.arange(8.0), tokens, mode_prev, SHIFT)
    assert [(r.speaking, r.target, list(r.margin)) for r in runs] == [
        (False, 2, [0.0, 1.0, 2.0]), (True, 2, [3.0, 4.0, 5.0]), (False, None, [6.0, 7.0])]


def test_only_the_first_firing_counts():
    run = Run(False, np.array([-1.0, 0.5, -3.0, -3.0, -3.0, -3.0, 2.0]), target=6)
    assert outcomes([run], 0.0)["early"] == 1  # block 1 fires, 5 blocks before the target
    assert outcomes([run], -1.0)["on_time"] == 1  # only the target block clears the offset
    assert outcomes([run], -5.0)["late"] == 1
    quiet = Run(False, np.array([-2.0, -1.0]), target=None)
    assert outcomes([quiet], 0.0)["quiet"] == 1 and outcomes([quiet], 1.5)["false_alarm"] == 1


def test_choice_moves_an_over_eager_threshold_down():
    # every run: the margin is +1 for the first half (too early), +3 at the target
    runs = [Run(False, np.r_[np.full(10, 1.0), np.full(9, -0.5), 3.0], target=19) for _ in range(5)]
    bias, table = choose(runs)
    assert -3.0 < bias <= -1.0
    assert next(r for r in table if r["bias"] == bias)["on_time"] == 5
    assert next(r for r in table if r["bias"] == 0.0)["early"] == 5


def test_decision_rule_adds_the_offset_per_mode():
    model = SalmonnOmni(load_config("tiny"))
    logits = torch.zeros(2, model.base_vocab + 2)
    logits[:, model.think_id] = 1.0
    logits[:, model.shift_id] = 0.5
    logits[1, 65] = 2.0  # a text token, allowed only while speaking
    assert model.decision_logits(logits, torch.tensor([0, 1])).argmax(-1).tolist() == [model.think_id, 65]
    model.cfg.decision.start_bias, model.cfg.decision.stop_bias = 1.0, 2.0
    assert model.decision_logits(logits, torch.tensor([0, 1])).argmax(-1).tolist() == [model.shift_id, model.shift_id]


def test_calibrate_writes_a_new_checkpoint_and_refuses_the_test_split(tmp_path, small_acoustics):
    from datagen.config import GeneratorConfig
    from datagen.generate import generate
    from model.checkpoint import load_checkpoint, read_config, save_checkpoint

    config = GeneratorConfig.from_dict({"acoustics": small_acoustics, "dialogues_per_shard": 4,
                                        "dialogue_seconds": [14.0, 18.0]})
    val, test = tmp_path / "val", tmp_path / "test"
    generate(val, 1.0, seed=3, workers=1, config=config, progress=False, split="train")
    ckpt = save_checkpoint(SalmonnOmni(load_config("tiny")), tmp_path / "ck")
    report = calibrate(ckpt, val, tmp_path / "cal", progress=False)
    cfg = read_config(tmp_path / "cal")
    assert (cfg.decision.start_bias, cfg.decision.stop_bias) == (report["start_bias"]["chosen"],
                                                                 report["stop_bias"]["chosen"])
    assert read_config(ckpt).decision.start_bias == 0.0  # the trained checkpoint is left as it was
    assert json.loads((tmp_path / "cal" / "calibration.json").read_text())["data"] == str(val)
    assert (tmp_path / "cal" / "calibration.png").is_file()
    load_checkpoint(tmp_path / "cal")
    generate(test, 1.0, seed=2, workers=1, config=config, progress=False, split="test")
    with pytest.raises(ConfigError, match="test-split"):
        calibrate(ckpt, test, tmp_path / "cal2", progress=False)
    with pytest.raises(ConfigError, match="must differ"):
        calibrate(ckpt, val, ckpt, progress=False)
