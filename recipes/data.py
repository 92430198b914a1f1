"""Training data: parquet shards read lazily, block-aligned crop windows, and a deterministic sampler whose state
is a checkpointable pair (epoch, position).

Why windows from the manifest: which windows exist and which hold an event (a ``<shift>``, a barge-in, a
backchannel) is known from the dialogue records alone, so the sampler never decodes audio; audio is decoded per
shard on demand (an LRU of decoded shards).  An epoch's order is a function of (seed, epoch) only, and every
process draws the same global batch and keeps its slice, so one process and N processes see the same data.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datagen.common.config import ConfigError
from datagen.corpus import AUDIO_COLUMNS, Corpus, CorpusError, list_shards, read_shard
from datagen.schema import BLOCK_MS, SYNTH_DELAY_BLOCKS, Dialogue, frame_labels

NEEDED_COLUMNS = ("id", "mic", "assistant", "meta")
EVENT_TRACKS = ("shift", "interruption", "distractor", "backchannel_opportunity")


@dataclass(frozen=True)
class Window:
    source: int  # index of the corpus in the run's --data list
    dialogue: str
    start: int  # first block
    blocks: int
    event: bool
    task: str = "duplex"  # which target stream (model.targets.TASKS)
    frames: int = 0  # the dialogue's length in blocks (0: unknown; the sampler's jitter needs it)
    lead: int = 0  # blocks of background noise before the window (the sampler's lead; the window keeps its length)


def parse_data_arg(text: str) -> tuple[str, float]:
    """``CORPUS`` or ``CORPUS:weight``."""
    path, sep, tail = text.rpartition(":")
    if sep:
        try:
            weight = float(tail)
        except ValueError:
            return text, 1.0
        if not weight > 0:
            raise ConfigError(f"--data {text!r}: the weight must be > 0")
        return path, weight
    return text, 1.0


class CorpusSource:
    """One corpus: its records, its shards, and decoded mic/assistant audio with a small shard cache."""

    def __init__(self, root: str | Path, cache: int = 4, option: str = "--data",
                 channels: Sequence[str] = ("mic", "assistant")) -> None:
        self.root = Path(root)
        try:
            self.corpus = Corpus(self.root)
        except CorpusError as exc:
            raise CorpusError(f"{option} {self.root}: {exc}") from None
        self.shards = list_shards(self.root)
        if not self.shards:
            raise CorpusError(f"{option} {self.root}: no parquet shards in {self.root / 'data'}")
        import pyarrow.parquet as pq

        self.channels = tuple(channels)
        needed = list(NEEDED_COLUMNS) + [c for c, k in AUDIO_COLUMNS if k in self.channels and c not in NEEDED_COLUMNS]
        self.shard_of: dict[str, Path] = {}
        for shard in self.shards:
            names = pq.read_schema(shard).names
            missing = [c for c in needed if c not in names]
            if missing:
                raise CorpusError(f"{shard}: lacks the column(s) {', '.join(missing)} training needs "
                                  f"({', '.join(needed)})")
            for i in pq.read_table(shard, columns=["id"]).column("id").to_pylist():
                self.shard_of[i] = shard
        self.cache_size = max(1, cache)
        self._cache: OrderedDict[Path, dict[str, tuple[Dialogue, dict[str, np.ndarray]]]] = OrderedDict()

    def item(self, dialogue_id: str) -> tuple[Dialogue, dict[str, np.ndarray]]:
        shard = self.shard_of.get(dialogue_id)
        if shard is None:
            raise CorpusError(f"{self.root}: dialogue {dialogue_id!r} is in the manifest but in no shard")
        if shard not in self._cache:
            self._cache[shard] = {d.id: (d, a) for d, a in read_shard(shard, channels=self.channels)}
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(shard)
        return self._cache[shard][dialogue_id]


def dialogue_windows(dialogue: Dialogue, source: int, max_blocks: int) -> list[Window]:
    """Non-overlapping block-aligned windows covering the dialogue; the last one ends at its end.  A window is an
    event window when an event track is on inside it (``<shift>`` targets sit ``D`` blocks before the state
    change, so the look-ahead covers them)."""
    n = dialogue.num_frames
    labels = frame_labels(dialogue)
    events = np.zeros(n, bool)
    for track in EVENT_TRACKS:
        events |= np.asarray(labels[track]).astype(bool)
    starts = list(range(0, max(n - max_blocks, 0) + 1, max_blocks))
    if starts[-1] + max_blocks < n:
        starts.append(n - max_blocks)
    out = []
    for s in starts:
        blocks = min(max_blocks, n - s)
        out.append(Window(source, dialogue.id, s, blocks, bool(events[s : s + blocks + SYNTH_DELAY_BLOCKS].any()),
                          frames=n))
    return out


def build_windows(sources: Sequence[CorpusSource], max_seconds: float, scenarios: Sequence[str] = (),
                  tasks: Sequence[str] = ("duplex",)) -> list[Window]:
    """Every window of the selected dialogues, once per task (tasks inner, so corpus order is kept)."""
    max_blocks = max(1, int(round(max_seconds * 1000 / BLOCK_MS)))
    out: list[Window] = []
    for i, src in enumerate(sources):
        for d in src.corpus:
            if not scenarios or d.scenario in scenarios:
                for w in dialogue_windows(d, i, max_blocks):
                    out.extend(dataclasses.replace(w, task=t) for t in tasks)
    if not out:
        raise CorpusError(f"no training windows: no dialogue of scenarios {list(scenarios)} in "
                          f"{', '.join(str(s.root) for s in sources)}")
    return out


class WindowSampler:
    """Deterministic, checkpointable order over windows.

    Epoch ``e`` draws each window ``m`` times in expectation, ``m = corpus weight * (event_oversample if event
    else 1) * task weight`` (the integer part always, the fraction by a coin from ``(seed, e)``), then shuffles with the same
    generator.  The state is ``(epoch, position)``; :meth:`take` advances it.

    ``jitter``: each draw of a window moves its start later by 0 to ``blocks - 1`` blocks (within the dialogue),
    from ``(seed, epoch, position)``.  Why: windows cut at fixed steps from each dialogue's start put its first
    answer at nearly the same position in every first window, and small learned to say ``<shift>`` at that
    position whatever it heard (docs/training.md, s33; ``python -m recipes.clock_probe``).  Off by default: on
    tiny it taught a ``<shift>`` at a window's first blocks instead.

    ``lead_blocks``: each draw of a dialogue's first duplex window puts 0 to ``lead_blocks`` blocks of the dialogue's
    background noise before it (:attr:`Window.lead`, from ``(seed, epoch, position)``), so its first answer comes at a
    different position on every draw and only hearing the question tells when; later windows start mid-dialogue and
    already vary."""

    def __init__(self, windows: Sequence[Window], weights: Sequence[float], seed: int, event_oversample: float,
                 shuffle: bool = True, task_weights: dict[str, float] | None = None, jitter: bool = False,
                 lead_blocks: int = 0) -> None:
        self.windows = list(windows)
        self.jitter, self.lead_blocks = jitter, int(lead_blocks)
        tw = task_weights or {}
        self.mult = np.array([weights[w.source] * (event_oversample if w.event else 1.0) * tw.get(w.task, 1.0)
                              for w in self.windows])
        self.seed, self.shuffle = int(seed), shuffle
        self.epoch, self.position = 0, 0
        self._order: np.ndarray | None = None

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.windows))
        rng = np.random.default_rng([self.seed, epoch])
        base = np.floor(self.mult).astype(int)
        counts = base + (rng.random(len(self.mult)) < self.mult - base)
        if counts.sum() == 0:
            counts[:] = 1
        order = np.repeat(np.arange(len(self.windows)), counts)
        return order[rng.permutation(len(order))]

    def take(self, n: int) -> list[Window]:
        out = []
        while len(out) < n:
            if self._order is None:
                self._order = self.order(self.epoch)
            if self.position >= len(self._order):
                self.epoch, self.position, self._order = self.epoch + 1, 0, None
                continue
            w = self.windows[int(self._order[self.position])]
            if self.jitter and w.frames > w.blocks:
                r = int(np.random.default_rng([self.seed, self.epoch, self.position, 1]).integers(0, w.blocks))
                w = dataclasses.replace(w, start=min(w.start + r, w.frames - w.blocks))
            if self.lead_blocks and w.start == 0 and w.task == "duplex" and w.blocks > 1:
                r = int(np.random.default_rng([self.seed, self.epoch, self.position, 2]).integers(0, self.lead_blocks + 1))
                w = dataclasses.replace(w, lead=min(r, w.blocks - 1))
            out.append(w)
            self.position += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "windows": len(self.windows)}

    def clone(self) -> "WindowSampler":
        """An independent sampler in the same state (the loop plans the rest of a run on a clone)."""
        other = WindowSampler(self.windows, [1.0], self.seed, 1.0, jitter=self.jitter, lead_blocks=self.lead_blocks)
        other.mult, other.shuffle = self.mult, self.shuffle
        other.load_state_dict(self.state_dict())
        return other

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("windows") != len(self.windows) or state.get("seed") != self.seed:
            raise ConfigError(f"sampler state: {state.get('windows')} windows / seed {state.get('seed')} in the "
                              f"checkpoint, {len(self.windows)} / {self.seed} now (another corpus or config)")
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None


def epochs_of(sampler: WindowSampler) -> float:
    """Epochs so far, fractional (for the log)."""
    n = max(1, len(sampler.order(sampler.epoch)))
    return sampler.epoch + sampler.position / n


def token_weights(tokens: np.ndarray, valid: np.ndarray, think_id: int, shift_id: int,
                  weights: Any, mode: np.ndarray | None = None, inputs: np.ndarray | None = None) -> np.ndarray:
    """(B, T) loss weight per block: by token class (``<think>``, ``<shift>``, text), 0 on padding; with ``mode``
    (speaking after each step; ``inputs`` the fed tokens of late stops) and ``weights.stop`` set, a speak->listen
    ``<shift>`` weighs ``stop``: stops are rarer than starts (one per interrupted or finished answer) and the one a
    barge-in needs; a late stop's overrun blocks weigh ``weights.late_stop`` when set."""
    w = np.where(tokens == think_id, weights.think, np.where(tokens == shift_id, weights.shift, weights.text))
    stop = getattr(weights, "stop", None)
    if stop is not None and mode is not None:
        from model.targets import stop_shifts

        w = np.where(stop_shifts(tokens, np.asarray(mode), shift_id, inputs), stop, w)
    late = getattr(weights, "late_stop", None)
    if late is not None and inputs is not None:  # the blocks after the decision's where the model talked on
        from model.targets import overrun_blocks

        over = overrun_blocks(tokens, np.asarray(inputs), shift_id)
        after = np.zeros_like(over)
        after[..., 1:] = over[..., 1:] & over[..., :-1]  # the decision's block (a run's first) keeps `stop`
        w = np.where(after, late, w)
    return (w * valid).astype(np.float32)


