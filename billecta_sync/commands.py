"""The Lime commands the gateway serves, declared once as data: the one route table.

Each entry names the catalogue job (or batch operation) it starts, its scope, its path, the JSON Schema of
its body (used both to validate requests and for the OpenAPI document) and its answers. The gateway
mounts one generic view per entry, so a new command is an entry here, its job in the catalogue and its
use-case — no Flask code. Paths and answer shapes are the seed package's, so Lime's existing commands
work against the gateway unchanged.

Two kinds:
* ``BatchCommand``: the body selects Lime objects (a query filter, or one id); the answer is a monitor
  batch, started while the caller waits briefly.
* ``InteractiveCommand``: one job on the interactive queue whose answer the caller waits for; ``answer``
  turns the job's return value into the HTTP status and body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from billecta_sync import catalogue, money
from billecta_sync.catalogue import BatchOperation, Job
from billecta_sync.errors import InvalidRequest
from billecta_sync.lime.schema import MAX_LIME_ID

TITLE_FIELD = "integration_monitor_batch_title"
FILTER_FIELD = "query_filter"
MAX_TITLE = 200
MAX_DESCRIPTION = 1000

# Documented answers: status -> (description, schema name in the OpenAPI components or an inline schema)
Responses = Mapping[int, tuple[str, Any]]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


BATCH_RESPONSES: Responses = MappingProxyType({
    200: ("started: one task per object is queued", _ref("BatchStarted")),
    202: ("stored and queued; not started within the wait, poll the batch", _ref("BatchQueued")),
    400: ("invalid body; field names the culprit", _ref("Error")),
    413: ("body too large", _ref("Error")),
    415: ("body is not JSON", _ref("Error")),
    502: ("the start task failed (e.g. Lime unreachable)", _ref("BatchStartFailed")),
    503: ("the batch could not be stored", _ref("Error")),
})


@dataclass(frozen=True)
class BatchCommand:
    path: str  # under the prefix
    operation: str  # a key of catalogue.OPERATIONS
    default_title: str
    summary: str
    scope: str = "commands"
    #: the body's schema; None: {integration_monitor_batch_title?, query_filter}
    body_schema: Mapping[str, Any] | None = None
    #: the query filter a body without one selects (given the validated body); None: the body's query_filter
    selects: Callable[[Mapping[str, Any]], Any] | None = None
    responses: Responses = field(default_factory=lambda: BATCH_RESPONSES)
    #: the seed answers at once with the start task's id ({task_id, status: "success", ...}) instead of the batch
    answers_task: bool = False

    @property
    def batch_operation(self) -> BatchOperation:
        return catalogue.OPERATIONS[self.operation]

    @property
    def limetype(self) -> str:
        return self.batch_operation.limetype

    def batch_params(self) -> dict[str, Any]:
        return {"limetype": self.limetype, **self.batch_operation.params}


@dataclass(frozen=True)
class InteractiveCommand:
    method: str
    path: str  # a Flask rule under the prefix; its <args> join the body's fields
    job: Job
    summary: str
    #: the job's positional arguments from the validated body and path arguments
    job_args: Callable[[Mapping[str, Any]], list[Any]]
    #: (status, body) from the job's answer; a body of None is an empty answer
    answer: Callable[[Any], tuple[int, Any]]
    responses: Responses
    description: str = ""
    scopes: tuple[str, ...] = ("commands",)
    body_schema: Mapping[str, Any] | None = None
    #: schemas of the path arguments, checked before anything is queued
    path_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: the message of a 400 for a path argument that does not fit (default: "<name> is malformed")
    path_error: str = ""
    #: seconds to wait at least for the answer (GATEWAY_COMMAND_WAIT_S when larger)
    min_wait_s: float = 1.0
    #: what a caller gets when no answer came in time: 202 with the task to look up, or 504
    timeout_status: int = 202
    #: the seed answers some errors with ``error_message`` beside our ``message``
    seed_error_key: str = ""
    #: schemas of query parameters (strings on the wire), checked like the body
    query_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: a pure check in the gateway of the validated values (e.g. kronor to exact öre); returns the values the
    #: job is given, raises InvalidRequest naming the field — before anything is queued
    prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    #: moves money or starts a process in Billecta: a repeated request (the same Idempotency-Key, or the same
    #: body within a few minutes) gets the first answer instead of a second run (webhook_gateway/idempotency.py)
    exactly_once: bool = False


# ---- batch commands (seed: Lime's "… in Billecta" commands)
BATCH_COMMANDS: tuple[BatchCommand, ...] = (
    BatchCommand("/task/upsert-attest-orders-in-billecta", "upsert_attest_orders",
                 "Upsert & attest orders in Billecta", "Create or update orders in Billecta and attest them"),
    BatchCommand("/task/upsert-orders-in-billecta", "upsert_orders", "Upsert orders in Billecta",
                 "Create or update orders in Billecta without attesting them"),
    BatchCommand("/task/attest-orders-in-billecta", "attest_orders", "Attest orders in Billecta",
                 "Attest orders already sent to Billecta (never twice)"),
    BatchCommand("/task/upsert-debtors-in-billecta", "upsert_debtors", "Upsert debtors in Billecta",
                 "Create or update debtors in Billecta, once per creditor relation"),
    BatchCommand("/task/anonymize-debtors-in-billecta", "anonymize_debtors", "Anonymize debtors in Billecta",
                 "Anonymise synced debtors in Billecta (GDPR; Billecta path unverified)"),
    BatchCommand("/task/upsert-articles-in-billecta", "upsert_articles", "Upsert articles in Billecta",
                 "Create or update articles as Billecta products, once per creditor relation"),
    BatchCommand("/task/delete-articles-in-billecta", "delete_articles", "Delete articles in Billecta",
                 "Delete articles' Billecta products (deactivated instead when used on invoices)"),
    BatchCommand("/task/credit-invoices-in-billecta", "credit_invoices", "Credit invoices in Billecta",
                 "Credit invoices in full in Billecta and link the credit invoice in Lime"),
    BatchCommand(
        "/task/update-creditor-in-billecta", "update_creditor", "Update creditor in Billecta",
        "Update one creditor and its default action config in Billecta",
        body_schema=MappingProxyType({
            "type": "object", "required": ["creditor_id"], "additionalProperties": False,
            "properties": {TITLE_FIELD: {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                           "creditor_id": {"type": "integer", "minimum": 1, "maximum": MAX_LIME_ID}}}),
        selects=lambda body: {"key": "_id", "op": "=", "exp": body["creditor_id"]}),
    BatchCommand(
        "/task/billecta-retrigger-failed-webhooks", "retrigger_failed_webhooks",
        "Retrigger failed Billecta webhooks",
        "Ask Billecta to resend its failed webhooks (one task per Lime creditor that exists in Billecta; "
        "Billecta path unverified)",
        # Lime's button posts {} (or nothing at all).
        body_schema=MappingProxyType({
            "type": "object", "additionalProperties": False,
            "properties": {TITLE_FIELD: {"type": "string", "minLength": 1, "maxLength": MAX_TITLE}}}),
        # Lime creditors that exist in Billecta ("!" is Lime's not-equal).
        selects=lambda body: {"key": "creditorpublicid", "op": "!", "exp": ""},
        answers_task=True,
        responses=MappingProxyType({
            200: ("stored and queued (the seed's answer)", _ref("BatchTaskQueued")),
            400: ("invalid body", _ref("Error")),
            413: ("body too large", _ref("Error")),
            415: ("body is not JSON", _ref("Error")),
            503: ("the batch could not be stored", _ref("Error"))})),
)


# ---- interactive commands
def _empty_on_success(result: Any) -> tuple[int, Any]:
    if isinstance(result, Mapping) and result.get("error"):
        return int(result.get("status") or 409), {"error": "refused", "message": str(result["error"])}
    return 200, None


def _event_log_answer(result: Any) -> tuple[int, Any]:
    status = int(result.get("status", 502)) if isinstance(result, Mapping) else 502
    if status == 200:
        return 200, result["events"]
    message = str((result or {}).get("error_message") or (result or {}).get("error") or "lookup failed")
    return status, {"error": "not_found" if status == 404 else "invalid_request", "message": message,
                    "error_message": message}


EVENT_LOG_LIMETYPES = ("invoice", "debtcollection")

INTERACTIVE_COMMANDS: tuple[InteractiveCommand, ...] = (
    InteractiveCommand(
        "POST", "/add-message-to-orderrow/", catalogue.ADD_MESSAGE_TO_ORDERROW,
        "Insert a message row right after an order row",
        description="Creates an order row of type message after the given row and renumbers the order's "
                    "rows. Waits for the worker; only orders not yet attested can change.",
        body_schema=MappingProxyType({
            "type": "object", "required": ["orderrow_id", "orderrow_description"], "additionalProperties": False,
            "properties": {"orderrow_id": {"type": "integer", "minimum": 1, "maximum": MAX_LIME_ID},
                           "orderrow_description": {"type": "string", "minLength": 1, "pattern": r"\S",
                                                    "maxLength": MAX_DESCRIPTION}}}),
        job_args=lambda a: [a["orderrow_id"], a["orderrow_description"]],
        answer=_empty_on_success,
        responses=MappingProxyType({
            200: ("the row was added (empty body)", None),
            202: ("queued; not done within the wait", _ref("CommandQueued")),
            400: ("invalid body", _ref("Error")),
            409: ("the row cannot get a message (missing row, order already attested...)", _ref("Error")),
            413: ("body too large", _ref("Error")),
            415: ("body is not JSON", _ref("Error")),
            502: ("the task failed", _ref("Error")),
            503: ("the task could not be queued", _ref("Error"))}),
    ),
    InteractiveCommand(
        "GET", "/billecta/event-log/<limetype>/<object_id>", catalogue.EVENT_LOG,
        "Billecta's event log of an invoice or debt collection case",
        description="Newest first; eventdate as 'YYYY-MM-DD HH:MM:SS'.",
        scopes=("commands", "operator"),
        path_schema=MappingProxyType({
            "limetype": {"type": "string", "enum": list(EVENT_LOG_LIMETYPES)},
            "object_id": {"type": "string", "pattern": "^[0-9]{1,18}$"}}),
        job_args=lambda a: [a["limetype"], int(a["object_id"])],
        answer=_event_log_answer,
        # one Lime read and one Billecta read; longer than a batch start
        min_wait_s=10.0, timeout_status=504, seed_error_key="error_message", path_error="Invalid limetype or ID",
        responses=MappingProxyType({
            200: ("the events", {"type": "array", "items": {"type": "object"}}),
            400: ("unknown limetype or bad id", _ref("SeedError")),
            404: ("object missing or without Billecta id", _ref("SeedError")),
            502: ("the lookup failed", _ref("SeedError")),
            503: ("the lookup could not be queued", _ref("Error")),
            504: ("no answer in time", _ref("SeedError"))}),
    ),
)


# ---- collection controls (seed: Invoice and Debt Collection endpoints)
def seed_answer(success: Callable[[Any], tuple[int, Any]]) -> Callable[[Any], tuple[int, Any]]:
    """The seed's answers: a refusal as ``{"error_message"}`` with its status beside our error code."""

    def answer(result: Any) -> tuple[int, Any]:
        if isinstance(result, Mapping) and result.get("error"):
            message = str(result["error"])
            body = {"error": str(result.get("code") or "refused"), "message": message, "error_message": message}
            if result.get("field"):
                body["field"] = str(result["field"])
            return int(result.get("status") or 409), body
        return success(result)

    return answer


