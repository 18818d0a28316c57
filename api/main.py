"""`create_app()`: the FastAPI application with its lifespan, routes and error handlers.

Run with `uvicorn --factory api.main:create_app`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.body_limit import BodyLimit
from api.errors import register_handlers
from api.metrics import install as install_metrics
from api.routes import health, jobs, lint_now, patch, projects, tasks, ui, violations
from core.logging import configure_logging
from core.settings import get_settings
from db.engine import make_engine, make_sessionmaker
from flows.prefect_tls import share_prefect_contexts
from linting.options import check_dialect
from linting.sandbox import isolation_method, policy_from_settings
from services.callbacks import callbacks_forever
from services.consul import ConsulKeeper
from services.lint_pool import LintPool
from services.reconcile import reconcile_forever

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    check_dialect(settings.SQLFLUFF_DIALECT)
    # Fails at start-up under LINT_NETWORK_ISOLATION=required, not on the first lint.
    isolation_method(policy_from_settings(settings))
    share_prefect_contexts()  # the reconciler's Prefect clients, one per round
    settings.NFS_SHARE_ROOT_PATH.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.DATABASE_URL)
    app.state.sessions = make_sessionmaker(engine)
    app.state.lint_pool = pool = LintPool(settings)
    background = [
        asyncio.create_task(reconcile_forever(settings, app.state.sessions)),
        asyncio.create_task(callbacks_forever(settings, app.state.sessions)),
        asyncio.create_task(asyncio.to_thread(pool.start)),
    ]
    keeper = ConsulKeeper(settings) if settings.CONSUL_HOST else None
    if keeper:
        background.append(asyncio.create_task(keeper.keep()))
    else:
        logger.info("CONSUL_HOST is not set: not registering in Consul")
    try:
        yield
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if keeper:
            await asyncio.to_thread(keeper.deregister)
        pool.close()
        engine.dispose()


def create_app() -> FastAPI:
    configure_logging(get_settings())
    app = FastAPI(
        title="sqlfluff-service",
        description="SQLFluff violations for SQL statements and ZIP archives.",
        lifespan=lifespan,
    )
    register_handlers(app)
    app.add_middleware(BodyLimit, limit=get_settings().UPLOAD_MAX_BYTES)
    install_metrics(app)
    for module in (jobs, violations, tasks, lint_now, health, projects, patch, ui):
        app.include_router(module.router)
    return app
