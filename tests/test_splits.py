"""Held-out splits: every pool partitions (train + val + test = all, nothing in two, none empty), the partition does
not move between processes or seeds, and train, val and test corpora share no line, QA item, topic, voice or room.
Also the ``lexicons`` config section (a team's own lines) and its one-line errors."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datagen.acoustics import AcousticsConfig
from datagen.common.config import ConfigError
from datagen.config import GeneratorConfig, load_generator_config
from datagen.content import lexicon as L
from datagen.content import question_bank, topics
from datagen.content.pools import LEXICON_NAMES, Lexicon, build_lexicon
from datagen.content.phrasing import THIRD_PARTY_NAMES
from datagen.generate import GenerateError, generate
from datagen.schema import Dialogue
from datagen.splits import SplitError, normalize_line, partition, select
from datagen.tts import THIRD_VOICES, USER_VOICES
from tests.conftest import ROOT, SMALL_ACOUSTICS


def _pools() -> dict[str, tuple[list, str, object]]:
    """Every pool a split cuts: (items, kind, key) as the generator cuts them."""
    line = normalize_line
    out = {name: (list(getattr(Lexicon, attr)), "line",
                  (lambda t: line(" ".join(t.clauses))) if name == "long_turns" else line)
           for name, attr in LEXICON_NAMES.items()}
    out["qa_items"] = (question_bank(), "qa", lambda it: line(it.question))
    out["topics"] = (topics(), "topic", lambda t: t.name)
    out["user_voices"] = (list(USER_VOICES), "voice", str)
    out["third_voices"] = (list(THIRD_VOICES), "voice", str)
    out["rooms"] = (list(range(AcousticsConfig().bank_size)), "room", str)  # the default bank
    out["rooms_small"] = (list(range(SMALL_ACOUSTICS["bank_size"])), "room", str)
    return out


def _sizes() -> dict[str, list[int]]:
    return {name: [len(partition(items, kind, key)[s]) for s in ("train", "val", "test")]
            for name, (items, kind, key) in _pools().items()}


# The partition is part of what a corpus is: a change here would let a new train corpus see an old test set.
# The test sides are those of the two-way rule (v1): val only cut its train side.
SIZES = {
    "interruptions": [39, 22, 30], "user_backchannels": [7, 3, 8], "assistant_backchannels": [8, 3, 6],
    "talking_to_others": [16, 8, 4], "background_speech": [15, 9, 4], "unrelated_questions": [8, 2, 2],
    "long_turns": [15, 7, 6], "qa_items": [326, 163, 149], "topics": [8, 5, 2], "user_voices": [6, 2, 4],
    "third_voices": [2, 1, 1], "rooms": [10, 3, 11], "rooms_small": [1, 1, 1],
}


def test_every_pool_partitions_and_both_sides_are_non_empty():
    for name, (items, kind, key) in _pools().items():
        parts = partition(items, kind, key)
        train, val, test = ({key(x) for x in parts[s]} for s in ("train", "val", "test"))
        assert train and val and test, name
        assert not train & test and not val & test, name
        assert not train & val or train == val, name  # a train side of one item is shared (the 2-room bank)
        assert train | val | test == {key(x) for x in items}, name
        assert select(items, None, kind, name, key) == list(items)  # no split: the pool as it is
    assert _sizes() == SIZES


def test_a_pool_of_one_cannot_be_split_and_small_pools_get_both_sides():
    with pytest.raises(SplitError, match="voices.*at least 2"):
        select(["only"], "test", "voice", "user_voices")
    for n in (2, 3, 4):
        parts = partition([str(i) for i in range(n)], "room")
        assert parts["train"] and parts["val"] and parts["test"]
        assert n < 3 or not set(parts["train"]) & set(parts["val"])
    with pytest.raises(SplitError, match="split"):
        select(["a", "b"], "dev", "voice", "user_voices")


def test_a_line_lies_on_one_side_in_every_pool():
    """ "mm-hmm" is a user and an assistant backchannel: the same side in both."""
    side = {}
    for name, (items, kind, key) in _pools().items():
        if kind != "line":
            continue
        for s, part in partition(items, kind, key).items():
            for x in part:
                assert side.setdefault(key(x), s) == s, (name, key(x))
    assert {"mm-hmm", "okay"} <= set(side)


def test_the_partition_is_the_same_in_another_process():
    code = ("import json; from tests.test_splits import _pools; from datagen.splits import partition; "
            "print(json.dumps({n: [str(k(x)) for x in partition(i, kd, k)['test']] "
            "for n, (i, kd, k) in _pools().items()}))")
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    here = {n: [str(k(x)) for x in partition(i, kd, k)["test"]] for n, (i, kd, k) in _pools().items()}
    assert json.loads(out.stdout) == here


# ------------------------------------------------------------------------------------------------------------------
# Two corpora: train (seed 1) and test (seed 5)
# ------------------------------------------------------------------------------------------------------------------
def small_config(**kw) -> GeneratorConfig:
    d = {"acoustics": dict(SMALL_ACOUSTICS), "dialogues_per_shard": 4, "dialogue_seconds": [12.0, 16.0]}
    d.update(kw)
    return GeneratorConfig.from_dict(d)


@pytest.fixture(scope="module")
def split_corpora(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for split, seed in (("train", 1), ("val", 3), ("test", 5)):
        out[split] = tmp_path_factory.mktemp(f"corpus-{split}")
        generate(out[split], 6.0, seed=seed, config=small_config(dialogue_seconds=[14.0, 18.0]), progress=False,
                 split=split)
    return out


_NAME_PREFIX = re.compile(r"^(hey )?(%s), " % "|".join(re.escape(n.lower()) for n in THIRD_PARTY_NAMES))


def _seen(corpus: Path) -> dict[str, set[str]]:
    """What a corpus used, by pool, read from its manifest (turn texts, scene voices and rooms)."""
    line = normalize_line
    known = {name: {line(x) for x in getattr(Lexicon, attr)} for name, attr in LEXICON_NAMES.items()
             if name != "long_turns"}
    questions = {line(it.question): line(it.question) for it in question_bank()}
    responses = {line(it.response): line(it.question) for it in question_bank()}
    topic_of = {line(it.question): t.name for t in topics() for it in t.items}
    long_of = {line(c): line(" ".join(t.clauses)) for t in L.LONG_USER_TURNS for c in t.clauses}
    seen: dict[str, set[str]] = {k: set() for k in [*LEXICON_NAMES, "qa_items", "topics", "user_voices",
                                                    "third_voices", "rooms"]}
    for raw in (corpus / "manifest.jsonl").read_text().splitlines():
        d = Dialogue.from_dict(json.loads(raw))
        seen["user_voices"].add(d.scene.voices.user)
        seen["third_voices"].add(d.scene.voices.third)
        seen["rooms"].add(str(d.scene.room.index))
        for turn in d.turns:
            text = line(turn.full_text or turn.text)
            if turn.kind == "backchannel":
                seen[f"{turn.speaker}_backchannels"].add(text)
            elif turn.kind == "interruption" and text in known["interruptions"]:
                seen["interruptions"].add(text)
            elif turn.kind == "distractor":
                bare = _NAME_PREFIX.sub("", text)
                pool = next((p for p in ("talking_to_others", "background_speech", "unrelated_questions")
                             if text in known[p] or bare in known[p]), None)
                if pool:
                    seen[pool].add(bare)
                elif bare in questions:  # a bank question asked of someone else
                    seen["qa_items"].add(bare)
            if text in questions:
                seen["qa_items"].add(questions[text])
            if text in responses:
                seen["qa_items"].add(responses[text])
            if text in topic_of:
                seen["topics"].add(topic_of[text])
            if text in long_of:
                seen["long_turns"].add(long_of[text])
    return seen


def test_train_val_and_test_corpora_share_nothing(split_corpora):
    seen = {s: _seen(p) for s, p in split_corpora.items()}
    pools = _pools()
    for name in seen["train"]:
        for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
            if (a, b) != ("train", "val") or name != "rooms":  # the 2-room bank's train side is one room: shared
                assert not seen[a][name] & seen[b][name], (name, a, b, seen[a][name] & seen[b][name])
        items, kind, key = pools["rooms_small" if name == "rooms" else name]  # the corpora use the small bank
        for s in seen:  # and each corpus drew only from its own side
            assert seen[s][name] <= {str(key(x)) for x in partition(items, kind, key)[s]}, (name, s)
    backchannels = {s: seen[s]["user_backchannels"] | seen[s]["assistant_backchannels"] for s in seen}
    assert not backchannels["train"] & backchannels["test"] and not backchannels["val"] & backchannels["train"]
    for s in seen:  # the check looked at something in every kind of pool
        for name in ("interruptions", "user_backchannels", "assistant_backchannels", "background_speech", "qa_items",
                     "topics", "long_turns", "user_voices", "third_voices", "rooms"):
            assert seen[s][name], (s, name)


def test_the_split_is_recorded_and_pinned(split_corpora):
    stats = json.loads((split_corpora["test"] / "stats.json").read_text())
    assert stats["split"] == "test" and stats["split_pools"]["third_voices"] == 1
    ids = [json.loads(x)["id"] for x in (split_corpora["test"] / "manifest.jsonl").read_text().splitlines()]
    assert ids and all(i.startswith("s5-test-d") for i in ids)
    pin = json.loads((split_corpora["test"] / ".duplexkit" / "run.json").read_text())
    assert pin["split"] == "test"
    for other in ("train", None):
        with pytest.raises(GenerateError, match="different split"):
            generate(split_corpora["test"], 6.0, seed=5, config=small_config(dialogue_seconds=[14.0, 18.0]),
                     progress=False, split=other)


def test_cli_split(tmp_path, capsys):
    from duplexkit_cli import main

    out = tmp_path / "c"
    overrides = [*(f"acoustics.{k}={json.dumps(v)}" for k, v in SMALL_ACOUSTICS.items()), "dialogue_seconds=[12, 14]"]

    def cli(split: str) -> int:
        return main(["generate", "--out", str(out), "--minutes", "0.2", "--seed", "3", "--no-progress",
                     "--split", split, *overrides])

    assert cli("train") == 0
    assert json.loads((out / "stats.json").read_text())["split"] == "train"
    capsys.readouterr()
    assert cli("test") == 2
    err = capsys.readouterr().err.strip()
    assert "different split" in err and "\n" not in err
    with pytest.raises(SystemExit):  # argparse: not a split name
        cli("dev")


def test_no_split_and_no_lexicons_leave_the_files_as_before():
    d = GeneratorConfig().to_dict()
    assert "lexicons" not in d and "split" not in d


def test_a_pool_of_one_voice_is_refused_under_a_split(tmp_path):
    cfg = small_config(user_voices=[USER_VOICES[0]])
    with pytest.raises(SplitError, match="user_voices"):
        generate(tmp_path / "c", 0.2, config=cfg, progress=False, split="test")


# ------------------------------------------------------------------------------------------------------------------
# A team's own lines
# ------------------------------------------------------------------------------------------------------------------
OWN = [f"team line number {w}" for w in ("one", "two", "three", "four", "five", "six", "seven", "eight")]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_lexicon_files_replace_extend_and_split(tmp_path):
    txt = _write(tmp_path / "own.txt", "# our held-out lines\n\n" + "\n".join(OWN) + "\n")
    jsonl = _write(tmp_path / "own.jsonl", "".join(json.dumps({"text": x}) + "\n" for x in OWN))
    turns = _write(tmp_path / "turns.jsonl", json.dumps({"text": "so I was thinking, about a trip, where to?",
                                                         "response": "Go to the sea."}) + "\n"
                   + json.dumps({"clauses": ["one clause,", "and another?"], "response": "Yes."}) + "\n")
    cfg = GeneratorConfig.from_dict({"lexicons": {"interruptions": txt, "talking_to_others": {
        "file": jsonl, "mode": "extend", "split": False}, "long_turns": {"file": turns}}})
    assert cfg.to_dict()["lexicons"]["interruptions"] == {"file": txt, "mode": "replace", "split": True}
    whole = build_lexicon(cfg.lexicons)
    assert whole.INTERRUPTIONS_INDEPENDENT == tuple(OWN)
    assert whole.TALKING_TO_OTHERS == L.TALKING_TO_OTHERS + tuple(OWN)
    assert whole.LONG_USER_TURNS[0].clauses == ("so I was thinking,", "about a trip,", "where to?")
    assert whole.USER_BACKCHANNELS == L.USER_BACKCHANNELS
    for s in ("train", "val", "test"):
        lex = build_lexicon(cfg.lexicons, s)
        assert lex.INTERRUPTIONS_INDEPENDENT == tuple(partition(OWN, "line", normalize_line)[s])
        builtin = partition(list(L.TALKING_TO_OTHERS), "line", normalize_line)[s]
        assert lex.TALKING_TO_OTHERS == tuple(builtin) + tuple(OWN)  # split: false keeps the team's lines whole
        assert len(lex.LONG_USER_TURNS) == 1


def test_a_generated_corpus_speaks_the_teams_lines(tmp_path):
    own = _write(tmp_path / "own.txt", "\n".join(OWN) + "\n")
    cfg = small_config(scenario_mix={"interruption_independent": 1.0}, third_speaker_interrupt_prob=0.0,
                       lexicons={"interruptions": {"file": own, "split": False}})
    stats = generate(tmp_path / "c", 0.25, seed=1, config=cfg, progress=False, split="test")
    said = {t["text"] for x in (tmp_path / "c" / "manifest.jsonl").read_text().splitlines()
            for t in json.loads(x)["turns"] if t["kind"] == "interruption"}
    assert said and said <= set(OWN)
    assert stats["lexicon_files"]["interruptions"] == hashlib.sha256(Path(own).read_bytes()).hexdigest()
    assert stats["split_pools"]["interruptions"] == len(OWN)
    Path(own).write_text("\n".join(OWN[:4]) + "\n")  # an edited file is another corpus: not resumed into this one
    with pytest.raises(GenerateError, match="lexicon_files"):
        generate(tmp_path / "c", 0.25, seed=1, config=cfg, progress=False, split="test")


@pytest.mark.parametrize("section, files, match", [
    ({"karaoke": "x.txt"}, {}, r"lexicons: unknown lexicon 'karaoke'"),
    ({"interruptions": {"file": "own.txt", "mode": "append"}}, {"own.txt": "a\nb\n"}, r"lexicons.interruptions.mode"),
    ({"interruptions": {"file": "own.txt", "splitt": False}}, {"own.txt": "a\n"}, r"unknown key 'splitt'"),
    ({"interruptions": {"file": "own.txt", "split": "no"}}, {"own.txt": "a\n"}, r"lexicons.interruptions.split"),
    ({"interruptions": {"mode": "extend"}}, {}, r"lexicons.interruptions.file"),
    ({"interruptions": "missing.txt"}, {}, r"lexicons.interruptions.file: .*missing.txt: cannot read"),
    ({"interruptions": "empty.txt"}, {"empty.txt": "# nothing\n\n"}, r"empty.txt: has no lines"),
    ({"interruptions": "bad.jsonl"}, {"bad.jsonl": '{"text": "ok"}\n{"text": \n'}, r"bad.jsonl:2: not valid JSON"),
    ({"interruptions": "bad.jsonl"}, {"bad.jsonl": '{"line": "ok"}\n'}, r"bad.jsonl:1: expected \{\"text\""),
    ({"interruptions": "own.csv"}, {"own.csv": "a\n"}, r"expected a .txt or .jsonl file"),
    ({"long_turns": "own.txt"}, {"own.txt": "a\n"}, r"lexicons.long_turns.file: .*need a .jsonl"),
    ({"long_turns": "t.jsonl"}, {"t.jsonl": '{"text": "one clause", "response": "ok"}\n'}, r"t.jsonl:1: .*2 clauses"),
    ({"long_turns": "t.jsonl"}, {"t.jsonl": '{"clauses": ["a,", "b"]}\n'}, r"t.jsonl:1: .*'response'"),
    ("interruptions.txt", {}, r"lexicons: expected a mapping"),
])
def test_lexicon_section_errors_are_one_line(tmp_path, monkeypatch, section, files, match):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        GeneratorConfig.from_dict({"lexicons": section})
    assert "\n" not in str(info.value)


def test_lexicons_take_dotted_overrides(tmp_path):
    own = _write(tmp_path / "own.txt", "\n".join(OWN) + "\n")
    cfg = load_generator_config(None, [f"lexicons.user_backchannels.file={own}",
                                       "lexicons.user_backchannels.mode=extend"])
    assert build_lexicon(cfg.lexicons).USER_BACKCHANNELS == L.USER_BACKCHANNELS + tuple(OWN)
    with pytest.raises(SplitError, match="lexicons.interruptions"):
        one = _write(tmp_path / "one.txt", "just one line\n")
        build_lexicon(load_generator_config(None, [f"lexicons.interruptions={one}"]).lexicons, "train")


def test_follow_up_templates_lie_on_one_side():
    """Context-dependent barge-ins: a follow-up many QA items share ("hold on, how did you get that?") is in one
    split only; a follow-up of one item goes with its item."""
    from collections import Counter

    from datagen.splits import cut_shared_lines

    groups = [it.followups for it in [*question_bank(), *(it for t in topics() for it in t.items)]]
    count = Counter(normalize_line(x) for g in groups for x in set(g))
    shared = {k for k, n in count.items() if n > 1}
    cut = {s: cut_shared_lines(groups, s) for s in ("train", "val", "test")}
    kept = {s: {normalize_line(x) for g in c for x in g} & shared for s, c in cut.items()}
    assert kept["train"] and kept["val"] and kept["test"]
    assert not kept["train"] & kept["test"] and not kept["val"] & kept["test"] and not kept["train"] & kept["val"]
    assert kept["train"] | kept["val"] | kept["test"] == shared
    for name in ("hold on, how did you get that?", "sorry, can you say more about that?"):
        assert sum(name in kept[s] for s in kept) == 1
    for c in cut.values():  # an item's own lines are never cut
        assert all([x for x in g if count[normalize_line(x)] == 1] == [x for x in k if count[normalize_line(x)] == 1]
                   for g, k in zip(groups, c))
    assert cut_shared_lines(groups, None) == [tuple(g) for g in groups]
