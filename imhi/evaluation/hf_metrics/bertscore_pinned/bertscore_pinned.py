"""BERTScore with the model and layer pinned, as a Hugging Face ``evaluate`` module.

``evaluate.load(<this folder>)``; reads the encoder named in ``compute(...)``; writes
nothing. Unlike the hub's ``bertscore`` module, ``model_type`` and ``num_layers`` are
required, so two runs can never silently use different encoders or layers.
"""

import datasets
import evaluate

from imhi.evaluation.textscore import BertScoreConfig, bertscore

_CITATION = """@inproceedings{zhang2020bertscore, title={BERTScore: Evaluating Text Generation with BERT},
author={Zhang, Tianyi and Kishore, Varsha and Wu, Felix and Weinberger, Kilian Q. and Artzi, Yoav},
booktitle={ICLR}, year={2020}}"""
_DESCRIPTION = "BERTScore (bert_score.score) with a pinned encoder and layer, optional idf and rescaling."
_KWARGS = """predictions, references: texts; model_type: hub id or folder (required); num_layers (required);
idf (bool); baseline_path (rescale with this baseline file); lang; batch_size.
Returns precision, recall, f1 (means) and per-item lists with the suffix _items."""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BERTScorePinned(evaluate.Metric):
    """BERTScore precision, recall and F1 with a pinned model and layer."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, model_type=None, num_layers=None,  # noqa: ANN001
                 idf=False, baseline_path=None, lang="en", batch_size=32) -> dict:
        if model_type is None or num_layers is None:
            raise ValueError("bertscore_pinned needs model_type and num_layers")
        cfg = BertScoreConfig(model_type=model_type, num_layers=num_layers, idf=idf,
                              baseline_path=baseline_path, lang=lang, batch_size=batch_size)
        res = bertscore(list(predictions), list(references), cfg)
        return {"precision": res["precision"], "recall": res["recall"], "f1": res["f1"],
                **{f"{k}_items": v for k, v in res["items"].items()}}
