"""End to end: generate a couple of minutes, read them back with ``datasets``, validate, inspect, plot, export;
byte-identical output whatever the worker count; a killed run finishes on restart without redoing shards."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datagen.config import ConfigError, GeneratorConfig
from datagen.corpus import Corpus, list_shards
from datagen.generate import GenerateError, generate
from datagen.schema import LABEL_TRACKS, frame_labels
from tests.conftest import ROOT, SMALL_ACOUSTICS

MINUTES = 1.5


def small_config(**kw) -> GeneratorConfig:
    d = {"acoustics": dict(SMALL_ACOUSTICS), "dialogues_per_shard": 2, "dialogue_seconds": [12.0, 20.0]}
    d.update(kw)
    return GeneratorConfig.from_dict(d)


def digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".duplexkit" not in p.parts)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate(out, MINUTES, seed=7, workers=1, config=small_config(), progress=False)
    return out


def test_layout_and_stats(corpus_dir):
    assert (corpus_dir / "manifest.jsonl").is_file() and (corpus_dir / "stats.json").is_file()
    stats = json.loads((corpus_dir / "stats.json").read_text())
    corpus = Corpus(corpus_dir)
    assert stats["num_dialogues"] == len(corpus) >= 3
    # --minutes is a budget met to within one dialogue, not a floor overshot by the last exchange of each
    assert abs(stats["total_seconds"] - MINUTES * 60) <= max(d.duration_s for d in corpus)
    assert sum(stats["scenario_mix"].values()) == len(corpus)
    assert stats["config"]["acoustics"]["bank_size"] == SMALL_ACOUSTICS["bank_size"]
    assert not list((corpus_dir / "data").glob(".*"))  # no temp files left behind


def test_wav_shards_hold_the_same_samples_as_flac(corpus_dir, tmp_path):
    """``audio_format: wav`` (the throughput option, PCM in lz4-compressed parquet) changes the storage only."""
    import pyarrow.parquet as pq

    out = tmp_path / "wav"
    generate(out, MINUTES, seed=7, workers=1, config=small_config(audio_format="wav"), progress=False)
    flac, wav = Corpus(corpus_dir), Corpus(out)
    assert [d.id for d in wav] == [d.id for d in flac]
    for d in list(flac)[:2]:
        a, b = flac.audio(d.id), wav.audio(d.id)
        # libsndfile's FLAC and WAV writers round to 16 bits differently: at most one step apart
        assert a.keys() == b.keys() and all(np.abs(a[k] - b[k]).max() <= 2.0**-15 for k in a)
    meta = pq.ParquetFile(next((out / "data").rglob("*.parquet"))).metadata.row_group(0)
    codecs = {meta.column(i).path_in_schema: meta.column(i).compression for i in range(meta.num_columns)}
    assert codecs["mic.bytes"] == codecs["meta"] == "LZ4"


def test_the_fast_preset_stores_wav_unless_told(tmp_path):
    """``voices: fast`` is the throughput preset, so its shards are WAV unless ``audio_format`` says otherwise; the
    default preset's are FLAC, and stating a preset's format is the same run as leaving it out."""
    import pyarrow.parquet as pq

    assert small_config(voices="fast", audio_format="flac").storage_format == "flac"
    assert small_config().storage_format == "flac"
    assert small_config().fingerprint() == small_config(audio_format="flac").fingerprint()
    assert small_config(voices="fast").fingerprint() == small_config(voices="fast", audio_format="wav").fingerprint()
    stats = generate(tmp_path, 0.3, seed=7, workers=1, config=small_config(voices="fast"), progress=False)
    assert stats["config"]["audio_format"] == "wav"
    paths = pq.read_table(next((tmp_path / "data").rglob("*.parquet")), columns=["mic"]).column("mic").to_pylist()
    assert paths and all(p["path"].endswith(".wav") for p in paths)


def test_wav_bytes_are_the_ones_soundfile_writes():
    """``encode_wav`` converts in place for speed; its bytes must stay libsndfile's, clipping and rounding ties too."""
    import io

    import soundfile as sf

    from datagen.common.audio import encode_wav

    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(48000)).astype(np.float32)
    edges = [1.0, -1.0, 1.5, -1.5, 0.0, 2.0**-16, -(2.0**-16), 3 * 2.0**-17, 0.99999994, -0.99999994, 65535.75 / 2**31]
    x[: len(edges)] = edges
    ref = io.BytesIO()
    sf.write(ref, np.clip(x, -1.0, 1.0), 16000, format="WAV", subtype="PCM_16")
    before = x.copy()
    assert bytes(encode_wav(x)) == ref.getvalue()
    assert np.array_equal(x, before)  # the input is not modified
    assert bytes(encode_wav(x.astype(np.float64))) == ref.getvalue()


