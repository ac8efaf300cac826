from billecta_sync.db.models import (
    Base,
    DeadLetter,
    InboxStatus,
    JobRun,
    MonitorBatch,
    MonitorLog,
    MonitorStatus,
    OutboundIntent,
    WebhookInbox,
    utcnow,
)
from billecta_sync.db.session import Database, upgrade

__all__ = [
    "Base",
    "Database",
    "DeadLetter",
    "InboxStatus",
    "JobRun",
    "MonitorBatch",
    "MonitorLog",
    "MonitorStatus",
    "OutboundIntent",
    "WebhookInbox",
    "upgrade",
    "utcnow",
]
