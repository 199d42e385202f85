"""Generation on real small models: the SmolLM2 GGUF and a tiny Llama (+ LoRA adapter)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from imhi.generation import GenerationConfig, generate_file, run_generation  # noqa: E402
from imhi.io import InputError, read_jsonl, write_jsonl  # noqa: E402
from imhi.models import ModelRef, load_tokenizer  # noqa: E402


def _pairs(path: Path, n: int = 4) -> Path:
    rows = []
    for i in range(n):
        query = f'Consider this post: "I feel {"very " * i}tired of everything." Question: Is it sad?'
        rows.append({"id": f"p{i}", "task": "dr", "source": "t", "text": "x", "label": "yes",
                     "explanation": "e", "query": query, "answer": "Yes. Reasoning: e",
                     "messages": [{"role": "user", "content": query}]})
    write_jsonl(path, rows)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with SmolLM2's tokenizer, saved as a plain folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny")
    tok = load_tokenizer(ModelRef(path="smollm2"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_generate_resumes_and_writes_contract_columns(tmp_path: Path, tiny_llama: Path) -> None:
    pairs = _pairs(tmp_path / "test.jsonl")
    out = tmp_path / "generations.jsonl"
    cfg = GenerationConfig(model=ModelRef(path=str(tiny_llama)), batch_size=3, max_new_tokens=5, limit=2)
    generate_file(cfg, pairs, out)
    assert [r["id"] for r in read_jsonl(out)] == ["p1", "p0"]  # longest prompt first
    cfg.limit = None
    stats = run_generation(cfg, pairs, out)
    assert stats.rows == 2  # only the two missing ids were generated
    rows = list(read_jsonl(out))
    assert sorted(r["id"] for r in rows) == ["p0", "p1", "p2", "p3"]
    assert set(rows[0]) == {"id", "task", "query", "label", "answer", "prediction", "model", "prompt", "request_key"}
    assert all(isinstance(r["prediction"], str) for r in rows)
    assert run_generation(cfg, pairs, out).rows == 0


def test_adapter_changes_nothing_at_init_and_loads(tmp_path: Path, tiny_llama: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter)
    pairs = _pairs(tmp_path / "test.jsonl", 2)
    plain = GenerationConfig(model=ModelRef(path=str(tiny_llama)), max_new_tokens=4)
    with_adapter = plain.model_copy(update={"adapter": str(adapter)})
    a = [r["prediction"] for r in read_jsonl(generate_file(plain, pairs, tmp_path / "a.jsonl"))]
    b = list(read_jsonl(generate_file(with_adapter, pairs, tmp_path / "b.jsonl")))
    assert a == [r["prediction"] for r in b]  # LoRA B is zero at init: same greedy output
    assert b[0]["model"].endswith("+" + str(adapter))


def test_retrained_adapter_answers_again_and_keeps_old_answers(tmp_path: Path, tiny_llama: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    pairs = _pairs(tmp_path / "test.jsonl", 2)
    out = tmp_path / "gen" / "generations.jsonl"
    cfg = GenerationConfig(model=ModelRef(path=str(tiny_llama)), adapter=str(adapter), max_new_tokens=3)

    def save_adapter(seed: int) -> None:
        torch.manual_seed(seed)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                               LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        model.save_pretrained(adapter)

    save_adapter(1)
    first = list(read_jsonl(generate_file(cfg, pairs, out)))
    assert run_generation(cfg, pairs, out).rows == 0  # same adapter: resumed, nothing answered
    save_adapter(2)  # "retrained": same folder, new weights
    assert run_generation(cfg, pairs, out).rows == 2  # every row answered again by the new adapter
    assert list(read_jsonl(out.with_name("generations.stale-1.jsonl"))) == first  # old answers kept aside
    assert len(list(read_jsonl(out))) == 2


def test_smollm2_answers(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "test.jsonl", 2)
    cfg = GenerationConfig(model=ModelRef(path="smollm2"), batch_size=2, max_new_tokens=12)
    rows = list(read_jsonl(generate_file(cfg, pairs, tmp_path / "g.jsonl")))
    assert len(rows) == 2 and all(len(r["prediction"]) > 0 for r in rows)


def test_bad_pairs_name_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"id": "a", "task": "dr", "query": "q"}, {"id": "b", "task": "dr"}])
    cfg = GenerationConfig(model=ModelRef(path="smollm2"))
    with pytest.raises(InputError, match=r"row 2, field 'query'"):
        generate_file(cfg, bad, tmp_path / "g.jsonl")


def test_config_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GenerationConfig()
    with pytest.raises(ValueError, match="exactly one"):
        GenerationConfig(model=ModelRef(path="x"), endpoint={"model": "m"})
