"""Explanation quality: BARTScore equals the formula on a tiny BART and a tiny Llama; BERTScore
equals bert_score.score on the real MiniLM; both load as Hugging Face evaluate modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from imhi.evaluation.textscore import (  # noqa: E402
    BartScoreConfig,
    BertScoreConfig,
    bartscore,
    bertscore,
    default_encoder,  # noqa: E402
    metric_path,
)
from imhi.models import ModelRef, load_tokenizer  # noqa: E402

HYPS = ["The post shows sadness and loss of interest.", "No sign of stress.", "Work is the cause."]
REFS = ["The poster feels hopeless and has lost interest in things.", "The post is calm.",
        "The stress comes from the job and the boss."]


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer BART with the MiniLM word-piece tokenizer, saved as a folder."""
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    folder = tmp_path_factory.mktemp("bart")
    tok = AutoTokenizer.from_pretrained(default_encoder())
    torch.manual_seed(0)
    cfg = BartConfig(vocab_size=tok.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
                     encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                     decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                     bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                     decoder_start_token_id=tok.sep_token_id, forced_eos_token_id=None)
    BartForConditionalGeneration(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _formula_seq2seq(folder: Path, src: str, tgt: str) -> float:
    """1/|y| Σ_t log p(y_t | y_<t, x), one pair at a time, no padding."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    x = tok(src, return_tensors="pt")["input_ids"]
    y = tok(tgt, return_tensors="pt")["input_ids"]
    start = torch.tensor([[model.config.decoder_start_token_id]])
    with torch.no_grad():
        logits = model(input_ids=x, decoder_input_ids=torch.cat([start, y[:, :-1]], 1)).logits
    logp = torch.log_softmax(logits, -1)[0, torch.arange(y.shape[1]), y[0]]
    return float(logp.mean())


def test_bartscore_seq2seq_equals_formula(tiny_bart: Path) -> None:
    res = bartscore(HYPS, REFS, BartScoreConfig(checkpoint=str(tiny_bart), batch_size=2))
    for i, (h, r) in enumerate(zip(HYPS, REFS, strict=True)):
        p, rec = _formula_seq2seq(tiny_bart, r, h), _formula_seq2seq(tiny_bart, h, r)
        assert res["items"]["precision"][i] == pytest.approx(p, abs=1e-5)
        assert res["items"]["recall"][i] == pytest.approx(rec, abs=1e-5)
        assert res["items"]["f1"][i] == pytest.approx((p + rec) / 2, abs=1e-5)
    assert res["f1"] == pytest.approx(sum(res["items"]["f1"]) / 3)


def test_bartscore_causal_equals_formula(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(ModelRef(path="smollm2"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    res = bartscore(HYPS, REFS, BartScoreConfig(checkpoint=str(tmp_path), kind="causal", batch_size=3))
    for i, (h, r) in enumerate(zip(HYPS, REFS, strict=True)):
        s = tok(r + "\n", add_special_tokens=False)["input_ids"]
        t = tok(h, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([s + t])).logits[0], -1)
        expected = float(sum(logp[len(s) - 1 + j, t[j]] for j in range(len(t))) / len(t))
        assert res["items"]["precision"][i] == pytest.approx(expected, abs=1e-4)


def test_bertscore_equals_bert_score_and_rescales(tmp_path: Path) -> None:
    from bert_score import score

    folder = default_encoder()
    res = bertscore(HYPS, REFS, BertScoreConfig(model_type=folder, num_layers=4, idf=True))
    p, r, f = score(HYPS, REFS, model_type=folder, num_layers=4, idf=True)
    assert res["f1"] == pytest.approx(float(f.mean()), abs=1e-6)
    assert res["items"]["precision"] == pytest.approx(p.tolist(), abs=1e-6)
    baseline = tmp_path / "baseline.tsv"
    baseline.write_text("LAYER,P,R,F\n" + "\n".join(f"{i},0.5,0.4,0.45" for i in range(7)) + "\n")
    scaled = bertscore(HYPS, REFS, BertScoreConfig(model_type=folder, num_layers=4,
                                                   baseline_path=str(baseline)))
    plain = bertscore(HYPS, REFS, BertScoreConfig(model_type=folder, num_layers=4))
    assert scaled["items"]["f1"] == pytest.approx([(x - 0.45) / 0.55 for x in plain["items"]["f1"]],
                                                  abs=1e-5)


def test_evaluate_modules_load_from_local_path(tiny_bart: Path) -> None:
    import evaluate

    bart = evaluate.load(metric_path("bartscore"))
    got = bart.compute(predictions=HYPS, references=REFS, checkpoint=str(tiny_bart))
    direct = bartscore(HYPS, REFS, BartScoreConfig(checkpoint=str(tiny_bart)))
    assert got["f1"] == pytest.approx(direct["f1"], abs=1e-6)
    bert = evaluate.load(metric_path("bertscore_pinned"))
    got = bert.compute(predictions=HYPS, references=REFS, model_type=default_encoder(), num_layers=3)
    plain = bertscore(HYPS, REFS, BertScoreConfig(model_type=default_encoder(), num_layers=3))
    assert got["f1"] == pytest.approx(plain["f1"], abs=1e-6)
