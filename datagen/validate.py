"""``duplexkit validate``: check that a corpus's labels agree with its audio.

Checks, per dialogue: every channel has the record's length; the stems sum to the mic (up to the 16-bit storage
quantisation); every turn, word and event lies inside the audio; the stored frame labels equal the labels derived
from the record; and, with ``vad``, silero VAD run on the user stem (and on the assistant channel) agrees with the
labelled speech frames.  The VAD is the independent witness: labels come from TTS word timings, the VAD only
hears audio.  Agreement is measured with one frame (80 ms) of tolerance at each speech edge, since the VAD pads
speech and the room adds a reverberant tail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datagen.corpus import Corpus, CorpusError, _read_table, list_shards
from datagen.schema import LABEL_TRACKS, Dialogue, SchemaError, frame_labels, span_mask

SUM_TOLERANCE = 8.0 / 32768  # four 16-bit stems and the mic each carry up to half an LSB of rounding
VAD_MIN_RECALL = 0.85  # labelled speech frames the VAD also hears
VAD_MIN_PRECISION = 0.85  # VAD speech frames that are labelled speech (within one frame)
EDGE_TOLERANCE_FRAMES = 1


@dataclass
class ValidationReport:
    dialogues: int = 0
    problems: list[str] = field(default_factory=list)
    vad: dict[str, dict[str, float]] = field(default_factory=dict)
    max_sum_error: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"validated {self.dialogues} dialogues: {'OK' if self.ok else f'{len(self.problems)} problem(s)'}"]
        lines.append(f"  stems sum to mic: max |mic - sum(stems)| = {self.max_sum_error:.2e} (tolerance {SUM_TOLERANCE:.1e})")
        for channel, m in self.vad.items():
            lines.append(
                f"  silero VAD vs labels on {channel}: recall {m['recall']:.3f}, precision {m['precision']:.3f} "
                f"(frames: {int(m['label_frames'])} labelled, {int(m['vad_frames'])} VAD)"
            )
        lines += [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)


class SileroVAD:
    """silero-vad (ONNX, shipped in its wheel) returning speech frames on the 80 ms grid."""

    def __init__(self) -> None:
        from silero_vad import load_silero_vad

        self.model = load_silero_vad(onnx=True)

    def frames(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        import torch
        from silero_vad import get_speech_timestamps

        spans = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio)), self.model, sampling_rate=16000)
        return span_mask(num_frames, [(s["start"], s["end"]) for s in spans])


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    out = mask.copy()
    for shift in range(1, k + 1):
        out[shift:] |= mask[:-shift]
        out[:-shift] |= mask[shift:]
    return out


def vad_agreement(label: np.ndarray, vad: np.ndarray, tolerance: int = EDGE_TOLERANCE_FRAMES) -> dict[str, float]:
    """Recall of labelled frames and precision of VAD frames, each forgiving ``tolerance`` frames at the edges."""
    label, vad = label.astype(bool), vad.astype(bool)
    return {
        "label_frames": float(label.sum()),
        "vad_frames": float(vad.sum()),
        "hit_label": float((label & _dilate(vad, tolerance)).sum()),
        "hit_vad": float((vad & _dilate(label, tolerance)).sum()),
    }


def _check_record(d: Dialogue, audio: dict[str, np.ndarray], stored_labels: dict[str, list[int]] | None) -> tuple[list[str], float]:
    problems: list[str] = []
    try:
        d.validate()  # turns, words and events inside the audio; vocabulary
    except SchemaError as exc:
        problems.append(f"{d.id}: {exc}")
    for name, x in audio.items():
        if len(x) != d.num_samples:
            problems.append(f"{d.id}: channel {name} has {len(x)} samples, the record says {d.num_samples}")
        if not np.isfinite(x).all():
            problems.append(f"{d.id}: channel {name} holds NaN/inf")
    err = 0.0
    if all(k in audio for k in ("mic", "user", "echo", "other", "noise")):
        total = audio["user"] + audio["echo"] + audio["other"] + audio["noise"]
        err = float(np.abs(audio["mic"] - total).max()) if d.num_samples else 0.0
        if err > SUM_TOLERANCE:
            problems.append(f"{d.id}: stems do not sum to the mic (max error {err:.2e})")
    if stored_labels is not None:
        derived = frame_labels(d)
        for name in LABEL_TRACKS:
            if name not in stored_labels or not np.array_equal(np.asarray(stored_labels[name], np.int8), derived[name]):
                problems.append(f"{d.id}: stored label track {name!r} differs from the labels derived from the record")
    return problems, err


def validate_corpus(root: str | Path, vad: bool = True, max_dialogues: int | None = None, progress: bool = True) -> ValidationReport:
    from tqdm.auto import tqdm

    from datagen.common.audio import decode_audio
    from datagen.corpus import AUDIO_COLUMNS

    corpus = Corpus(root)
    report = ValidationReport()
    detector = SileroVAD() if vad else None
    totals = {ch: {"label_frames": 0.0, "vad_frames": 0.0, "hit_label": 0.0, "hit_vad": 0.0} for ch in ("user", "assistant")}
    shard_ids: list[str] = []
    budget = len(corpus) if max_dialogues is None else min(max_dialogues, len(corpus))
    bar = tqdm(total=budget, desc="validate", unit="dlg", disable=not progress)
    for shard in list_shards(root):
        table = _read_table(shard)
        shard_ids += table.column("id").to_pylist()
        rows = table.to_pylist()
        for row in rows:
            if report.dialogues >= budget:
                continue
            try:
                d = Dialogue.from_dict(json.loads(row["meta"]))
                audio = {k: decode_audio(row[c]["bytes"], f"{shard}: {row['id']}.{c}") for c, k in AUDIO_COLUMNS}
            except (SchemaError, CorpusError, ValueError, KeyError) as exc:
                report.problems.append(f"{shard.name}: {row.get('id')}: {exc}")
                continue
            problems, err = _check_record(d, audio, row.get("labels"))
            report.problems += problems
            report.max_sum_error = max(report.max_sum_error, err)
            if detector is not None:
                labels = frame_labels(d)
                for ch, track, key in (("user", "user_speaking", "user"), ("assistant", "assistant_speaking", "assistant")):
                    got = vad_agreement(labels[track], detector.frames(audio[key], d.num_frames))
                    for k, v in got.items():
                        totals[ch][k] += v
            report.dialogues += 1
            bar.update(1)
    bar.close()
    manifest_ids = [d.id for d in corpus]
    if sorted(manifest_ids) != sorted(shard_ids):
        missing = sorted(set(manifest_ids) ^ set(shard_ids))[:3]
        report.problems.append(f"manifest.jsonl and data/*.parquet hold different dialogues (e.g. {', '.join(missing)})")
    if detector is not None:
        for ch, t in totals.items():
            recall = t["hit_label"] / t["label_frames"] if t["label_frames"] else 1.0
            precision = t["hit_vad"] / t["vad_frames"] if t["vad_frames"] else 1.0
            report.vad[ch] = {"recall": recall, "precision": precision, **t}
            if recall < VAD_MIN_RECALL or precision < VAD_MIN_PRECISION:
                report.problems.append(
                    f"silero VAD disagrees with the {ch} speech labels: recall {recall:.3f}, precision {precision:.3f} "
                    f"(need >= {VAD_MIN_RECALL}, {VAD_MIN_PRECISION})"
                )
    return report
