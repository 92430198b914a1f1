"""datagen.fdb_layout, the one definition of FDB v1's sample directories: exact JSON shapes (FDB's scripts read
them byte-agnostic, but exports must stay byte-stable), writers and readers agreeing, the 0.2 s binning, and a
directory written with the writers scored by benchmark.fdb."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from datagen import fdb_layout as L


def test_task_and_file_names_are_fdbs():
    assert L.FDB_TASKS == ("pause_handling", "smooth_turn_taking", "user_interruption", "backchannel")
    names = (L.INPUT_WAV, L.OUTPUT_WAV, L.OUTPUT_JSON, L.TRANSCRIPTION_JSON, L.PAUSE_JSON, L.TURN_TAKING_JSON,
             L.INTERRUPT_JSON, L.GT_DISTRIBUTION_FILE)
    assert names == ("input.wav", "output.wav", "output.json", "transcription.json", "pause.json",
                     "turn_taking.json", "interrupt.json", "icc_gt_distribution.json")
    assert (L.TAIL_S, L.GT_WINDOW_S, L.GT_EPSILON) == (5.0, 0.2, 1e-10)


def test_annotation_files_have_fdbs_shapes(tmp_path):
    L.write_pause(tmp_path, 1.5, 2.25)
    L.write_turn_taking(tmp_path, 3.0)
    L.write_interrupt(tmp_path, L.Interrupt(1.0, 2.0, "tell me", "wait"))
    L.write_gt_distribution(tmp_path, {"0": [0.5, 0.5]})
    L.write_transcript(tmp_path / L.TRANSCRIPTION_JSON, L.Transcript("a b", (L.Chunk("a", 0.0, 0.5), L.Chunk("b", 0.5, None))))
    read = lambda name: (tmp_path / name).read_text()  # noqa: E731
    assert read("pause.json") == '[{"timestamp": [1.5, 2.25]}]'
    assert read("turn_taking.json") == '[{"timestamp": [3.0, 3.0]}]'
    assert read("interrupt.json") == '[{"timestamp": [1.0, 2.0], "context": "tell me", "interrupt": "wait"}]'
    assert read("icc_gt_distribution.json") == '{"0": [0.5, 0.5]}'
    assert json.loads(read("transcription.json")) == {
        "text": "a b", "chunks": [{"text": "a", "timestamp": [0.0, 0.5]}, {"text": "b", "timestamp": [0.5, None]}]
    }
    assert read("transcription.json").startswith('{\n "text": "a b",\n "chunks": [')  # indent=1


def test_readers_read_what_the_writers_wrote(tmp_path):
    t = L.Transcript("hi there", (L.Chunk("hi", 0.25, 0.5), L.Chunk("there", 0.5, None)))
    L.write_transcript(tmp_path / L.OUTPUT_JSON, t)
    L.write_pause(tmp_path, 1.5, 2.25)
    L.write_turn_taking(tmp_path, 3.0)
    L.write_interrupt(tmp_path, L.Interrupt(1.0, 2.0, "tell me", "wait"))
    L.write_gt_distribution(tmp_path, {"7": [0.25, 0.75]})
    assert L.read_transcript(tmp_path / L.OUTPUT_JSON) == t
    assert L.read_pause(tmp_path) == (1.5, 2.25)
    assert L.read_turn_end(tmp_path) == 3.0
    assert L.read_interrupt(tmp_path) == L.Interrupt(1.0, 2.0, "tell me", "wait")
    assert L.read_gt_distribution(tmp_path / L.GT_DISTRIBUTION_FILE) == {"7": [0.25, 0.75]}


def test_readers_raise_one_line_naming_the_file(tmp_path):
    with pytest.raises(L.FDBError) as e:
        L.read_pause(tmp_path)
    assert str(e.value) == f"{tmp_path / 'pause.json'}: missing" and isinstance(e.value, ValueError)
    (tmp_path / "turn_taking.json").write_text('[{"timestamp": [true, 1]}]')
    with pytest.raises(L.FDBError, match=r"turn_taking\.json: turn_taking\.json\[0\] start must be a finite number"):
        L.read_turn_end(tmp_path)
    (tmp_path / "interrupt.json").write_text('[{"timestamp": [1, 2], "context": 3}]')
    with pytest.raises(L.FDBError, match="'context' and 'interrupt' must be strings"):
        L.read_interrupt(tmp_path)


def test_window_distribution_bins_like_eval_backchannel():
    # 2 s -> 11 bins; (0.25, 0.55) covers bins 1-2, (1.05, 1.35) bins 5-6; a window past the end is dropped there.
    got = L.window_distribution([(0.25, 0.55), (1.05, 1.35), (1.9, 2.5)], 2.0)
    bins = np.zeros(11)
    bins[[1, 2, 5, 6, 9, 10]] = 1
    want = (bins + 1e-10) / (bins + 1e-10).sum()
    np.testing.assert_array_equal(got, want)
    from datagen.export import backchannel_gt_distribution

    assert backchannel_gt_distribution([(0.25, 0.55)], 2.0) == [float(x) for x in L.window_distribution([(0.25, 0.55)], 2.0)]


def test_a_directory_written_with_the_layout_scores(tmp_path):
    # The exporter's writers and the scorer's readers meet: turn end at 1 s, the model answers at 1.5 s.
    from benchmark.fdb import score_fdb

    s = tmp_path / L.SMOOTH_TURN_TAKING / "s0"
    s.mkdir(parents=True)
    L.write_wav(s / L.INPUT_WAV, np.zeros(16000, np.float32))
    L.write_turn_taking(s, 1.0)
    L.write_transcript(s / L.OUTPUT_JSON, L.Transcript("sure thing", (L.Chunk("sure", 1.5, 2.0), L.Chunk("thing", 2.0, 2.75))))
    r = score_fdb(L.SMOOTH_TURN_TAKING, s.parent)
    assert r["takeover_rate"] == 1.0 and r["latency_s"] == 0.5
    audio, sr = sf.read(s / L.INPUT_WAV)
    assert sr == 16000 and len(audio) == 16000 and sf.info(str(s / L.INPUT_WAV)).subtype == "PCM_16"


def test_exported_backchannel_ground_truth_matches_a_perfect_listener(tmp_path):
    # Ground truth binned by the exporter, predictions binned by the scorer: the same windows give distance 0.
    from benchmark.fdb import backchannel_jsd
    from datagen.export import backchannel_gt_distribution

    windows = [(0.4, 0.6), (1.2, 1.4)]
    assert backchannel_jsd(windows, 3.0, backchannel_gt_distribution(windows, 3.0)) == pytest.approx(0.0, abs=1e-6)
