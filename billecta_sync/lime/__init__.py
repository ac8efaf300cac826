"""Lime CRM REST API: client, typed errors, query-filter builders and value normalisation."""

from billecta_sync.lime.client import LimeClient, OnLimeRequest
from billecta_sync.lime.errors import (
    LimeApiError,
    LimeBadRequest,
    LimeConnectionError,
    LimeNotFound,
    LimeRateLimited,
    LimeServerError,
    retryable,
)
from billecta_sync.lime.query import and_, begins_with, contains, eq, ge, gt, in_, le, lt, ne, or_, validate_filter
from billecta_sync.lime.values import TEXT_PROPERTY_TYPES, blank_text_nulls, option_key, relation_id, to_decimal

__all__ = [
    "TEXT_PROPERTY_TYPES",
    "LimeApiError",
    "LimeBadRequest",
    "LimeClient",
    "LimeConnectionError",
    "LimeNotFound",
    "LimeRateLimited",
    "LimeServerError",
    "OnLimeRequest",
    "and_",
    "begins_with",
    "blank_text_nulls",
    "contains",
    "eq",
    "ge",
    "gt",
    "in_",
    "le",
    "lt",
    "ne",
    "option_key",
    "or_",
    "relation_id",
    "retryable",
    "to_decimal",
    "validate_filter",
]
