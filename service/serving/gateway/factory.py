"""Builds the api's inference gateway from settings."""

from __future__ import annotations

from service.db.engine import SessionFactory
from service.models.access import ModelAccess
from service.models.registry import ModelRegistry
from service.serving.gateway.agent_client import AgentClient
from service.serving.gateway.inference import InferenceGateway
from service.serving.gateway.model_lookup import ServingLookup
from service.serving.gateway.routing import AgentRing
from service.serving.gateway.targets import ServingModelResolver
from service.serving.gateway.unservable import UnservableRecorder
from service.settings import ServingSettings


def build_inference_gateway(
    settings: ServingSettings,
    registry: ModelRegistry,
    access: ModelAccess,
    sessions: SessionFactory,
    unservable: UnservableRecorder | None = None,
) -> InferenceGateway:
    """The gateway with its agent ring and client; nothing connects until first use."""
    ring = AgentRing(
        settings.agent_urls,
        settings.agent_urls_by_base,
        down_cooldown_s=settings.agent_down_cooldown_s,
    )
    key = settings.agent_api_key
    agents = AgentClient(
        ring,
        api_key=None if key is None else key.get_secret_value(),
        connect_timeout_s=settings.connect_timeout_s,
        request_timeout_s=settings.request_timeout_s,
        evict_timeout_s=settings.evict_timeout_s,
    )
    lookup = ServingLookup(sessions)
    return InferenceGateway(
        ServingModelResolver(registry, access),
        agents,
        lookup,
        retry_after_s=settings.retry_after_s,
        unservable=unservable,
    )
