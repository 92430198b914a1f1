"""Reference timing distributions of human conversation that the scenario planners sample from.

One place for each timing fact, with its source, so that ``duplexkit inspect`` can draw a corpus's histograms
against the same distributions the planners used.  All are clipped normals in seconds; a config may override the
parameters by name (``timing: {gap: {mean: 0.3}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class ClippedNormal:
    mean: float
    std: float
    lo: float
    hi: float
    source: str = ""

    def sample(self, rng: np.random.Generator) -> float:
        return float(np.clip(rng.normal(self.mean, self.std), self.lo, self.hi))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density of the unclipped normal (for drawing the reference curve over a histogram)."""
        return np.exp(-0.5 * ((x - self.mean) / self.std) ** 2) / (self.std * np.sqrt(2 * np.pi))

    def validate(self, name: str) -> None:
        if not (self.std > 0 and self.lo < self.hi and np.isfinite([self.mean, self.std, self.lo, self.hi]).all()):
            raise ValueError(f"timing.{name}: needs std > 0 and lo < hi (got {self})")


REFERENCE: dict[str, ClippedNormal] = {
    # Assistant response gap after the user's turn ends (smooth turn-taking).  Cross-language turn transitions
    # peak at 0-200 ms with means around 200-500 ms (Stivers et al. 2009, PNAS 106(26); Heldner & Edlund 2010,
    # J. Phonetics 38); a machine is a little slower than the human mode, hence N(0.4 s, 0.2 s).
    "response_gap": ClippedNormal(0.4, 0.2, 0.1, 1.2, "Stivers et al. 2009; Heldner & Edlund 2010"),
    # User's next turn after the assistant finishes; negative values are overlaps (the user starts on the last
    # words).  Heldner & Edlund 2010 report roughly 40% overlaps among speaker changes in face-to-face Swedish and
    # fewer in task dialogues; we take N(0.3 s, 0.35 s), about 20% overlaps, clipped at -0.6 s.
    "user_gap": ClippedNormal(0.3, 0.35, -0.6, 1.5, "Heldner & Edlund 2010"),
    # Pause inside a user turn that the assistant must hold through.  Within-speaker pauses are longer than gaps
    # (Heldner & Edlund 2010: pauses mean ~0.5-0.7 s, with a long tail); we sample the long tail (> 0.6 s) that trips
    # VAD endpointers (typically 0.5-0.8 s of silence), as Full-Duplex-Bench's pause-handling set does.
    "pause": ClippedNormal(1.2, 0.4, 0.6, 2.5, "Heldner & Edlund 2010; Lin et al. 2025 (Full-Duplex-Bench)"),
    # Barge-in decisions (every event with expected: stop), the rule the planners and the targets share.  A causal
    # listener can tell a true interruption from its negatives (backchannels, talking to others, background speech,
    # unrelated questions) only once it has heard the audio that differs, the *cue*:
    #   * a context-independent line ("wait, stop"): its first word, or its first words that are not also the start
    #     of a user backchannel ("okay, that's enough" sounds like the backchannel "okay" until "that's");
    #   * a context-dependent question: up to the words that make it related (the content word it borrows from the
    #     answer, "did you say Vienna?"; the whole question when the relation is only in its meaning, "how did you
    #     get that?").
    # The decision is drawn as this reaction time after the cue's last word ends; the assistant's audio then stops
    # at the end of the decision's 80 ms block, with a short fade (silent from the next block on), and the model's
    # closing <shift> sits in the decision's block.  The reaction: SALMONN-omni's barge-in response of about
    # 130 ms (Yu et al. 2025, as issue 10 reads it); spoken words are recognised about 200-250 ms after their onset,
    # often before their end (Marslen-Wilson 1985, Speech Communication 4: close shadowers), so 40-400 ms after a
    # word's end is causal without being slow.  The 40 ms floor keeps the cue's end inside the audio the model has
    # heard at its decision step, after the room's propagation delay.
    "decision_delay": ClippedNormal(0.13, 0.06, 0.04, 0.4, "Yu et al. 2025 (SALMONN-omni); Marslen-Wilson 1985"),
    # Onset of a barge-in, backchannel or distractor measured from the start of the assistant's answer.
    "barge_in_onset": ClippedNormal(2.2, 0.8, 0.8, 4.5, "design choice: inside the elaboration, after the answer"),
    # Interval between listener backchannels during a long turn: about one every 5-10 s of speech
    # (Ward & Tsukahara 2000, J. Pragmatics 32; Young & Lee 2004).
    "backchannel_interval": ClippedNormal(4.0, 1.5, 1.5, 8.0, "Ward & Tsukahara 2000"),
    # Assistant backchannel latency after the pause cue in the user's speech (Ward & Tsukahara 2000: the cue is a
    # low-pitch region of >= 110 ms; responses follow within ~ 700 ms).
    "backchannel_latency": ClippedNormal(0.3, 0.1, 0.1, 0.7, "Ward & Tsukahara 2000"),
    # Short pause between clauses of a long user turn, where backchannels are invited.
    "clause_pause": ClippedNormal(0.45, 0.12, 0.25, 0.8, "Heldner & Edlund 2010"),
}


def timing_from_config(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, ClippedNormal]:
    """The reference distributions with a config's overrides applied; unknown names or fields fail loudly."""
    timing = dict(REFERENCE)
    for name, fields in (overrides or {}).items():
        if name not in timing:
            raise ValueError(f"timing.{name}: unknown distribution (known: {', '.join(sorted(timing))})")
        unknown = set(fields) - {"mean", "std", "lo", "hi"}
        if unknown:
            raise ValueError(f"timing.{name}: unknown field(s) {', '.join(sorted(unknown))} (use mean, std, lo, hi)")
        timing[name] = replace(timing[name], **{k: float(v) for k, v in fields.items()})
        timing[name].validate(name)
    return timing
