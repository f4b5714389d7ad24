"""A small synthetic judged dataset in the BEIR layout, generated from a seed.

For `make demo`, the tests and anyone without a test collection at hand: the project ships no
third-party collection (Cranfield carries no licence of its own), so it writes one of its own.

The shape gives fine-tuning something real to learn: every document is about one product
(``noun``) and is one kind of text (a repair manual, a review, a shop listing, a history
note), told by one sentence among two generic ones; every query names a product and an
intent in two or three words. The relevant documents are the ones about that product whose
kind matches the intent. A general-purpose embedder matches the product word and ranks all
its documents close together, so it gets the intent only partly right (all-MiniLM-L6-v2:
nDCG@10 about 0.73); clicks teach which kind of text each intent wants, which carries over
to products the training traffic never mentioned (the held-out queries).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from interaction_pipeline.training import Dataset, Document, write_beir

NOUNS: Final = (
    "bicycle", "kettle", "laptop", "camera", "blender", "tent", "drone", "guitar", "printer",
    "sewing machine", "lawn mower", "espresso machine", "telescope", "microwave", "router",
    "headphones", "vacuum cleaner", "dishwasher", "scooter", "projector", "smartwatch",
    "chainsaw", "aquarium", "treadmill", "air fryer", "thermostat", "kayak", "violin",
    "snowboard", "3d printer", "dehumidifier", "electric toothbrush", "water heater",
    "power drill", "record player", "sleeping bag", "baby stroller", "fishing reel",
    "car battery", "solar panel",
)  # fmt: skip

KINDS: Final[dict[str, tuple[str, ...]]] = {
    "manual": (
        "Step-by-step repair instructions for the {n}.",
        "Unplug the {n}, open the housing and check the fuse before replacing any part.",
        "Troubleshooting guide: if the {n} stops working, reset it and inspect the wiring.",
        "Tools you need to service a {n}: screwdriver, multimeter and spare seals.",
        "Replace the worn belt of the {n} and tighten the screws to restore it.",
    ),
    "review": (
        "We tested the {n} for three weeks; here is our honest verdict.",
        "Pros and cons of this {n}: solid build, average battery, fair value.",
        "Is this {n} worth the money? Our rating is four stars out of five.",
        "Compared with rival models, this {n} scored best for comfort and reliability.",
        "Owners say the {n} is good value, though a few complain about noise.",
    ),
    "listing": (
        "Buy the {n} today with free shipping and a two-year warranty.",
        "Special offer: {n} now 30 percent off, limited stock, order now.",
        "Best price on the {n}, compare sellers and save with our coupon code.",
        "In stock: new {n}, ships in 24 hours, easy returns within 30 days.",
        "Cheap {n} deals this weekend only, add to cart before they sell out.",
    ),
    "history": (
        "The history of the {n} goes back more than a century.",
        "Who invented the {n}? Early inventors and the patents behind it.",
        "How the {n} changed over the decades, from the first prototypes to today.",
        "A museum exhibit traces the origins and evolution of the {n}.",
        "The first {n} was a curiosity; mass production made it common.",
    ),
}

GENERIC: Final = (
    "The {n} comes in several colours and sizes.", "Many households own a {n}.",
    "A {n} weighs less than you might think.", "The {n} is made of metal and plastic.",
    "People use the {n} every day.", "This page is about the {n}.",
    "The {n} needs little space.",
)  # fmt: skip
"""Sentences any kind of page about a product may hold: they blur the kinds for the embedder."""

INTENTS: Final[dict[str, tuple[str, ...]]] = {
    "manual": ("{n} help", "{n} guide"),
    "review": ("{n} thoughts", "good {n}"),
    "listing": ("{n} now", "get a {n}"),
    "history": ("{n} background", "about the {n}"),
}
"""Intent -> short query phrasings, as users type them; the relevant kind has the intent's
name. The words hint at the kind only loosely: what each means on this site is what clicks
teach."""


def synthetic_dataset(
    *, products: int = 24, docs_per_kind: int = 2, seed: int = 0, name: str = "synthetic"
) -> Dataset:
    """``products`` x 4 kinds x ``docs_per_kind`` documents, ``products`` x 8 judged queries.

    Grades: 2 for the product's documents of the intended kind; 1 for a review when the user
    wants to buy (or a listing when they ask for reviews), which users often accept.
    """
    if not 1 <= products <= len(NOUNS):
        raise ValueError(f"products: must be between 1 and {len(NOUNS)}, got {products}")
    if docs_per_kind < 1:
        raise ValueError(f"docs_per_kind: must be >= 1, got {docs_per_kind}")
    rng = np.random.default_rng(seed)
    corpus: dict[str, Document] = {}
    by_kind: dict[tuple[str, str], list[str]] = {}
    for p, noun in enumerate(NOUNS[:products]):
        for kind, sentences in KINDS.items():
            for d in range(docs_per_kind):
                own = sentences[int(rng.integers(len(sentences)))]
                shared = rng.choice(len(GENERIC), size=2, replace=False)
                parts = [own, *(GENERIC[int(i)] for i in shared)]
                order = rng.permutation(len(parts))
                body = " ".join(parts[int(i)].format(n=noun) for i in order)
                doc_id = f"p{p:02d}-{kind}-{d}"
                corpus[doc_id] = Document(title=noun.title(), text=body)
                by_kind.setdefault((noun, kind), []).append(doc_id)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    related = {"listing": "review", "review": "listing"}
    for p, noun in enumerate(NOUNS[:products]):
        for kind, phrasings in INTENTS.items():
            for v, phrasing in enumerate(phrasings):
                query_id = f"q{p:02d}-{kind}-{v}"
                queries[query_id] = phrasing.format(n=noun)
                grades = dict.fromkeys(by_kind[(noun, kind)], 2)
                if kind in related:
                    grades |= dict.fromkeys(by_kind[(noun, related[kind])], 1)
                qrels[query_id] = grades
    return Dataset(corpus=corpus, queries=queries, qrels=qrels, name=name)


def write_synthetic(
    directory: Path, *, products: int = 24, docs_per_kind: int = 2, seed: int = 0
) -> Path:
    """Generate the dataset and write it as a BEIR folder."""
    dataset = synthetic_dataset(
        products=products, docs_per_kind=docs_per_kind, seed=seed, name=directory.name
    )
    return write_beir(dataset, directory)
