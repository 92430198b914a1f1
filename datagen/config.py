"""Generator configuration: one validated dataclass, loadable from YAML/JSON, with errors that name the field.

The config is part of a corpus's identity: it is stored in ``stats.json`` and in the run state, and a resumed run
refuses to continue with a different one (that would silently mix two corpora).
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.config import ConfigError, apply_overrides, check_known_keys, check_type, read_yaml
from datagen.distributions import timing_from_config
from datagen.scenarios import PLANNERS

SCENARIOS: tuple[str, ...] = tuple(PLANNERS.names())
DEFAULT_MIX: dict[str, float] = {name: 1.0 for name in SCENARIOS}
VOICE_PRESETS = ("default", "fast")
MAX_SILENCE_S = 60.0  # lead-in and tail silence per dialogue (a huge value would only fill memory with zeros)


@dataclass
class GeneratorConfig:
    scenario_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    # Each dialogue is planned to a target length drawn uniformly from this range (seconds); exchanges are added
    # until the target is reached, so real lengths overshoot it by up to one exchange.
    dialogue_seconds: tuple[float, float] = (20.0, 40.0)
    dialogues_per_shard: int = 8
    # The backend of user and third-speaker voices (and of the assistant when ``assistant_tts`` is null).
    tts: dict[str, Any] = field(default_factory=lambda: {"backend": "espeak"})
    # The assistant's own backend: Piper's en_US-joe-medium by default; null = the assistant speaks through ``tts``.
    assistant_tts: dict[str, Any] | None = field(default_factory=lambda: {"backend": "piper"})
    # "default" | "fast": fast ignores assistant_tts and speaks every line with espeak (maximum throughput).
    voices: str = "default"
    # How shards store audio: flac (16-bit FLAC) or wav (16-bit PCM, lz4 in parquet: cheaper to write, larger);
    # null: the preset's (:attr:`storage_format`).
    audio_format: str | None = None
    # Optional separate backend for user turns (e.g. {"backend": "recordings", "manifest": "rec.jsonl"}).
    user_tts: dict[str, Any] | None = None
    user_voices: list[str] | None = None  # None: the backend's default user pool
    assistant_voice: str | None = None
    # Where the exchanges come from: the built-in bank, user JSONL dialogues, a local HF QA dataset.
    sources: dict[str, Any] = field(default_factory=lambda: {"builtin": True})
    acoustics: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    # Probability that an independent barge-in / a background-speech event is made by a third speaker.
    third_speaker_interrupt_prob: float = 0.3
    # Probability that an assistant backchannel opportunity is taken by the assistant channel (the rest stay
    # labelled opportunities with nothing rendered, so a model also sees that backchannels are optional).
    assistant_backchannel_prob: float = 0.7
    # Probability that the assistant talks on past a barge-in's decision for 1-8 blocks (a *late stop*; the event's
    # ``meta.late_stop_blocks``).  Training data for a model that missed the decision's block: its targets ask for the
    # stop at every block of the overrun (model.targets).  0 keeps the corpus assistant ideal (val and test corpora).
    late_stop_prob: float = 0.0
    # Silence before the first and after the last utterance (seconds).
    lead_in_s: tuple[float, float] = (0.3, 1.0)
    tail_s: tuple[float, float] = (0.5, 1.5)
    # A team's own lines: {name: {file: my.txt|my.jsonl, mode: replace|extend, split: true|false}} per lexicon
    # (datagen.content.pools.lexicon_spec); empty = the built-in lexicons.
    lexicons: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "GeneratorConfig":
        if d is not None and not isinstance(d, Mapping):
            raise ConfigError(f"config: expected a mapping, got {type(d).__name__}")
        d = dict(d or {})
        check_known_keys(d, cls, "config")
        hints = typing.get_type_hints(cls)
        for key, value in d.items():  # checked, not converted: the stored config keeps the user's values
            if key not in ("dialogue_seconds", "lead_in_s", "tail_s", "dialogues_per_shard"):
                check_type(value, hints[key], key)
        for pair in ("dialogue_seconds", "lead_in_s", "tail_s"):
            if pair in d:
                try:
                    d[pair] = tuple(float(x) for x in d[pair])
                except (TypeError, ValueError):
                    raise ConfigError(f"{pair}: expected two numbers [min, max], got {d[pair]!r}") from None
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not isinstance(self.scenario_mix, Mapping) or not self.scenario_mix:
            raise ConfigError("scenario_mix: expected a mapping of scenario name to weight")
        for name, weight in self.scenario_mix.items():
            if name not in SCENARIOS:
                raise ConfigError(f"scenario_mix: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise ConfigError(f"scenario_mix.{name}: weight must be a finite number >= 0, got {weight!r}")
        if sum(self.scenario_mix.values()) <= 0:
            raise ConfigError("scenario_mix: at least one weight must be > 0")
        for pair in ("dialogue_seconds", "lead_in_s", "tail_s"):
            lo_hi = getattr(self, pair)
            if len(lo_hi) != 2 or not all(math.isfinite(x) for x in lo_hi) or lo_hi[0] < 0 or lo_hi[0] > lo_hi[1]:
                raise ConfigError(f"{pair}: expected 0 <= min <= max, got {list(lo_hi)}")
        if self.dialogue_seconds[0] < 5.0 or self.dialogue_seconds[1] > 600.0:
            raise ConfigError(f"dialogue_seconds: must lie within [5, 600] s, got {list(self.dialogue_seconds)}")
        for pair in ("lead_in_s", "tail_s"):
            if getattr(self, pair)[1] > MAX_SILENCE_S:
                raise ConfigError(f"{pair}: at most {MAX_SILENCE_S:g} s of silence, got {list(getattr(self, pair))}")
        if not isinstance(self.dialogues_per_shard, int) or not 1 <= self.dialogues_per_shard <= 10_000:
            raise ConfigError(f"dialogues_per_shard: expected an integer in [1, 10000], got {self.dialogues_per_shard!r}")
        for prob in ("third_speaker_interrupt_prob", "assistant_backchannel_prob", "late_stop_prob"):
            value = getattr(self, prob)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{prob}: expected a probability in [0, 1], got {value!r}")
        if self.voices not in VOICE_PRESETS:
            raise ConfigError(f"voices: expected one of {', '.join(VOICE_PRESETS)}, got {self.voices!r}")
        if self.audio_format is not None and self.audio_format not in ("flac", "wav"):
            raise ConfigError(f"audio_format: expected flac or wav, got {self.audio_format!r}")
        for name in ("tts", "user_tts", "assistant_tts"):
            spec = getattr(self, name)
            if spec is not None and (not isinstance(spec, Mapping) or "backend" not in spec):
                raise ConfigError(f"{name}: expected a mapping with a 'backend' key, got {spec!r}")
        unknown_sources = set(self.sources) - {"builtin", "jsonl", "hf"}
        if unknown_sources:
            raise ConfigError(f"sources: unknown source {sorted(unknown_sources)[0]!r} (known: builtin, jsonl, hf)")
        from datagen.content.pools import build_lexicon, lexicon_spec

        self.lexicons = lexicon_spec(self.lexicons)
        build_lexicon(self.lexicons)  # reads the files: a missing file or a bad line fails here, naming it
        try:
            timing_from_config(self.timing)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # Acoustics are validated by their own dataclass (imported lazily: it pulls pyroomacoustics).
        from datagen.acoustics import AcousticsConfig

        try:
            AcousticsConfig.from_dict(self.acoustics).validate()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"acoustics: {exc}") from None

    @property
    def storage_format(self) -> str:
        """The shards' audio format: ``audio_format`` when given, else wav under ``voices: fast`` (the throughput
        preset: FLAC's encoder was about half the generator's non-TTS cost there, README "Speed") and flac."""
        return self.audio_format or ("wav" if self.voices == "fast" else "flac")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["audio_format"] = self.storage_format  # resolved, so stating the preset's format is the same corpus
        for pair in ("dialogue_seconds", "lead_in_s", "tail_s"):
            d[pair] = list(d[pair])
        from datagen.acoustics import AcousticsConfig

        # Spelled out in full, so a config that states the defaults and one that omits them are the same corpus.
        d["acoustics"] = AcousticsConfig.from_dict(self.acoustics).to_dict()
        if not d["lexicons"]:  # absent unless given, so corpora made before the section existed keep their bytes
            del d["lexicons"]
        return d

    def fingerprint(self) -> str:
        """Stable JSON of the config (keys sorted): what a resumed run must match."""
        return json.dumps(self.to_dict(), sort_keys=True)


def load_generator_config(path: str | Path | None, overrides: Sequence[str] = ()) -> GeneratorConfig:
    """Read a YAML or JSON config file (or none) and apply dotted ``key=value`` overrides (``tail_s=[0.5, 1]``,
    ``acoustics.echo_factor=0``); errors name the file or field."""
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    return GeneratorConfig.from_dict(apply_overrides(data, overrides))
