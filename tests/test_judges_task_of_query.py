"""Which task a query asks: the question table (normalised wordings, longest first) and the
lookup after the last "Question:" (exact wording first, then a wording the tail ends with)."""

from __future__ import annotations

import pytest

from imhi.judges.extract import AmbiguousTask, question_table, task_of_query
from imhi.tasks import load_task

DR, STRESS = "Does the poster suffer from depression?", "Does the poster suffer from stress?"


@pytest.fixture(scope="module")
def table() -> list[tuple[str, list[str]]]:
    return question_table({"dr": load_task("dr"), "dreaddit": load_task("dreaddit")})


def test_table_holds_every_wording_normalised_longest_first(table: list[tuple[str, list[str]]]) -> None:
    wordings = [w for w, _ in table]
    assert "does the poster suffer from depression?" in wordings and "does the poster suffer from stress?" in wordings
    assert len(table) == 4 and [len(w) for w in wordings] == sorted((len(w) for w in wordings), reverse=True)
    assert dict(table)["does the poster suffer from stress?"] == ["dreaddit"]
    both = question_table({"a": load_task("dr"), "b": load_task("dr"), "a2": load_task("dr")})
    assert dict(both)["does the poster suffer from depression?"] == ["a", "b", "a2"]
    assert question_table({"x": load_task("dr"), "x2": load_task("dr")})[0][1] == ["x", "x2"]


def test_the_last_question_decides(table: list[tuple[str, list[str]]]) -> None:
    assert task_of_query(f'Consider this post: "I am so tired." Question: {DR}', table) == "dr"
    assert task_of_query(f"Question: {STRESS} ... and then Question: {DR}", table) == "dr"
    assert task_of_query(f"Question: {DR} ... and then Question: {STRESS}", table) == "dreaddit"
    assert task_of_query(f"post text. Question:   {DR.upper()}  ", table) == "dr"


def test_a_tail_ending_with_a_wording_matches(table: list[tuple[str, list[str]]]) -> None:
    assert task_of_query(f"Post: I can't sleep. Please answer: {STRESS}", table) == "dreaddit"
    assert task_of_query(f"Question: the post says {DR}", table) == "dr"
    assert task_of_query("Question: Is the poster at risk of suicide?", table) is None
    assert task_of_query(f"question: {DR} is asked in lower case here, not at the end", table) is None


def test_exact_wording_wins_over_a_suffix_and_empty_wordings_match_nothing() -> None:
    table = [("please say does it hurt?", ["long"]), ("does it hurt?", ["short"]), ("", ["empty"])]
    assert task_of_query("Question: does it hurt?", table) == "short"
    assert task_of_query("Question: please say does it hurt?", table) == "long"
    assert task_of_query("Question: something else", table) is None


def test_a_question_of_several_tasks_is_ambiguous() -> None:
    table = [("is it sad?", ["a", "b"])]
    with pytest.raises(AmbiguousTask, match=r"^the question is asked by several tasks \(a, b\); "
                                            r"list the intended task\(s\) for this test set$"):
        task_of_query("Question: Is it sad?", table)
