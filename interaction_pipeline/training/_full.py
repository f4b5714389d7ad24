"""Optional full fine-tuning with sentence-transformers (needs torch; not used by default).

The adapter covers the common case in seconds without torch. Fine-tuning every weight can go
further on large click logs but pulls torch (several GB), so it lives behind the
'finetune-full' extra and imports nothing heavy until called. Pair weights are not honoured
here: MultipleNegativesRankingLoss has no per-example weight.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from interaction_pipeline.training._pairs import PairSource, read_pairs
from interaction_pipeline.training.errors import MissingDependencyError

INSTALL_HINT = (
    "full fine-tuning needs torch and sentence-transformers: "
    "pip install 'interaction-pipeline[finetune-full]' (pulls torch, several GB); "
    "the default fine_tune() trains a query adapter without them"
)


def fine_tune_full(
    training_data: PairSource,
    output_dir: str | Path,
    *,
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2",
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
) -> Path:
    """Fine-tune all weights with in-batch + hard negatives; saves a sentence-transformers model."""
    if importlib.util.find_spec("torch") is None or (
        importlib.util.find_spec("sentence_transformers") is None
    ):
        raise MissingDependencyError(INSTALL_HINT)
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from torch.utils.data import DataLoader

    pairs = read_pairs(training_data)
    # MultipleNegativesRankingLoss needs the same number of texts in every example: use
    # triplets when most pairs have a hard negative, (query, positive) pairs otherwise.
    triplets = [p for p in pairs if p.negative_text is not None]
    examples: list[Any] = (
        [InputExample(texts=[p.query, p.positive_text, p.negative_text]) for p in triplets]
        if len(triplets) >= len(pairs) / 2
        else [InputExample(texts=[p.query, p.positive_text]) for p in pairs]
    )
    model = SentenceTransformer(base_model)
    loader: Any = DataLoader(examples, shuffle=True, batch_size=batch_size)
    loss = losses.MultipleNegativesRankingLoss(model)
    model.fit(
        train_objectives=[(loader, loss)],
        epochs=epochs,
        optimizer_params={"lr": learning_rate},
        show_progress_bar=True,
    )
    folder = Path(output_dir)
    model.save(str(folder))
    return folder
