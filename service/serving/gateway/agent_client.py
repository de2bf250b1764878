"""The api's client for adapter agents: send a request to the first agent that takes it.

Candidates come from ``AgentRing`` in affinity order. An agent that cannot be reached, or that
answers 503 (every adapter slot busy, or its engine down), hands the request to the next one;
once every agent has declined, ``NoAgentAvailable``. Requests carry the api's key for agents and
the blob prefix of the adapter, which the agent needs to fetch it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from service.serving.gateway.routing import AgentRing
from service.serving.names import ADAPTER_PREFIX_HEADER, AGENT_EVICT_PATH, REQUEST_ID_HEADER

logger = logging.getLogger(__name__)


class NoAgentAvailable(Exception):
    """No agent for the base model answered with anything but 503 (or none is configured)."""


@dataclass
class AgentReply:
    """An agent's answer with its body unread; close it when done."""

    agent_url: str
    response: httpx.Response

    async def close(self) -> None:
        """Release the connection."""
        await self.response.aclose()


class AgentClient:
    """Forwards inference requests to agents and broadcasts evictions."""

    def __init__(
        self,
        ring: AgentRing,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 2.0,
        request_timeout_s: float = 600.0,
        evict_timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.ring = ring
        self._evict_timeout_s = evict_timeout_s
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def send(
        self,
        route: str,
        body: bytes,
        *,
        base_model: str,
        affinity_key: str,
        adapter_prefix: str | None,
        request_id: str | None = None,
    ) -> AgentReply:
        """POST ``body`` to ``route`` on the first agent (by affinity) that does not decline."""
        headers = {"content-type": "application/json"}
        if adapter_prefix is not None:
            headers[ADAPTER_PREFIX_HEADER] = adapter_prefix
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        candidates = self.ring.candidates(base_model, affinity_key)
        for url in candidates:
            request = self._http.build_request("POST", url + route, content=body, headers=headers)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                logger.warning("agent %s unreachable: %s", url, type(exc).__name__)
                self.ring.mark_down(url)
                continue
            self.ring.mark_up(url)
            if response.status_code == 503:
                await response.aclose()
                logger.info("agent %s declined (503); trying the next one", url)
                continue
            return AgentReply(url, response)
        raise NoAgentAvailable(
            f"none of {len(candidates)} agent(s) for {base_model} took the request"
        )

    async def evict_everywhere(self, adapter_names: list[str]) -> int:
        """Ask every agent to unload and drop these adapters; returns how many agents agreed."""
        if not adapter_names:
            return 0
        results = await asyncio.gather(
            *(self._evict(url, adapter_names) for url in self.ring.all_agents())
        )
        return sum(results)

    async def _evict(self, url: str, adapter_names: list[str]) -> bool:
        try:
            for name in adapter_names:
                response = await self._http.post(
                    url + AGENT_EVICT_PATH, json={"adapter": name}, timeout=self._evict_timeout_s
                )
                if response.status_code >= 300:
                    logger.warning("agent %s refused to evict: %s", url, response.status_code)
                    return False
        except httpx.HTTPError as exc:
            logger.warning("agent %s unreachable for eviction: %s", url, type(exc).__name__)
            return False
        return True
