"""Does a checkpoint stop when barged in?  Teacher-forced ``<shift>`` probabilities at the corpus's barge-in decisions.

Why: a model can take every turn and score a good ``acc_shift`` while never yielding the floor (tiny, 2026-12-04:
``acc_shift`` 0.66 on val, barge-in recall 0.17 closed loop).  This reads, on every dialogue of a corpus, the
greedy rule's probability of ``<shift>`` (``SalmonnOmni.decision_logits``: the mode mask and the configured offsets)
at each speak->listen ``<shift>`` target, split into barge-in stops (the block of an event's causal ``decision``),
late stops (the overrun blocks of a corpus made with ``late_stop_prob``: a model that missed the decision, still
talking over the user) and natural ends, beside starts and the other speaking / listening blocks.  ``hit_window``
also counts a barge-in as found when the probability passes 0.5 in one of the ``window`` speaking blocks up to the
decision (a stream that fires a block early still stops inside the benchmark's window).  Cheap: one forward pass per
dialogue.

``--own-voice piper|mel``: the corpus's assistant voice replaced by what the benchmark plays when the model says
the corpus tokens (the ``salmonn-omni`` adapter's voice, forced to those tokens and streamed: ``piper`` speaks its
text word by word as each word completes, ``mel`` is its own synthesizer), in the assistant channel and, through the
scene's echo path at its recorded gain, in the mic.  Why: closed loop, the model hears that voice, with that timing,
not the corpus's; a model whose decisions lean on the corpus voice's timing or sound fails there, and this shows it
teacher-forced on the same blocks.  One streamed pass per dialogue more.

    python -m recipes.stop_probe CHECKPOINT CORPUS [--own-voice piper|mel] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("barge_in_stop", "late_stop", "natural_stop", "start", "speaking_other", "listening_other")


def own_voice(session, dialogue, audio: dict[str, np.ndarray]) -> np.ndarray:
    """What the benchmark plays over ``dialogue`` when its model is forced to the dialogue's target tokens: a
    ``salmonn-omni`` adapter ``session`` (its voice as configured), streamed over the corpus mic; step ``k``'s
    output is block ``k+1``, as in the closed loop."""
    from datagen.schema import BLOCK_SAMPLES
    from model.targets import build_targets

    tokens = build_targets(dialogue, session.model.tokenizer).tokens
    mic = audio["mic"]
    own = np.zeros(len(mic), np.float32)
    for k in range(min(len(tokens), len(mic) // BLOCK_SAMPLES)):
        played = session.step(mic[k * BLOCK_SAMPLES : (k + 1) * BLOCK_SAMPLES], force=int(tokens[k])).audio
        start = (k + 1) * BLOCK_SAMPLES
        n = max(0, min(len(played), len(own) - start))
        own[start : start + n] = played[:n]
    return own


def with_own_voice(session, dialogue, audio: dict[str, np.ndarray], bank) -> dict[str, np.ndarray]:
    """``audio`` (mic, assistant, echo) with the benchmark's voice (:func:`own_voice`) in place of the corpus's: the
    assistant channel, and the mic's echo re-rendered through the scene's echo path at its recorded gain."""
    from datagen.acoustics.echo import render_echo

    own = own_voice(session, dialogue, audio)
    gain = float(dialogue.scene.echo.gain or 0.0) if dialogue.scene is not None else 0.0
    echo = render_echo(own, dialogue.scene, bank, gain) if gain > 0 else np.zeros_like(own)
    return {"mic": (audio["mic"] - audio["echo"] + echo).astype(np.float32), "assistant": own}


def stop_probe(checkpoint: str | Path, corpus: str | Path, window: int = 3, max_dialogues: int | None = None,
               own: str | None = None) -> dict[str, Any]:
    """Per kind of block (:data:`KINDS`): ``n``, ``mean`` p(<shift>), ``above_half`` (share with p > 0.5); for
    barge-in stops also ``hit_window`` (p > 0.5 somewhere in the ``window`` blocks ending at the decision).
    ``own``: with the ``salmonn-omni`` adapter's voice of that name (:func:`with_own_voice`); ``own_level_db`` then
    says how loud it is against the corpus voice (active levels, over the whole corpus)."""
    import torch

    from datagen.acoustics.rooms import RIRBank
    from datagen.corpus import Corpus
    from datagen.levels import active_rms
    from datagen.schema import frame_of
    from model.checkpoint import load_checkpoint
    from model.targets import make_batch, overrun_blocks, stop_shifts

    model = load_checkpoint(checkpoint)
    model.eval()
    probs: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    window_max: list[float] = []  # per barge-in: the highest p(<shift>) in its window (what a stream would act on)
    data = Corpus(Path(corpus))
    bank = RIRBank.load_or_build(data.acoustics(), progress=False) if own else None
    if own:  # the benchmark's own adapter plays the voice (it checks the voice's name and backend)
        from benchmark.models.salmonn_omni import SalmonnOmniModel
        from benchmark.protocol import SessionInfo

        adapter = SalmonnOmniModel(str(checkpoint), voice=own)
    levels = []  # (corpus voice, own voice) active levels
    for i, (dlg, audio) in enumerate(data.iter_audio(channels=("mic", "assistant", "echo") if own
                                                     else ("mic", "assistant"))):
        if max_dialogues is not None and i >= max_dialogues:
            break
        if own and audio["assistant"].any():
            corpus_voice = audio["assistant"]
            audio = with_own_voice(adapter.open_session(SessionInfo(dlg.id, "probe")), dlg, audio, bank)
            levels.append((active_rms(corpus_voice), active_rms(audio["assistant"])))
        batch = make_batch([(dlg, audio)], model.tokenizer)
        with torch.no_grad():
            logits = model(batch, return_logits=True)["logits"][0]
        tokens, mode = batch["tokens"][0], batch["mode"][0]
        prev = np.concatenate([[0], mode[:-1]])
        p = torch.softmax(model.decision_logits(logits.float(), torch.as_tensor(prev)), -1)[:, model.shift_id].numpy()
        fed = batch["inputs"][0] if "inputs" in batch else None
        shift, stop = tokens == model.shift_id, stop_shifts(tokens, mode, model.shift_id, fed)
        decided = [frame_of(e.decision) for e in dlg.events if e.decision is not None]
        barge_in = np.zeros(len(tokens), bool)
        barge_in[[k for k in decided if k < len(tokens)]] = True
        barge_in &= stop
        late = overrun_blocks(tokens, fed, model.shift_id) if fed is not None else np.zeros_like(stop)
        masks = {"barge_in_stop": barge_in, "late_stop": late, "natural_stop": stop & ~barge_in & ~late,
                 "start": shift & ~stop,
                 "speaking_other": ~shift & (prev == 1), "listening_other": ~shift & (prev == 0)}
        for kind, m in masks.items():
            probs[kind].append(p[m])
        for k in np.flatnonzero(barge_in):
            span = [j for j in range(max(0, k - window + 1), k + 1) if prev[j]]
            window_max.append(float(p[span].max()) if span else 0.0)
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "corpus": str(corpus), "window": window, "own_voice": own}
    if levels:
        ref, mine = np.array(levels).mean(0)
        out["own_level_db"] = round(float(20 * np.log10(max(mine, 1e-9) / ref)), 2)
    for kind, values in probs.items():
        v = np.concatenate(values) if values else np.zeros(0)
        out[kind] = {"n": int(v.size), "mean": round(float(v.mean()), 4) if v.size else None,
                     "above_half": round(float((v > 0.5).mean()), 4) if v.size else None}
    found = np.array(window_max)
    out["barge_in_stop"]["hit_window"] = round(float(np.mean(found > 0.5)), 4) if found.size else None
    out["separation"] = separation(found, np.concatenate(probs["speaking_other"] or [np.zeros(0)]))
    return out


def separation(barge_in: np.ndarray, speaking: np.ndarray, recall: float = 0.8) -> dict[str, Any]:
    """How well p(<shift>) tells barge-ins from the other speaking blocks, whatever the threshold (the decision
    offsets only move the threshold).  ``auc``: the chance that a barge-in's window maximum beats a random other
    speaking block (ties count half); ``false_stop_blocks_at_recall``: the share of other speaking blocks at or
    above the threshold that finds ``recall`` of the barge-ins.  Why the second: a stream decides every block, so
    an answer of 100 speaking blocks stops falsely about once at a per-block share of 1%."""
    if not barge_in.size or not speaking.size:
        return {"auc": None, "recall": recall, "false_stop_blocks_at_recall": None}
    order = np.sort(speaking)
    below = np.searchsorted(order, barge_in, "left")
    ties = np.searchsorted(order, barge_in, "right") - below
    auc = float(np.mean((below + 0.5 * ties) / order.size))
    threshold = float(np.quantile(barge_in, 1.0 - recall))
    return {"auc": round(auc, 4), "recall": recall,
            "false_stop_blocks_at_recall": round(float((speaking >= threshold).mean()), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recipes.stop_probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("corpus")
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--own-voice", choices=("piper", "mel"), default=None,
                    help="hear the benchmark's voice for the model (channel and echo) instead of the corpus voice")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    res = stop_probe(a.checkpoint, a.corpus, a.window, own=a.own_voice)
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    for kind in KINDS:
        r = res[kind]
        extra = f"  found within {a.window} blocks: {r['hit_window']}" if kind == "barge_in_stop" else ""
        print(f"{kind:16s} n={r['n']:6d}  mean p(<shift>)={r['mean']}  share > 0.5={r['above_half']}{extra}")
    if "own_level_db" in res:
        print(f"own voice: {res['own_level_db']:+.1f} dB against the corpus voice")
    sep = res["separation"]
    print(f"barge-in vs other speaking blocks: AUC {sep['auc']}; at recall {sep['recall']:g}, "
          f"{sep['false_stop_blocks_at_recall']} of the other speaking blocks would stop too")
    return 0


if __name__ == "__main__":
    sys.exit(main())
