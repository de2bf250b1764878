"""Shared fine-tuned models and checkpoints on ``/v1/chat/completions``: a project granted a model
by another project of its organization calls it through the same engine adapter as the owner,
until the grant is revoked or the model deleted. The official SDK in strict mode throughout."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.serving.conftest import ServingStack
from tests.e2e.serving.test_serving import chat, chat_streamed
from tests.integration.models.conftest import caller_of


def test_a_grantee_calls_shared_models_until_revoked_or_deleted(
    serving_stack: ServingStack, request: pytest.FixtureRequest
) -> None:
    api = serving_stack.api
    owner_key = api.new_key(f"owner-{request.node.name}"[:120])
    grantee_key = api.new_key(f"grantee-{request.node.name}"[:120])
    grantee_project = caller_of(api, grantee_key).project_id
    model = serving_stack.publish(owner_key, seed=11)
    checkpoint = serving_stack.publish_checkpoint(owner_key, seed=12, step=3)
    with serving_stack.sdk(owner_key) as owner, serving_stack.sdk(grantee_key) as grantee:
        with pytest.raises(openai.NotFoundError) as before:
            chat(grantee, model)
        assert before.value.code == "model_not_found"
        permissions = owner.fine_tuning.checkpoints.permissions
        permissions.create(model, project_ids=[grantee_project])
        on_checkpoint = permissions.create(checkpoint, project_ids=[grantee_project]).data[0]

        # Greedy decoding: the grantee gets exactly the owner's answers.
        assert chat(grantee, model) == chat(owner, model)
        assert chat_streamed(grantee, checkpoint) == chat(owner, checkpoint)

        permissions.delete(on_checkpoint.id, fine_tuned_model_checkpoint=checkpoint)
        with pytest.raises(openai.NotFoundError):
            chat(grantee, checkpoint)
        assert chat(owner, checkpoint)  # the owner keeps it

        owner.models.delete(model)
        with pytest.raises(openai.NotFoundError):
            chat(grantee, model)
        with pytest.raises(openai.NotFoundError):
            grantee.models.retrieve(model)
