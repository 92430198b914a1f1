"""``duplexkit generate``: plan a corpus, render it shard by shard (locally or on Ray), resume after a kill.

Determinism: the run plan (how many dialogues, their target lengths) depends only on (seed, minutes, config), and
dialogue ``i`` draws everything from ``SeedSequence([seed, i])``; a shard is a fixed range of dialogues.  So the
bytes of every shard are the same whatever the number of workers or the engine.

Resumability: shards are written atomically (temp file + rename), so a shard file either exists whole or not at
all; a restarted run skips the shards that exist.  The run state (``.duplexkit/run.json``) pins the plan, and a
restart with a different seed/minutes/config/split is refused instead of mixing two corpora.

Held-out splits (``split="train"|"val"|"test"``, :mod:`datagen.splits`): the resources are cut to one side (lexicon lines,
QA items, topics, user and third voices, rooms); the plan and the dialogues' random streams are the same, and with
no split nothing is cut and nothing is added to the files.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from datagen import corpus
from datagen.common.errors import DuplexkitError
from datagen.common.files import sweep_stale
from datagen.common.jobs import check_engine, run_jobs
from datagen.common.pinning import digest, pin_run
from datagen.config import SCENARIOS, ConfigError, GeneratorConfig
from datagen.distributions import timing_from_config
from datagen.scenarios import ExchangeSource, plan
from datagen.schema import Dialogue, pad_to_frames, seconds_to_samples
from datagen.splits import check_split, select
from datagen.timeline import DialogueBuilder, PlanContext, Voices

STATE_DIR = ".duplexkit"
MAX_MINUTES = 60_000  # one run plans at most 1000 hours (the plan is held in memory); run more corpora for more
PLAN_SALT = 0x706C616E  # separates the plan's random stream from the dialogues' streams


class GenerateError(DuplexkitError, RuntimeError):
    """A run that cannot start or continue; one line naming the cause."""


# ------------------------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class RunPlan:
    seed: int
    minutes: float
    config: GeneratorConfig
    targets_s: list[float]
    split: str | None = None

    @property
    def num_dialogues(self) -> int:
        return len(self.targets_s)

    @property
    def num_shards(self) -> int:
        return math.ceil(self.num_dialogues / self.config.dialogues_per_shard)

    def shard_range(self, shard: int) -> range:
        k = self.config.dialogues_per_shard
        return range(shard * k, min((shard + 1) * k, self.num_dialogues))

    def state(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "minutes": self.minutes,
            "num_dialogues": self.num_dialogues,
            "num_shards": self.num_shards,
            "config": self.config.to_dict(),
            **({"split": self.split} if self.split else {}),
            **({"lexicon_files": lexicon_digests(self.config)} if self.config.lexicons else {}),
        }

    def digest(self) -> str:
        """A short hash of :meth:`state`: every shard of the run carries it."""
        return digest(self.state())


def lexicon_digests(config: GeneratorConfig) -> dict[str, str]:
    """sha256 of each lexicon file: its lines, not its name, define the corpus (an edited file is another run)."""
    import hashlib

    out = {}
    for name, entry in sorted(config.lexicons.items()):
        try:
            out[name] = hashlib.sha256(Path(entry["file"]).read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"lexicons.{name}.file: {entry['file']}: cannot read ({exc.strerror or exc})") from None
    return out


def check_shards(out: Path, plan_: RunPlan) -> None:
    """Refuse to resume over shards this run did not write (another seed or config, a shard copied in, or a
    corpus whose run pin was deleted): each shard carries the digest of the run definition that made it."""
    ours = {corpus.shard_name(s) for s in range(plan_.num_shards)}
    for shard in corpus.list_shards(out):
        if shard.name not in ours:
            raise GenerateError(f"{shard}: not a shard of this run (it plans {plan_.num_shards}); use a new --out")
        if corpus.shard_run_digest(shard) != plan_.digest():
            raise GenerateError(f"{shard}: written by another run (a different seed, minutes, split or config); "
                                "use a new --out or the same settings to resume")


def make_plan(config: GeneratorConfig, minutes: float, seed: int, split: str | None = None) -> RunPlan:
    """Target lengths drawn until they reach ``minutes``, then scaled so they add up to it exactly; depends on
    nothing but its arguments (not on ``split``, which only cuts the resources)."""
    check_split(split)
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise ConfigError(f"minutes: must be a number in (0, {MAX_MINUTES}] ({MAX_MINUTES // 60} hours), got {minutes!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, PLAN_SALT]))
    lo, hi = config.dialogue_seconds
    targets: list[float] = []
    while sum(targets) < minutes * 60.0:
        targets.append(float(rng.uniform(lo, hi)))
    scale = minutes * 60.0 / sum(targets)
    targets = [t * scale for t in targets]
    return RunPlan(seed, float(minutes), config, targets, split)


def dialogue_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


# ------------------------------------------------------------------------------------------------------------------
# Per-process resources (TTS, RIR bank, content) built once per config
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Resources:
    config: GeneratorConfig
    speak_user: Callable
    speak_other: Callable
    speak_assistant: Callable
    user_voices: list[str]
    third_voices: list[str]
    assistant_voice: str
    acoustics: Any
    bank: Any
    source: ExchangeSource
    ctx: PlanContext
    timing: dict
    tts_backends: list[Any]
    skipped: dict[str, Any] = field(default_factory=dict)
    rooms: list[int] | None = None  # bank indices a dialogue may use (None: all)
    pools: dict[str, int] = field(default_factory=dict)  # pool sizes, for stats.json under a split


    def tts_cpu_seconds(self) -> float:
        return float(sum(getattr(b, "cpu_seconds", 0.0) for b in self.tts_backends))

    def tts_counts(self) -> dict[str, int]:
        """Cache hits in memory and on disk and misses (synthesised), summed over the backends."""
        total = {"hits": 0, "disk_hits": 0, "misses": 0}
        for b in self.tts_backends:
            for k, v in b.counts().items():
                total[k] += v
        return total


_RESOURCES: dict[str, Resources] = {}


def resources_for(config: GeneratorConfig, split: str | None = None) -> Resources:
    key = f"{config.fingerprint()}|{split}"
    if key not in _RESOURCES:
        _RESOURCES.clear()
        _RESOURCES[key] = _build_resources(config, split)
    return _RESOURCES[key]


def _build_resources(config: GeneratorConfig, split: str | None = None) -> Resources:
    from datagen import acoustics, content
    from datagen import tts
    from datagen.content.pools import build_lexicon, lexicon_spec
    from datagen.sources import exchange_source

    tts_opts = dict(config.tts)
    main_backend = tts.CachedTTS(tts.get_backend(tts_opts.pop("backend"), **tts_opts))
    backends = [main_backend]
    user_backend = main_backend
    if config.user_tts:
        user_opts = dict(config.user_tts)
        user_backend = tts.CachedTTS(tts.get_backend(user_opts.pop("backend"), **user_opts))
        backends.append(user_backend)
    assistant_backend = main_backend
    assistant_spec = None if config.voices == "fast" else config.assistant_tts
    if assistant_spec:
        opts = dict(assistant_spec)
        assistant_backend = tts.CachedTTS(tts.get_backend(opts.pop("backend"), **opts))
        backends.append(assistant_backend)
    user_voices = list(config.user_voices or (user_backend.voices() if config.user_tts else tts.USER_VOICES))
    known = set(user_backend.voices())
    for v in user_voices:
        if v not in known:
            raise ConfigError(f"user_voices: unknown voice {v!r} for backend {getattr(user_backend, 'name', '?')}")
    default_voice = assistant_backend.voices()[0] if assistant_spec else tts.ASSISTANT_VOICE
    assistant_voice = config.assistant_voice or default_voice
    if assistant_voice not in set(assistant_backend.voices()):
        raise ConfigError(f"assistant_voice: unknown voice {assistant_voice!r}")
    if assistant_voice in user_voices:
        raise ConfigError(f"user_voices: {assistant_voice!r} is the assistant's voice; users must sound different")
    user_voices = select(user_voices, split, "voice", "user_voices")
    third_voices = select(list(tts.THIRD_VOICES), split, "voice", "third_voices")
    acfg = acoustics.AcousticsConfig.from_dict(config.acoustics)
    acfg.validate()
    bank = acoustics.RIRBank.load_or_build(acfg)
    rooms = None if split is None else select(list(range(len(bank))), split, "room", "acoustics.bank_size")
    lex_spec = lexicon_spec(config.lexicons)
    lex = build_lexicon(lex_spec, split)
    source, skipped = exchange_source(config.sources, lex, split, own_long_turns="long_turns" in lex_spec)
    for backend in backends:  # e.g. broken entries of a recordings manifest
        broken = getattr(backend.backend, "skipped", None)
        if broken:
            skipped[f"tts:{backend.name}"] = {"count": len(broken), "reasons": broken[:20]}
    ctx = PlanContext(
        lexicon=lex,
        content=content,
        bank=[ex.item for ex in source.items if ex.item is not None],
        burst_maker=lambda rng: acoustics.random_noise_burst(rng),
        third_speaker_interrupt_prob=config.third_speaker_interrupt_prob,
        assistant_backchannel_prob=config.assistant_backchannel_prob,
        late_stop_prob=config.late_stop_prob,
    )
    return Resources(
        config=config,
        speak_user=user_backend.synthesize,
        speak_other=main_backend.synthesize,
        speak_assistant=assistant_backend.synthesize,
        user_voices=user_voices,
        third_voices=third_voices,
        assistant_voice=assistant_voice,
        acoustics=acfg,
        bank=bank,
        source=source,
        ctx=ctx,
        timing=timing_from_config(config.timing),
        tts_backends=backends,
        skipped=skipped,
        rooms=rooms,
        pools={
            **lex.sizes(),
            "qa_items": len(ctx.bank),
            "sessions": len(source.sessions),
            "user_voices": len(user_voices),
            "third_voices": len(third_voices),
            "rooms": len(bank) if rooms is None else len(rooms),
        },
    )


# ------------------------------------------------------------------------------------------------------------------
# One dialogue, one shard
# ------------------------------------------------------------------------------------------------------------------
def _choice(rng: np.random.Generator, seq: list[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


MIN_TARGET_S = 5.0  # the shortest dialogue a target may ask for after the shard's carry


def build_dialogue(
    plan_: RunPlan, index: int, res: Resources, carry_s: float = 0.0
) -> tuple[Dialogue, dict[str, np.ndarray]]:
    """Plan, synthesise and render dialogue ``index`` of the run, aiming at its planned length plus ``carry_s``
    (what earlier dialogues of its shard fell short by, or minus what they overshot), lead-in and tail included."""
    from datagen.acoustics import sample_scene
    from datagen.render import render_audio

    cfg = plan_.config
    rng = dialogue_rng(plan_.seed, index)
    names = [s for s in SCENARIOS if cfg.scenario_mix.get(s, 0) > 0]
    weights = np.array([cfg.scenario_mix[s] for s in names], dtype=float)
    scenario = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    user_voice = _choice(rng, res.user_voices)
    third_pool = [v for v in res.third_voices if v != user_voice and v != res.assistant_voice] or res.third_voices
    voices = Voices(user=user_voice, assistant=res.assistant_voice, third=_choice(rng, third_pool))
    scene = sample_scene(rng, res.acoustics, res.bank, res.rooms)
    builder = DialogueBuilder(res.speak_user, res.speak_other, voices, rng, res.timing, res.speak_assistant)
    t0 = seconds_to_samples(rng.uniform(*cfg.lead_in_s))
    tail = seconds_to_samples(rng.uniform(*cfg.tail_s))
    target = seconds_to_samples(max(MIN_TARGET_S, plan_.targets_s[index] + carry_s))
    plan(scenario, builder, res.source, res.ctx, t0, max(t0, target - tail))
    num_samples = pad_to_frames(builder.end() + tail)
    audio, gains = render_audio(builder.clips, num_samples, scene, res.bank, rng)
    scene = scene.rendered(gains, voices)
    dialogue = Dialogue(
        id=f"s{plan_.seed}-{plan_.split}-d{index:06d}" if plan_.split else f"s{plan_.seed}-d{index:06d}",
        scenario=scenario,
        seed=plan_.seed,
        num_samples=num_samples,
        turns=builder.turns,
        events=sorted(builder.events, key=lambda e: (e.start, e.end, e.type)),
        scene=scene,
    )
    # Event.turn indexes turns; sorting events does not move turns, so indices stay valid.
    dialogue.validate()
    return dialogue, audio


@dataclass
class ShardResult:
    shard: int
    dialogues: int
    audio_s: float
    cpu_s: float
    tts_cpu_s: float
    tts_counts: dict[str, int] = field(default_factory=dict)


def generate_shard(
    out_dir: str | Path, plan_: RunPlan, shard: int, carry_s: float = 0.0, final: bool = False
) -> ShardResult:
    """Render one shard and write it atomically; safe to call again for the same shard.

    The shard is a budget: its planned lengths plus ``carry_s``.  Each dialogue aims at its own length plus an
    even share of what the shard is still short (or over), so the shard ends within about one exchange of it.  The
    ``final`` shard may also end early: a dialogue that would overshoot more than leaving it out falls short is
    dropped (the first is always kept)."""
    cpu0 = time.process_time()
    res = resources_for(plan_.config, plan_.split)
    tts0, counts0 = res.tts_cpu_seconds(), res.tts_counts()
    items: list[tuple[Dialogue, dict[str, np.ndarray]]] = []
    indices = plan_.shard_range(shard)
    for k, i in enumerate(indices):
        left = sum(plan_.targets_s[j] for j in indices[k:]) + carry_s
        if final and items and left <= 0:
            break
        item = build_dialogue(plan_, i, res, carry_s / (len(indices) - k))
        if final and items and item[0].duration_s - left > left:
            break
        items.append(item)
        carry_s += plan_.targets_s[i] - item[0].duration_s
    corpus.write_shard(Path(out_dir) / "data" / corpus.shard_name(shard), items, plan_.digest(),
                       plan_.config.storage_format)
    return ShardResult(
        shard=shard,
        dialogues=len(items),
        audio_s=sum(d.duration_s for d, _ in items),
        cpu_s=time.process_time() - cpu0,
        tts_cpu_s=res.tts_cpu_seconds() - tts0,
        tts_counts={k: v - counts0[k] for k, v in res.tts_counts().items()},
    )


def final_carry(out: Path, plan_: RunPlan) -> float:
    """Seconds the shards before the last one fell short of their planned lengths (negative: overshot)."""
    planned = sum(plan_.targets_s[i] for s in range(plan_.num_shards - 1) for i in plan_.shard_range(s))
    made = sum(d.duration_s for s in range(plan_.num_shards - 1)
               for d in corpus.read_shard_meta(out / "data" / corpus.shard_name(s)))
    return planned - made


# ------------------------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------------------------
def _check_writable(out: Path) -> None:
    try:
        (out / "data").mkdir(parents=True, exist_ok=True)
        (out / STATE_DIR).mkdir(exist_ok=True)
        probe = out / STATE_DIR / f".probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise GenerateError(f"{out}: output directory is not writable ({exc.strerror or exc})") from None


def generate(
    out: str | Path,
    minutes: float,
    seed: int = 0,
    workers: int = 1,
    engine: str = "local",
    config: GeneratorConfig | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Generate (or finish) a corpus in ``out`` (from one side of the held-out ``split`` when given); returns the
    stats written to ``stats.json``."""
    from tqdm.auto import tqdm

    config = config or GeneratorConfig()
    check_engine(engine, workers)
    plan_ = make_plan(config, minutes, seed, split)
    # Build the per-process resources here first: bad config values or inputs fail before anything is written,
    # and the RIR bank is computed once and cached on disk before any worker starts.
    res = resources_for(config, split)
    out = Path(out)
    _check_writable(out)
    pin = out / STATE_DIR / "run.json"
    pinned = pin.exists()
    if not pinned:  # no pin to name what differs: the shards speak, before a pin is written for this run
        check_shards(out, plan_)
    pin_run(pin, plan_.state(), "use a new --out or the same settings to resume", error=GenerateError)
    if pinned:
        check_shards(out, plan_)
    for folder in (out, out / "data", out / STATE_DIR):  # temp files a killed run left: never whole, safe to drop
        sweep_stale(folder)
    done = {p.name for p in corpus.list_shards(out)}
    todo = [s for s in range(plan_.num_shards) if corpus.shard_name(s) not in done]
    t_wall, cpu0 = time.perf_counter(), time.process_time()
    results: list[ShardResult] = []
    bar = tqdm(
        total=plan_.num_shards,
        initial=plan_.num_shards - len(todo),
        unit="shard",
        desc="generate",
        disable=not progress,
        dynamic_ncols=True,
    )
    # The last shard goes last, with what the others missed the budget by: the corpus meets ``minutes`` to within
    # about one exchange, whatever the workers (every length is a function of the plan, so this stays deterministic).
    last = plan_.num_shards - 1
    with bar:
        for phase in ([s for s in todo if s != last], [last] if last in todo else []):
            if not phase:
                continue
            carry = final_carry(out, plan_) if phase == [last] else 0.0
            jobs = [(str(out.resolve()), plan_, s, carry, s == last) for s in phase]
            runner = run_jobs(generate_shard, jobs, engine, workers, ray_address, out / STATE_DIR / "ray")
            with contextlib.closing(runner):  # closed at once on Ctrl-C: queued shards are cancelled
                for result in runner:
                    results.append(result)
                    bar.update(1)
                    bar.set_postfix(audio_min=f"{sum(r.audio_s for r in results) / 60:.1f}")
    # Only what defines the corpus goes to stats.json (not engine or workers): the files must be byte-identical
    # whatever the number of workers or the engine.
    extra: dict[str, Any] = {"run": {"seed": seed, "minutes": minutes, "num_shards": plan_.num_shards},
                             "skipped": res.skipped}
    if split:  # absent without a split, so the files stay as they were before splits existed
        extra.update(split=split, split_pools=res.pools)
    if config.lexicons:
        extra["lexicon_files"] = lexicon_digests(config)
    stats = corpus.finalize(out, config.to_dict(), extra)
    stats["_timing"] = {  # not written to disk (it would break byte-identical stats across runs)
        "wall_s": time.perf_counter() - t_wall,
        "main_cpu_s": time.process_time() - cpu0,
        "shards_done_now": len(results),
        "worker_cpu_s": sum(r.cpu_s for r in results),
        "tts_cpu_s": sum(r.tts_cpu_s for r in results),
        "audio_s": sum(r.audio_s for r in results),
        "tts_cache": {k: sum(r.tts_counts.get(k, 0) for r in results) for k in ("hits", "disk_hits", "misses")},
    }
    return stats
