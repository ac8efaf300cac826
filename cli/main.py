"""The ``billecta-sync`` command."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from billecta_sync.settings import ENV_SETTINGS, ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@click.group()
def main() -> None:
    """Keeps Lime CRM and Billecta in sync."""


@main.command()
@click.option("--var-dir", default="var", show_default=True, type=click.Path(file_okay=False),
              help="Where the embedded stack keeps its databases, logs and Redis data.")
@click.option("--only", default="", help="Comma-separated subset of: billecta-sandbox, lime-sandbox, gateway, "
              "worker, beat, flower.")
@click.option("--redis-url", envvar="REDIS_URL", default="redis://127.0.0.1:6379/0", show_default=True,
              help="Redis to use; a private one is started when none answers here.")
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="Service database (default: SQLite file in --var-dir).")
@click.option("--pool", type=click.Choice(["threads", "prefork"]), default=None,
              help="Worker layout: 'threads' (webhooks, interactive, bulk and nightly jobs on a thread-pool worker; "
                   "reports on prefork) or 'prefork' (one prefork worker on every queue). Default: "
                   "STACK_WORKER_POOL, else threads.")
@click.option("--threads", default=16, show_default=True, help="Threads of the thread-pool worker.")
@click.option("--concurrency", default=2, show_default=True, help="Prefork worker processes.")
def run(var_dir: str, only: str, redis_url: str, database_url: str | None, pool: str | None, threads: int,
        concurrency: int) -> None:
    """Start the whole stack on the embedded default (sandboxes, gateway, worker, beat, Flower)."""
    from devstack.stack import ALL_SERVICES, Stack, StackConfig, default_worker_pool

    services = tuple(s.strip() for s in only.split(",") if s.strip()) or ALL_SERVICES
    unknown = sorted(set(services) - set(ALL_SERVICES))
    if unknown:
        raise click.ClickException(f"unknown services {unknown}; choose from {', '.join(ALL_SERVICES)}")
    stack = Stack(StackConfig(var_dir=Path(var_dir), services=services, redis_url=redis_url,
                              database_url=database_url, worker_pool=pool or default_worker_pool(),
                              worker_threads=threads, worker_concurrency=concurrency))
    try:
        stack.start()
    except (RuntimeError, OSError) as exc:
        stack.stop()
        raise click.ClickException(str(exc)) from None
    click.echo("Press Ctrl+C to stop. Try `make demo` in another terminal.")
    sys.exit(stack.supervise())


@main.group()
def db() -> None:
    """The service database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (DATABASE_URL)."""
    from billecta_sync.db import upgrade
    from billecta_sync.db.session import current_revision

    url = _settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@main.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.option("--offline", is_flag=True, help="Only read the settings; contact nothing.")
def config_check(offline: bool) -> None:
    """Read the settings strictly and check that Lime knows every mapped limetype and property."""
    settings = _settings()
    click.echo(f"settings read from {settings.source}")
    click.echo(f"  billecta  {settings.billecta.base_url}  (Authorization {settings.billecta.authentication})")
    click.echo(f"  lime      {settings.lime.base_url}")
    click.echo(f"  gateway   prefix {settings.gateway.prefix or '/'}; "
               + ", ".join(f"{s}: {len(settings.api_keys(s))} key(s)" for s in ("webhook", "commands", "operator")))
    click.echo(f"  database  {_without_password(settings.database_url)}")
    click.echo(f"  redis     {_without_password(settings.redis_url)}")
    from billecta_sync.reports.definitions import DEFINITIONS, check_definitions

    report_problems = check_definitions()
    if report_problems:
        for problem in report_problems:
            click.echo(f"  ✗ {problem}", err=True)
        raise click.ClickException(f"{len(report_problems)} problem(s) in the report definitions")
    click.echo(f"  reports   {len(DEFINITIONS)} report creator definitions: {', '.join(sorted(DEFINITIONS))}")
    if offline:
        return
    from billecta_sync.lime import LimeClient
    from billecta_sync.lime.errors import LimeApiError, LimeNotFound

    lime = LimeClient(settings.lime)
    problems: list[str] = []
    for logical, mapping in settings.mappings.by_logical.items():
        try:
            limetype = lime.limetype(mapping.limetype)
        except LimeNotFound:
            problems.append(f"limetype {mapping.limetype!r} (mapping for {logical}) does not exist in Lime")
            continue
        except LimeApiError as exc:
            raise click.ClickException(f"cannot read Lime's limetypes: {exc}") from None
        known = {p.get("name") for p in (limetype.get("_embedded") or {}).get("properties", [])}
        for logical_prop, prop in mapping.properties.items():
            if prop not in known:
                problems.append(f"{mapping.limetype}.{prop} (mapping for {logical}.{logical_prop}) does not exist")
    if problems:
        for problem in problems:
            click.echo(f"  ✗ {problem}", err=True)
        raise click.ClickException(f"{len(problems)} mapped properties are missing in Lime")
    click.echo("  ✓ every mapped limetype and property exists in Lime")


def _without_password(url: str) -> str:
    """The URL with any password replaced, fit for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@config.command("env")
