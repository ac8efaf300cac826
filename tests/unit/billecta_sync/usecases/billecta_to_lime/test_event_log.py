"""Billecta's event log of an invoice or debt collection case, as the Lime command shows it."""

from __future__ import annotations

from billecta_sync.usecases.billecta_to_lime.event_log import format_events


def test_event_log_is_newest_first_with_plain_timestamps() -> None:
    events = [
        {"EventDate": "2026-11-20T10:30:00.100+01:00", "Title": "Invoice created", "EventType": "Created"},
        {"EventDate": "2026-11-21T08:00:00.900+01:00", "Title": "Payment", "Content": "40.00 SEK"},
        {"EventDate": "2026-11-21T08:00:00.200+01:00", "Title": "Sent"},
        "not an event",
    ]
    assert format_events(events) == [
        {"eventdate": "2026-11-21 08:00:00", "eventtype": "", "title": "Payment", "content": "40.00 SEK"},
        {"eventdate": "2026-11-21 08:00:00", "eventtype": "", "title": "Sent", "content": ""},
        {"eventdate": "2026-11-20 10:30:00", "eventtype": "Created", "title": "Invoice created", "content": ""},
    ]
