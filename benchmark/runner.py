"""``duplexkit bench run``: items from a corpus → closed-loop runs (local processes or Ray) → results.json + report.

Work is split by dialogue (a worker decodes each dialogue's audio once for all its items) and every finished run
is cached as ``runs/<id>.json``, written atomically, so a killed run started again with the same command keeps what
it finished.  The run's definition (model, options, items, metric config, versions) is pinned in ``run.json``; a
different definition in the same ``--out`` is refused with one line.  Per-item records and aggregates do not depend
on the number of workers or the engine; compute times (``rtf``, ``timing``) naturally vary between runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import pickle
import platform
import subprocess
import time
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from benchmark import tasks as T
from benchmark.harness import DEFAULT_STEP_TIMEOUT_S, ItemRun, run_item
from benchmark.isolation import DEFAULT_START_TIMEOUT_S
from benchmark.items import ITEMS_VERSION, ItemSpec, build_items, items_digest, materialize, with_echo_factor
from benchmark.metrics import METRICS_VERSION, SAME_ITEMS_AS, MetricConfig
from benchmark.protocol import PROTOCOL_VERSION
from benchmark.models import build_model, in_process_safe, resolve_factory
from benchmark.report import safe_name as _safe
from datagen.fdb_layout import INPUT_WAV, write_item_spec, write_wav
from datagen.common.audio import encode_flac
from datagen.common.files import atomic_write_bytes, atomic_write_text, sweep_stale
from datagen.common.errors import DuplexkitError, fault_line
from datagen.common.jobs import check_engine, run_jobs
from datagen.common.pinning import digest, pin_run
from datagen.corpus import Corpus
from datagen.corpus import corpus_id as _corpus_id

RESULTS_VERSION = "1.0"
MAX_STEP_TIMEOUT_S = 3600.0
TIMING_KEYS = ("compute_s", "step_ms")  # measured, so they vary between runs: kept out of the per-item records
RUN_KEY = "run_digest"  # each cached runs/<id>.json names the run definition it was made under (not in results)


class BenchError(DuplexkitError, RuntimeError):
    """A one-line problem with the run's inputs or output directory."""


@dataclass
class RunConfig:
    model: str
    data: str
    out: str
    tasks: list[str] = field(default_factory=list)  # empty: all
    model_options: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    engine: str = "local"
    ray_address: str | None = None
    max_items: int | None = None  # per task family (for quick looks); None: all
    echo_factors: dict[str, list[float]] = field(default_factory=dict)  # per task overrides
    metrics: dict[str, Any] = field(default_factory=dict)
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S  # an isolated model's build (checkpoint load) may take this long
    asr: str | None = "whisper"  # for S2S answers and for models without a text stream; None: off
    open_loop: bool = False  # replay fixed inputs (no echo of the model, probes at corpus times)
    save_audio: int = 6  # stereo FLAC (mic | model) of this many items per family, for the report and listening
    seed: int = 0
    progress: bool = True
    # the model in a child process the harness can kill (a step stuck in C code, a crash): None = auto, on for every
    # model but duplexkit's pure-NumPy baselines (fast in process); results are identical either way
    isolate: bool | None = None

    @cached_property
    def metric_config(self) -> MetricConfig:
        """``metrics`` parsed and validated once; every consumer (scoring, aggregates, the pin) reads this."""
        return MetricConfig.from_dict(self.metrics)