def test_flac_bytes_are_the_ones_soundfile_writes_from_floats():
    """``encode_flac`` hands libsndfile int16 converted as its float path converts (cheaper); the FLAC bytes must be
    the ones the float path writes, ties, clipping, stereo and float64 included."""
    import io

    import soundfile as sf

    from datagen.common.audio import encode_flac

    rng = np.random.default_rng(4)
    x = (0.1 * rng.standard_normal(48000)).astype(np.float32)
    edges = [1.0, -1.0, 1.5, -1.5, 0.0, 0.5 / 2**15, -0.5 / 2**15, 1.5 / 2**15, -2.5 / 2**15, 32767.5 / 2**15,
             0.99999994, -0.99999994]
    x[: len(edges)] = edges
    for audio in (x, x.astype(np.float64), np.stack([x, x[::-1]], axis=1)):
        ref = io.BytesIO()
        sf.write(ref, np.clip(audio, -1.0, 1.0), 16000, format="FLAC", subtype="PCM_16")
        before = audio.copy()
        assert encode_flac(audio) == ref.getvalue()
        assert np.array_equal(audio, before)  # the input is not modified


def test_minutes_is_a_budget_met_within_one_dialogue():
    """Each dialogue aims at its planned length plus its shard's carry, the last shard makes up for the others, and
    an exchange that would overshoot more than stopping short is taken back (lengths only: no rendering)."""
    from datagen.generate import build_dialogue, make_plan, resources_for

    config = small_config(dialogues_per_shard=3, dialogue_seconds=[15.0, 30.0])
    plan = make_plan(config, 2.0, seed=3)
    assert sum(plan.targets_s) == pytest.approx(120.0)
    res = resources_for(config)
    made = []
    for k, i in enumerate(plan.shard_range(0)):
        made.append(build_dialogue(plan, i, res, (sum(plan.targets_s[:i]) - sum(made)) / (3 - k))[0].duration_s)
    longest = max(made)
    assert abs(sum(made) - sum(plan.targets_s[:3])) <= longest


