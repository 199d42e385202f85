"""imhi: explainable mental-health analysis with LLMs (IMHI / C-IMHI style).

Build explanation-bearing instruction corpora with a teacher LLM, train explainable
classifiers in sequential QLoRA stages, and evaluate label correctness and
explanation quality.
"""

__version__ = "0.1.0"
