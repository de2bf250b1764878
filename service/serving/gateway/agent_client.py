"""The api's client for adapter agents: send a request to the first agent that takes it.

Candidates come from ``AgentRing`` in affinity order. An agent that cannot be reached, or that
answers 503 (every adapter slot busy, its engine down, or its engine failed the adapter's parity
check), hands the request to the next one; once every agent has declined, ``NoAgentAvailable``.
Parity failures (503 ``model_unservable``) are collected as ``UnservableReport``s on the reply or
the exception, so the gateway can tell the job and the caller. Requests carry the api's key for
agents and the blob prefix of the adapter, which the agent needs to fetch it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx

from service.serving.engine_errors import parse_engine_error
from service.serving.gateway.routing import AgentRing
from service.serving.names import (
    ADAPTER_PREFIX_HEADER,
    AGENT_EVICT_PATH,
    FIRST_REPORT_HEADER,
    MODEL_UNSERVABLE_CODE,
    REQUEST_ID_HEADER,
)

logger = logging.getLogger(__name__)


MAX_ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class UnservableReport:
    """An agent declined because its engine failed the adapter's parity check."""

    agent_url: str
    message: str
    first_report: bool  # the agent's first answer about this verdict: record it


class NoAgentAvailable(Exception):
    """No agent for the base model answered with anything but 503 (or none is configured)."""

    def __init__(self, message: str, unservable: list[UnservableReport] | None = None) -> None:
        super().__init__(message)
        self.unservable = unservable or []


@dataclass
class AgentReply:
    """An agent's answer with its body unread; close it when done."""

    agent_url: str
    response: httpx.Response
    unservable: list[UnservableReport] = field(default_factory=list)  # agents declined before

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
        unservable: list[UnservableReport] = []
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
                report = await _unservable_report(url, response)
                if report is not None:
                    unservable.append(report)
                logger.info("agent %s declined (503); trying the next one", url)
                continue
            return AgentReply(url, response, unservable)
        raise NoAgentAvailable(
            f"none of {len(candidates)} agent(s) for {base_model} took the request", unservable
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


async def _unservable_report(url: str, response: httpx.Response) -> UnservableReport | None:
    """The parity failure a 503 reports, if that is why the agent declined; closes the body."""
    try:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_ERROR_BODY_BYTES:
                return None
    except httpx.HTTPError:
        return None
    finally:
        await response.aclose()
    detail = parse_engine_error(503, body)
    if detail.code != MODEL_UNSERVABLE_CODE:
        return None
    first = response.headers.get(FIRST_REPORT_HEADER, "").lower() == "true"
    return UnservableReport(url, detail.message, first)
