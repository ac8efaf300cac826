"""The console's pages. Reads go straight to the service tables; the one write, a replay, reuses
``billecta_sync.inbound.delivery`` (``select_for_replay`` for the dry run, ``replay`` after the confirmation).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from billecta_sync import catalogue, inbox, metrics, monitor
from billecta_sync.billecta.routes import unverified_routes
from billecta_sync.db import (
    DeadLetter,
    InboxStatus,
    JobRun,
    MonitorBatch,
    MonitorLog,
    MonitorStatus,
    ReplayAudit,
    WebhookInbox,
)
from billecta_sync.inbound import delivery
from taskqueue import PUBLISHED_AT_HEADER, broker_queue, is_amqp
from webhook_gateway.console import security
from webhook_gateway.context import gateway
from webhook_gateway.limits import MAX_ROW_ID
from webhook_gateway.openapi import Doc, documented

log = logging.getLogger("webhook_gateway.console")
bp = Blueprint("console", __name__, template_folder="templates")

F = TypeVar("F", bound=Callable[..., Any])
PAGE_SIZE = 50
SOURCES = tuple(delivery.SOURCES)
BATCH_STATUSES = (MonitorStatus.RUNNING, MonitorStatus.OK, MonitorStatus.ERROR, MonitorStatus.DONE_WITH_ERROR)
INBOX_FILTERS = ("source", "status", "event_type", "object_key", "since", "until")
_TEXT_FILTER = re.compile(r"^[\w .:/@+-]{1,200}$")
_ROW_ID = f"int(min=1, max={MAX_ROW_ID})"


def page(summary: str) -> Callable[[F], F]:
    """Every console route's description; ``internal``: kept out of the OpenAPI document (HTML, for people)."""
    return documented(Doc(summary, "console", internal=True))


@bp.before_request
def _csrf() -> Response | None:
    # Every POST, the login form included, carries the session's token: a form on another site cannot
    # replay rows or sign someone in with the attacker's key.
    if request.method == "POST" and not security.csrf_ok():
        return Response("missing or wrong CSRF token; reload the form and try again\n", status=400,
                        mimetype="text/plain")
    return None


@bp.app_template_global()
def csrf_token() -> str:
    return security.csrf_token()


@bp.context_processor
def _globals() -> dict[str, Any]:
    return {"operator": security.current_operator(), "flower_url": gateway().settings.gateway.flower_url}


@bp.after_request
def _no_store(response: Response) -> Response:
    # Pages show webhook bodies and errors: no shared cache may keep them, and no other site may frame them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
    return response


# -- parsing of query arguments ---------------------------------------------------------------------------
def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 100_000 else 1


def _time(name: str, args: Any) -> datetime | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        flash(f"{name}: not a date-time ({raw[:40]!r}); ignored")
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)  # stored times are naive UTC
    return parsed


def _choice(name: str, allowed: tuple[str, ...], args: Any) -> str:
    value = (args.get(name) or "").strip()
    return value if value in allowed else ""


def _text(name: str, args: Any) -> str:
    value = (args.get(name) or "").strip()
    return value if _TEXT_FILTER.match(value) else ""


@dataclass(frozen=True)
class InboxFilter:
    source: str = ""
    status: str = ""
    event_type: str = ""
    object_key: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, args: Any) -> InboxFilter:
        return cls(source=_choice("source", SOURCES, args), status=_choice("status", InboxStatus.ALL, args),
                   event_type=_text("event_type", args), object_key=_text("object_key", args),
                   since=_time("since", args), until=_time("until", args))

    def conditions(self) -> list[Any]:
        found: list[Any] = []
        if self.source:
            found.append(WebhookInbox.source == self.source)
        if self.status:
            found.append(WebhookInbox.status == self.status)
        if self.event_type:
            found.append(WebhookInbox.event_type == self.event_type)
        if self.object_key:
            found.append(WebhookInbox.object_key == self.object_key)
        if self.since:
            found.append(WebhookInbox.received_at >= self.since)
        if self.until:
            found.append(WebhookInbox.received_at < self.until)
        return found

    def as_args(self) -> dict[str, str]:
        """The filter as form/query values (what the pages put into links and hidden fields)."""
        values = {"source": self.source, "status": self.status, "event_type": self.event_type,
                  "object_key": self.object_key,
                  "since": self.since.isoformat(timespec="minutes") if self.since else "",
                  "until": self.until.isoformat(timespec="minutes") if self.until else ""}
        return {k: v for k, v in values.items() if v}

    def describe(self) -> dict[str, str]:
        return self.as_args()


