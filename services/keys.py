"""API keys: their format and hashing, shared by the API's check (`api.auth`) and the operators'
command (`services.keys_admin`). A key is `sfs_<key_id>_<secret>`; only its SHA-256 is stored.
"""

import hashlib
import secrets

PREFIX = "sfs"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh (key_id, full key)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The public id inside a presented key, or None when it is not shaped like one."""
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None