_EMPTY = seed_answer(lambda result: (200, None))
_EMPTY_OBJECT = seed_answer(lambda result: (200, {}))
_NEXT_EVENT = seed_answer(lambda result: (200, {"next_event_date": result.get("next_event_date")}))
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_LIME_ID}
_DELIVERY = {"type": "string", "enum": ["email", "mail", "manually", "sms", "einvoice", "kivra"]}
_POSTPONE_DAYS = {"type": "integer", "minimum": 1, "maximum": 365}


def _object_body(*required: str, **properties: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({"type": "object", "required": list(required), "additionalProperties": False,
                             "properties": properties})


def _action_responses(success: str, success_schema: Any = None) -> Responses:
    return MappingProxyType({
        200: (success, success_schema),
        202: ("queued; not done within the wait — look the answer up with its task id", _ref("CommandQueued")),
        400: ("invalid body; field names the culprit", _ref("SeedError")),
        404: ("the Lime object is missing or has no Billecta id", _ref("SeedError")),
        409: ("Billecta does not allow it now (its capability flag) or refused it", _ref("SeedError")),
        502: ("the action failed (Billecta unreachable after retries...)", _ref("SeedError")),
        503: ("the request could not be queued", _ref("Error")),
    })


def _invoice_action(method: str, path: str, job: Job, summary: str, description: str) -> InteractiveCommand:
    return InteractiveCommand(
        method, path, job, summary, description=description,
        body_schema=_object_body("invoice_id", invoice_id=_ID),
        job_args=lambda a: [a["invoice_id"]], answer=_EMPTY, seed_error_key="error_message", min_wait_s=10.0,
        responses=_action_responses("done (empty body); also when the invoice already was in that state"))


def _case_action(path: str, job: Job, summary: str, **extra: Mapping[str, Any]) -> InteractiveCommand:
    return InteractiveCommand(
        "PUT", path, job, summary,
        body_schema=_object_body("debtcollection_id", *extra, debtcollection_id=_ID, **extra),
        job_args=lambda a: [a["debtcollection_id"], *(a[name] for name in extra)], answer=_EMPTY,
        seed_error_key="error_message", min_wait_s=10.0,
        responses=_action_responses("done (empty body); also when the case already was at that stage"))


_NEXT_EVENT_RESPONSES = MappingProxyType({
    200: ("the next event's date, or null when none is scheduled",
          {"type": "object", "required": ["next_event_date"],
           "properties": {"next_event_date": {"type": ["string", "null"], "format": "date"}}}),
    202: ("no answer within the wait", _ref("CommandQueued")),
    404: ("the Lime object is missing or has no Billecta id", _ref("SeedError")),
    502: ("the lookup failed", _ref("SeedError")),
    503: ("the request could not be queued", _ref("Error")),
})
_ID_IN_PATH = f"int(min=1, max={MAX_LIME_ID})"

COLLECTION_COMMANDS: tuple[InteractiveCommand, ...] = (
    _invoice_action("PUT", "/billecta/dispute-invoice", catalogue.DISPUTE_INVOICE, "Dispute an invoice in Billecta",
                    "Stops Billecta's automatic events while the debtor contests the invoice (CanDispute)."),
    _invoice_action("PUT", "/billecta/cancel-disputed-invoice", catalogue.CANCEL_INVOICE_DISPUTE,
                    "Cancel an invoice's dispute", "Resumes Billecta's automatic events (CanUnDispute)."),
    _invoice_action("PUT", "/billecta/pause-invoice", catalogue.PAUSE_INVOICE, "Pause an invoice in Billecta",
                    "No reminders or escalation while paused (CanPause)."),
    _invoice_action("PUT", "/billecta/resume-paused-invoice", catalogue.RESUME_INVOICE, "Resume a paused invoice",
                    "Normal collection again (CanResume)."),
    _invoice_action("PUT", "/billecta/update-invoice-from-billecta", catalogue.UPDATE_INVOICE_FROM_BILLECTA,
                    "Update an invoice from Billecta",
                    "Reads the invoice, its payments, write-offs and credits from Billecta into Lime now."),
    InteractiveCommand(
        "GET", f"/billecta/get-invoice-next-event/<{_ID_IN_PATH}:invoice_id>", catalogue.INVOICE_NEXT_EVENT,
        "The date of an invoice's next event in Billecta", job_args=lambda a: [a["invoice_id"]],
        answer=_NEXT_EVENT, seed_error_key="error_message", min_wait_s=10.0, responses=_NEXT_EVENT_RESPONSES),
    InteractiveCommand(
        "PUT", "/billecta/invoice-postpone-next-event/", catalogue.POSTPONE_INVOICE,
        "Postpone an invoice's next event",
        description="Moves the next event postpone_days later (CanPostpone), once per request: send an "
                    "Idempotency-Key to make a retried request safe across gateway retries too.",
        body_schema=_object_body("invoice_id", "postpone_days", invoice_id=_ID, postpone_days=_POSTPONE_DAYS),
        job_args=lambda a: [a["invoice_id"], a["postpone_days"], a["_request_key"]], answer=_EMPTY_OBJECT,
        seed_error_key="error_message", min_wait_s=10.0,
        responses=_action_responses("postponed ({})", {"type": "object"})),
    InteractiveCommand(
        "POST", "/billecta/create-reminder-invoice", catalogue.CREATE_REMINDER_INVOICE,
        "Send a reminder invoice",
        description="A reminder with the fee and new payment terms (CanSendManualReminderInvoice). The same "
                    "terms for the same invoice within 10 minutes are the same click: answered, not sent again.",
        body_schema=_object_body(
            "invoice_action_public_id", "delivery_method", "reminder_fee", "currency_code", "payment_terms_in_days",
            invoice_action_public_id={"type": "string", "minLength": 1, "maxLength": 100,
                                      "pattern": r"^[A-Za-z0-9_-]+$"},
            delivery_method=_DELIVERY,
            # At most two decimals is checked exactly (Decimal) by the use-case; JSON Schema's multipleOf is float.
            reminder_fee={"type": "number", "minimum": 0, "maximum": 1_000_000},
            currency_code={"type": "string", "pattern": "^[A-Z]{3}$"},
            payment_terms_in_days={"type": "integer", "minimum": 1, "maximum": 365}),
        job_args=lambda a: [a["invoice_action_public_id"], a["delivery_method"], a["reminder_fee"],
                            a["currency_code"], a["payment_terms_in_days"]],
        answer=_EMPTY_OBJECT, seed_error_key="error_message", min_wait_s=10.0,
        responses=_action_responses("sent ({})", {"type": "object"})),
    InteractiveCommand(
        "POST", "/billecta/send-to-debt-collection", catalogue.SEND_TO_DEBT_COLLECTION,
        "Send an invoice to debt collection",
        description="One debt-collection case per invoice (CanSendToDebtCollection); refused when the invoice "
                    "already has one. The case appears in Lime.",
        body_schema=_object_body(
            "invoice_id", "delivery_method", invoice_id=_ID, delivery_method=_DELIVERY,
            our_reference={"type": "string", "maxLength": 100},
            reason_description={"type": "string", "maxLength": 1000},
            reason_for_higher_interest={"type": "string", "maxLength": 1000}),
        job_args=lambda a: [a["invoice_id"], a["delivery_method"], a.get("our_reference", ""),
                            a.get("reason_description", ""), a.get("reason_for_higher_interest", "")],
        answer=_EMPTY, seed_error_key="error_message", min_wait_s=15.0,
        responses=_action_responses("the case was created (empty body)")),
    InteractiveCommand(
        "GET", f"/fetch-invoice-pdf/<{_ID_IN_PATH}:invoice_id>/", catalogue.FETCH_INVOICE_PDF,
        "An invoice's PDF from Billecta, base64-encoded",
        description="The PDF named by the invoice's Invoices[].InvoiceFile, read through Billecta's files API; "
                    "the body is the base64 text of the PDF.",
        job_args=lambda a: [a["invoice_id"]], answer=seed_answer(lambda result: (200, str(result["pdf"]))),
        seed_error_key="error_message", min_wait_s=15.0,
        responses=MappingProxyType({**_action_responses("the PDF, base64-encoded (text/plain)"),
                                    200: ("the PDF, base64-encoded", None)})),
    InteractiveCommand(
        "POST", "/fetch-and-save-invoice-pdf/", catalogue.SAVE_INVOICE_PDF,
        "Store an invoice's PDF on the Lime invoice",
        description="Uploads the PDF through Lime's file API and sets the invoice's invoice_pdf.",
        body_schema=_object_body("invoice_id", invoice_id=_ID), job_args=lambda a: [a["invoice_id"]],
        answer=seed_answer(lambda result: (200, {"file_id": result["file_id"], "filename": result["filename"]})),
        seed_error_key="error_message", min_wait_s=15.0,
        responses=_action_responses("stored", {"type": "object", "properties": {
            "file_id": {"type": "integer"}, "filename": {"type": "string"}}})),
    InteractiveCommand(
        "GET", f"/billecta/get-debtcollection-next-event/<{_ID_IN_PATH}:debtcollection_id>",
        catalogue.DEBTCOLLECTION_NEXT_EVENT, "The date of a debt-collection case's next event",
        job_args=lambda a: [a["debtcollection_id"]], answer=_NEXT_EVENT, seed_error_key="error_message",
        min_wait_s=10.0, responses=_NEXT_EVENT_RESPONSES),
    InteractiveCommand(
        "PUT", "/billecta/postpone-debtcollection-next-event/", catalogue.POSTPONE_DEBTCOLLECTION,
        "Postpone a debt-collection case's next event",
        body_schema=_object_body("debtcollection_id", "postpone_days", debtcollection_id=_ID,
                                 postpone_days=_POSTPONE_DAYS),
        job_args=lambda a: [a["debtcollection_id"], a["postpone_days"], a["_request_key"]], answer=_EMPTY,
        seed_error_key="error_message", min_wait_s=10.0,
        responses=_action_responses("postponed (empty body)")),
    _case_action("/billecta/cancel-debtcollection", catalogue.CANCEL_DEBTCOLLECTION, "Cancel a debt-collection case"),
    _case_action("/billecta/send-to-long-term-surveillance", catalogue.SEND_TO_LONG_TERM_SURVEILLANCE,
                 "Move a debt-collection case to long-term surveillance"),
    _case_action("/billecta/send-to-bailiff", catalogue.SEND_TO_BAILIFF,
                 "Send a debt-collection case to the bailiff (Kronofogden)",
                 bailiff_option={"type": "string", "enum": ["bailiff", "assistance-with-bailiff"]}),
)


# ---- money operations (seed: Payment and Swish endpoints); exactly once, amounts in exact öre
def _money_answer(success: Callable[[Any], tuple[int, Any]]) -> Callable[[Any], tuple[int, Any]]:
    """The seed's money answers carry ``status_code`` in the body too, errors with ``error_message``."""
    seed = seed_answer(success)

    def answer(result: Any) -> tuple[int, Any]:
        status, body = seed(result)
        if status >= 400 and isinstance(body, dict):
            body = {**body, "status_code": status}
        return status, body

    return answer


def _prepare_payment(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**values,
            "payment_amount": money.to_minor_units(values["payment_amount"], "payment_amount"),
            "payment_currencycode": money.currency_code(values["payment_currencycode"], "payment_currencycode"),
            "payment_date": money.iso_date(values["payment_date"], "payment_date").isoformat()}


def _prepare_writeoff(values: Mapping[str, Any]) -> Mapping[str, Any]:
    vat = str(values.get("vat", "0")).strip().rstrip("%")
    if vat not in ("0", "6", "12", "25"):
        raise InvalidRequest("vat must be a Swedish VAT rate: 0, 6, 12 or 25", "vat")
    return {**values, "amount": money.to_minor_units(values["amount"], "amount"), "vat": int(vat),
            "paymentdate": money.iso_date(values["paymentdate"], "paymentdate").isoformat()}


def _prepare_delete(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**values, "transactiondate": money.iso_date(values["transactiondate"], "transactiondate").isoformat()}


def _prepare_swish(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**values, "phone": money.swedish_mobile(values.get("phone"), "phone")}


_MEAN = {"type": "string", "minLength": 1, "maxLength": 20, "pattern": r"^[A-Za-z0-9_-]+$"}
_AMOUNT = {"type": ["number", "string"], "description": "kronor with at most two decimals, e.g. 1250.50"}
_DAY = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
_BILLECTA_ID = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[A-Za-z0-9_-]+$"}


def _money_responses(success: str, schema: Any) -> Responses:
    return MappingProxyType({**_action_responses(success, schema),
                             409: ("Billecta does not allow it now, refused it, or the Idempotency-Key was used "
                                   "with another body", _ref("SeedError"))})


_STATUS_200 = {"type": "object", "required": ["status_code"], "properties": {"status_code": {"const": 200}}}

MONEY_COMMANDS: tuple[InteractiveCommand, ...] = (
    InteractiveCommand(
        "POST", "/billecta/register-manual-payment", catalogue.REGISTER_MANUAL_PAYMENT,
        "Register a manual payment on an invoice",
        description="A payment made outside Billecta, booked once (Idempotency-Key honoured; the same body "
                    "within 10 minutes is the same click). The invoice and its payment reach Lime through "
                    "Billecta's own webhooks.",
        body_schema=_object_body("invoice_id", "payment_amount", "payment_currencycode", "payment_date",
                                 "payment_mean_code", invoice_id=_ID, payment_amount=_AMOUNT,
                                 payment_currencycode={"type": "string"}, payment_date=_DAY, payment_mean_code=_MEAN),
        prepare=_prepare_payment, exactly_once=True,
        job_args=lambda a: [a["invoice_id"], a["payment_amount"], a["payment_currencycode"], a["payment_date"],
                            a["payment_mean_code"], a["_request_key"]],
        answer=_money_answer(lambda result: (200, {"status_code": 200})), seed_error_key="error_message",
        min_wait_s=15.0, responses=_money_responses("booked", _STATUS_200)),
    InteractiveCommand(
        "POST", "/billecta/register-writeoff-payment", catalogue.REGISTER_WRITEOFF,
        "Write off an amount on an invoice",
        body_schema=_object_body("invoiceid", "amount", "paymentdate", invoiceid=_ID, amount=_AMOUNT,
                                 vat={"type": ["string", "integer"]}, paymentdate=_DAY,
                                 comment={"type": "string", "maxLength": 500}),
        prepare=_prepare_writeoff, exactly_once=True,
        job_args=lambda a: [a["invoiceid"], a["amount"], a["vat"], a["paymentdate"], a.get("comment", ""),
                            a["_request_key"]],
        answer=_money_answer(lambda result: (200, {"status_code": 200})), seed_error_key="error_message",
        min_wait_s=15.0, responses=_money_responses("written off", _STATUS_200)),
    InteractiveCommand(
        "POST", "/billecta/use-credit-on-invoice", catalogue.USE_CREDIT_ON_INVOICE,
        "Use a credit invoice's credit on another invoice",
        body_schema=_object_body("creditinvoiceid", "invoicetocreditid", "paymentmeancode", creditinvoiceid=_ID,
                                 invoicetocreditid=_ID, paymentmeancode=_MEAN),
        exactly_once=True,
        job_args=lambda a: [a["creditinvoiceid"], a["invoicetocreditid"], a["paymentmeancode"], a["_request_key"]],
        answer=_money_answer(lambda result: (200, None)), seed_error_key="error_message", min_wait_s=15.0,
        responses=_money_responses("used (empty body)", None)),
    InteractiveCommand(
        "POST", "/billecta/match-payment/", catalogue.MATCH_PAYMENT, "Book an unhandled payment on an invoice",
        body_schema=_object_body("payment_billecta_id", "invoice_id", payment_billecta_id=_BILLECTA_ID,
                                 invoice_id=_ID),
        exactly_once=True,
        job_args=lambda a: [a["payment_billecta_id"], a["invoice_id"], a["_request_key"]],
        answer=_money_answer(lambda result: (200, {"status_code": 200, "status": "The match was successful"})),
        seed_error_key="error_message", min_wait_s=15.0,
        responses=_money_responses("matched", {"type": "object", "properties": {
            "status_code": {"const": 200}, "status": {"type": "string"}}})),
    InteractiveCommand(
        "POST", "/billecta/delete-unhandled-payment/", catalogue.DELETE_UNHANDLED_PAYMENT,
        "Remove an unhandled payment in Billecta",
        body_schema=_object_body("_id", "bookkeepingaccount", "transactiondate", _id=_ID,
                                 bookkeepingaccount={"type": "string", "pattern": "^[0-9]{4}$"}, transactiondate=_DAY),
        prepare=_prepare_delete, exactly_once=True,
        job_args=lambda a: [a["_id"], a["bookkeepingaccount"], a["transactiondate"], a["_request_key"]],
        answer=_money_answer(lambda result: (200, {"status_code": 200})), seed_error_key="error_message",
        min_wait_s=15.0, responses=_money_responses("removed", _STATUS_200)),
    InteractiveCommand(
        "POST", "/billecta/swish-request/<actionpublicid>", catalogue.CREATE_SWISH_REQUEST,
        "Send a Swish payment request for an invoice",
        description="Billecta asks the debtor's phone to pay the invoice; once per request (a lost answer is "
                    "not sent again, as it would ring the debtor twice).",
        path_schema=MappingProxyType({"actionpublicid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,100}$"}}),
        query_schema=MappingProxyType({
            "phone": {"type": "string", "maxLength": 20, "required_param": True},
            "message": {"type": "string", "minLength": 1, "maxLength": 50, "required_param": True}}),
        prepare=_prepare_swish, exactly_once=True,
        job_args=lambda a: [a["actionpublicid"], a["phone"], a["message"], a["_request_key"]],
        answer=_money_answer(lambda result: (201, {"requestid": result["requestid"]})),
        seed_error_key="error_message", min_wait_s=15.0,
        responses=MappingProxyType({**_money_responses("requested", None),
                                    201: ("requested", {"type": "object", "required": ["requestid"],
                                                        "properties": {"requestid": {"type": "string"}}})})),
    InteractiveCommand(
        "GET", "/billecta/swish-request/status/<requestid>", catalogue.SWISH_STATUS,
        "The status of a Swish payment request",
        path_schema=MappingProxyType({"requestid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,100}$"}}),
        job_args=lambda a: [a["requestid"]],
        answer=seed_answer(lambda result: (200, dict(result))), seed_error_key="error_message", min_wait_s=10.0,
        responses=MappingProxyType({
            200: ("CREATED, PAID, DECLINED, ERROR...", {"type": "object", "required": ["requeststatus"],
                                                      "properties": {"requeststatus": {"type": "string"}}}),
            202: ("no answer within the wait", _ref("CommandQueued")),
            400: ("not a request id", _ref("SeedError")),
            404: ("no such Swish request", _ref("SeedError")),
            502: ("the lookup failed", _ref("SeedError")),
            503: ("the request could not be queued", _ref("Error"))})),
)

