"""BARTScore as a Hugging Face ``evaluate`` module: ``evaluate.load(<this folder>)``.

Reads the checkpoint named in ``compute(...)``; writes nothing. The computation is
:func:`imhi.evaluation.textscore.bartscore` (mean target-token log-likelihood, Yuan et
al. 2021): precision = ref → hyp, recall = hyp → ref, f1 = their mean.
"""

import datasets
import evaluate

from imhi.evaluation.textscore import BartScoreConfig, bartscore

_CITATION = """@inproceedings{yuan2021bartscore, title={BARTScore: Evaluating Generated Text as
Text Generation}, author={Yuan, Weizhe and Neubig, Graham and Liu, Pengfei}, booktitle={NeurIPS}, year={2021}}"""
_DESCRIPTION = "Mean per-token log-likelihood of one text given the other under a seq2seq or causal LM."
_KWARGS = """predictions: generated texts; references: reference texts; checkpoint: hub id or folder
(default facebook/bart-large-cnn); kind: "seq2seq" or "causal"; batch_size; max_length.
Returns precision, recall, f1 (means) and per-item lists under the same names with the suffix _items."""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BARTScore(evaluate.Metric):
    """BARTScore precision (ref→hyp), recall (hyp→ref) and their mean."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, checkpoint="facebook/bart-large-cnn",  # noqa: ANN001
                 kind="seq2seq", batch_size=8, max_length=1024) -> dict:
        cfg = BartScoreConfig(checkpoint=checkpoint, kind=kind, batch_size=batch_size, max_length=max_length)
        res = bartscore(list(predictions), list(references), cfg)
        return {"precision": res["precision"], "recall": res["recall"], "f1": res["f1"],
                **{f"{k}_items": v for k, v in res["items"].items()}}
