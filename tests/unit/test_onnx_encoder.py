"""The int8 onnxruntime encoder keeps the reference model's vectors, and its graph is built once and kept."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.memory_data import FACTS, OTHER_CLIENT_FACTS, UNRELATED, filler
from proxy.memory.recall import onnx_encoder
from proxy.memory.recall.embeddings import NumpyEncoder, open_encoder
from proxy.memory.recall.meaning import EMBEDDED_TOKENS
from proxy.memory.recall.onnx_encoder import OnnxEncoder, cached_graph

pytest.importorskip("onnxruntime", reason="onnxruntime is a runtime dependency: every lock installs it")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _sentences() -> list[str]:
    """What people say to the proxy, from the repository's own sets: scope statements, facts and their
    questions in both wordings, pasted secrets, unrelated questions and everyday exchanges."""
    scope = [
        json.loads(line)["text"] for line in (FIXTURES / "scope_statements.jsonl").read_text().splitlines()
    ]
    secrets = [json.loads(line) for line in (FIXTURES / "secrets.jsonl").read_text().splitlines()]
    facts = [text for fact in FACTS for text in (fact.statement, fact.keyword, fact.paraphrase)]
    pasted = [entry["text"] for entry in secrets if "text" in entry]
    return list(dict.fromkeys([*scope, *facts, *OTHER_CLIENT_FACTS, *pasted, *UNRELATED, *filler(60)]))


@pytest.fixture(scope="module")
def built(embedding_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxEncoder:
    return OnnxEncoder(embedding_model_dir, cache_dir=tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def reference(embedding_model_dir: Path) -> NumpyEncoder:
    return NumpyEncoder(embedding_model_dir)


def test_int8_vectors_keep_the_reference_models_direction(built: OnnxEncoder, reference: NumpyEncoder):
    sentences = _sentences()
    assert len(sentences) >= 500
    cosines = np.sum(
        built.encode(sentences, max_tokens=EMBEDDED_TOKENS)
        * reference.encode(sentences, max_tokens=EMBEDDED_TOKENS),
        axis=1,
    )
    assert cosines.mean() >= 0.98, f"mean cosine {cosines.mean():.4f}"
    assert cosines.min() >= 0.95, f"worst: {sentences[int(cosines.argmin())]!r} at {cosines.min():.4f}"


def test_int8_vectors_keep_sentence_transformers_own(built: OnnxEncoder):
    reference = json.loads((FIXTURES / "embeddings" / "all-minilm-l6-v2-reference.json").read_text())
    vectors = built.encode(reference["texts"])
    cosines = np.sum(vectors * np.asarray(reference["vectors"], dtype=np.float32), axis=1)
    assert vectors.shape == (len(reference["texts"]), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines.min() >= 0.95, cosines


def test_a_batch_gives_each_text_the_vector_it_has_alone(built: OnnxEncoder):
    """Padding to the longest text of a batch changes no text's vector."""
    texts = ["short", "a much longer sentence about the build tool this project uses for its tests"]
    together = built.encode(texts)
    alone = np.concatenate([built.encode([text]) for text in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_the_model_keeps_its_name_on_either_runtime(built: OnnxEncoder, reference: NumpyEncoder):
    """A store names its vectors after the model: switching runtime must not make it embed everything anew."""
    assert built.name == reference.name


def test_the_graph_is_built_once_per_weights_and_version(
    built: OnnxEncoder, embedding_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    builds: list[Path] = []

    def copy_the_built_graph(model_dir: Path, out: Path) -> None:
        builds.append(out)
        assert built.graph is not None
        shutil.copyfile(built.graph, out)

    monkeypatch.setattr(onnx_encoder, "_build", copy_the_built_graph)
    first = cached_graph(embedding_model_dir, tmp_path)
    assert cached_graph(embedding_model_dir, tmp_path) == first
    assert len(builds) == 1
    monkeypatch.setattr(onnx_encoder, "GRAPH_VERSION", onnx_encoder.GRAPH_VERSION + 1)
    assert cached_graph(embedding_model_dir, tmp_path) != first
    assert len(builds) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [first.name, builds[1].name]
    )  # no scratch


def test_a_cache_folder_that_cannot_be_written_still_gives_an_encoder(
    built: OnnxEncoder, embedding_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def copy_the_built_graph(model_dir: Path, out: Path) -> None:
        assert built.graph is not None
        shutil.copyfile(built.graph, out)

    monkeypatch.setattr(onnx_encoder, "_build", copy_the_built_graph)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    encoder = OnnxEncoder(embedding_model_dir, cache_dir=not_a_folder / "models")
    assert encoder.graph is None
    assert np.allclose(encoder.encode(["I drive a red Volvo"]), built.encode(["I drive a red Volvo"]))


def test_a_graph_that_cannot_be_built_leaves_numpy(
    embedding_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def broken(model_dir: Path, out: Path) -> None:
        raise RuntimeError("building the onnx graph failed (exit 1): MemoryError")

    monkeypatch.setattr(onnx_encoder, "_build", broken)
    with caplog.at_level(logging.WARNING):
        assert open_encoder(embedding_model_dir).runtime == "numpy"
    assert "MemoryError" in caplog.text
    with pytest.raises(RuntimeError, match="MemoryError"):
        open_encoder(embedding_model_dir, "onnx")
    assert list(tmp_path.rglob("*.onnx")) == []


def test_without_onnxruntime_the_reference_runtime_answers(
    embedding_model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when it is not installed
    assert open_encoder(embedding_model_dir).runtime == "numpy"
    with pytest.raises(ImportError):
        open_encoder(embedding_model_dir, "onnx")


def test_a_failed_build_says_why_in_its_last_line(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match=r"exit 1\): .*Error"):
        onnx_encoder._build(tmp_path, tmp_path / "out.onnx")


def test_an_unknown_runtime_is_refused(embedding_model_dir: Path):
    with pytest.raises(ValueError, match="one of auto, onnx, numpy"):
        open_encoder(embedding_model_dir, "tensorflow")
