"""The dialogue contract: frame arithmetic, record round-trips, validation messages and derived labels."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen import schema
from tests.conftest import toy_scene
from datagen.schema import (
    BLOCK_SAMPLES,
    LABEL_TRACKS,
    Dialogue,
    Event,
    SchemaError,
    Turn,
    Word,
    frame_labels,
    frame_of,
    frame_start,
    frames_in,
    pad_to_frames,
    seconds_to_samples,
    span_mask,
)


def test_block_is_80ms_at_16k():
    assert schema.SAMPLE_RATE == 16000 and BLOCK_SAMPLES == 1280
    assert seconds_to_samples(0.08) == BLOCK_SAMPLES


@given(st.integers(min_value=0, max_value=10**9))
def test_frame_of_and_frame_start_agree(sample):
    k = frame_of(sample)
    assert frame_start(k) <= sample < frame_start(k + 1)


@given(st.integers(min_value=1, max_value=10**8))
def test_pad_to_frames_is_whole_blocks(n):
    padded = pad_to_frames(n)
    assert padded % BLOCK_SAMPLES == 0 and n <= padded < n + BLOCK_SAMPLES
    assert frames_in(padded) == frames_in(n)


def test_seconds_to_samples_rejects_nan():
    with pytest.raises(ValueError):
        seconds_to_samples(float("nan"))


@given(st.lists(st.tuples(st.integers(0, 50_000), st.integers(1, 5_000)), max_size=20))
@settings(max_examples=200)
def test_span_mask_matches_sample_coverage(spans):
    """A frame is active iff the union of spans covers at least half of it (checked sample by sample)."""
    n_frames = 45
    spans = [(s, s + d) for s, d in spans]
    covered = np.zeros(n_frames * BLOCK_SAMPLES, bool)
    for s, e in spans:
        covered[s:e] = True
    expected = (covered.reshape(n_frames, BLOCK_SAMPLES).sum(1) >= BLOCK_SAMPLES // 2).astype(np.int8)
    assert np.array_equal(span_mask(n_frames, spans), expected)


def _dialogue() -> Dialogue:
    f = BLOCK_SAMPLES
    user = Turn("user", "question", "what is two plus two", 2 * f, 10 * f, [Word("what", 2 * f, 4 * f), Word("two", 6 * f, 10 * f)])
    asst = Turn("assistant", "answer", "four", 14 * f, 30 * f, [Word("four", 14 * f, 30 * f)])
    bc = Turn("user", "backchannel", "mhm", 20 * f, 22 * f, [Word("mhm", 20 * f, 22 * f)])
    events = [
        Event("user_turn", 2 * f, 10 * f, "respond", turn=0, speaker="user"),
        Event("assistant_turn", 14 * f, 30 * f, "continue", turn=1, speaker="assistant"),
        Event("user_backchannel", 20 * f, 22 * f, "continue", turn=2, speaker="user"),
        Event("distractor", 24 * f, 26 * f, "continue", kind="noise_burst"),
    ]
    scene = toy_scene(echo_gain=0.5, echo_delay=3 * f)
    return Dialogue("d0", "user_backchannel", 7, 40 * f, [user, asst, bc], events, scene)


def test_round_trip_through_json():
    d = _dialogue()
    again = Dialogue.from_dict(json.loads(json.dumps(d.to_dict())))
    assert again.to_dict() == d.to_dict()
    assert again.duration_s == pytest.approx(40 * 0.08)


def test_seconds_fields_are_accepted_for_hand_written_records():
    d = _dialogue().to_dict()
    for ev in d["events"]:
        del ev["start"], ev["end"]
    again = Dialogue.from_dict(d)
    assert [e.start for e in again.events] == [e.start for e in _dialogue().events]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["events"][0].update(type="yell"), "events[0].type"),
        (lambda d: d["events"][0].update(expected="dance"), "events[0].expected"),
        (lambda d: d["events"][3].update(kind="tuba"), "events[3].kind"),
        (lambda d: d["events"][1].update(end=10**9), "events[1]"),
        (lambda d: d["turns"][0].update(speaker="robot"), "turns[0].speaker"),
        (lambda d: d.update(num_samples=-5), "num_samples"),
    ],
)
def test_validation_names_the_field(mutate, field):
    d = _dialogue().to_dict()
    mutate(d)
    with pytest.raises(SchemaError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Dialogue.from_dict(d)


def test_labels_follow_the_record():
    d = _dialogue()
    lab = frame_labels(d)
    assert tuple(lab) == LABEL_TRACKS
    assert all(len(v) == d.num_frames and v.dtype == np.int8 for v in lab.values())
    # user words at frames 2-3 and 6-9; the pause 4-5 inside the turn is not speech
    assert lab["user_speaking"][2:4].all() and not lab["user_speaking"][4:6].any() and lab["user_speaking"][6:10].all()
    # the assistant speaks 14..29; the echo arrives 3 frames later; state changes at 14 and 30
    assert lab["assistant_speaking"][14:30].all() and not lab["assistant_speaking"][30:].any()
    assert lab["echo_active"][17:33].all() and not lab["echo_active"][:17].any()
    assert list(np.flatnonzero(lab["shift"])) == [14, 30]
    assert lab["state"][14:30].all() and lab["state"].sum() == 16
    assert lab["noise_active"][24:26].all() and lab["distractor"][24:26].all()
    assert lab["user_speaking"][20:22].all()  # the backchannel is user speech


def test_no_echo_label_without_echo_gain():
    d = _dialogue()
    d.scene = replace(d.scene, echo=replace(d.scene.echo, gain=0.0))
    assert not frame_labels(d)["echo_active"].any()