def _run_id(spec: ItemSpec, factor: float) -> str:
    return f"{spec.id}@ef{factor:g}"


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("duplexkit", "numpy", "scipy", "torch", "silero-vad", "onnxruntime", "faster-whisper", "ctranslate2",
                "pocketsphinx", "transformers", "piper-tts"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# ------------------------------------------------------------------------------------------------------------------
# Worker side: one dialogue's runs
# ------------------------------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _model_key(cfg: RunConfig) -> str:
    return json.dumps([cfg.model, cfg.model_options, cfg.data, cfg.isolate, cfg.step_timeout_s, cfg.start_timeout_s],
                      sort_keys=True,
                      default=str)


def _make_model(cfg: RunConfig, factory: Callable[..., Any]) -> Any:
    """The model for this process: built here, or (``cfg.isolate``) in a child process that can be killed."""
    if cfg.isolate:
        from benchmark.isolation import IsolatedModel

        return IsolatedModel(cfg.model, factory, cfg.model_options, cfg.step_timeout_s, cfg.start_timeout_s)
    return build_model(cfg.model, factory, cfg.model_options)


def _worker_state(cfg: RunConfig, factory: Callable[..., Any], model: Any = None) -> dict[str, Any]:
    """Corpus, RIR bank and model, kept across this process's dialogues; ``model``: one already built here."""
    key = _model_key(cfg)
    if _WORKER.get("key") != key:
        from datagen.acoustics import RIRBank

        corpus = Corpus(cfg.data)
        acoustics = corpus.acoustics()
        _release_worker()
        _WORKER.update(key=key, corpus=corpus, bank=RIRBank.load_or_build(acoustics, progress=False),
                       model=model if model is not None else _make_model(cfg, factory), asr=None)
    return _WORKER


def _release_worker() -> None:
    """Forget this process's state, stopping an isolated model's process."""
    close = getattr(_WORKER.get("model"), "close", None)
    if getattr(_WORKER.get("model"), "isolated", False) and close is not None:
        close()
    _WORKER.clear()


def _asr_for(cfg: RunConfig, state: dict[str, Any]) -> Any:
    if cfg.asr is None:
        return None
    if state.get("asr") is None:
        try:
            from benchmark.asr import get_asr
            from datagen.content import question_bank

            texts = [q.question for q in question_bank()] + [q.response for q in question_bank()]
            state["asr"] = get_asr(cfg.asr, vocabulary_texts=texts)
        except Exception as exc:  # noqa: BLE001 - S2S is then not measured, and the record says why
            state["asr"] = False
            state["asr_error"] = fault_line(exc, limit=None)
    return state["asr"] or None


def run_dialogue(cfg: RunConfig, factory: Callable[..., Any], dialogue_id: str,
                 runs: Sequence[tuple[dict[str, Any], float]], audio_ids: Sequence[str],
                 run_digest: str = "") -> list[dict[str, Any]]:
    """Run and score one dialogue's items; returns their records (also cached on disk).  ``factory`` is the model's,
    resolved by the caller: a registration made only in its ``__main__`` would be missing in a spawned worker."""
    state = _worker_state(cfg, factory)
    corpus, bank, model = state["corpus"], state["bank"], state["model"]
    d = corpus.dialogue(dialogue_id)
    audio = corpus.audio(dialogue_id, ["user", "other", "noise", "assistant"])
    metric_cfg = cfg.metric_config
    out = Path(cfg.out)
    records = []
    for spec_d, factor in runs:
        spec = with_echo_factor(ItemSpec.from_dict(spec_d), factor)
        item = materialize(spec, d, audio, bank)
        task = spec.family
        run = run_item(model, item, task, cfg.seed, cfg.step_timeout_s, open_loop=cfg.open_loop)
        asr = _asr_for(cfg, state) if spec.answers and "qa" in (cfg.tasks or T.TASKS) else None
        rec = T.score_run(spec, factor, run, metric_cfg, asr, text_stream=model.info.text,
                          reference=item.reference if spec.family == "long_turn" else None)
        if state.get("asr_error") and spec.answers:
            rec["asr_error"] = state["asr_error"]
        rec["item"] = spec_d["id"]
        if run.step_s:
            rec["step_ms"] = [round(float(q) * 1000, 3) for q in np.quantile(run.step_s, [0.5, 0.95, 1.0])]
        if spec.id in audio_ids and not run.failure:
            _save_audio(out / "audio" / f"{_safe(spec.id)}.flac", run)
        if not run.failure:  # before the record: a cached record always has its trace
            save_trace(out / TRACE_DIR / f"{_safe(spec.id)}.npz", spec, item, run, model.info,
                       state.setdefault("corpus_id", corpus_id(corpus)))
        atomic_write_text(out / "runs" / f"{_safe(spec.id)}.json", json.dumps({**rec, RUN_KEY: run_digest},
                                                                               sort_keys=True))
        records.append(rec)
    return records


TRACE_DIR = "traces"
TRACE_VERSION = "1"


def save_trace(path: Path, spec: ItemSpec, item: Any, run: ItemRun, info: Any, corpus: str) -> None:
    """What one item's run really was, for preference pairs from failures (``datagen.pairs`` reads it as a file):
    per step the model's state and token id (-1: none), its text pieces, what it heard and what it played (stereo
    FLAC, left heard, right played, at playback time), and the item's window, probes and echo path.  Written
    atomically; a finished run's results do not read it."""
    meta = {"trace_version": TRACE_VERSION, "id": run.item_id, "item": spec.id, "dialogue": spec.dialogue_id,
            "family": spec.family, "start": spec.start, "num_samples": spec.num_samples,
            "echo_factor": spec.echo_factor, "echo_gain": float(item.echo_gain), "echo_delay": int(item.echo_delay),
            "question_end": spec.question_end, "onset": run.onset, "fired_at": run.fired_at,
            "probes": [dataclasses.asdict(p) for p in spec.probes], "reference": [list(r) for r in spec.reference],
            "corpus_id": corpus, "model": info.name, "model_version": info.version,
            "tokenizer": (info.extra or {}).get("tokenizer"), "text": [[int(a), t] for a, t in run.text]}
    arrays = {"meta": np.array(json.dumps(meta, sort_keys=True)),
              "tokens": np.array([-1 if t is None else int(t) for t in run.tokens], np.int64),
              "states": np.array([s or "" for s in run.states], dtype=str),
              "audio": np.frombuffer(encode_flac(np.stack([run.heard, run.played], axis=1)), np.uint8)}
    atomic_write_bytes(path, _npz_bytes(arrays))


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` (np.load reads it) with fixed zip timestamps, so the same run writes the same bytes
    (``np.savez`` stamps entries with the current time)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            one = io.BytesIO()
            np.lib.format.write_array(one, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, one.getvalue())
    return buf.getvalue()


def _save_audio(path: Path, run: ItemRun) -> None:
    """Stereo FLAC for listening and the report's timelines: left what the model heard, right what it played."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encode_flac(np.stack([run.heard, run.played], axis=1)))


# ------------------------------------------------------------------------------------------------------------------
# Driver side
# ------------------------------------------------------------------------------------------------------------------
def _select(specs: list[ItemSpec], max_items: int | None) -> list[ItemSpec]:
    if max_items is None:
        return specs
    seen: dict[str, int] = {}
    out = []
    for s in specs:  # an even spread: the first max_items of each family, reactive ones by probe kind and context
        p = s.reactive_probe
        key = s.family + (f":{p.name}:{p.context}:{p.speaker}" if p else "")
        if seen.get(key, 0) < max_items:
            seen[key] = seen.get(key, 0) + 1
            out.append(s)
    return out


def _definition(cfg: RunConfig, specs: Sequence[ItemSpec], tasks: Sequence[T.Task]) -> dict[str, Any]:
    return {
        "model": cfg.model, "model_options": cfg.model_options, "data": str(Path(cfg.data).resolve()),
        "items_digest": items_digest(specs), "tasks": {t.name: t.version for t in tasks},
        "echo_factors": cfg.echo_factors, "metrics": cfg.metric_config.to_dict(),
        "asr": cfg.asr, "seed": cfg.seed, "step_timeout_s": cfg.step_timeout_s, "open_loop": cfg.open_loop,
        "versions": {"results": RESULTS_VERSION, "protocol": PROTOCOL_VERSION, "items": ITEMS_VERSION,
                     "metrics": METRICS_VERSION, "tasks": T.TASKS_VERSION},
    }


def run_bench(cfg: RunConfig) -> dict[str, Any]:
    """Run (or finish) a benchmark; writes results.json, report.md and report.html in ``cfg.out``."""
    from tqdm.auto import tqdm

    check_engine(cfg.engine, cfg.workers)
    tasks = T.resolve_tasks(cfg.tasks)
    cfg.metric_config  # noqa: B018 - validate the metric settings before anything runs
    for name in ("step_timeout_s", "start_timeout_s"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 < value <= MAX_STEP_TIMEOUT_S:
            raise BenchError(f"{name}: expected seconds in (0, {MAX_STEP_TIMEOUT_S:g}], got {value!r}")
    if cfg.asr is not None:
        from benchmark.asr import REGISTRY as ASRS

        ASRS.resolve(cfg.asr)  # an unknown ASR is refused now, not found missing after the run
    for name, factors in cfg.echo_factors.items():
        if name not in T.TASKS or any(not 0 <= float(f) <= 10 for f in factors):
            raise BenchError(f"echo_factors: bad entry {name}={factors} (tasks: {', '.join(T.TASKS)}; 0 <= factor <= 10)")
    factory = resolve_factory(cfg.model)  # unknown names fail now; the factory itself is shipped to the workers
    if cfg.isolate is None:
        cfg = dataclasses.replace(cfg, isolate=not in_process_safe(factory))
    if cfg.isolate or cfg.workers > 1 or cfg.engine != "local":
        _check_shippable(cfg.model, factory)
    model = _make_model(cfg, factory)  # fail fast on bad options; reused below when the run stays in this process
    corpus = Corpus(cfg.data)
    corpus.acoustics()  # a corpus whose stats.json cannot rebuild its rooms is refused before anything runs
    families = sorted({f for t in tasks for f in t.families})
    specs = _select(build_items(corpus.dialogues, families), cfg.max_items)
    planned = T.plan_runs(specs, tasks, cfg.echo_factors)
    if not planned:
        raise BenchError(f"{cfg.data}: no items for tasks {', '.join(t.name for t in tasks)} in this corpus")
    out = Path(cfg.out)
    try:
        for sub in ("runs", "audio", TRACE_DIR):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"{out}: cannot create the output directory ({exc.strerror or exc})") from None
    definition = _definition(cfg, specs, tasks)
    pin_run(out / "run.json", definition, what="a bench run", error=BenchError)
    run_digest = digest(definition)
    sweep_stale(out / "runs")
    sweep_stale(out / TRACE_DIR)

    records: dict[str, dict[str, Any]] = {}
    todo: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for spec, factor in planned:
        rid = _run_id(spec, factor)
        cached = out / "runs" / f"{_safe(rid)}.json"
        if cached.exists():  # reused only when made under this very run definition (run.json may be gone)
            try:
                rec = json.loads(cached.read_text())
            except ValueError:
                rec = None
            traced = rec.get("failure") or (out / TRACE_DIR / f"{_safe(rid)}.npz").exists() if isinstance(rec, dict) \
                else False
            if isinstance(rec, dict) and rec.pop(RUN_KEY, None) == run_digest and traced:
                records[rid] = rec
                continue
            cached.unlink()
        todo.setdefault(spec.dialogue_id, []).append((spec.to_dict(), factor))
    per_family: dict[str, int] = {}
    audio_ids = []
    for spec in specs:
        if per_family.get(spec.family, 0) < cfg.save_audio:
            per_family[spec.family] = per_family.get(spec.family, 0) + 1
            audio_ids.append(_run_id(spec, 1.0))
    jobs = [(did, runs, audio_ids, run_digest) for did, runs in todo.items()]
    t0 = time.perf_counter()
    if cfg.workers == 1 and cfg.engine == "local":
        _worker_state(cfg, factory, model)  # the dialogues run here: use the model already built
    elif getattr(model, "isolated", False):
        model.close()  # each worker starts its own
    runner = run_jobs(run_dialogue, [(cfg, factory, *job) for job in jobs], cfg.engine, cfg.workers,
                      cfg.ray_address, out / "ray")
    bar = tqdm(total=len(planned), initial=len(records), unit="item", desc=f"bench {cfg.model}",
               disable=not cfg.progress, dynamic_ncols=True)
    with bar, contextlib.closing(runner), _released(cfg):  # closed at once on Ctrl-C: queued dialogues cancelled
        for recs in runner:
            for r in recs:
                records[r["id"]] = r
            bar.update(len(recs))
            failed = sum(1 for r in records.values() if r.get("failure"))
            if failed:
                bar.set_postfix(failed=failed)
    ordered = [records[_run_id(s, f)] for s, f in planned]
    results = build_results(cfg, model.info, corpus, specs, tasks, ordered, wall_s=time.perf_counter() - t0)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, sort_keys=True, default=_json_default))
    from benchmark.report import write_reports

    write_reports(out, results)
    return results


def _check_shippable(name: str, factory: Callable[..., Any]) -> None:
    """A factory that cannot be sent to another process is refused up front, with what to do instead."""
    try:
        pickle.dumps(factory)
    except Exception as exc:  # noqa: BLE001 - pickling errors have no common type
        raise BenchError(f"model {name!r}: its factory cannot be sent to a worker or model process "
                         f"({type(exc).__name__}); register a module-level class or function, or \"module:attr\", "
                         f"or run with workers=1 and isolate off") from None


@contextlib.contextmanager
def _released(cfg: RunConfig) -> Iterator[None]:
    """Stop this process's isolated model when the run ends (a worker's dies with its worker)."""
    try:
        yield
    finally:
        if cfg.isolate and cfg.workers == 1 and cfg.engine == "local":
            _release_worker()


def unmeasured(results: Mapping[str, Any]) -> list[str]:
    """What a finished run could not measure, one line each: every item failed, or a requested metric (S2S
    through ASR) could not be computed.  Empty when the run measured what it was asked to."""
    problems = []
    items, failed = results.get("items", []), results["failures"]["count"]
    if items and failed == len(items):
        first = results["failures"]["items"][0]["reason"] if results["failures"]["items"] else "?"
        problems.append(f"nothing was scored: all {failed} items failed (first: {first})")
    asr_errors = sorted({r["asr_error"] for r in items if r.get("asr_error")})
    if asr_errors:
        problems.append(f"S2S accuracy was not computed: ASR {results['config']['asr']!r} failed ({asr_errors[0]})")
    return problems


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def corpus_id(corpus: Corpus) -> str:
    return _corpus_id(corpus.root)


def build_results(cfg: RunConfig, info: Any, corpus: Corpus, specs: Sequence[ItemSpec], tasks: Sequence[T.Task],
                  records: Sequence[Mapping[str, Any]], wall_s: float = 0.0) -> dict[str, Any]:
    compute = sum(r.get("compute_s", 0.0) for r in records)
    audio = sum(r.get("audio_s", 0.0) for r in records if not r.get("failure"))
    failures = [{"id": r["id"], "reason": r["failure"]} for r in records if r.get("failure")]
    items = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]
    steps = [r["step_ms"] for r in records if r.get("step_ms")]
    return {
        "results_version": RESULTS_VERSION,
        "model": {"name": cfg.model, "options": cfg.model_options, "sample_rate": info.sample_rate,
                  "block_samples": info.block_samples, "text": info.text, "state": info.state,
                  "version": info.version},
        "corpus": {"path": str(cfg.data), "id": corpus_id(corpus), "dialogues": len(corpus),
                   "items": len(specs), "items_digest": items_digest(specs)},
        "tasks": {t.name: t.version for t in tasks},
        "versions": {"protocol": PROTOCOL_VERSION, "items": ITEMS_VERSION, "metrics": METRICS_VERSION,
                     "tasks": T.TASKS_VERSION},
        "config": {"echo_factors": cfg.echo_factors or {t.name: list(t.echo_factors) for t in tasks},
                   "metrics": cfg.metric_config.to_dict(), "asr": cfg.asr, "seed": cfg.seed,
                   "step_timeout_s": cfg.step_timeout_s, "max_items": cfg.max_items, "open_loop": cfg.open_loop},
        "seeds": {"harness": cfg.seed, "bootstrap": 0},
        "packages": _versions(),
        "git_revision": _git_revision(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "aggregates": {t.name: T.aggregate_task(t, records, cfg.metric_config) for t in tasks},
        "failures": {"count": len(failures), "items": failures[:100]},
        "rtf": compute / audio if audio else None,
        "timing": {"compute_s": compute, "audio_s": audio, "wall_s": wall_s,
                   # per-step compute in ms: median of the items' medians, worst item p95, worst step
                   "step_ms_p50": float(np.median([s[0] for s in steps])) if steps else None,
                   "step_ms_p95": max(s[1] for s in steps) if steps else None,
                   "step_ms_max": max(s[2] for s in steps) if steps else None},
        "items": items,
    }


def rescore(path: str | Path) -> dict[str, Any]:
    """Recompute a finished run's aggregates (and report) from its per-item records with this code's definitions,
    without running the model: for results made before a change to the aggregates alone (metrics 1.2's intervals).
    Refused, with one line, where the items themselves would be scored differently now."""
    from benchmark.report import write_reports

    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    try:
        results = json.loads(path.read_text())
        versions, items = results["versions"], results["items"]
        metric_config = MetricConfig.from_dict(results["config"]["metrics"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: not a readable results.json ({exc})") from None
    if versions.get("metrics") not in SAME_ITEMS_AS or versions.get("tasks") != T.TASKS_VERSION \
            or versions.get("items") != ITEMS_VERSION or versions.get("protocol") != PROTOCOL_VERSION:
        raise BenchError(f"{path}: made with versions {versions}, whose items this code would score differently "
                         f"(metrics {', '.join(SAME_ITEMS_AS)}, tasks {T.TASKS_VERSION}): run the benchmark again")
    tasks = T.resolve_tasks(list(results["tasks"]))
    results["aggregates"] = {t.name: T.aggregate_task(t, items, metric_config) for t in tasks}
    results["versions"] = {**versions, "metrics": METRICS_VERSION}
    atomic_write_text(path, json.dumps(results, indent=1, sort_keys=True, default=_json_default))
    write_reports(path.parent, results)
    return results


def write_item_inputs(data: str, out: str, tasks: Sequence[str] | None = None, max_items: int | None = None,
                      progress: bool = True) -> list[Path]:
    """Open-loop inputs for models that cannot run in process: ``<out>/<item id>/input.wav`` (what the model hears
    in ``--open-loop`` mode, echo factor 0) and ``item.json``.  Run the external model on each ``input.wav``, save its
    time-aligned ``output.wav`` beside it, then ``duplexkit bench run --model files --model-arg root=<out>
    --open-loop`` scores it with the same metrics as any live model."""
    from tqdm.auto import tqdm

    from benchmark.models.baselines import SilentModel
    from datagen.acoustics import RIRBank

    corpus = Corpus(data)
    task_list = T.resolve_tasks(tasks)
    bank = RIRBank.load_or_build(corpus.acoustics(), progress=False)
    specs = _select(build_items(corpus.dialogues, sorted({f for t in task_list for f in t.families})), max_items)
    planned = T.plan_runs(specs, task_list)
    silent, written, audio_of = SilentModel(), [], {}
    for spec, factor in tqdm(planned, desc="item inputs", unit="item", disable=not progress):
        if spec.dialogue_id not in audio_of:
            audio_of = {spec.dialogue_id: corpus.audio(spec.dialogue_id, ["user", "other", "noise", "assistant"])}
        item = materialize(with_echo_factor(spec, factor), corpus.dialogue(spec.dialogue_id),
                           audio_of[spec.dialogue_id], bank)
        heard = run_item(silent, item, open_loop=True).heard  # the fixed input, probes at the corpus's times
        folder = Path(out) / item.spec.id
        folder.mkdir(parents=True, exist_ok=True)
        write_wav(folder / INPUT_WAV, heard)
        write_item_spec(folder, item.spec.to_dict())
        written.append(folder)
    return written
