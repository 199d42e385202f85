"""Source readers, option by option, on small files written in the test: each test reads a file
the way a recipe would (label maps, 0/1 label columns, jsonl / openai_chat / hf / parquet files,
``split:``, ``columns.split``, ``splits:``, ``limit:``, ``columns.task``, paths relative to the
recipe's folder, a prompts folder of one's own, the IMHI release format) and checks the posts'
ids, texts, labels, explanations, splits and provenance, or the exact one-line error (file, row,
field) a bad file gets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from imhi.io import InputError
from imhi.schema import Post
from imhi.sources import SourceSpec, data_root, read_source, resolve, split_imhi_query, text_key

DR_Q = "Does the poster suffer from depression?"


def spec(**kw: object) -> SourceSpec:
    return SourceSpec.model_validate({"name": "s", "task": "dr", **kw})


def error(source: SourceSpec, base_dir: Path | None = None, prompts: Path | None = None) -> str:
    with pytest.raises(InputError) as exc:
        read_source(source, base_dir, prompts)
    return str(exc.value)


def rows(posts: list[Post]) -> list[tuple]:
    return [(p.id, p.text, p.label, p.explanation, p.split) for p in posts]


def where(posts: list[Post]) -> list[tuple]:
    return [(p.provenance.file, p.provenance.row, p.provenance.split) for p in posts]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# --- paths -------------------------------------------------------------------------------------

def test_resolve_and_data_root() -> None:
    assert resolve("data/a.csv", Path("/recipes")) == Path("/recipes/data/a.csv")
    assert resolve("/abs/a.csv", Path("/recipes")) == Path("/abs/a.csv")
    assert resolve("a.csv", None) == Path("a.csv")
    assert resolve("~/a.csv", Path("/recipes")) == Path.home() / "a.csv"
    # data_dir is relative to the recipe's folder; without one, the caller's default
    assert data_root("data", Path("/recipes"), Path("/default")) == Path("/recipes/data")
    assert data_root("/abs/data", Path("/recipes"), None) == Path("/abs/data")
    assert data_root("data", None, None) == Path("data")
    assert data_root(None, Path("/recipes"), Path("/default")) == Path("/default")
    assert data_root("", Path("/recipes"), None) is None


def test_relative_path_is_read_from_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.csv").write_text("text,label\nI feel low,yes\n", encoding="utf-8")
    posts = read_source(spec(format="csv", path="data/d.csv"), base_dir=tmp_path)
    assert rows(posts) == [("s-1", "I feel low", "yes", None, None)]
    assert where(posts) == [(str(tmp_path / "data" / "d.csv"), 1, None)]


# --- csv / tsv tables --------------------------------------------------------------------------

def test_csv_ids_explanations_and_source_split(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("uid,text,y,why\n"
                 "a7,  I can't get up any more  ,1,Lasting low mood.\n"
                 ",Went for a run,0,\n", encoding="utf-8")
    posts = read_source(spec(format="csv", path=str(p), split="test", label_map={"1": "yes", "0": "no"},
                             columns={"text": "text", "label": "y", "id": "uid", "explanation": "why"}))
    # a blank id falls back to the row number; a blank explanation is None
    assert rows(posts) == [("s-a7", "I can't get up any more", "yes", "Lasting low mood.", "test"),
                           ("s-2", "Went for a run", "no", None, "test")]
    assert where(posts) == [(str(p), 1, "test"), (str(p), 2, "test")]
    assert [(x.source, x.task) for x in posts] == [("s", "dr"), ("s", "dr")]


def test_missing_columns_are_named_with_file_row_field(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("body,label\nfine,yes\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p))) == \
        f"{p}, row 1, field 'text': missing column 'text' (columns: body, label)"
    assert error(spec(format="csv", path=str(p), columns={"text": "body", "label": "y"})) == \
        f"{p}, row 1, field 'y': missing column 'y' (columns: body, label)"
    for column in ("id", "explanation", "split", "task"):
        source = spec(format="csv", path=str(p), columns={"text": "body", column: "extra"})
        if column == "task":
            source = source.model_copy(update={"task": None})
        assert error(source) == f"{p}, row 1, field 'extra': missing column 'extra' (columns: body, label)"


def test_no_label_column_configured(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text\nfine\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), columns={"label": None})) == \
        f"{p}, field 'columns.label': no label column configured"


def test_empty_or_null_text_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("body,label\nfine,yes\n   ,no\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), columns={"text": "body"})) == \
        f"{p}, row 2, field 'body': empty post text"
    j = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok", "label": "no"}, {"text": None, "label": "no"}])
    assert error(spec(format="jsonl", path=str(j))) == f"{j}, row 2, field 'text': empty post text"


def test_unknown_label_names_the_configured_column(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,y\nfine,no\nhmm,maybe\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), columns={"label": "y"})) == \
        f"{p}, row 2, field 'y': unknown label 'maybe' for task 'dr' (known: yes, no)"


def test_encoding_of_csv_and_jsonl(tmp_path: Path) -> None:
    c = tmp_path / "d.csv"
    c.write_bytes("text,label\ncafé at night,no\n".encode("latin-1"))
    j = tmp_path / "d.jsonl"
    j.write_bytes('{"text": "naïve hope", "label": "no"}\n'.encode("latin-1"))
    assert [x.text for x in read_source(spec(format="csv", path=str(c), encoding="latin-1"))] == ["café at night"]
    assert [x.text for x in read_source(spec(format="jsonl", path=str(j), encoding="latin-1"))] == ["naïve hope"]


# --- labels ------------------------------------------------------------------------------------

def test_label_map_to_several_labels_and_label_sep(tmp_path: Path) -> None:
    p = tmp_path / "e.tsv"
    p.write_text("text\tlabel\nugh\tmixed\nyay\thappy| \nhm\tsad|happy\nmeh\tbored\n", encoding="utf-8")
    posts = read_source(spec(format="tsv", path=str(p), task="mtl_emotion", label_sep="|",
                             label_map={"mixed": ["fear", "anger"], "bored": "neutral"}))
    # aliases map to names; a multi-label value is listed in the task's label order
    assert [x.label for x in posts] == [["anger", "fear"], ["joy"], ["joy", "sadness"], ["neutral"]]


def test_single_label_task_rejects_several_or_no_labels(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label\na,yes\nb,yes;no\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), label_sep=";")) == \
        f"{p}, row 2, field 'label': task 'dr' takes exactly one label, got ['yes', 'no']"
    p.write_text("text,label\nb,;\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), label_sep=";")) == \
        f"{p}, row 1, field 'label': task 'dr' takes exactly one label, got []"


def test_jsonl_list_labels(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "e.jsonl", [{"id": "", "text": "a", "label": ["fear", "angry"]},
                                           {"id": 17, "text": "b", "label": []}])
    posts = read_source(spec(format="jsonl", path=str(p), task="mtl_emotion", columns={"id": "id"}))
    assert rows(posts) == [("s-1", "a", ["anger", "fear"], None, None), ("s-17", "b", [], None, None)]
    assert where(posts) == [(str(p), 1, None), (str(p), 2, None)]


def test_01_columns_every_spelling(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("text,a,j,f\n"
                 "r1,1,0,0\nr2,1.0,0.0,0\nr3,True,False,false\nr4,true,0,1\nr5,0,0,0\n", encoding="utf-8")
    posts = read_source(spec(format="csv", path=str(p), task="mtl_emotion",
                             label_columns={"a": "anger", "j": "joy", "f": "fear"}))
    assert [x.label for x in posts] == [["anger"], ["anger"], ["anger"], ["anger", "fear"], []]


def test_01_columns_named_after_labels(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("text,anger,disgust,fear,joy,sadness,surprise,neutral\nx,0,1,0,0,1,0,0\n", encoding="utf-8")
    assert [x.label for x in read_source(spec(format="csv", path=str(p), task="mtl_emotion",
                                              label_columns="task"))] == [["disgust", "sadness"]]
    assert [x.label for x in read_source(spec(format="csv", path=str(p), task="mtl_emotion",
                                              label_columns=["joy", "sadness"]))] == [["sadness"]]


def test_01_column_errors(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("text,a,j\nx,1,0\ny,1,yes\n", encoding="utf-8")
    source = spec(format="csv", path=str(p), task="mtl_emotion", label_columns={"a": "anger", "j": "joy"})
    assert error(source) == f"{p}, row 2, field 'j': expected 0/1, got 'yes'"
    missing = source.model_copy(update={"label_columns": {"a": "anger", "f": "fear"}})
    assert error(missing) == f"{p}, row 1, field 'f': missing column 'f' (columns: text, a, j)"
    # a column mapped to a name the task does not know: the error names label_columns
    typo = source.model_copy(update={"label_columns": {"a": "angr"}})
    assert error(typo) == (f"{p}, row 1, field 'label_columns': unknown label 'angr' for task "
                           "'mtl_emotion' (known: anger, disgust, fear, joy, sadness, surprise, neutral)")


# --- splits and limits -------------------------------------------------------------------------

def test_split_column_spellings_and_splits_filter(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label,part\na,yes,train\nb,no, Validation \nc,yes,DEV\nd,no,val\ne,yes,TEST\n"
                 "f,no,valid\n", encoding="utf-8")
    source = spec(format="csv", path=str(p), split="train", columns={"split": "part"})
    posts = read_source(source)
    assert [(x.id, x.split) for x in posts] == [("s-1", "train"), ("s-2", "valid"), ("s-3", "valid"),
                                                ("s-4", "valid"), ("s-5", "test"), ("s-6", "valid")]
    assert [x.provenance.split for x in posts] == [x.split for x in posts]
    kept = read_source(source.model_copy(update={"splits": ["test", "train"]}))
    assert [(x.id, x.split) for x in kept] == [("s-1", "train"), ("s-5", "test")]
    assert read_source(spec(format="csv", path=str(p), split="valid", splits=["test"])) == []
    assert [x.id for x in read_source(spec(format="csv", path=str(p), split="valid", splits=["valid"]))] == \
        ["s-1", "s-2", "s-3", "s-4", "s-5", "s-6"]


def test_unknown_split_is_named(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label,part\na,yes,train\nb,no,holdout\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), columns={"split": "part"})) == \
        f"{p}, row 2, field 'part': unknown split 'holdout' (train, valid or test)"


def test_limit_reads_only_the_first_rows(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label\na,yes\nb,no\nc,not a label\n", encoding="utf-8")
    assert [x.id for x in read_source(spec(format="csv", path=str(p), limit=2))] == ["s-1", "s-2"]
    assert [x.id for x in read_source(spec(format="csv", path=str(p), limit=1))] == ["s-1"]
    assert error(spec(format="csv", path=str(p), limit=3)).startswith(f"{p}, row 3, field 'label'")


# --- tasks: per source, per row, from one's own prompts folder ---------------------------------

def mood_prompts(root: Path) -> Path:
    (root / "mood").mkdir(parents=True)
    (root / "mood" / "task.yaml").write_text(
        "name: mood\ndescription: Is the writer's mood low?\nquestion: Is the writer's mood low?\n"
        "labels:\n  - name: low\n    aliases: [down]\n  - name: fine\n", encoding="utf-8")
    return root


def test_task_column_picks_each_rows_task(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("text,label,t\na,yes,dr\nb,school, sad \nc,depressed,dr\n", encoding="utf-8")
    posts = read_source(spec(format="csv", path=str(p), task=None, columns={"task": "t"}))
    assert [(x.id, x.task, x.label) for x in posts] == [("s-1", "dr", "yes"), ("s-2", "sad", "school"),
                                                        ("s-3", "dr", "yes")]
    p.write_text("text,label,t\na,yes,dr\nb,no,drr\n", encoding="utf-8")
    msg = error(spec(format="csv", path=str(p), task=None, columns={"task": "t"}))
    assert msg.startswith(f"{p}, row 2, field 't': ") and "unknown task 'drr'" in msg


def test_a_source_needs_a_task(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label\na,yes\n", encoding="utf-8")
    assert error(spec(format="csv", path=str(p), task=None)) == \
        "s, field 'task': source 's' needs `task` or `columns.task`"


def test_tasks_come_from_the_given_prompts_folder(tmp_path: Path) -> None:
    prompts = mood_prompts(tmp_path / "prompts")
    p = tmp_path / "m.csv"
    p.write_text("text,label,t\nsigh,down,mood\nsun,fine,mood\n", encoding="utf-8")
    for source in (spec(format="csv", path=str(p), task="mood"),
                   spec(format="csv", path=str(p), task=None, columns={"task": "t"})):
        posts = read_source(source, prompts=prompts)
        assert [(x.task, x.label) for x in posts] == [("mood", "low"), ("mood", "fine")]
    q = tmp_path / "i.csv"
    pd.DataFrame({"query": ['Post: "sigh" Question: Is the writer\'s mood low?'],
                  "gpt-3.5-turbo": ["low. Reasoning: The sigh."]}).to_csv(q, index=False)
    for kw in ({}, {"tasks": ["mood"]}, {"task": "mood"}):
        posts = read_source(SourceSpec(name="i", format="imhi", path=str(q), **kw), prompts=prompts)
        assert rows(posts) == [("i-1", "sigh", "low", "The sigh.", None)]


# --- jsonl, openai_chat, parquet, hf -----------------------------------------------------------

def test_missing_files(tmp_path: Path) -> None:
    for fmt in ("jsonl", "openai_chat", "parquet"):
        p = tmp_path / f"none.{fmt}"
        assert error(spec(format=fmt, path=str(p))) == f"{p}, field 'path': file not found"


def chat(*messages: tuple[str, str | None]) -> dict:
    return {"messages": [{"role": r} if c is None else {"role": r, "content": c} for r, c in messages]}


def test_openai_chat_rows(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "c.jsonl", [
        chat(("system", "be kind"), ("user", " I stay in bed all day "),
             ("assistant", "Yes, the poster suffers from depression. Reasoning: Withdrawal.")),
        chat(("user", "old"), ("assistant", "yes"), ("user", "Back from a hike"),
             ("assistant", "No, the poster does not suffer from depression."), ("user", "thanks!")),
    ])
    posts = read_source(spec(format="openai_chat", path=str(p), split="train"))
    # the last assistant reply holds the label and reasoning; the post is the user message it
    # answers, not a later one
    assert rows(posts) == [("s-1", "I stay in bed all day", "yes", "Withdrawal.", "train"),
                           ("s-2", "Back from a hike", "no", None, "train")]
    assert where(posts) == [(str(p), 1, "train"), (str(p), 2, "train")]


def test_openai_chat_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    long = "Perhaps the poster is sad but it is really hard to tell from so few words written at night"
    cases = [
        ({"messages": "hi"}, "field 'messages': expected a 'messages' list"),
        (chat(("user", "a")), "field 'messages': needs a user and an assistant message"),
        (chat(("assistant", "yes")), "field 'messages': needs a user and an assistant message"),
        (chat(("assistant", "yes"), ("user", "a")), "field 'messages': needs a user and an assistant message"),
        (chat(("user", "a"), ("assistant", None)),
         "field 'messages[assistant].content': cannot read a 'dr' label from ''"),
        (chat(("user", "a"), ("assistant", long + ". Reasoning: unsure.")),
         f"field 'messages[assistant].content': cannot read a 'dr' label from '{long[:80]}'"),
        (chat(("user", None), ("assistant", "no")), "field 'messages[user].content': empty post text"),
        (chat(("user", " "), ("assistant", "no")), "field 'messages[user].content': empty post text"),
    ]
    for bad, message in cases:
        write_jsonl(p, [chat(("user", "fine"), ("assistant", "no")), bad])
        assert error(spec(format="openai_chat", path=str(p))) == f"{p}, row 2, {message}"


def test_parquet_rows_and_unreadable_parquet(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["x y", "z"], "label": ["no", "yes"], "n": [3, 4]}).to_parquet(p)
    posts = read_source(spec(format="parquet", path=str(p), columns={"id": "n"}))
    assert rows(posts) == [("s-3", "x y", "no", None, None), ("s-4", "z", "yes", None, None)]
    bad = tmp_path / "bad.parquet"
    bad.write_text("text,label\nx,no\n", encoding="utf-8")
    assert error(spec(format="parquet", path=str(bad))).startswith(f"{bad}: cannot read parquet: ")


def test_hf_dataset_on_disk_and_errors(tmp_path: Path) -> None:
    import datasets

    frame = pd.DataFrame({"text": ["x y", "z"], "label": ["no", "yes"]})
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame.iloc[:1]),
                          "test": datasets.Dataset.from_pandas(frame.iloc[1:])}).save_to_disk(str(tmp_path / "two"))
    assert rows(read_source(spec(format="hf", path="one"), base_dir=tmp_path)) == \
        [("s-1", "x y", "no", None, None), ("s-2", "z", "yes", None, None)]
    assert rows(read_source(spec(format="hf", path=str(tmp_path / "two"), hf_split="test"))) == \
        [("s-1", "z", "yes", None, None)]
    two = str(tmp_path / "two")
    assert error(spec(format="hf", path=two)) == \
        f"{two}, field 'hf_split': a DatasetDict needs hf_split (one of ['train', 'test'])"
    (tmp_path / "empty").mkdir()
    assert error(spec(format="hf", path=str(tmp_path / "empty"))).startswith(
        f"{tmp_path / 'empty'}, field 'path': cannot load Hugging Face dataset: Directory ")
    # not on disk: a hub id, which this offline machine cannot reach
    assert error(spec(format="hf", path="nobody/nothing-here", hf_split="train")) == (
        "nobody/nothing-here, field 'path': cannot load Hugging Face dataset: "
        "Couldn't reach 'nobody/nothing-here' on the Hub (OfflineModeIsEnabled)")


# --- the IMHI release format -------------------------------------------------------------------

def imhi_file(path: Path, queries: list[str], references: list[str]) -> Path:
    pd.DataFrame({"query": queries, "gpt-3.5-turbo": references}).to_csv(path, index=False)
    return path


def test_split_imhi_query_strips_one_pair_of_quotes() -> None:
    assert split_imhi_query(f'Consider this post: "I said "no" twice" Question: {DR_Q}') == \
        ('I said "no" twice', DR_Q)
    assert split_imhi_query(f'Post: he said "no" Question: {DR_Q}') == ('he said "no"', DR_Q)
    assert split_imhi_query(f'Post: "so tired Question: {DR_Q}') == ('"so tired', DR_Q)
    assert split_imhi_query(f'"  spaced  " Question: {DR_Q}') == ("spaced", DR_Q)
    assert split_imhi_query(f'Post: "" Question: {DR_Q}') == ("", DR_Q)
    assert split_imhi_query(f'Post: " Question: {DR_Q}') == ('"', DR_Q)
    assert split_imhi_query("Post: no question here") is None


def test_imhi_rows_ids_and_provenance(tmp_path: Path) -> None:
    p = imhi_file(tmp_path / "x.csv",
                  [f'Consider this post: "I can\'t sleep" Question: {DR_Q}', f"Post: long shifts Question: {DR_Q}"],
                  ["No, the poster does not suffer from depression. Reasoning: Only insomnia.", "Yes."])
    posts = read_source(SourceSpec(name="i", format="imhi", path="x.csv", task="dr", split="valid"),
                        base_dir=tmp_path)
    assert rows(posts) == [("i-1", "I can't sleep", "no", "Only insomnia.", "valid"),
                           ("i-2", "long shifts", "yes", None, "valid")]
    assert where(posts) == [(str(p), 1, "valid"), (str(p), 2, "valid")]


def test_imhi_errors(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    ok_query, ok_ref = f"Post: fine Question: {DR_Q}", "No."
    long_question = "Which of the many things in this rather long post worries the poster the most of all, if any?"
    long_answer = "Maybe, though the post says little about mood and a great deal about the weather and the bus"
    cases = [
        ("Post: no question mark here", ok_ref, "field 'query': no 'Question:' in the query"),
        (f"Post: x Question: {long_question}", ok_ref,
         f"field 'query': question '{long_question[:90]}' matches no task"),
        (f'Post: "" Question: {DR_Q}', ok_ref, "field 'query': empty post text"),
        (ok_query, long_answer + " Reasoning: none.",
         f"field 'gpt-3.5-turbo': cannot read a 'dr' label from '{long_answer[:90]}'"),
    ]
    for query, reference, message in cases:
        imhi_file(p, [ok_query, query], [ok_ref, reference])
        assert error(SourceSpec(name="i", format="imhi", path=str(p), tasks=["dr", "sad"])) == \
            f"{p}, row 2, {message}"
    pd.DataFrame({"question": [ok_query]}).to_csv(p, index=False)
    assert error(SourceSpec(name="i", format="imhi", path=str(p), task="dr")) == \
        f"{p}, row 1, field 'query': missing column 'query' (columns: question)"
    imhi_file(p, [ok_query], [ok_ref])
    assert error(SourceSpec(name="i", format="imhi", path=str(p), task="dr", reference_column="gpt-4")) == \
        f"{p}, row 1, field 'gpt-4': missing column 'gpt-4' (columns: query, gpt-3.5-turbo)"


# --- duplicate keys ----------------------------------------------------------------------------

def test_text_key_collapses_case_punctuation_and_spacing() -> None:
    assert text_key("  Same   post!!  it's_ME… ") == "same post it s me"
    assert text_key("Ｆｕｌｌ-width, too") == "full width too"