def test_channels_stems_events_and_labels(corpus_dir):
    corpus = Corpus(corpus_dir)
    for d, audio in corpus.iter_audio():
        assert {len(x) for x in audio.values()} == {d.num_samples}
        total = audio["user"] + audio["echo"] + audio["other"] + audio["noise"]
        assert np.abs(audio["mic"] - total).max() <= 8 / 32768
        for e in d.events:
            assert 0 <= e.start <= e.end <= d.num_samples
        labels = frame_labels(d)
        assert set(labels) == set(LABEL_TRACKS)
        assert all(len(v) == d.num_frames for v in labels.values())
        for e in d.events:
            if e.type == "interruption":
                assert labels["interruption"][e.start // 1280] == 1
        assert audio["user"].any() and audio["assistant"].any()


def test_reads_back_with_datasets(corpus_dir):
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(corpus_dir / "data" / "*.parquet"), split="train")
    assert isinstance(ds.features["mic"], datasets.Audio)
    for col in ("mic", "assistant", "stem_user", "stem_echo", "stem_other", "stem_noise"):
        ds = ds.cast_column(col, datasets.Audio(decode=False))
    row = ds[0]
    import io

    import soundfile as sf

    audio, sr = sf.read(io.BytesIO(row["mic"]["bytes"]))
    meta = json.loads(row["meta"])
    assert sr == 16000 and len(audio) == meta["num_samples"]
    assert len(row["labels"]["state"]) == -(-meta["num_samples"] // 1280)
    assert len(ds) == len(Corpus(corpus_dir))


def test_validate_inspect_plot_export(corpus_dir, tmp_path):
    from datagen.export import export_corpus
    from datagen.inspect import format_summary, inspect_corpus, plot_timing_histograms
    from datagen.plot import plot_dialogue
    from datagen.validate import validate_corpus

    report = validate_corpus(corpus_dir, vad=True, progress=False)
    assert report.ok, report.format()
    assert report.vad["user"]["recall"] >= 0.85
    summary = inspect_corpus(corpus_dir)
    assert "scenario mix" in format_summary(summary)
    # the decision-latency histogram per context, counting every stop event of the corpus
    decisions = summary["timing"]["decision_latency"]
    stops = [e for d in Corpus(corpus_dir) for e in d.events if e.expected == "stop"]
    assert set(decisions) == {"independent", "dependent"}
    assert sum(h["n"] for h in decisions.values()) == len(stops)
    assert "decision latency after onset, per context" in format_summary(summary)
    png = plot_timing_histograms(corpus_dir, tmp_path / "t.png")
    first = Corpus(corpus_dir).dialogues[0].id
    png2 = plot_dialogue(corpus_dir, first, tmp_path / "d.png")
    assert png.stat().st_size > 10_000 and png2.stat().st_size > 10_000
    wavs = export_corpus(corpus_dir, tmp_path / "wav", fmt="wav")
    assert len(wavs) == len(Corpus(corpus_dir))
    import soundfile as sf

    assert sf.info(str(wavs[0])).channels == 2
    samples = export_corpus(corpus_dir, tmp_path / "fdb", fmt="fdb")
    for s in samples:
        assert (s / "input.wav").is_file() and (s / "transcription.json").is_file()
    # The layout is what FDB's scripts and benchmark.fdb read: task JSONs parse, backchannel folders are numbered
    # (FDB's eval_backchannel.py skips other names) and each has a ground-truth distribution.
    from benchmark.fdb import read_sample

    for s in samples:
        read_sample(s)
    bc = [s for s in samples if s.parent.name == "backchannel"]
    if bc:
        gt = json.loads((tmp_path / "fdb" / "backchannel" / "icc_gt_distribution.json").read_text())
        assert all(s.name.isdigit() and abs(sum(gt[s.name]) - 1) < 1e-6 for s in bc)


def test_timing_stats_compare_with_the_distributions_the_config_drew_from(corpus_dir, tmp_path):
    """A ``timing`` override is binned and plotted against itself, not against the built-in reference."""
    import shutil

    from datagen.corpus import finalize
    from datagen.distributions import REFERENCE
    from datagen.inspect import _drawn_from

    default = json.loads((corpus_dir / "stats.json").read_text())
    assert default["timing"]["response_gap"]["reference"]["lo"] == REFERENCE["response_gap"].lo
    copy = tmp_path / "c"
    shutil.copytree(corpus_dir, copy)
    stats = finalize(copy, {**default["config"], "timing": {"response_gap": {"lo": 0.32, "mean": 0.5}}})
    h = stats["timing"]["response_gap"]
    assert h["reference"]["lo"] == 0.32 and h["reference"]["mean"] == 0.5 and h["edges"][0] == 0.32
    assert _drawn_from("response_gap", h).lo == 0.32
    assert stats["timing"]["user_gap"] == default["timing"]["user_gap"]  # the others as before


def test_validate_catches_a_tampered_label(corpus_dir, tmp_path):
    import shutil

    from datagen.validate import validate_corpus

    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    lines = (bad / "manifest.jsonl").read_text().splitlines()
    d = json.loads(lines[0])
    d["events"].append({"type": "user_turn", "start": 0, "end": d["num_samples"] + 16000, "expected": "respond"})
    lines[0] = json.dumps(d)
    (bad / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception, match="not inside the audio"):
        validate_corpus(bad, vad=False, progress=False)


def test_same_bytes_whatever_the_worker_count(corpus_dir, tmp_path):
    out = tmp_path / "w2"
    generate(out, MINUTES, seed=7, workers=2, config=small_config(), progress=False)
    assert digest(out) == digest(corpus_dir)


def test_resume_after_kill_redoes_nothing(corpus_dir, tmp_path):
    out = tmp_path / "killed"
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(small_config().to_dict()))
    cmd = [sys.executable, "-m", "duplexkit_cli", "generate", "--out", str(out), "--minutes", str(MINUTES),
           "--seed", "7", "--config", str(cfg), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list_shards(out) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in list_shards(out)}
    assert first, "the run was killed before any shard was written"
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert {p.name: p.stat().st_mtime_ns for p in list_shards(out) if p.name in first} == first
    assert digest(out) == digest(corpus_dir)


