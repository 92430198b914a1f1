"""Bad input gets one readable line and changes nothing: table-driven cases against the real CLI (issue 11).

Each case asserts a non-zero exit, one line on stderr that names the field or file, no traceback, and that what
was already written is untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from duplexkit_cli import main


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _fails_on_one_line(argv: list[str], capsys, *needles: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0, f"{argv} exited 0"
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ck") / "tiny"
    assert main(["model", "init", "--config", "tiny", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("override, needle", [
    ("encoder.d_model=abc", "encoder.d_model: expected an integer"),
    ("encoder.hop=0", "encoder.hop: must be a positive integer"),
    ("encoder.head_dim=0", "encoder.head_dim: must be a positive integer"),
    ("backbone.n_heads=3", "backbone.n_heads: 3 must divide hidden_size"),
    ("backbone.lora.rank=abc", "backbone.lora.rank: expected an integer"),
    ("backbone.lora.targets=[1]", "backbone.lora.targets[0]: expected a string"),
    ("synth.hidden_layer=99", "synth.hidden_layer: 99 is not a hidden state"),
    ("thinking=3", "thinking: expected a string"),
    ("encoder.nope=1", "unknown config key 'encoder.nope'"),
    ("encoder", "expected key=value"),
])
def test_bad_model_configs_are_one_line(override, needle, tmp_path, capsys):
    _fails_on_one_line(["model", "init", "--config", "tiny", "--out", str(tmp_path / "ck"), override], capsys, needle)
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:1000]),
     "model.safetensors: unreadable safetensors"),
    (lambda d: (d / "config.yaml").write_text("encoder: [1, 2\n"), "config.yaml: not valid YAML"),
    (lambda d: (d / "config.yaml").write_text("- a\n"), "expected a mapping"),
    (lambda d: (d / "meta.json").write_text("{bad"), "meta.json: unreadable"),
    (lambda d: (d / "config.yaml").write_text((d / "config.yaml").read_text().replace("d_model: 64", "d_model: 32", 1)),
     "does not match its config.yaml"),
])
def test_damaged_checkpoints_are_one_line(checkpoint, damage, needle, tmp_path, capsys, bench_corpus):
    import shutil

    ck = tmp_path / "ck"
    shutil.copytree(checkpoint, ck)
    damage(ck)
    if "meta.json" not in needle:
        (ck / "meta.json").unlink()  # without stored counts, info must load (and so check) the tensors
    before = _digest(ck)
    _fails_on_one_line(["model", "info", "--checkpoint", str(ck)], capsys, needle)
    _fails_on_one_line(["bench", "run", "--model", "salmonn-omni", "--checkpoint", str(ck), "--data", str(bench_corpus),
                        "--out", str(tmp_path / "run"), "--max-items", "1", "--tasks", "turn_taking", "--asr", "none"],
                       capsys, needle)
    assert _digest(ck) == before


def test_checkpoint_onto_a_full_disk_or_a_foreign_folder(tmp_path, capsys):
    import subprocess

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    _fails_on_one_line(["model", "init", "--config", "tiny", "--out", str(foreign)], capsys, "is not a checkpoint")
    assert (foreign / "notes.txt").read_text() == "keep me"
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        _fails_on_one_line(["model", "init", "--config", "tiny", "--out", str(small / "ck")], capsys,
                           "cannot write the checkpoint")
        assert list(small.iterdir()) == []  # no half-written folder or temp file left
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


@pytest.mark.parametrize("args, needle", [
    (["--step-timeout", "0"], "step_timeout_s: expected seconds in (0, 3600]"),
    (["--step-timeout", "-5"], "step_timeout_s"),
    (["--step-timeout", "nan"], "step_timeout_s"),
    (["--start-timeout", "0"], "start_timeout_s: expected seconds in (0, 3600]"),
    (["--asr", "whisper-xxl"], "unknown ASR 'whisper-xxl'"),
    (["--model", "files", "--model-arg", "root=/nonexistent"], "files: root '/nonexistent' is not a folder"),
    (["--metric", "stop_windw_s=1"], "unknown key 'stop_windw_s'"),
    (["--workers", "0"], "workers: must be an integer >= 1"),
    (["--model", "turn_classifier"], "turn_classifier: needs --model-arg path=DIR"),
    (["--model", "turn_classifier", "--model-arg", "path=/nonexistent"],
     "/nonexistent: no such turn_classifier model folder"),
])
def test_bad_bench_options_are_refused_before_running(args, needle, bench_corpus, tmp_path, capsys):
    argv = ["bench", "run", "--model", "silent", "--data", str(bench_corpus), "--out", str(tmp_path / "run"),
            "--max-items", "1", "--tasks", "turn_taking", "--no-progress", *args]
    if "--model" in args:
        del argv[2:4]
    _fails_on_one_line(argv, capsys, needle)
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda d: (d / "model.pkl").write_bytes(b"not a pickle"), "model.pkl: damaged (its sha256 does not match"),
    (lambda d: (d / "model.json").write_text("{bad"), "model.json: unreadable"),
    (lambda d: (d / "model.json").write_text('{"format": "other"}'), "not a turn_classifier model file"),
    (lambda d: (d / "model.pkl").unlink(), "model.pkl: unreadable"),
])
def test_a_damaged_turn_classifier_folder_is_one_line(damage, needle, bench_corpus, tmp_path, capsys):
    pytest.importorskip("sklearn")
    from benchmark.models.turn_classifier import FeatureConfig, save_model

    folder = save_model(tmp_path / "tc", {"start": None, "stop": None}, {"features": FeatureConfig().to_dict()})
    damage(folder)
    before = _digest(folder)
    _fails_on_one_line(["bench", "run", "--model", "turn_classifier", "--model-arg", f"path={folder}", "--data",
                        str(bench_corpus), "--out", str(tmp_path / "run"), "--max-items", "1", "--tasks",
                        "turn_taking", "--no-progress", "--asr", "none"], capsys, needle)
    assert _digest(folder) == before and not (tmp_path / "run" / "results.json").exists()


class _Broken:
    """A model whose every session fails: the run goes on, and then says it measured nothing."""

    from benchmark.protocol import ModelInfo

    info = ModelInfo("broken")

    def open_session(self, info):
        raise ZeroDivisionError("division by zero")


def test_a_run_that_measured_nothing_exits_non_zero(bench_corpus, tmp_path, capsys):
    from benchmark.models import register

    register("broken-test", _Broken)
    rc = main(["bench", "run", "--model", "broken-test", "--data", str(bench_corpus), "--out", str(tmp_path / "b"),
               "--max-items", "1", "--tasks", "turn_taking", "--no-progress", "--asr", "none"])
    err = capsys.readouterr().err
    assert rc == 1 and "nothing was scored" in err and "ZeroDivisionError" in err
    assert (tmp_path / "b" / "results.json").exists()  # what it recorded is kept for inspection
    rc = main(["bench", "run", "--model", "oracle", "--data", str(bench_corpus), "--out", str(tmp_path / "q"),
               "--max-items", "1", "--tasks", "qa", "--no-progress", "--asr", "whisper-hf"])  # no local weights: cannot load
    assert rc == 1 and "S2S accuracy was not computed" in capsys.readouterr().err


BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
               for p, k in zip([""] + list("abcdefg"), "abcdefgh")) + "tts: {backend: espeak, x: *h}\n"


@pytest.mark.parametrize("args, config, needle", [
    (["--minutes", "1e12"], None, "minutes: must be a number in (0, 60000]"),
    (["--minutes", "nan"], None, "minutes: must be a number"),
    (["--minutes", "1"], BOMB, "expands to more than 100000 values"),
    (["--minutes", "1", "tail_s=[1, 1e9]"], None, "tail_s: at most 60 s of silence"),
    (["--minutes", "1", "scenario_mix=3"], None, "scenario_mix"),
    (["--minutes", "1", "acoustics=3"], None, "acoustics: expected a mapping"),
    (["--minutes", "1", "timing.response_gap=3"], None, "timing.response_gap: expected a mapping"),
    (["--minutes", "1", "user_voices=3"], None, "user_voices: expected a list"),
    (["--minutes", "1", "acoustics.noise_kinds=3"], None, "noise_kinds: expected a list"),
    (["--minutes", "1", "assistant_voice=3"], None, "assistant_voice: expected a string"),
    (["--minutes", "1"], "- 1\n", "expected a mapping at the top level"),
])
def test_unbounded_or_mistyped_generator_inputs_are_refused(args, config, needle, tmp_path, capsys):
    argv = ["generate", "--out", str(tmp_path / "c"), "--no-progress", *args]
    if config is not None:
        (tmp_path / "g.yaml").write_text(config)
        argv += ["--config", str(tmp_path / "g.yaml")]
    _fails_on_one_line(argv, capsys, needle)
    assert not (tmp_path / "c" / "manifest.jsonl").exists()


@pytest.mark.parametrize("stats, needle", [
    ("[]", "stats.json: expected a JSON object"),
    ('{"config": 3}', "stats.json: config: expected a mapping"),
    ('{"config": {"acoustics": 3}}', "stats.json: config.acoustics: expected a mapping"),
    ('{"config": {"acoustics": {"bank_size": "x"}}}', "config.acoustics: bank_size: expected an integer"),
    ('{"hours": "x"}', "stats.json: hours: expected a number"),
])
def test_wrongly_typed_stats_json_is_named(stats, needle, bench_corpus, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "c"
    shutil.copytree(bench_corpus, corpus)
    (corpus / "stats.json").write_text(stats)
    before = _digest(corpus)
    _fails_on_one_line(["bench", "run", "--model", "silent", "--data", str(corpus), "--out", str(tmp_path / "r"),
                        "--max-items", "1", "--tasks", "turn_taking", "--no-progress"], capsys, needle)
    if "bank_size" not in needle:  # inspect reads stats.json but never rebuilds the rooms
        _fails_on_one_line(["inspect", str(corpus)], capsys, needle)
    assert _digest(corpus) == before


def test_export_of_an_incomplete_corpus_is_refused_and_writes_nothing(bench_corpus, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "c"
    shutil.copytree(bench_corpus, corpus)
    sorted((corpus / "data").glob("shard-*.parquet"))[-1].unlink()
    for fmt in ("wav", "fdb"):
        _fails_on_one_line(["export", str(corpus), "--format", fmt, "-o", str(tmp_path / fmt)], capsys,
                           "dialogues of the manifest are in no shard")
        assert not (tmp_path / fmt).exists() or not any((tmp_path / fmt).rglob("*.*"))


def test_stale_temp_files_are_swept_on_resume(tmp_path):
    from datagen.config import GeneratorConfig
    from datagen.generate import generate
    from tests.conftest import SMALL_ACOUSTICS

    cfg = GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS), "dialogue_seconds": [8.0, 10.0]})
    out = tmp_path / "c"
    generate(out, 0.2, seed=1, config=cfg, progress=False)
    stale = [out / ".manifest.jsonl.123.tmp", out / "data" / ".shard-00009.parquet.123.tmp",
             out / ".duplexkit" / ".run.json.123.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    generate(out, 0.2, seed=1, config=cfg, progress=False)
    assert not [p for p in stale if p.exists()]


def test_shards_of_another_run_are_never_merged(tmp_path, capsys):
    """Without the run pin, a resume still refuses shards another seed wrote, or one copied in from elsewhere."""
    import json as _json
    import shutil

    from tests.conftest import SMALL_ACOUSTICS

    cfg = tmp_path / "s1.yaml"
    cfg.write_text(_json.dumps({"dialogues_per_shard": 1, "acoustics": SMALL_ACOUSTICS, "dialogue_seconds": [8, 10]}))
    gen = ["generate", "--config", str(cfg), "--no-progress", "--minutes", "0.4"]
    assert main([*gen, "--out", str(tmp_path / "a"), "--seed", "28"]) == 0
    shutil.rmtree(tmp_path / "a" / ".duplexkit")
    before = _digest(tmp_path / "a")
    _fails_on_one_line([*gen, "--out", str(tmp_path / "a"), "--seed", "3"], capsys, "written by another run")
    assert _digest(tmp_path / "a") == before
    assert main([*gen, "--out", str(tmp_path / "b"), "--seed", "3"]) == 0
    shutil.copy(tmp_path / "a" / "data" / "shard-00000.parquet", tmp_path / "b" / "data" / "shard-00099.parquet")
    _fails_on_one_line([*gen, "--out", str(tmp_path / "b"), "--seed", "3"], capsys, "not a shard of this run")


class _Wrong:
    """Faults a model may have (issue 11, defect 5): each fails its items with one line, and the run goes on."""

    from benchmark.protocol import ModelInfo

    info = ModelInfo("wrong")

    def __init__(self, fault: str = "text"):
        from benchmark.protocol import ModelInfo

        self.fault = fault
        if fault == "prepare":  # a model that reads the labels (as the oracle does) and fails doing it
            self.info = ModelInfo("wrong", reference=True)
        elif fault == "hang":  # stuck while building (a lock, a network mount): only a start-up limit ends it
            import time

            time.sleep(3600)

    def prepare(self, item):
        raise KeyError("reference")

    def open_session(self, info):
        return self

    def step(self, mic):
        import numpy as np

        from benchmark.protocol import StepOutput

        if self.fault == "exit":
            raise SystemExit(3)
        return StepOutput(np.zeros(1280, np.float32), text=12345)

    def close(self):
        pass


def _zero_division(**_):
    return 1 / 0


@pytest.mark.parametrize("fault, isolate, needle", [
    ("text", "--no-isolate", "step 0: step returned text of type int, expected str or None"),
    ("exit", "--no-isolate", "step 0 raised SystemExit: 3"),
    ("exit", "--isolate", "step 0 raised SystemExit: 3"),
    ("prepare", "--no-isolate", "prepare raised KeyError: 'reference'"),
    ("prepare", "--isolate", "prepare raised KeyError: 'reference'"),
])
def test_a_faulty_model_fails_its_items_not_the_run(fault, isolate, needle, bench_corpus, tmp_path, capsys):
    from benchmark.models import register

    register("wrong-test", _Wrong)
    _fails_on_one_line(["bench", "run", "--model", "wrong-test", "--model-arg", f"fault={fault}", isolate, "--data",
                        str(bench_corpus), "--out", str(tmp_path / "b"), "--max-items", "1", "--tasks", "turn_taking",
                        "--no-progress", "--asr", "none"], capsys, "nothing was scored", needle)
    assert (tmp_path / "b" / "results.json").exists()


@pytest.mark.parametrize("target, args, needle", [
    (_zero_division, ["--no-isolate"], "model 'bad-factory': its factory raised ZeroDivisionError: division by zero"),
    (_zero_division, ["--isolate"], "model 'bad-factory': its factory raised ZeroDivisionError: division by zero"),
    (lambda **_: _Wrong(), ["--workers", "2"], "model 'bad-factory': its factory cannot be sent to a worker"),
    (_Wrong, ["--isolate", "--start-timeout", "2", "--model-arg", "fault=hang"],
     "model 'bad-factory': not built within 2 s (--start-timeout); its process was killed"),
])
def test_a_model_that_cannot_be_built_is_one_line(target, args, needle, bench_corpus, tmp_path, capsys):
    from benchmark.models import register

    register("bad-factory", target)
    argv = ["bench", "run", "--model", "bad-factory", "--data", str(bench_corpus), "--out", str(tmp_path / "b"),
            "--max-items", "1", "--tasks", "turn_taking", "--no-progress", "--asr", "none", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "b" / "results.json").exists()


# ------------------------------------------------------------------------------------------------------------------
# Preference pairs and stage 3 (issue 12)
# ------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair_inputs(bench_corpus, tmp_path_factory) -> dict[str, Path]:
    """A label pair set, a stage-2-shaped checkpoint, and an oracle run on a copy of the corpus (another corpus)."""
    import shutil

    from benchmark.runner import RunConfig, run_bench
    from model.checkpoint import save_checkpoint
    from model.config import config_from_dict
    from model.salmonn import SalmonnOmni
    from recipes.config import load_train_config, model_config_dict

    root = tmp_path_factory.mktemp("pair-inputs")
    assert main(["pairs", "--data", str(bench_corpus), "--out", str(root / "pairs"), "--no-progress",
                 "--context-s", "2"]) == 0
    save_checkpoint(SalmonnOmni(config_from_dict(model_config_dict(load_train_config("dpo", "tiny")))), root / "s2")
    other = root / "other-corpus"
    shutil.copytree(bench_corpus, other)
    run_bench(RunConfig(model="oracle", data=str(other), out=str(root / "other-run"), tasks=["pause_handling"],
                        asr=None, save_audio=0, progress=False))
    return {"pairs": root / "pairs", "s2": root / "s2", "other_run": root / "other-run"}


def _train3(pairs: Path, inputs: dict[str, Path], out: Path, bench_corpus: Path) -> list[str]:
    return ["train", "3", "--config", "tiny", "--data", str(pairs), "--data", str(bench_corpus), "--out", str(out),
            "--quiet", f"init_from={inputs['s2']}", "max_steps=1", "eval.bench=false", "dpo.bench_every=0"]


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_pairs_from_a_run_of_another_corpus_are_refused(pair_inputs, bench_corpus, tmp_path, capsys):
    out = tmp_path / "p"
    _fails_on_one_line(["pairs", "--data", str(bench_corpus), "--out", str(out), "--from-run",
                        str(pair_inputs["other_run"]), "--no-progress"], capsys, "a run on corpus 'other-corpus-",
                       str(pair_inputs["other_run"]))
    assert not out.exists()
    _fails_on_one_line(["pairs", "--data", str(bench_corpus), "--out", str(out), "--from-run", str(bench_corpus),
                        "--no-progress"], capsys, "not a benchmark run directory")
    assert not out.exists()


def test_an_empty_pair_set_is_refused_and_nothing_is_written(pair_inputs, bench_corpus, tmp_path, capsys):
    from datagen.corpus import Corpus
    from datagen.pairs import KINDS

    present = {e.kind for d in Corpus(bench_corpus) for e in d.events if e.type == "distractor"}
    absent = [k for k in ("noise_burst", "background_speech", "talking_to_others") if k not in present]
    if absent:
        out = tmp_path / "p"
        _fails_on_one_line(["pairs", "--data", str(bench_corpus), "--out", str(out), "--kinds", absent[0],
                            "--no-progress"], capsys, "no pairs", "nothing written")
        assert not out.exists()
    assert "noise_burst" in KINDS
    empty = _copy(pair_inputs["pairs"], tmp_path / "empty")
    for shard in (empty / "data").glob("*.parquet"):
        shard.unlink()
    run = tmp_path / "run"
    _fails_on_one_line(_train3(empty, pair_inputs, run, bench_corpus), capsys, "an empty pair set", str(empty))
    assert not run.exists()


def test_a_pair_set_of_another_tokenizer_or_config_is_refused(pair_inputs, bench_corpus, tmp_path, capsys):
    import json

    for key, value in (("tokenizer", "HFTokenizer:SmolLM2:49154:49152,49153"), ("synth_delay_blocks", 3)):
        other = _copy(pair_inputs["pairs"], tmp_path / f"other-{key}")
        d = json.loads((other / "pairs.json").read_text())
        d["tokens"][key] = value
        (other / "pairs.json").write_text(json.dumps(d))
        before = _digest(other)
        run = tmp_path / f"run-{key}"
        _fails_on_one_line(_train3(other, pair_inputs, run, bench_corpus), capsys,
                           "a pair set made for another tokenizer or config", key)
        assert not run.exists() and _digest(other) == before


def test_a_corrupt_pair_shard_is_named(pair_inputs, bench_corpus, tmp_path, capsys):
    bad = _copy(pair_inputs["pairs"], tmp_path / "bad")
    shard = sorted((bad / "data").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:2000])
    before = _digest(bad)
    run = tmp_path / "run"
    _fails_on_one_line(_train3(bad, pair_inputs, run, bench_corpus), capsys, "unreadable pair shard", shard.name)
    assert not run.exists()
    _fails_on_one_line(["plot", str(bad), "nope", "-o", str(tmp_path / "x.png")], capsys, "unreadable pair shard")
    assert _digest(bad) == before and not (tmp_path / "x.png").exists()


# Every verb, pointed at something missing or wrong: {C} is a real corpus, {E} an empty folder, {J} broken JSON.
@pytest.mark.parametrize("argv, needle", [
    ("inspect {E}", "{E}/manifest.jsonl: missing"),
    ("validate {E}", "{E}/manifest.jsonl: missing"),
    ("plot {C} no-such-id -o {T}/p.png", "no dialogue 'no-such-id'"),
    ("export {E} --out {T}/x --format wav", "{E}/manifest.jsonl: missing"),
    ("model info --checkpoint {E}", "expected config.yaml and model.safetensors"),
    ("model info --config no-such", "model config 'no-such': not a preset"),
    ("train 2 --config {T}/none.yaml --data {C} --out {T}/r", "not a size (tiny, small, full) nor a YAML file"),
    ("train 2 --config tiny --data {E} --out {T}/r", "--data {E}: {E}/manifest.jsonl: missing"),
    ("train 2 --config tiny --data {C} --eval-data {E} --out {T}/r", "--eval-data {E}: {E}/manifest.jsonl"),
    ("train 9 --config tiny --data {C} --out {T}/r", "unknown training stage '9'"),
    ("train 3 --config tiny --data {C} --out {T}/r", "init_from: stage 3 starts from the stage-2 policy"),
    ("train 3 --config tiny --data {C} --out {T}/r init_from={E}", "--data: stage 3 needs exactly one pair set"),
    ("pairs --data {E} --out {T}/x", "{E}/manifest.jsonl: missing"),
    ("pairs --data {C} --out {T}/x --from-run {E}", "--from-run {E}: not a benchmark run directory"),
    ("pairs --data {C} --out {T}/x --kinds no-such", "--kinds: unknown kind 'no-such'"),
    ("pairs --data {C} --out {T}/x --weight pause=-1", "--weight pause=-1: expected KIND=WEIGHT"),
    ("plot {E} no-such-id -o {T}/p.png", "{E}/manifest.jsonl: missing"),
    ("bench compare {J}", "{J}: not a readable results.json"),
    ("bench items --data {E} --out {T}/i", "{E}/manifest.jsonl: missing"),
    ("bench fdb --task backchannel --root {E}", "{E}: no sample directories"),
    ("bench run --model no-such --data {C} --out {T}/b", "unknown model 'no-such'"),
    ("bench run --model silent --data {C} --out {T}/b --tasks no-such", "unknown task 'no-such'"),
    ("bench run --model salmonn-omni --checkpoint {E} --data {C} --out {T}/b --no-isolate",
     "checkpoint '{E}': expected config.yaml and model.safetensors there"),
])
def test_every_verb_names_what_is_wrong(argv, needle, bench_corpus, tmp_path, capsys):
    empty, broken = tmp_path / "empty", tmp_path / "broken.json"
    empty.mkdir()
    broken.write_text("{not json")
    names = {"C": str(bench_corpus), "E": str(empty), "J": str(broken), "T": str(tmp_path)}
    before = _digest(bench_corpus)
    _fails_on_one_line(argv.format(**names).split(), capsys, needle.format(**names))
    assert _digest(bench_corpus) == before
    assert not any((tmp_path / d).exists() for d in ("r", "b", "i", "x"))


def test_salmonn_omni_unknown_voice_is_one_line(checkpoint, tmp_path, capsys, bench_corpus):
    _fails_on_one_line(["bench", "run", "--model", "salmonn-omni", "--checkpoint", str(checkpoint), "--model-arg",
                        "voice=opera", "--data", str(bench_corpus), "--out", str(tmp_path / "run"), "--max-items", "1",
                        "--tasks", "turn_taking", "--asr", "none"], capsys, "salmonn-omni: voice 'opera' (known: piper, mel)")
