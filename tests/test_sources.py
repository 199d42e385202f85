"""Source readers on small files written in the test, and on the real shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from imhi.io import InputError
from imhi.sources import SourceSpec, find_duplicates, find_leakage, read_source, split_imhi_query


def spec(**kw: object) -> SourceSpec:
    return SourceSpec.model_validate({"name": "s", "task": "dr", **kw})


def test_csv_with_column_and_label_maps(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    pd.DataFrame({"post": ["I feel empty", "Buying a bike"], "y": ["1", "0"], "uid": ["a", "b"]}) \
        .to_csv(p, index=False)
    posts = read_source(spec(format="csv", path=str(p), columns={"text": "post", "label": "y", "id": "uid"},
                             label_map={"1": "yes", "0": "no"}))
    assert [(x.id, x.text, x.label) for x in posts] == [("s-a", "I feel empty", "yes"),
                                                        ("s-b", "Buying a bike", "no")]
    assert posts[1].provenance.file == str(p) and posts[1].provenance.row == 2


def test_many_raw_labels_map_to_one(tmp_path: Path) -> None:
    p = tmp_path / "d.tsv"
    p.write_text("text\tlabel\nA\tdepression\nB\tmajor depression\nC\tcontrol\n", encoding="utf-8")
    posts = read_source(spec(format="tsv", path=str(p),
                             label_map={"major depression": "yes", "control": "no"}))
    assert [x.label for x in posts] == ["yes", "yes", "no"]  # 'depression' is a task alias


def test_unknown_label_names_file_row_field(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label\nfine,yes\nhmm,maybe\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_source(spec(format="csv", path=str(p)))
    msg = str(exc.value)
    assert str(p) in msg and "row 2" in msg and "field 'label'" in msg and "'maybe'" in msg


def test_missing_column_is_named(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("body,label\nfine,yes\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1, field 'text': missing column 'text' \(columns: body"):
        read_source(spec(format="csv", path=str(p)))


def test_malformed_jsonl_row(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "a", "label": "yes"}\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"d.jsonl, row 2: malformed JSON"):
        read_source(spec(format="jsonl", path=str(p)))


def test_empty_text_rejected(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "  ", "label": "yes"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="row 1, field 'text': empty post text"):
        read_source(spec(format="jsonl", path=str(p)))


def test_parquet_and_hf_disk(tmp_path: Path) -> None:
    import datasets

    frame = pd.DataFrame({"text": ["x y", "z"], "label": ["no", "yes"]})
    frame.to_parquet(tmp_path / "d.parquet")
    datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)}).save_to_disk(str(tmp_path / "hf"))
    a = read_source(spec(format="parquet", path=str(tmp_path / "d.parquet")))
    b = read_source(spec(format="hf", path=str(tmp_path / "hf"), hf_split="train"))
    assert [p.label for p in a] == [p.label for p in b] == ["no", "yes"]
    with pytest.raises(InputError, match="hf_split"):
        read_source(spec(format="hf", path=str(tmp_path / "hf")))


def test_multilabel_01_columns(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("text,anger,joy,fear\nugh,1,0,1\nyay,0,1,0\n", encoding="utf-8")
    posts = read_source(spec(format="csv", path=str(p), task="mtl_emotion",
                             label_columns=["anger", "joy", "fear"]))
    assert [x.label for x in posts] == [["anger", "fear"], ["joy"]]
    p.write_text("text,anger,joy,fear\nugh,1,2,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 1, field 'joy': expected 0/1"):
        read_source(spec(format="csv", path=str(p), task="mtl_emotion", label_columns=["anger", "joy"]))
    with pytest.raises(InputError, match="field 'disgust': missing column 'disgust'"):
        read_source(spec(format="csv", path=str(p), task="mtl_emotion", label_columns="task"))


def test_openai_chat_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    rows = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "帖子"},
                          {"role": "assistant", "content": "高自杀风险"}]}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    posts = read_source(spec(format="openai_chat", path=str(p), task="cn_suicide_risk"))
    assert (posts[0].text, posts[0].label) == ("帖子", "高自杀风险")


def test_imhi_release_rows(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    pd.DataFrame({
        "query": ['Consider this post: "I can\'t sleep" Question: Does the poster suffer from depression?',
                  'Post: exams tomorrow  Question: This post shows the stress cause of'],
        "gpt-3.5-turbo": ["No, the poster does not suffer from depression. Reasoning: Only insomnia.",
                          "emotional turmoil. Reasoning: Anxiety."],
    }).to_csv(p, index=False)
    posts = read_source(SourceSpec(name="i", format="imhi", path=str(p), tasks=["dr", "sad"]))
    assert [(x.task, x.text, x.label, x.explanation) for x in posts] == [
        ("dr", "I can't sleep", "no", "Only insomnia."),
        ("sad", "exams tomorrow", "emotion turmoil", "Anxiety.")]


def test_imhi_unreadable_reference_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    pd.DataFrame({"query": ['Consider this post: "a" Question: Does the poster suffer from depression?'],
                  "gpt-3.5-turbo": ["Perhaps. Reasoning: unclear."]}).to_csv(p, index=False)
    with pytest.raises(InputError, match=r"row 1, field 'gpt-3.5-turbo': cannot read a 'dr' label"):
        read_source(SourceSpec(name="i", format="imhi", path=str(p), task="dr"))
    with pytest.raises(InputError, match=r"row 1, field 'query': .*matches several tasks \(clp, dr\)"):
        read_source(SourceSpec(name="i", format="imhi", path=str(p)))


def test_split_imhi_query_uses_last_question() -> None:
    q = 'Consider this post: "Question: why me?" Question: Does the poster suffer from stress?'
    assert split_imhi_query(q) == ("Question: why me?", "Does the poster suffer from stress?")


def test_duplicates_and_leakage(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "Same post!", "label": "yes"}\n{"text": "same   post", "label": "yes"}\n'
                 '{"text": "other", "label": "no"}\n', encoding="utf-8")
    posts = read_source(spec(format="jsonl", path=str(p)))
    assert [[x.id for x in g] for g in find_duplicates(posts)] == [["s-1", "s-2"]]
    assert [(a.id, b.id) for a, b in find_leakage(posts[:1], posts[1:])] == [("s-1", "s-2")]


def test_chinese_sources_label_sets(shared_data: Path) -> None:
    cn = shared_data / "cn"
    sos = read_source(SourceSpec(name="sos", format="openai_chat", task="cn_suicide_risk",
                                 path=str(cn / "sos_hl_suicide_train.jsonl")))
    assert len(sos) == 999 and {p.label for p in sos} == {"高自杀风险", "低自杀风险"}
    cd = read_source(SourceSpec(name="cd", format="tsv", task="cn_cognitive_distortion",
                                path=str(cn / "socialcd3k_train.tsv"), columns={"text": "内容"},
                                label_columns="task"))
    seen = {lab for p in cd for lab in p.label}
    assert len(cd) == 2725 and len(seen) == 12


def test_safety_set_maps_ten_categories(shared_data: Path) -> None:
    posts = read_source(SourceSpec(name="si", format="csv", task="safety_si10",
                                   path=str(shared_data / "safety/suicidal_ideation.csv"),
                                   columns={"text": "statement", "label": "Safety type"}))
    assert len(posts) == 450 and len({p.label for p in posts}) == 10


# Issue 14 item 6: CSV errors name the line, through the real CLI in a subprocess.

def test_latin1_csv_names_line_column_and_encoding_field(tmp_path: Path) -> None:
    from _cli_process import imhi_process, one_line_error

    src = tmp_path / "latin1.csv"
    src.write_bytes("text,label\nI feel fine,no\ncafé is where I cry,yes\n".encode("latin-1"))
    proc = imhi_process("data", "inspect", str(src), "--task", "dr")
    one_line_error(proc, "latin1.csv", "field 'encoding'", "line 3, column 4", "0xe9", "latin-1")
    ok = imhi_process("data", "inspect", str(src), "--task", "dr", "--set", "encoding=latin-1")
    assert ok.returncode == 0 and "2 posts" in ok.stdout, ok.stderr


def test_unclosed_quote_names_the_line_it_opens(tmp_path: Path) -> None:
    from _cli_process import imhi_process, one_line_error

    at_end = tmp_path / "end.csv"
    at_end.write_text('id,text,label\n1,ok post,no\n2,"fine, really",no\n3,"broken post,yes\n4,another,no\n')
    one_line_error(imhi_process("data", "inspect", str(at_end), "--task", "dr"),
                   "end.csv", "line 4: a quoted field opens here and is never closed")
    inside = tmp_path / "inside.csv"
    inside.write_text('text,label\n"ok",yes\n"broken post,no\n"next post",yes\nlast,no\n')
    one_line_error(imhi_process("data", "inspect", str(inside), "--task", "dr"),
                   "inside.csv", "line 3: the quoted field that opens here ends at line 4")


def test_table_reader_matches_pandas_and_names_bad_records(tmp_path: Path) -> None:
    from imhi.tables import read_table

    good = tmp_path / "g.tsv"
    good.write_text('a\tb\n"x\ny"\t1\n\nz\t""""\n', encoding="utf-8")
    frame = pd.read_csv(good, sep="\t", dtype=str, keep_default_na=False)
    assert read_table(good, "\t") == frame.to_dict(orient="records")
    short = tmp_path / "s.csv"
    short.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2: line 3: 1 field, the header has 2 fields"):
        read_table(short)
    with pytest.raises(InputError, match="unknown encoding 'latin-9x'"):
        read_table(short, encoding="latin-9x")
