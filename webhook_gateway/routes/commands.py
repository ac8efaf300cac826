"""The Lime commands, mounted from the one route table (``billecta_sync.commands``), and batch status.

Two generic views serve every entry: a batch command stores a monitor batch and publishes its start, an
interactive command publishes its job and waits briefly for the answer. Neither calls Billecta: the gateway
holds no Billecta credentials, the workers do the work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync import catalogue, monitor
from billecta_sync.commands import (
    ALL_INTERACTIVE_COMMANDS,
    BATCH_COMMANDS,
    FILTER_FIELD,
    MAX_TITLE,
    TITLE_FIELD,
    BatchCommand,
    InteractiveCommand,
)
from billecta_sync.errors import InvalidRequest
from billecta_sync.lime.query import FilterError, FilterLimits, validate_filter
from billecta_sync.lime.schema import data_model
from billecta_sync.queueing import TaskFailed, publish_job
from webhook_gateway import idempotency
from webhook_gateway.auth import require_scope
from webhook_gateway.body import json_object_body
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.limits import MAX_ROW_ID
from webhook_gateway.openapi import DB_UNAVAILABLE, Doc, QueryParam, documented, ref
from webhook_gateway.validation import check

log = logging.getLogger("webhook_gateway.commands")
bp = Blueprint("commands", __name__)


def parse_command_body(body: Mapping[str, Any], command: BatchCommand) -> tuple[str, Any]:
    """The batch title and query filter, or a 400 naming the faulty field."""
    if command.body_schema is not None:
        check(body, command.body_schema)
    else:
        unknown = sorted(set(body) - {TITLE_FIELD, FILTER_FIELD})
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", error="invalid_body", field=unknown[0])
    title = body.get(TITLE_FIELD, command.default_title)
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, f"{TITLE_FIELD} must be a non-empty string", error="invalid_body", field=TITLE_FIELD)
    if len(title) > MAX_TITLE:
        raise ApiError(400, f"{TITLE_FIELD} must be at most {MAX_TITLE} characters", error="invalid_body",
                       field=TITLE_FIELD)
    if command.selects is not None:
        return title.strip(), command.selects(body)
    if FILTER_FIELD not in body:
        raise ApiError(400, f"{FILTER_FIELD} is required", error="invalid_body", field=FILTER_FIELD)
    query_filter = body[FILTER_FIELD]
    # Checked against the property types the mappings give (Lime is not asked on the request path), so a
    # filter Lime would refuse is a 400 now instead of a batch that fails in the worker.
    mappings = gateway().settings.mappings
    try:
        validate_filter(query_filter, FILTER_FIELD, model=data_model(mappings),
                        limetype=mappings[command.limetype].limetype, limits=FilterLimits())
    except FilterError as exc:
        raise ApiError(400, str(exc), error="invalid_query_filter", field=FILTER_FIELD, where=exc.where) from None
    return title.strip(), query_filter


def _queued(batch_id: int) -> tuple[Response, int]:
    return jsonify(integration_monitor_batch_id=batch_id, status="queued"), 202


def launch_batch(command: BatchCommand, title: str, query_filter: Any) -> tuple[Response, int]:
    """Store the batch, publish its start and wait briefly for the answer."""
    gw = gateway()
    try:
        batch_id = monitor.create_batch(gw.db, title, command.operation, query_filter,
                                        params=command.batch_params())
    except SQLAlchemyError as exc:
        log.warning("could not create a %s batch (%s)", command.operation, type(exc).__name__)
        raise ApiError(503, "the batch could not be stored; retry later", error="unavailable") from None

    wait_s = 0.0 if command.answers_task else gw.settings.gateway.command_wait_s
    try:
        task_id = publish_job(gw.publisher, catalogue.START_BATCH, batch_id, want_result=wait_s > 0)
    except Exception as exc:  # any broker failure: the batch row is durable and the sweeper starts it
        log.warning("could not queue batch %s (%s); the sweeper will start it", batch_id, type(exc).__name__)
        task_id = ""
        if not command.answers_task:
            return _queued(batch_id)
    if command.answers_task:
        return jsonify(task_id=task_id, status="success", integration_monitor_batch_id=batch_id), 200
    if wait_s <= 0:
        return _queued(batch_id)
    try:
        result = gw.publisher.wait(task_id, wait_s)
    except TaskFailed as exc:
        raise ApiError(502, f"the batch could not be started: {exc}", error="start_failed",
                       integration_monitor_batch_id=batch_id) from None
    if result is None:
        return _queued(batch_id)
    if isinstance(result, Mapping) and result.get("error"):
        raise ApiError(502, f"the batch could not be started: {result['error']}", error="start_failed",
                       integration_monitor_batch_id=batch_id)
    total = int(result.get("total", 0)) if isinstance(result, Mapping) else 0
    return jsonify(integration_monitor_batch_id=batch_id, status="running", total=total), 200


def _batch_view(command: BatchCommand) -> Callable[[], tuple[Response, int]]:
    # Some Lime buttons post nothing at all; for a command whose body is optional that means {}.
    optional = command.body_schema is not None and not command.body_schema.get("required")

    def view() -> tuple[Response, int]:
        limit = gateway().settings.gateway.max_body_bytes
        body = json_object_body(limit) if request.content_length or not optional else {}
        title, query_filter = parse_command_body(body, command)
        return launch_batch(command, title, query_filter)

    view.__name__ = f"command_{command.operation}"
    doc = Doc(command.summary, "commands",
              description=f"Creates an integration monitor batch (operation {command.operation}, limetype "
                          f"{command.limetype}) and starts it. Default title: {command.default_title!r}.",
              request_schema=command.body_schema or ref("BatchCommand"), responses=dict(command.responses),
              body_required=not optional)
    return documented(doc)(require_scope(command.scope)(view))


def _answer(command: InteractiveCommand, status: int, message: str, error: str) -> ApiError:
    extra = {command.seed_error_key: message} if command.seed_error_key else {}
    return ApiError(status, message, error=error, **extra)


def _interactive_view(command: InteractiveCommand) -> Callable[..., Any]:
    def view(**path_args: Any) -> Any:
        gw = gateway()
        if command.path_schema:
            for name, schema in command.path_schema.items():
                if not fits(path_args.get(name), schema):
                    raise _answer(command, 400, command.path_error or f"{name} is malformed", "invalid_request")
        body: dict[str, Any] = {}
        try:
            if command.body_schema is not None:
                body = json_object_body(gw.settings.gateway.max_body_bytes)
                check(body, command.body_schema)
            query = {name: request.args[name] for name in command.query_schema if name in request.args}
            if command.query_schema:
                check(query, {"type": "object", "properties": dict(command.query_schema),
                              "required": [n for n, s in command.query_schema.items() if s.get("required_param")]})
            values: Mapping[str, Any] = {**body, **query, **path_args}
            if command.prepare is not None:
                try:
                    values = command.prepare(values)
                except InvalidRequest as exc:
                    raise ApiError(400, str(exc), error="invalid_body", field=exc.field or "") from None
            explicit_key = _explicit_key()
        except ApiError as exc:
            if command.seed_error_key and exc.status == 400:  # the seed's Lime commands read error_message
                exc.extra[command.seed_error_key] = exc.message
            raise
        if not command.exactly_once:
            return _run(command, values, explicit_key or uuid.uuid4().hex)
        scope = command.path
        digest = idempotency.body_digest(values)
        key = explicit_key or f"auto:{digest}"
        claimed = idempotency.claim(gw.db, scope, key, digest, window=None if explicit_key else idempotency.AUTO_WINDOW)
        if claimed.state == "conflict":
            raise _answer(command, 409, f"{idempotency.HEADER} {key!r} was used with another body",
                          "idempotency_key_reused")
        if claimed.state == "replay":
            response = _response(command, claimed.answer_status, claimed.answer_body)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        if claimed.state == "running":  # the first of these requests is still at work: wait on it, start nothing
            if not claimed.task_id:
                raise _answer(command, 409, "the same request is being processed; try again shortly", "in_progress")
            return _finish(command, claimed.task_id, lambda status, answer: _remember(gw.db, scope, key, status,
                                                                                     answer))
        try:
            return _run(command, values, key, remember=lambda status, answer: _remember(gw.db, scope, key, status,
                                                                                       answer),
                        on_task=lambda task_id: idempotency.set_task(gw.db, scope, key, task_id))
        except ApiError as exc:
            if exc.status >= 500:  # not a final answer: a retry of this request must be able to run
                idempotency.release(gw.db, scope, key)
            raise

    view.__name__ = f"command_{command.job.name.rsplit('.', 1)[-1]}"
    query = tuple(QueryParam(name, {k: v for k, v in schema.items() if k != "required_param"},
                             required=bool(schema.get("required_param")))
                  for name, schema in command.query_schema.items())
    doc = Doc(command.summary, "commands", description=command.description, request_schema=command.body_schema,
              path_schemas=dict(command.path_schema), query=query, responses=dict(command.responses))
    return documented(doc)(require_scope(*command.scopes)(view))


Remember = Callable[[int, Any], None]


def _remember(db: Any, scope: str, key: str, status: int, answer: Any) -> None:
    if status < 500:  # success and refusals are final; a failure that may pass is not
        idempotency.finish(db, scope, key, status, answer)
    else:
        idempotency.release(db, scope, key)


def _run(command: InteractiveCommand, values: Mapping[str, Any], request_key: str, *,
         remember: Remember | None = None, on_task: Callable[[str], None] | None = None) -> Any:
    gw = gateway()
    args = command.job_args({**values, "_request_key": request_key})
    try:
        task_id = publish_job(gw.publisher, command.job, *args, want_result=True)
    except Exception as exc:  # nothing stored: the user can press again
        log.warning("could not queue %s (%s)", command.job.name, type(exc).__name__)
        raise ApiError(503, "the request could not be queued; retry later", error="unavailable") from None
    if on_task is not None:
        on_task(task_id)
    return _finish(command, task_id, remember)


def _finish(command: InteractiveCommand, task_id: str, remember: Remember | None) -> Any:
    gw = gateway()
    try:
        result = gw.publisher.wait(task_id, max(gw.settings.gateway.command_wait_s, command.min_wait_s))
    except TaskFailed as exc:
        if remember is not None:
            remember(502, None)
        raise _answer(command, 502, f"the request failed: {exc}", "task_failed") from None
    if result is None:
        if command.timeout_status == 202:
            return jsonify(status="queued", task_id=task_id), 202
        raise _answer(command, command.timeout_status, "no answer in time; try again", "timeout")
    status, answer = command.answer(result)
    if remember is not None:
        remember(status, answer)
    return _response(command, status, answer)


def _response(command: InteractiveCommand, status: int, answer: Any) -> Response:
    if status >= 400:
        message = str((answer or {}).get("message") or "refused")
        raise ApiError(status, message, **{k: v for k, v in (answer or {}).items() if k != "message"})
    if answer is None:
        return Response(status=status)
    if isinstance(answer, str):
        return Response(answer, status=status, mimetype="text/plain")
    response = jsonify(answer)
    response.status_code = status
    return response


_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _explicit_key() -> str:
    """The caller's Idempotency-Key ("" when none was sent), checked."""
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        return ""
    if not 1 <= len(key) <= 200 or not set(key) <= _KEY_CHARS:
        raise ApiError(400, f"{idempotency.HEADER} must be 1 to 200 letters, digits or -_.:", error="invalid_header",
                       field=idempotency.HEADER)
    return key