def make_train_batch(sources: Sequence[CorpusSource], windows: Sequence[Window], tokenizer, think_id: int,
                     shift_id: int, loss_weights: Any) -> dict[str, np.ndarray]:
    """Windows -> a :func:`model.targets.make_batch` batch (targets on the whole dialogue, then cropped) plus
    the per-token ``weight``; ``task`` only when a window is not ``duplex`` (so duplex batches are as before)."""
    from model.targets import make_batch

    items = [sources[w.source].item(w.dialogue) for w in windows]
    max_blocks = max(w.blocks for w in windows)
    tasks = [w.task for w in windows] if any(w.task != "duplex" for w in windows) else None
    leads = [w.lead for w in windows] if any(w.lead for w in windows) else None
    batch = make_batch(items, tokenizer, max_blocks=max_blocks, start_blocks=[w.start for w in windows], tasks=tasks,
                       lead_blocks=leads)
    # make_batch crops to max_blocks from each start; a shorter window (a dialogue's tail) is cut to its own length
    for b, w in enumerate(windows):
        batch["valid"][b, w.blocks:] = False
    batch["weight"] = token_weights(batch["tokens"], batch["valid"], think_id, shift_id, loss_weights, batch["mode"],
                                    batch.get("inputs"))
    return batch


def audio_seconds(batch: dict[str, np.ndarray]) -> float:
    return float(np.asarray(batch["valid"]).sum()) * BLOCK_MS / 1000.0


def split_for_rank(items: Sequence[Any], rank: int, world: int) -> list[Any]:
    """A global batch's slice for one process (contiguous, equal sizes)."""
    per = math.ceil(len(items) / world)
    return list(items[rank * per : (rank + 1) * per])
