from billecta_sync.db.models import (
    Base,
    DeadLetter,
    IdempotencyKey,
    InboxStatus,
    JobRun,
    LimeMirror,
    MonitorBatch,
    MonitorLog,
    MonitorStatus,
    OutboundIntent,
    ReplayAudit,
    WebhookInbox,
    utcnow,
)
from billecta_sync.db.session import Database, upgrade

__all__ = [
    "Base",
    "Database",
    "DeadLetter",
    "IdempotencyKey",
    "InboxStatus",
    "JobRun",
    "LimeMirror",
    "MonitorBatch",
    "MonitorLog",
    "MonitorStatus",
    "OutboundIntent",
    "ReplayAudit",
    "WebhookInbox",
    "upgrade",
    "utcnow",
]
