"""`sqlfluff-service-admin keys create|revoke|list`: operators manage API keys in the service's
database (DATABASE_URL from the environment or .env, as every process of the service reads it).
An operator's command on a service host, apart from the `sqlfluff-service` client."""

import argparse

from core.settings import load_settings_or_exit
from db import queries
from db.engine import make_engine, make_sessionmaker
from services.keys import hash_key, new_key


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = sub.add_parser("keys", help="create, revoke or list API keys (needs DATABASE_URL)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--admin", action="store_true", help="may read every job")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    actions.add_parser("list", help="list keys (ids, names, admin, revoked)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    engine = make_engine(settings.DATABASE_URL)
    sessions = make_sessionmaker(engine)
    try:
        if args.action == "create":
            key_id, key = new_key()
            with sessions.begin() as session:
                queries.keys.add_api_key(session, key_id, hash_key(key), args.name, args.admin)
            print(key)
            return 0
        if args.action == "revoke":
            with sessions.begin() as session:
                revoked = queries.keys.revoke_api_key(session, args.key_id)
            print(f"revoked {args.key_id}" if revoked else f"no active key {args.key_id}")
            return 0 if revoked else 1
        with sessions() as session:
            for key in queries.keys.list_api_keys(session):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                role = "admin" if key.is_admin else "user"
                print(f"{key.key_id}\t{key.name}\t{role}\t{state}")
        return 0
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sqlfluff-service-admin", description="Operate a sqlfluff-service installation."
    )
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