# The one table the gateway mounts.
ALL_INTERACTIVE_COMMANDS: tuple[InteractiveCommand, ...] = INTERACTIVE_COMMANDS + COLLECTION_COMMANDS + MONEY_COMMANDS


# ---- financial reports (seed: Report Endpoints); each answers the Lime document holding the file
_DATE = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_FILE_FORMAT = {"type": "string", "enum": ["xlsx", "pdf"]}
_REPORT_ANSWER = seed_answer(lambda result: (200, {"iddocument": int(result["iddocument"])}))
_REPORT_RESPONSES: Responses = MappingProxyType({
    200: ("the report is stored as a Lime document", {
        "type": "object", "required": ["iddocument"], "properties": {"iddocument": {"type": "integer"}}}),
    202: ("queued; not done within the wait — look the answer up with its task id", _ref("CommandQueued")),
    400: ("invalid parameters (a bad date, from after to, unknown file format or configuration); field names "
          "the culprit; nothing is created", _ref("SeedError")),
    404: ("the creditor is missing or has no Billecta id", _ref("SeedError")),
    502: ("the report failed (Billecta or Lime unreachable...)", _ref("SeedError")),
    503: ("the request could not be queued", _ref("Error")),
})


def _report_command(path: str, job: Job, summary: str, description: str, body: Mapping[str, Any],
                    job_args: Callable[[Mapping[str, Any]], list[Any]]) -> InteractiveCommand:
    return InteractiveCommand("POST", path, job, summary, description=description, body_schema=body,
                              job_args=job_args, answer=_REPORT_ANSWER, responses=_REPORT_RESPONSES,
                              seed_error_key="error_message", min_wait_s=30.0)


