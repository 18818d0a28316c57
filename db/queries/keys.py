"""Queries on `api_keys`: only SHA-256 hashes of keys are stored (see `services.keys`)."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import (
    ApiKey,
    utcnow,
)


def add_api_key(session: Session, key_id: str, key_hash: str, name: str, admin: bool) -> None:
    session.add(ApiKey(key_id=key_id, key_hash=key_hash, name=name, is_admin=admin))
    session.flush()


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def revoke_api_key(session: Session, key_id: str) -> bool:
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
