"""Dependency aliases for routes: settings and the sessionmaker (not a session: routes commit
before triggering Prefect, so they own their transactions)."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings


def _sessions(request: Request) -> sessionmaker[Session]:
    maker: sessionmaker[Session] = request.app.state.sessions
    return maker


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