@dataclass
class Paged:
    items: list[Any]
    number: int
    has_next: bool

    def url(self, number: int) -> str:
        args = {k: v for k, v in request.args.items() if k != "page"}
        return url_for(request.endpoint or "console.index", **(request.view_args or {}), **args, page=number)


def _paged(session: Any, query: Any) -> Paged:
    number = _page_number()
    rows = list(session.scalars(query.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return Paged(rows[:PAGE_SIZE], number, len(rows) > PAGE_SIZE)


# -- sign in and out ----------------------------------------------------------------------------------------
@bp.get("/console/login")
@page("Operator console: the sign-in form")
def login() -> str:
    return render_template("console/login.html", next=security.safe_next(request.args.get("next")) or "")


@bp.post("/console/login")
@page("Operator console: sign in with an operator key")
def login_submit() -> Any:
    key = request.form.get("api_key", "").strip()
    found = security.check_operator_key(key) if key else None
    if found is None:
        # The key itself is never logged; its fingerprint would tell an attacker nothing either, but a
        # wrong key is noise, not an actor.
        reason = "missing_api_key" if not key else "invalid_api_key"
        metrics.AUTH_FAILURES.labels(scope="operator", reason=reason).inc()
        log.warning("console sign-in refused", extra={"reason": reason})
        return render_template("console/login.html", error="That is not an operator key.",
                               next=security.safe_next(request.form.get("next")) or ""), 401
    security.sign_in(found)
    log.info("console sign-in by operator key sha256:%s", found)
    return redirect(security.safe_next(request.form.get("next")) or url_for("console.index"))


@bp.post("/console/logout")
@page("Operator console: sign out")
def logout() -> Any:
    security.sign_out()
    flash("Signed out.")
    return redirect(url_for("console.login"))


@bp.get("/console/")
@page("Operator console: overview")
@security.login_required
def index() -> Any:
    return redirect(url_for("console.health"))


# -- batches ------------------------------------------------------------------------------------------------
@bp.get("/console/batches")
@page("Operator console: monitor batches")
@security.login_required
def batches() -> str:
    status = _choice("status", BATCH_STATUSES, request.args)
    operation = _text("operation", request.args)
    since, until = _time("since", request.args), _time("until", request.args)
    conditions = []
    if status:
        conditions.append(MonitorBatch.status == status)
    if operation:
        conditions.append(MonitorBatch.operation == operation)
    if since:
        conditions.append(MonitorBatch.created_at >= since)
    if until:
        conditions.append(MonitorBatch.created_at < until)
    with gateway().db.session() as session:
        paged = _paged(session, select(MonitorBatch).where(*conditions).order_by(MonitorBatch.id.desc()))
        operations = sorted(session.scalars(select(MonitorBatch.operation).distinct()))
        session.expunge_all()
    return render_template("console/batches.html", paged=paged, statuses=BATCH_STATUSES, operations=operations,
                           args=request.args)


@bp.get(f"/console/batches/<{_ROW_ID}:batch_id>")
@page("Operator console: one monitor batch with its per-object logs")
@security.login_required
def batch(batch_id: int) -> str:
    with gateway().db.session() as session:
        found = session.get(MonitorBatch, batch_id)
        if found is None:
            abort(404)
        counts = dict(session.execute(select(MonitorLog.status, func.count()).where(MonitorLog.batch_id == batch_id)
                                      .group_by(MonitorLog.status)).all())
        paged = _paged(session, select(MonitorLog).where(MonitorLog.batch_id == batch_id).order_by(MonitorLog.id))
        log_ids = [entry.id for entry in paged.items]
        dead = {d.monitor_log_id: d for d in session.scalars(
            select(DeadLetter).where(DeadLetter.monitor_log_id.in_(log_ids)))} if log_ids else {}
        session.expunge_all()
    lime = gateway().settings.lime.base_url
    return render_template("console/batch.html", batch=found, counts=counts, paged=paged, dead=dead,
                           lime_link=lambda limetype, object_id: f"{lime}limeobject/{limetype}/{object_id}/")


# -- inbox --------------------------------------------------------------------------------------------------
@bp.get("/console/inbox")
@page("Operator console: the webhook inbox")
@security.login_required
def inbox_list() -> str:
    selection = InboxFilter.from_args(request.args)
    with gateway().db.session() as session:
        paged = _paged(session, select(WebhookInbox).where(*selection.conditions()).order_by(WebhookInbox.id.desc()))
        session.expunge_all()
    return render_template("console/inbox.html", paged=paged, selection=selection, sources=SOURCES,
                           statuses=InboxStatus.ALL, cap=gateway().settings.gateway.console_replay_cap)


@bp.get(f"/console/inbox/<{_ROW_ID}:inbox_id>")
@page("Operator console: one inbox delivery")
@security.login_required
def inbox_row(inbox_id: int) -> str:
    gw = gateway()
    with gw.db.session() as session:
        row = session.get(WebhookInbox, inbox_id)
        if row is None:
            abort(404)
        dead = list(session.scalars(select(DeadLetter).where(DeadLetter.inbox_id == inbox_id)
                                    .order_by(DeadLetter.id.desc())))
        session.expunge_all()
    # Redacted when stored; again here for rows older code wrote.
    headers = inbox.redact_headers(row.headers or {}, extra_secret=[gw.settings.gateway.api_key_header])
    try:
        body = json.dumps(json.loads(row.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = row.body
    return render_template("console/inbox_row.html", row=row, headers=headers, body=body, dead=dead)


def _replay_selection(selection: InboxFilter, cap: int, up_to_id: int | None) -> tuple[list[int], bool]:
    """The ids a replay of ``selection`` takes (at most ``cap``), and whether more rows matched."""
    conditions = selection.conditions()
    if up_to_id is not None:
        # What the operator confirmed: rows that arrived after the dry run are not replayed unseen.
        conditions.append(WebhookInbox.id <= up_to_id)
    with gateway().db.session() as session:
        matching = list(session.scalars(select(WebhookInbox.id).where(*conditions).order_by(WebhookInbox.id)
                                        .limit(cap + 1)))
    if not matching:
        return [], False
    # The filter may hold more than select_for_replay knows (event type, object id): it is narrowed to
    # these ids, and select_for_replay stays the one place that says which rows a replay takes.
    chosen = delivery.select_for_replay(gateway().db, ids=matching[:cap], status=selection.status or None,
                                        since=selection.since, until=selection.until,
                                        source=selection.source or None, limit=cap)
    return chosen, len(matching) > cap


@bp.post("/console/inbox/replay")
@page("Operator console: replay the inbox rows of a filter (dry run, then confirmed)")
@security.login_required
def inbox_replay() -> Any:
    gw = gateway()
    selection = InboxFilter.from_args(request.form)
    if not selection.as_args():
        flash("Choose a filter first: a replay of the whole inbox is not offered.")
        return redirect(url_for("console.inbox_list"))
    cap = gw.settings.gateway.console_replay_cap
    raw_up_to = request.form.get("up_to_id", "")
    up_to_id = int(raw_up_to) if raw_up_to.isdigit() else None
    chosen, more = _replay_selection(selection, cap, up_to_id)
    if request.form.get("confirm") != "yes" or up_to_id is None:
        return render_template("console/replay_confirm.html", selection=selection, ids=chosen, more=more, cap=cap,
                               up_to_id=max(chosen) if chosen else 0)
    if not chosen:
        flash("Nothing to replay: no row matches the filter any more.")
        return redirect(url_for("console.inbox_list", **selection.as_args()))
    result = delivery.replay(gw.db, gw.publisher, chosen)
    with gw.db.session() as session:
        audit = ReplayAudit(actor=security.actor(),
                            selection={**selection.describe(), "cap": cap, "up_to_id": up_to_id},
                            replayed=len(result.replayed), inbox_ids=result.replayed)
        session.add(audit)
        session.flush()
        audit_id = audit.id
    log.info("console replay %s by %s: %s replayed, %s skipped, %s not published", audit_id, security.actor(),
             len(result.replayed), len(result.skipped), len(result.unpublished))
    flash(f"Replayed {len(result.replayed)} rows ({len(result.skipped)} skipped, {len(result.unpublished)} left "
          f"for the sweeper).")
    return redirect(url_for("console.audit", highlight=audit_id))


@bp.get("/console/audit")
@page("Operator console: replay audit")
@security.login_required
def audit() -> str:
    with gateway().db.session() as session:
        paged = _paged(session, select(ReplayAudit).order_by(ReplayAudit.id.desc()))
        session.expunge_all()
    highlight = request.args.get("highlight", "")
    return render_template("console/audit.html", paged=paged, highlight=int(highlight) if highlight.isdigit() else 0)


@bp.get("/console/dead-letters")
@page("Operator console: dead letters")
@security.login_required
def dead_letters() -> str:
    with gateway().db.session() as session:
        paged = _paged(session, select(DeadLetter).order_by(DeadLetter.id.desc()))
        session.expunge_all()
    return render_template("console/dead_letters.html", paged=paged)


@bp.get("/console/jobs")
@page("Operator console: nightly job runs")
@security.login_required
def jobs() -> str:
    with gateway().db.session() as session:
        paged = _paged(session, select(JobRun).order_by(JobRun.id.desc()))
        session.expunge_all()
    return render_template("console/jobs.html", paged=paged)


# -- health -------------------------------------------------------------------------------------------------
def queue_depths(redis_client: Any, namespace: str = "", amqp_url: str = "") -> list[dict[str, Any]]:
    """Waiting messages per Celery queue (by its broker name: ``BROKER_NAMESPACE`` prefixed), and on Redis the
    task at the head of each (Celery pushes left, pops right). On RabbitMQ (``amqp_url``) only the counts: a
    passive declare reads them without taking a message."""
    if amqp_url:
        return _amqp_queue_depths(amqp_url, namespace)
    depths = []
    for name in catalogue.QUEUES:
        entry: dict[str, Any] = {"queue": name, "waiting": None, "oldest": "", "waiting_s": None, "error": ""}
        try:
            key = broker_queue(name, namespace)
            entry["waiting"] = int(redis_client.llen(key))
            raw = redis_client.lindex(key, -1) if entry["waiting"] else None
            if raw:
                headers = json.loads(raw).get("headers", {})
                entry["oldest"] = f"{headers.get('task', '?')} {headers.get('id', '')}".strip()
                published = headers.get(PUBLISHED_AT_HEADER)
                if isinstance(published, int | float):
                    entry["waiting_s"] = max(0.0, time.time() - published)
        except Exception as exc:  # Redis down or an unexpected message: the page still shows the rest
            entry["error"] = type(exc).__name__
        depths.append(entry)
    return depths


def _amqp_queue_depths(url: str, namespace: str) -> list[dict[str, Any]]:
    from kombu import Connection

    depths = [{"queue": name, "waiting": None, "oldest": "", "waiting_s": None, "error": ""}
              for name in catalogue.QUEUES]
    try:
        with Connection(url, connect_timeout=2) as conn:
            for entry in depths:
                try:
                    channel = conn.channel()
                    try:
                        declared = channel.queue_declare(queue=broker_queue(entry["queue"], namespace), passive=True)
                        entry["waiting"] = int(declared.message_count)
                    finally:
                        channel.close()
                except Exception as exc:  # a queue no worker has declared yet
                    entry["error"] = type(exc).__name__
    except Exception as exc:  # RabbitMQ unreachable: the page still shows the rest
        for entry in depths:
            entry["error"] = entry["error"] or type(exc).__name__
    return depths


@bp.get("/console/health")
@page("Operator console: queues, inbox backlog and unverified Billecta routes")
@security.login_required
def health() -> str:
    gw = gateway()
    counts = {status: 0 for status in InboxStatus.ALL}
    counts.update(inbox.counts_by_status(gw.db))
    oldest_open, running = inbox.oldest_open(gw.db), monitor.running_batches(gw.db)
    broker = gw.settings.broker
    queues = queue_depths(gw.redis, gw.settings.broker_namespace, broker if is_amqp(broker) else "")
    return render_template("console/health.html", queues=queues, counts=counts,
                           oldest_open=oldest_open, running=running, routes=unverified_routes())