def test_a_different_config_is_not_mixed_into_a_run(corpus_dir):
    with pytest.raises(GenerateError, match="different"):
        generate(corpus_dir, MINUTES, seed=8, config=small_config(), progress=False)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"scenario_mix": {"karaoke": 1.0}}, "scenario_mix"),
        ({"dialogue_seconds": [-5, 10]}, "dialogue_seconds"),
        ({"tts": {"backend": "festival"}}, "backend"),
        ({"user_voices": ["nobody"]}, "user_voices"),
        ({"acoustics": {"snr_db": [200, 300]}}, "snr_db"),
    ],
)
def test_bad_config_fails_with_one_line_naming_the_field(override, field, tmp_path):
    with pytest.raises((ConfigError, ValueError)) as info:
        generate(tmp_path / "x", 0.2, config=small_config(**override), progress=False)
    assert field in str(info.value) and "\n" not in str(info.value)
    assert not list_shards(tmp_path / "x")


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GenerateError, match="not writable"):
        generate(blocker / "corpus", 0.2, config=small_config(), progress=False)


@pytest.mark.slow
def test_ray_engine_gives_the_same_bytes(corpus_dir, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'duplexkit[ray]'")
    out = tmp_path / "ray"
    generate(out, MINUTES, seed=7, workers=2, engine="ray", config=small_config(), progress=False)
    assert digest(out) == digest(corpus_dir)


def test_cli_errors_are_one_line(tmp_path, capsys, corpus_dir):
    from duplexkit_cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario_mix: {karaoke: 1}\n")
    assert main(["generate", "--out", str(tmp_path / "c"), "--minutes", "1", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scenario_mix" in err and "karaoke" in err
    assert main(["plot", str(corpus_dir), "no-such-id", "-o", str(tmp_path / "x.png")]) == 2
    assert "no dialogue 'no-such-id'" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path)]) == 2
    assert "manifest.jsonl: missing" in capsys.readouterr().err


def test_broken_recordings_are_skipped_and_counted(tmp_path):
    import soundfile as sf

    from datagen.tts import USER_VOICES
    from datagen.tts.espeak import EspeakBackend

    audio = EspeakBackend().synthesize("hello there", USER_VOICES[0]).audio
    sf.write(tmp_path / "ok.wav", audio, 16000)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....garbage")
    manifest = tmp_path / "rec.jsonl"
    manifest.write_text(
        json.dumps({"path": "ok.wav", "text": "hello there", "speaker": "ann"}) + "\n"
        + json.dumps({"path": "bad.wav", "text": "broken", "speaker": "ann"}) + "\n"
    )
    cfg = small_config(user_tts={"backend": "recordings", "manifest": str(manifest)}, scenario_mix={"turn_taking": 1})
    stats = generate(tmp_path / "c", 0.3, config=cfg, progress=False)
    assert stats["skipped"]["tts:recordings"]["count"] == 1
    assert "corrupt audio" in stats["skipped"]["tts:recordings"]["reasons"][0]
    assert json.loads((tmp_path / "c" / "stats.json").read_text())["skipped"]["tts:recordings"]["count"] == 1


def test_cli_success_paths_and_validate_exit_codes(corpus_dir, tmp_path, capsys):
    """validate exits 0 on a clean corpus and 1 on a broken one; inspect and export succeed through the CLI."""
    import shutil

    from duplexkit_cli import main

    assert main(["validate", str(corpus_dir), "--no-vad"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["inspect", str(corpus_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_dialogues"] >= 1
    for fmt in ("wav", "fdb"):
        assert main(["export", str(corpus_dir), "--format", fmt, "-o", str(tmp_path / fmt)]) == 0
        assert "exported" in capsys.readouterr().out and any((tmp_path / fmt).iterdir())
    broken = tmp_path / "broken"
    shutil.copytree(corpus_dir, broken)
    lines = (broken / "manifest.jsonl").read_text().splitlines()
    (broken / "manifest.jsonl").write_text("\n".join(lines[1:]) + "\n")  # a dialogue the shards hold goes missing
    assert main(["validate", str(broken), "--no-vad"]) == 1
    assert "different dialogues" in capsys.readouterr().out


def test_generator_config_takes_dotted_overrides(tmp_path):
    from datagen.common.config import ConfigError
    from datagen.config import load_generator_config

    path = tmp_path / "g.yaml"
    path.write_text("dialogues_per_shard: 3\nacoustics: {bank_size: 2}\n")
    cfg = load_generator_config(path, ["acoustics.echo_factor=0", "tail_s=[0.5, 0.6]"])
    assert cfg.dialogues_per_shard == 3 and cfg.acoustics == {"bank_size": 2, "echo_factor": 0}
    assert cfg.tail_s == (0.5, 0.6)
    with pytest.raises(ConfigError, match="acoustics: unknown key 'echo_factr'"):
        load_generator_config(None, ["acoustics.echo_factr=0"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_generator_config(None, ["tail_s"])