REPORT_COMMANDS: tuple[InteractiveCommand, ...] = (
    _report_command(
        "/billecta/account-receivables-report", catalogue.ACCOUNT_RECEIVABLES_REPORT,
        "Accounts receivable (kundreskontra) report with aging",
        "Every open invoice at the date (Billecta's AR age analysis) with debtor, dates, invoiced and remaining "
        "amounts, days overdue, and the aging summary; stored as a Lime document linked to the creditor.",
        _object_body("idcreditor", "date", idcreditor=_ID, date=_DATE,
                     exclude_invoices_with_period_outside_date={"type": "boolean"},
                     is_period_specific={"type": "boolean"}, file_format=_FILE_FORMAT),
        lambda a: [a["idcreditor"], a["date"], a.get("exclude_invoices_with_period_outside_date", False),
                   a.get("is_period_specific", False), a.get("file_format", "xlsx")]),
    _report_command(
        "/billecta/account-reconciliation-report", catalogue.ACCOUNT_RECONCILIATION_REPORT,
        "Account reconciliation report, Lime against Billecta",
        "Opening balance, invoiced, paid, credited, written off and closing balance for the period, and the "
        "discrepancies: invoices in one system only, amount and status differences, payments not in Lime.",
        _object_body("idcreditor", "from_date", "to_date", "account", "date_selection_type", idcreditor=_ID,
                     from_date=_DATE, to_date=_DATE, account={"type": "string", "minLength": 1, "maxLength": 50},
                     date_selection_type={"type": "string", "enum": ["invoice_date", "payment_date"]},
                     # Decimal-exact: a number is read through its text, a string of digits is accepted too.
                     opening_balance={"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]{1,2})?$"},
                     file_format=_FILE_FORMAT),
        lambda a: [a["idcreditor"], a["from_date"], a["to_date"], a["account"], a["date_selection_type"],
                   a.get("opening_balance", 0), a.get("file_format", "xlsx")]),
    _report_command(
        "/billecta/prepaid-payments-report", catalogue.PREPAID_PAYMENTS_REPORT,
        "Prepaid payments report (overpayments and advance payments)",
        "Billecta's unhandled payments of the creditor paid on or before the date, per debtor.",
        _object_body("idcreditor", "date", idcreditor=_ID, date=_DATE, file_format=_FILE_FORMAT),
        lambda a: [a["idcreditor"], a["date"], a.get("file_format", "xlsx")]),
    _report_command(
        "/billecta/report-creator", catalogue.REPORT_CREATOR, "A configured report",
        "A report of billecta_sync.reports.definitions (config_key) about one Lime object.",
        _object_body("config_key", "limetype", "idlimeobject",
                     config_key={"type": "string", "minLength": 1, "maxLength": 100},
                     limetype={"type": "string", "minLength": 1, "maxLength": 100}, idlimeobject=_ID,
                     file_format=_FILE_FORMAT, date_from=_DATE, date_to=_DATE),
        lambda a: [a["config_key"], a["limetype"], a["idlimeobject"], a.get("file_format", "xlsx"),
                   a.get("date_from"), a.get("date_to")]),
)
ALL_INTERACTIVE_COMMANDS = ALL_INTERACTIVE_COMMANDS + REPORT_COMMANDS