def fits(value: str | None, schema: Mapping[str, Any]) -> bool:
    """Whether a path argument fits its schema."""
    try:
        check({"value": value}, {"type": "object", "properties": {"value": schema}})
    except ApiError:
        return False
    return True


for _batch in BATCH_COMMANDS:
    bp.add_url_rule(_batch.path, endpoint=f"command_{_batch.operation}", view_func=_batch_view(_batch),
                    methods=["POST"])
for _command in ALL_INTERACTIVE_COMMANDS:
    _view = _interactive_view(_command)
    bp.add_url_rule(_command.path, endpoint=_view.__name__, view_func=_view, methods=[_command.method])


@bp.get("/commands/results/<string(length=36):task_id>")
@documented(Doc("The answer of a command that was still running when the gateway answered 202", "commands",
                description="pending (still running, or an id the result store does not know: answers are "
                            "kept 10 minutes), failed, or done with the job's answer.",
                path_schemas={"task_id": {"type": "string", "minLength": 36, "maxLength": 36}},
                responses={200: ("the command's state", ref("CommandResult")),
                           404: ("not a task id (36 characters)", ref("Error"))}))
@require_scope("commands", "operator")
def command_result(task_id: str) -> Response:
    try:
        value = gateway().publisher.wait(task_id, 0.2)
    except TaskFailed as exc:
        return jsonify(status="failed", message=str(exc))
    if value is None:
        return jsonify(status="pending")
    return jsonify(status="done", answer=value)


@bp.get(f"/monitor/batches/<int(min=1, max={MAX_ROW_ID}):batch_id>")
@documented(Doc("Status of an integration monitor batch", "commands",
                responses={200: ("the batch with its counts and logs", ref("BatchSummary")),
                           404: ("no such batch (or not a batch id)", ref("Error")), 503: DB_UNAVAILABLE}))
@require_scope("commands", "operator")
def batch_status(batch_id: int) -> Response:
    summary = monitor.batch_summary(gateway().db, batch_id)
    if summary is None:
        raise ApiError(404, f"no batch {batch_id}")
    return jsonify(summary)
