"""`salescopilot worker` and `salescopilot scheduler` (scale-out mode: tasks.broker=redis)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from salescopilot.settings import Settings, get_settings

EMBEDDED_HINT = (
    "tasks.broker is 'inmemory': tasks and periodic tasks run inside the web process. "
    "Set SALESCOPILOT_TASKS__BROKER=redis and SALESCOPILOT_REDIS__URL to run {what}."
)


@click.command()
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes to run.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="Tasks each process runs at once (keep it near the database pool size).",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds a stopping worker waits for running tasks; unfinished ones are "
    "redelivered to another worker.",
)
@click.argument("modules", nargs=-1)
def worker(
    workers: int, concurrency: int, shutdown_timeout: float, modules: tuple[str, ...]
) -> None:
    """Run background workers for the Redis task queue.

    Every domain's tasks module and every plugin's tasks are loaded; MODULES names extra task
    modules to import. Stop with SIGTERM or Ctrl-C: running tasks get --shutdown-timeout seconds.
    """
    from taskiq.acks import AcknowledgeType
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    from salescopilot.tasks.worker import load_all_tasks

    settings = _scale_out_settings("workers")
    _configure_logging(settings)
    tasks = _load_tasks(load_all_tasks, modules)
    asyncio.run(_preflight(settings, database=True))
    click.echo(
        f"salescopilot worker: {workers} process(es) x {concurrency} tasks, "
        f"queue {settings.tasks.queue!r}, {len(tasks)} tasks: {', '.join(sorted(tasks)) or '-'}",
        err=True,
    )
    args = WorkerArgs(
        # A factory, so each worker process loads the tasks and builds its own broker.
        broker="salescopilot.tasks.worker:worker_broker",
        modules=list(modules),
        workers=workers,
        max_async_tasks=concurrency,
        wait_tasks_timeout=shutdown_timeout,
        shutdown_timeout=max(5.0, shutdown_timeout),
        ack_type=AcknowledgeType.WHEN_SAVED,
        log_level=settings.log_level.upper(),
        configure_logging=False,  # done above: the app's structured logs
    )
    status = run_worker(args)
    sys.exit(status or 0)


@click.command()
@click.argument("modules", nargs=-1)
def scheduler(modules: tuple[str, ...]) -> None:
    """Run the one scheduler that enqueues periodic tasks; refuses to start while another runs.

    Loads the same tasks as `salescopilot worker`; MODULES names extra task modules to import.
    """
    from salescopilot.tasks.worker import load_all_tasks

    settings = _scale_out_settings("the scheduler")
    _configure_logging(settings)
    _load_tasks(load_all_tasks, modules)
    asyncio.run(_preflight(settings, database=False))
    sys.exit(asyncio.run(_run_scheduler_process(settings)))


async def _run_scheduler_process(settings: Settings) -> int:
    from salescopilot.tasks.broker import get_broker
    from salescopilot.tasks.scheduler import (
        SchedulerAlreadyRunning,
        run_scheduler,
        scheduler_lock,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = get_broker()
    broker.is_scheduler_process = True
    await broker.startup()
    try:
        await run_scheduler(broker, scheduler_lock(settings), stop=stop)
    except SchedulerAlreadyRunning as error:
        click.echo(f"salescopilot scheduler: {error}; not starting a second one.", err=True)
        return 1
    except RuntimeError as error:
        click.echo(f"salescopilot scheduler: {error}", err=True)
        return 1
    finally:
        await broker.shutdown()
    return 0


def _configure_logging(settings: Settings) -> None:
    """The same structured logs as the web process (JSON lines, secrets masked)."""
    from salescopilot.web.logging import configure_logging

    configure_logging(settings)


def _scale_out_settings(what: str) -> Settings:
    settings = get_settings()
    if settings.tasks.broker != "redis":
        raise click.ClickException(EMBEDDED_HINT.format(what=what))
    return settings


def _load_tasks(load_all_tasks, modules: tuple[str, ...]) -> dict:
    try:
        return load_all_tasks(extra_modules=modules)
    except Exception as error:
        raise click.ClickException(f"cannot load tasks: {type(error).__name__}: {error}") from error


async def _preflight(settings: Settings, *, database: bool) -> None:
    """Fail at start-up, with a clear message, when Redis or the database cannot be used,
    rather than in a loop of crashing worker processes."""
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.url)
    try:
        await redis.ping()
    except Exception as error:
        raise click.ClickException(f"Redis is not reachable: {type(error).__name__}") from error
    finally:
        await redis.aclose()
    if not database:
        return
    from salescopilot.db.engine import start_database, stop_database
    from salescopilot.tenancy.tables import Tenant

    try:
        await start_database(settings)
        await Tenant.count()
    except Exception as error:
        raise click.ClickException(
            f"the database is not reachable or not migrated (run `salescopilot db migrate`): "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        await stop_database()
