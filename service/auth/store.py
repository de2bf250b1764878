"""Organizations, projects and API keys in the metadata store."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select, update

from service.auth.api_keys import IssuedKey, hash_key
from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.db.tables import ApiKeyRow, OrganizationRow, ProjectRow
from service.ids import IdPrefix, new_id


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as operators see it (never the plaintext)."""

    id: str
    project_id: str
    display_prefix: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


# Built once: every request whose key the api has not seen lately runs it.
_KEY_BY_HASH = (
    select(
        ApiKeyRow.id,
        ApiKeyRow.project_id,
        ApiKeyRow.key_hash,
        ApiKeyRow.last_used_at,
        ApiKeyRow.revoked_at,
        ProjectRow.organization_id,
        OrganizationRow.slug,
    )
    .join(ProjectRow, ProjectRow.id == ApiKeyRow.project_id)
    .join(OrganizationRow, OrganizationRow.id == ProjectRow.organization_id)
    .where(ApiKeyRow.key_hash == bindparam("key_hash"))
)

# Marks actions taken by ftapi's own workers rather than through an API key.
SYSTEM_KEY_ID = "system"


class ProjectStore:
    """Tenancy rows: organizations, projects, API keys."""

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def ensure_organization(self, slug: str) -> str:
        """The id of the organization with ``slug``, created on first use."""
        async with self._sessions.begin() as session:
            found = await session.scalar(
                select(OrganizationRow.id).where(OrganizationRow.slug == slug)
            )
            if found is not None:
                return found
            org_id = new_id(IdPrefix.ORGANIZATION)
            session.add(OrganizationRow(id=org_id, slug=slug, created_at=self._now_s()))
            return org_id

    async def ensure_project(self, organization_id: str, name: str) -> str:
        """The id of the project ``name`` in the organization, created on first use."""
        async with self._sessions.begin() as session:
            found = await session.scalar(
                select(ProjectRow.id).where(
                    ProjectRow.organization_id == organization_id, ProjectRow.name == name
                )
            )
            if found is not None:
                return found
            project_id = new_id(IdPrefix.PROJECT)
            session.add(
                ProjectRow(
                    id=project_id,
                    organization_id=organization_id,
                    name=name,
                    created_at=self._now_s(),
                )
            )
            return project_id

    async def add_key(self, project_id: str, issued: IssuedKey) -> ApiKeyRecord:
        """Store an issued key's hash for a project."""
        row = ApiKeyRow(
            id=new_id(IdPrefix.API_KEY),
            project_id=project_id,
            key_hash=issued.key_hash,
            display_prefix=issued.display_prefix,
            created_at=self._now_s(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _key_record(row)

    async def list_keys(self, project_id: str) -> list[ApiKeyRecord]:
        """A project's keys, oldest first."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(ApiKeyRow)
                .where(ApiKeyRow.project_id == project_id)
                .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
            )
            return [_key_record(row) for row in rows]

    async def revoke_key(self, key_id_or_prefix: str) -> ApiKeyRecord | None:
        """Revoke a key by id or display prefix; None when no live key matches."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(ApiKeyRow).where(
                    (ApiKeyRow.id == key_id_or_prefix)
                    | (ApiKeyRow.display_prefix == key_id_or_prefix)
                )
            )
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = self._now_s()
            return _key_record(row)

    async def authenticate(self, plaintext: str, last_used_resolution_s: int) -> Caller | None:
        """The caller a live key identifies, or None. Touches ``last_used_at`` at most so often."""
        return await self.authenticate_hash(hash_key(plaintext), last_used_resolution_s)

    async def authenticate_hash(
        self, presented_hash: str, last_used_resolution_s: int
    ) -> Caller | None:
        """``authenticate`` for a key already hashed with ``hash_key``."""
        async with self._sessions.read() as connection:
            result = await connection.execute(_KEY_BY_HASH, {"key_hash": presented_hash})
            key = result.first()
        if key is None:
            return None
        # The index lookup already matched; the constant-time compare keeps the check honest
        # should the lookup ever become a prefix or range scan.
        if key.revoked_at is not None or not hmac.compare_digest(key.key_hash, presented_hash):
            return None
        now_s = self._now_s()
        if key.last_used_at is None or now_s - key.last_used_at >= last_used_resolution_s:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(ApiKeyRow).where(ApiKeyRow.id == key.id).values(last_used_at=now_s)
                )
        return Caller(
            project_id=key.project_id,
            organization_id=key.organization_id,
            organization_slug=key.slug,
            api_key_id=key.id,
        )

    async def system_caller(self, project_id: str) -> Caller | None:
        """A caller acting for ``project_id`` without a key (workers acting on a job's behalf)."""
        async with self._sessions.read() as connection:
            found = (
                await connection.execute(
                    select(ProjectRow.organization_id, OrganizationRow.slug)
                    .join(OrganizationRow, OrganizationRow.id == ProjectRow.organization_id)
                    .where(ProjectRow.id == project_id)
                )
            ).first()
            if found is None:
                return None
            return Caller(
                project_id=project_id,
                organization_id=found[0],
                organization_slug=found[1],
                api_key_id=SYSTEM_KEY_ID,
            )

    def _now_s(self) -> int:
        return to_seconds(self._clock.now_us())


def _key_record(row: ApiKeyRow | Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        project_id=row.project_id,
        display_prefix=row.display_prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
