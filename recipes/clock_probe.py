"""Does a checkpoint listen, or count?  Where its ``<shift>`` tokens fall when the same audio starts later.

Why: every benchmark item started a fixed 0.5 s before its question (before items 1.2), and every training
window of a dialogue's start puts its first answer near the same position; a model can learn "say ``<shift>`` ~2.7 s
in" and pass turn-taking without hearing the question (small, s33: take-over 1.00 on test, the same ``<shift>`` at
2.64 s on silence; docs/training.md).  This streams the user side of a few corpus dialogues (user, other-speaker and
noise stems: no echo, the model's own voice is not fed back into the mic) through the ``salmonn-omni`` adapter with
0, 1, 2, ... s of the dialogue's own background noise put before them, and over that noise alone and over digital
silence, and records every ``<shift>``.  (Noise, not zeros, for the lead: the corpora have no digital silence, and
a model trained on random window starts answered the step from zeros to sound, s33.)

``slope``: how far the first ``<shift>`` moves per second of lead (least squares per dialogue, then the mean): ~1 for
a model that answers the question, ~0 for a clock.  ``noise_shifts_s`` / ``silence_shifts_s``: the ``<shift>``
times over the first dialogue's noise alone and over digital silence (none for a model that waits for speech).

    python -m recipes.clock_probe CHECKPOINT CORPUS [--leads 0,1,2,3] [--dialogues 3] [--seconds 9] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def shift_times(session, mic: np.ndarray, seconds: float) -> list[float]:
    """The start times (s) of the blocks at which ``session`` emits ``<shift>`` over the first ``seconds`` of
    ``mic`` (zero-padded to whole blocks)."""
    from datagen.schema import BLOCK_SAMPLES, frames_in, samples_to_seconds, seconds_to_samples

    blocks = frames_in(seconds_to_samples(seconds))
    x = np.zeros(blocks * BLOCK_SAMPLES, np.float32)
    n = min(len(mic), len(x))
    x[:n] = mic[:n]
    return [round(samples_to_seconds(k * BLOCK_SAMPLES), 3) for k in range(blocks)
            if session.step(x[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES]).state == "<shift>"]


def lead_slope(leads: Sequence[float], first: Sequence[float | None]) -> float | None:
    """Least-squares slope of the first ``<shift>`` time on the lead (None: fewer than two runs with a ``<shift>``)."""
    pts = [(lead, t) for lead, t in zip(leads, first) if t is not None]
    if len(pts) < 2 or len({p[0] for p in pts}) < 2:
        return None
    x, y = np.array(pts, float).T
    return float(np.polyfit(x, y, 1)[0])


def clock_probe(checkpoint: str | Path, corpus: str | Path, leads: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
                dialogues: int = 3, seconds: float = 9.0, **options: Any) -> dict[str, Any]:
    """``options``: the ``salmonn-omni`` adapter's (``threads``, ``overrides``, ...); its voice is ``mel`` unless
    given, since what it plays is not heard here."""
    from benchmark.models.salmonn_omni import SalmonnOmniModel
    from benchmark.protocol import SessionInfo
    from datagen.corpus import Corpus
    from datagen.schema import samples_to_seconds, seconds_to_samples
    from model.targets import background_lead

    if not leads or min(leads) < 0:
        raise ValueError(f"clock probe: leads must be >= 0 seconds, got {list(leads)}")
    model = SalmonnOmniModel(str(checkpoint), **{"voice": "mel", **options})
    session = lambda name: model.open_session(SessionInfo(name, "clock_probe"))  # noqa: E731
    runs, slopes, noise_alone, probed = [], [], [], 0
    for dlg, audio in Corpus(corpus).iter_audio(channels=("user", "other", "noise")):
        questions = dlg.events_of("user_turn")
        if not questions:
            continue
        user = (audio["user"] + audio["other"] + audio["noise"]).astype(np.float32)
        background = background_lead(audio["noise"], seconds_to_samples(max(*leads, seconds)))
        if not probed:
            noise_alone = shift_times(session(f"{dlg.id}@noise"), background, seconds)
        q = questions[0]
        first = []
        for lead in leads:
            mic = np.concatenate([background[:seconds_to_samples(lead)], user])
            shifts = shift_times(session(f"{dlg.id}@{lead:g}"), mic, seconds)
            first.append(shifts[0] if shifts else None)
            runs.append({"dialogue": dlg.id, "lead_s": lead, "shifts_s": shifts,
                         "question_s": [round(samples_to_seconds(t) + lead, 3) for t in (q.start, q.end)]})
        slope = lead_slope(leads, first)
        if slope is not None:
            slopes.append(slope)
        probed += 1
        if probed >= dialogues:
            break
    silence = shift_times(session("silence"), np.zeros(0, np.float32), seconds)
    return {"runs": runs, "noise_shifts_s": noise_alone, "silence_shifts_s": silence,
            "slope": float(np.mean(slopes)) if slopes else None, "slopes": [round(s, 3) for s in slopes],
            "leads": list(leads), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recipes.clock_probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("corpus")
    ap.add_argument("--leads", default="0,1,2,3",
                    help="seconds of background noise put before the audio, comma-separated")
    ap.add_argument("--dialogues", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=9.0, help="how much of each run is streamed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--override", action="append", default=[], help="model config override (e.g. backbone.dtype=auto)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    try:
        leads = [float(v) for v in a.leads.split(",") if v.strip()]
    except ValueError:
        print(f"clock probe: --leads: expected comma-separated seconds, got {a.leads!r}", file=sys.stderr)
        return 2
    res = clock_probe(a.checkpoint, a.corpus, leads, a.dialogues, a.seconds, threads=a.threads,
                      **({"overrides": a.override} if a.override else {}))
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    for r in res["runs"]:
        print(f"{r['dialogue']}  lead {r['lead_s']:g} s  question {r['question_s'][0]:.2f}-{r['question_s'][1]:.2f} s"
              f"  <shift> at {r['shifts_s']}")
    print(f"background noise alone: <shift> at {res['noise_shifts_s']}; digital silence: {res['silence_shifts_s']}")
    slope = res["slope"]
    print(f"first <shift> moves {slope:.2f} s per second of lead (1: it listens, 0: a clock)" if slope is not None
          else "first <shift>: too few runs with one to fit a slope")
    return 0


if __name__ == "__main__":
    sys.exit(main())
