"""Full-Duplex-Bench v1 metrics on hand-made sample directories with answers worked out by hand from FDB's code.

Times are chosen to be exact in binary floating point (0.25, 0.5, ...) so a bin index or a clipped latency is
never an accident of rounding.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.fdb import (
    Chunk,
    FDBError,
    add_fdb_command,
    backchannel_jsd,
    read_sample,
    score_fdb,
    takeover,
)

SR = 16_000


def words(*spec: tuple[str, float, float]) -> dict:
    return {"text": " ".join(w for w, _, _ in spec), "chunks": [{"text": w, "timestamp": [s, e]} for w, s, e in spec]}


def make_sample(root: Path, name: str, output: dict | None = None, wav_s: float | None = None, **files) -> Path:
    d = root / name
    d.mkdir(parents=True)
    sf.write(d / "input.wav", np.zeros(SR // 10, np.float32), SR)
    if wav_s is not None:
        sf.write(d / "output.wav", np.zeros(int(wav_s * SR), np.float32), SR)
    if output is not None:
        (d / "output.json").write_text(json.dumps(output))
    for fname, data in files.items():
        (d / f"{fname}.json").write_text(json.dumps(data))
    return d


# --------------------------------------------------------------------------------------------- take-over rule


def test_takeover_rule():
    assert takeover([]) == 0
    three_short = [Chunk("a", 1.0, 1.25), Chunk("b", 1.25, 1.5), Chunk("c", 1.5, 1.75)]
    assert takeover(three_short) == 0  # 0.75 s, 3 words: a blip
    assert takeover(three_short + [Chunk("d", 1.75, 1.875)]) == 1  # 4 words even if short
    assert takeover([Chunk("a", 1.0, 1.5), Chunk("b", 1.5, 2.0)]) == 1  # span 1.0 s is not < 1 s
    assert takeover([Chunk("a", 1.0, 1.25), Chunk("b", 2.5, None)]) == 1  # null end -> its start: span 1.5 s


def test_smooth_turn_taking(tmp_path):
    turn = [{"timestamp": [5.0, 5.0]}]
    make_sample(tmp_path, "s0", words(), turn_taking=turn)
    make_sample(tmp_path, "s1", words(("a", 5.5, 5.75), ("b", 5.75, 6.0), ("c", 6.0, 6.25)), turn_taking=turn)
    make_sample(
        tmp_path, "s2", words(("a", 5.25, 5.5), ("b", 5.5, 5.75), ("c", 5.75, 6.0), ("d", 6.0, 6.25)), turn_taking=turn
    )
    make_sample(tmp_path, "s3", words(("early", 4.5, 5.0), ("words", 5.0, 6.0)), turn_taking=turn)
    r = score_fdb("smooth_turn_taking", tmp_path)
    assert r["n"] == 4
    assert [s["takeover"] for s in r["samples"]] == [0, 0, 1, 1]
    assert r["takeover_rate"] == 0.5
    by = {s["sample"]: s for s in r["samples"]}
    assert by["s2"]["latency_s"] == 0.25
    assert by["s3"]["raw_latency_s"] == -0.5 and by["s3"]["latency_s"] == 0.0  # clipped at 0
    assert by["s1"]["latency_s"] is None  # not a take-over: not in the mean
    assert r["latency_s"] == pytest.approx(0.125)  # (0.25 + 0) / 2 over take-overs only


def test_smooth_turn_taking_reads_element_0_of_the_timestamp(tmp_path):
    # FDB reads turn_taking.json[0]["timestamp"][0] as the turn end, not [1].
    make_sample(tmp_path, "s", words(("hello", 3.0, 3.5), ("there", 3.5, 4.5)), turn_taking=[{"timestamp": [2.0, 9.0]}])
    assert score_fdb("smooth_turn_taking", tmp_path)["latency_s"] == 1.0


def test_no_takeover_means_no_latency(tmp_path):
    make_sample(tmp_path, "s", words(("mhm", 1.0, 1.25)), turn_taking=[{"timestamp": [0.5, 0.5]}])
    r = score_fdb("smooth_turn_taking", tmp_path)
    assert r["takeover_rate"] == 0.0 and r["latency_s"] is None  # FDB would divide by zero


def test_pause_handling(tmp_path):
    pause = [{"timestamp": [2.0, 4.0]}]
    make_sample(tmp_path, "a", words(), pause=pause)
    make_sample(tmp_path, "b", words(("uh", 2.5, 2.75), ("huh", 2.75, 3.0)), pause=pause)
    make_sample(tmp_path, "c", words(("so", 2.5, 3.0), ("what", 3.0, 3.25), ("is", 3.25, 3.5), ("it", 3.5, 3.75)))
    r = score_fdb("pause_handling", tmp_path)
    assert [s["takeover"] for s in r["samples"]] == [0, 0, 1]
    assert r["takeover_rate"] == pytest.approx(1 / 3)
    assert r["latency_s"] is None  # FDB defines none for pauses
    assert r["samples"][0]["pause_s"] == [2.0, 4.0]


def test_user_interruption(tmp_path):
    meta = [{"timestamp": [2.0, 3.5], "context": "tell me about cats", "interrupt": "wait, dogs instead"}]
    make_sample(tmp_path, "a", words(("sure", 4.0, 4.5), ("dogs", 4.5, 5.0)), interrupt=meta)
    make_sample(tmp_path, "b", words(("uh", 3.0, 3.5), ("ok", 3.75, 4.25)), interrupt=meta)
    make_sample(tmp_path, "c", words(), interrupt=meta)
    r = score_fdb("user_interruption", tmp_path)
    assert [s["takeover"] for s in r["samples"]] == [1, 1, 0]
    assert r["takeover_rate"] == pytest.approx(2 / 3)
    assert r["samples"][0]["latency_s"] == 0.5
    assert r["samples"][1]["latency_s"] == 0.0 and r["samples"][1]["words_before_interrupt_end"] == 1
    assert r["latency_s"] == 0.25
    assert r["relevance"] is None and "not computed" in r["relevance_note"]

    seen = []
    judged = score_fdb("user_interruption", tmp_path, judge=lambda c, i, o: seen.append((c, i, o)) or 4.0)
    assert judged["relevance"] == 4.0 and "relevance_note" not in judged
    assert seen[0] == ("tell me about cats", "wait, dogs instead", "sure dogs")  # take-overs only
    assert len(seen) == 2


def test_asr_fallback_transcribes_after_the_interruption(tmp_path):
    meta = [{"timestamp": [1.0, 1.5], "context": "c", "interrupt": "i"}]
    make_sample(tmp_path, "a", None, wav_s=4.0, interrupt=meta)
    with pytest.raises(FDBError, match=r"output\.json.*--asr"):
        score_fdb("user_interruption", tmp_path)
    lengths = []

    def asr(audio: np.ndarray, sr: int):
        lengths.append(len(audio) / sr)
        return [("hello", 0.5, 1.0), ("there", 1.0, 1.75)]

    r = score_fdb("user_interruption", tmp_path, asr=asr)
    assert lengths == [2.5]  # cropped at the end of the interruption, as FDB's asr.py does
    assert r["samples"][0]["first_word_s"] == 2.0 and r["latency_s"] == 0.5


# --------------------------------------------------------------------------------------------- backchannel


def fake_vad(segments_by_len: dict[float, list[tuple[float, float]]]):
    """A VAD keyed by audio duration, so each sample gets its own known segments (no model, no speech needed)."""
    return lambda audio: segments_by_len[len(audio) / SR]


def hist(bins: list[int], n: int) -> np.ndarray:
    h = np.zeros(n)
    h[bins] = 1
    h += 1e-10
    return h / h.sum()


def test_backchannel_frequency_jsd_and_tor(tmp_path):
    # 0: two short one-word backchannels in bins 1-2 and 5-6 of an 11-bin (2 s) histogram, ground truth identical.
    make_sample(tmp_path, "0", words(("mhm", 0.3, 0.5), ("yeah", 1.1, 1.3)), wav_s=2.0)
    # 1: same backchannels, ground truth elsewhere (bins 8-9): disjoint supports -> JS distance sqrt(ln 2).
    make_sample(tmp_path, "1", words(("mhm", 0.3, 0.5), ("yeah", 1.1, 1.3)), wav_s=2.5)
    # 2: one backchannel, then a 3.5 s answer: TOR 1, the walk stops, the backchannel before it still counts.
    make_sample(tmp_path, "2", words(("right", 0.25, 0.5), ("so", 1.0, 1.25)), wav_s=5.0)
    # 3: silent.
    make_sample(tmp_path, "3", words(), wav_s=4.0)
    segs = {
        2.0: [(0.25, 0.55), (1.05, 1.35)],
        2.5: [(0.25, 0.55), (1.05, 1.35)],
        5.0: [(0.25, 0.5), (1.0, 4.5)],
        4.0: [],
    }
    gt = {"0": list(hist([1, 2, 5, 6], 11)), "1": list(hist([8, 9], 13)), "2": [0.5, 0.5]}
    r = score_fdb("backchannel", tmp_path, vad=fake_vad(segs), gt_distribution=gt)
    by = {s["sample"]: s for s in r["samples"]}
    assert [by[k]["takeover"] for k in "0123"] == [0, 0, 1, 0]
    assert [by[k]["n_backchannels"] for k in "0123"] == [2, 2, 1, 0]
    assert by["0"]["frequency"] == 1.0 and by["1"]["frequency"] == 0.8 and by["2"]["frequency"] == 0.2
    assert by["0"]["jsd"] == pytest.approx(0.0, abs=1e-4)
    assert by["1"]["jsd"] == pytest.approx(math.sqrt(math.log(2)), abs=1e-4)
    assert by["3"]["jsd"] == 1.0  # no backchannel: FDB's JSD is 1
    assert r["takeover_rate"] == 0.25
    assert r["frequency"] == pytest.approx((1.0 + 0.8 + 0.2 + 0.0) / 4)
    assert r["jsd"] == pytest.approx(np.mean([by[k]["jsd"] for k in "0123"]))
    assert r["latency_s"] is None


def test_backchannel_segment_rules(tmp_path):
    # Per segment: > 3 words -> TOR 1; < 1 s with <= 2 words -> 0; < 1 s with 3 words -> 1; >= 1 s -> 1.
    # The sample's TOR is the last segment's, and every short segment is appended whatever its TOR (FDB's code).
    make_sample(
        tmp_path, "0", words(("a", 0.25, 0.5), ("b", 0.5, 0.75), ("c", 0.75, 0.875), ("ok", 2.25, 2.5)), wav_s=4.0
    )
    r = score_fdb("backchannel", tmp_path, vad=lambda a: [(0.25, 0.875), (2.0, 2.75)], gt_distribution={"0": [1, 1]})
    assert r["samples"][0]["takeover"] == 0  # first segment TOR 1 (3 words), last segment TOR 0
    assert r["samples"][0]["n_backchannels"] == 2
    r = score_fdb("backchannel", tmp_path, vad=lambda a: [(2.0, 2.75), (0.25, 1.5)], gt_distribution={"0": [1, 1]})
    assert r["samples"][0]["takeover"] == 1  # last segment is 1.25 s long


def test_backchannel_jsd_interpolates_the_ground_truth():
    # A 3-point ground truth stretched onto 11 bins by linear interpolation, as FDB's interp1d does.
    gt = [0.0, 1.0, 0.0]
    pred = [(1.0, 1.0)]  # bin 5 of 11: the peak of the interpolated triangle
    from scipy.spatial.distance import jensenshannon

    tri = np.interp(np.linspace(0, 1, 11), np.linspace(0, 1, 3), gt)
    assert backchannel_jsd(pred, 2.0, gt) == pytest.approx(jensenshannon(hist([5], 11), tri))


@pytest.mark.slow  # imports torch and loads silero (~4 s); the metric itself is covered above with a fake VAD
def test_default_silero_vad_runs_on_silence(tmp_path):
    make_sample(tmp_path, "0", words(), wav_s=1.0)
    (tmp_path / "icc_gt_distribution.json").write_text(json.dumps({"0": [1.0, 1.0]}))
    r = score_fdb("backchannel", tmp_path)  # default gt path and the real VAD
    assert r["samples"][0]["vad_segments"] == [] and r["jsd"] == 1.0


# --------------------------------------------------------------------------------------------- errors


def one_line_naming(exc: pytest.ExceptionInfo, name: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and name in msg, msg


def test_errors_name_the_file(tmp_path):
    d = make_sample(tmp_path / "t", "s", words(("a", 1.0, 2.0)))
    with pytest.raises(FDBError) as e:
        score_fdb("smooth_turn_taking", tmp_path / "t")
    one_line_naming(e, str(d / "turn_taking.json"))

    (d / "turn_taking.json").write_text("[{\"timestamp\": [1.0,\n")
    with pytest.raises(FDBError) as e:
        score_fdb("smooth_turn_taking", tmp_path / "t")
    one_line_naming(e, "turn_taking.json")
    assert isinstance(e.value, ValueError)

    (d / "turn_taking.json").write_text(json.dumps([{"timestamp": [1.0, 1.0]}]))
    (d / "output.json").write_text(json.dumps({"chunks": [{"text": "a"}]}))
    with pytest.raises(FDBError) as e:
        score_fdb("smooth_turn_taking", tmp_path / "t")
    one_line_naming(e, str(d / "output.json"))

    (d / "output.json").write_text(json.dumps(words(("a", None, 1.0))))
    with pytest.raises(FDBError) as e:
        score_fdb("smooth_turn_taking", tmp_path / "t")
    one_line_naming(e, str(d / "output.json"))

    (d / "output.json").unlink()
    with pytest.raises(FDBError) as e:
        read_sample(d, "pause_handling")
    one_line_naming(e, "output.json")

    (d / "interrupt.json").write_text(json.dumps([{"timestamp": ["x", 2]}]))
    with pytest.raises(FDBError) as e:
        read_sample(d)
    one_line_naming(e, "interrupt.json")


def test_backchannel_errors(tmp_path):
    make_sample(tmp_path, "0", words(("mhm", 0.3, 0.5)), wav_s=1.0)
    with pytest.raises(FDBError) as e:
        score_fdb("backchannel", tmp_path, vad=lambda a: [(0.25, 0.5)])
    one_line_naming(e, "icc_gt_distribution.json")
    (tmp_path / "icc_gt_distribution.json").write_text(json.dumps({"7": [1.0]}))
    with pytest.raises(FDBError, match="'0'") as e:
        score_fdb("backchannel", tmp_path, vad=lambda a: [(0.25, 0.5)])
    one_line_naming(e, "icc_gt_distribution.json")
    (tmp_path / "0" / "output.wav").write_bytes(b"not a wav")
    with pytest.raises(FDBError) as e:
        score_fdb("backchannel", tmp_path, vad=lambda a: [])
    one_line_naming(e, "output.wav")
    with pytest.raises(ValueError, match="unknown FDB task"):
        score_fdb("nonsense", tmp_path)
    with pytest.raises(FDBError, match="no sample directories"):
        score_fdb("pause_handling", tmp_path / "0")


# --------------------------------------------------------------------------------------------- CLI


def test_cli_prints_summary_then_one_json_line(tmp_path, capsys):
    make_sample(tmp_path, "s", words(("hi", 1.5, 2.0), ("there", 2.0, 2.75)), turn_taking=[{"timestamp": [1.0, 1.0]}])
    parser = argparse.ArgumentParser()
    add_fdb_command(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["fdb", "--task", "smooth_turn_taking", "--root", str(tmp_path)])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "TOR=1.000" in lines[0] and "latency=0.500 s" in lines[0]
    result = json.loads(lines[-1])
    assert result["takeover_rate"] == 1.0 and result["latency_s"] == 0.5 and result["n"] == 1
    args = parser.parse_args(["fdb", "--task", "smooth_turn_taking", "--root", str(tmp_path), "--json-only"])
    args.func(args)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["n"] == 1


# --------------------------------------------------------------------------------------------- files model


def test_files_model_plays_output_back_block_by_block(tmp_path):
    from benchmark.protocol import SessionInfo
    from benchmark.models import load_model

    audio = (np.arange(3000) % 200 / 400).astype(np.float32)
    (tmp_path / "item1").mkdir()
    sf.write(tmp_path / "item1" / "output.wav", audio, SR, subtype="FLOAT")
    model = load_model("files", root=str(tmp_path), checkpoint="ignored")
    assert model.info.name == "files" and not model.info.text and not model.info.state
    session = model.open_session(SessionInfo(item_id="item1", task="t"))
    mic = np.zeros(1280, np.float32)
    blocks = [session.step(mic).audio for _ in range(4)]
    assert all(b.shape == (1280,) and b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks)[:3000], audio)
    assert not np.concatenate(blocks)[3000:].any()  # zeros after its end
    session.close()

    with pytest.raises(FileNotFoundError) as e:
        model.open_session(SessionInfo(item_id="missing", task="t"))
    one_line_naming(e, str(tmp_path / "missing" / "output.wav"))


def test_files_model_resamples_to_16k(tmp_path):
    from benchmark.models.files import FilesModel
    from benchmark.protocol import SessionInfo

    (tmp_path / "x").mkdir()
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "x" / "output.wav", (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 8000)
    session = FilesModel(str(tmp_path)).open_session(SessionInfo(item_id="x", task="t"))
    out = np.concatenate([session.step(np.zeros(1280, np.float32)).audio for _ in range(14)])
    assert np.abs(out[:16000]).max() == pytest.approx(0.5, abs=0.02)
    assert not out[16000:].any()
