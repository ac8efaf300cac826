"""The outcome of one object across its creditor relations, as its monitor log shows it."""

from __future__ import annotations

import pytest

from billecta_sync.errors import PermanentError
from billecta_sync.usecases.lime_to_billecta.relations import Outcome


def test_outcome_is_an_error_when_any_relation_failed() -> None:
    ok = Outcome("Debtor 1", done=["creditor 2 → debtor x"])
    assert ok.message() == "Debtor 1: creditor 2 → debtor x"
    mixed = Outcome("Debtor 1", done=["creditor 2 → debtor x"], errors=["creditor 3: gone"])
    with pytest.raises(PermanentError, match="creditor 2 → debtor x; creditor 3: gone"):
        mixed.message()