def config_env() -> None:
    """List every environment variable the service reads."""
    for name, path, text in ENV_SETTINGS:
        click.echo(f"{name:<30} {path:<32} {text}")


@main.command()
@click.option("--gateway-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--billecta-url", default="http://127.0.0.1:8100/v1", show_default=True)
@click.option("--lime-url", default="http://127.0.0.1:8200/lime/api/v1/", show_default=True)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for each step.")
def demo(gateway_url: str, billecta_url: str, lime_url: str, timeout: float) -> None:
    """Run the order → invoice → webhook flow against a running stack (see `make run`)."""
    from devstack.demo import DemoFailed, DemoTarget, run_demo

    try:
        run_demo(DemoTarget(gateway_url=gateway_url, billecta_url=billecta_url, lime_url=lime_url),
                 timeout_s=timeout)
    except DemoFailed as exc:
        raise click.ClickException(str(exc)) from None


@main.group("lime")
def lime_group() -> None:
    """Lime CRM set-up."""


@lime_group.command("subscribe")
@click.option("--target-url", required=True,
              help="Public URL of the gateway's lime-webhook-receiver, e.g. https://sync.example.com"
                   "/limepkg-billecta-integration/lime-webhook-receiver")
def lime_subscribe(target_url: str) -> None:
    """Subscribe the gateway to the Lime events the change-driven sync needs (safe to run again)."""
    from billecta_sync.inbound.lime_subscriptions import ensure_subscriptions
    from billecta_sync.lime import LimeClient

    settings = _settings()
    if settings.lime.webhook_secret is None:
        raise click.ClickException("LIME_WEBHOOK_SECRET must be set: Lime signs deliveries with it")
    with LimeClient(settings.lime) as client:
        report = ensure_subscriptions(client, settings.mappings, target_url, settings.lime.webhook_secret.get())
    click.echo(json.dumps(report, indent=2))


@main.group("inbox")
def inbox_group() -> None:
    """The webhook inbox."""


@inbox_group.command("stats")
def inbox_stats() -> None:
    """Count inbox rows by status."""
    from billecta_sync import inbox
    from billecta_sync.db import Database

    click.echo(json.dumps(inbox.counts_by_status(Database(_settings().database_url)), indent=2))


@inbox_group.command("replay")
@click.option("--id", "ids", multiple=True, type=int, help="Inbox row id (repeatable).")
@click.option("--status", default=None, help="Every row with this status, e.g. dead or failed.")
@click.option("--since", default=None, help="Received at or after (ISO date-time, UTC).")
@click.option("--until", default=None, help="Received before (ISO date-time, UTC).")
@click.option("--dry-run", is_flag=True, help="Only list what would be replayed.")
def inbox_replay(ids: tuple[int, ...], status: str | None, since: str | None, until: str | None,
                 dry_run: bool) -> None:
    """Process stored webhooks again (idempotent: replaying a processed row changes nothing twice)."""
    from billecta_sync.db import Database
    from billecta_sync.inbound import delivery
    from taskqueue import CeleryTaskQueue, make_celery

    settings = _settings()
    database = Database(settings.database_url)
    try:
        selected = delivery.select_for_replay(
            database, ids=ids, status=status,
            since=datetime.fromisoformat(since) if since else None,
            until=datetime.fromisoformat(until) if until else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        click.echo(f"would replay {len(selected)} rows: {selected[:50]}")
        return
    queue = CeleryTaskQueue(make_celery(settings))
    result = delivery.Replayed()
    with click.progressbar(length=len(selected), label="replaying") as bar:
        for start in range(0, len(selected), 500):
            chunk = selected[start:start + 500]
            done = delivery.replay(database, queue, chunk)
            result.replayed += done.replayed
            result.skipped += done.skipped
            result.unpublished += done.unpublished
            bar.update(len(chunk))
    click.echo(f"replayed {len(result.replayed)} rows ({len(result.skipped)} skipped: being processed; "
               f"{len(result.unpublished)} left for the sweeper: broker unreachable)")


@main.group()
def backfill() -> None:
    """One-off jobs that fill fields added to the data model for objects already in Lime."""


@backfill.command("invoices")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the batch until it ends.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to follow it at most.")
def backfill_invoices(wait: bool, timeout: float) -> None:
    """Read every Lime invoice that exists in Billecta again (sent date, paid date, balance, order status).

    One monitor batch with a task per invoice on the bulk queue, like any batch command; safe to run again.
    """
    import time

    from billecta_sync import catalogue, monitor
    from billecta_sync.db import Database
    from billecta_sync.queueing import publish_job
    from taskqueue import CeleryTaskQueue, make_celery

    settings = _settings()
    database = Database(settings.database_url)
    operation = catalogue.OPERATIONS["refresh_invoices_from_billecta"]
    batch_id = monitor.create_batch(database, "Backfill invoices from Billecta", operation.name,
                                    {"key": "actionpublicid", "op": "!", "exp": ""},
                                    params={"limetype": operation.limetype})
    try:
        publish_job(CeleryTaskQueue(make_celery(settings)), catalogue.START_BATCH, batch_id)
    except Exception as exc:  # the batch row is durable: the sweeper starts it
        click.echo(f"could not queue the batch now ({type(exc).__name__}); the sweeper will start it", err=True)
    click.echo(f"integration monitor batch {batch_id}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    with click.progressbar(length=1, label="invoices") as bar:
        done = 0
        while time.monotonic() < deadline:
            summary = monitor.batch_summary(database, batch_id) or {}
            total = int(summary.get("total") or 0)
            counts = summary.get("counts") or {}
            finished = int(counts.get("ok", 0)) + int(counts.get("error", 0))
            if total and bar.length != total:
                bar.length = total
            bar.update(finished - done)
            done = finished
            if summary.get("status") not in (None, "running"):
                break
            time.sleep(1.0)
    summary = monitor.batch_summary(database, batch_id) or {}
    counts = summary.get("counts") or {}
    click.echo(f"batch {batch_id}: {summary.get('status')} — {counts.get('ok', 0)} ok, {counts.get('error', 0)} "
               f"errors of {summary.get('total', 0)}")


ROUTES_DOC_HEADER = (
    "# Billecta API routes used by billecta-sync\n\n"
    "Generated from `billecta_sync/billecta/routes.py` (the one route table) by `billecta-sync docs routes`; "
    "a test keeps this file equal to the table. **verified**: method and path seen in public sources; "
    "**partly**: the operation or its view model is known but the path is not; **unverified**: nothing "
    "public — check on Billecta's test environment before relying on it. Paths are relative to the "
    "configured base URL (`.../v1`).\n\n"
)


def routes_document() -> str:
    from billecta_sync.billecta import routes_markdown

    return ROUTES_DOC_HEADER + routes_markdown()


@main.group()
def docs() -> None:
    """Documents generated from the code."""


@docs.command("routes")
@click.option("--write", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
def docs_routes(write: str | None) -> None:
    """The Billecta route table, with each path's verification status, as Markdown."""
    text = routes_document()
    if write:
        Path(write).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)



@docs.command("endpoints")
@click.option("--write", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
def docs_endpoints(write: str | None) -> None:
    """The gateway's endpoints as a Markdown table (docs/endpoints.md)."""
    from webhook_gateway.endpoints_doc import endpoints_markdown

    text = endpoints_markdown()
    if write:
        Path(write).write_text(text, encoding="utf-8")
        click.echo(f"wrote {write}")
    else:
        click.echo(text, nl=False)



@main.group()
def report() -> None:
    """Financial reports, run here (not on the reports queue) and stored as Lime documents."""


class _Bar:
    """A click progress bar for a ``reports.model.Progress`` whose total is known only once data arrives."""

    def __init__(self, label: str) -> None:
        self.label, self.bar, self.stage = label, None, ""

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or self.bar.length != total:
            self.close()
            self.bar = click.progressbar(length=max(total, 1), label=self.label, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@report.command("accounts-receivable")
@click.option("--creditor", "creditor_id", type=int, required=True, help="The Lime creditor id.")
@click.option("--date", "report_date", required=True, help="The report date, YYYY-MM-DD.")
@click.option("--format", "file_format", type=click.Choice(["xlsx", "pdf"]), default="xlsx", show_default=True)
@click.option("--exclude-invoices-with-period-outside-date", "exclude", is_flag=True)
@click.option("--period-specific", is_flag=True)
def report_accounts_receivable(creditor_id: int, report_date: str, file_format: str, exclude: bool,
                               period_specific: bool) -> None:
    """Accounts receivable with aging at a date; prints the Lime document id."""
    from billecta_sync.container import build_services
    from billecta_sync.errors import PermanentError
    from billecta_sync.reports import accounts_receivable, store
    from billecta_sync.reports.common import creditor, parse_date

    services = build_services(_settings())
    gather, render = _Bar("reading invoices"), _Bar("writing the file")
    try:
        at = parse_date(report_date, "date")
        who = creditor(services, creditor_id)
        built = accounts_receivable.build(services, who, at, exclude_outside_period=exclude,
                                          is_period_specific=period_specific, progress=gather)
        gather.close()
        stored = store.store(services, built, file_format, who.id, f"date {at.isoformat()}, {file_format}",
                             progress=render)
        render.close()
    except PermanentError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        gather.close()
        render.close()
        services.close()
    rows = len(built.tables[-1].rows)
    click.echo(f"stored {stored['filename']} ({stored['size']} bytes, {rows} open invoices) as Lime document "
               f"{stored['iddocument']}")


if __name__ == "__main__":
    main()
