"""In-memory state of the Billecta sandbox, one module per domain, none of them aware of HTTP.

Layers, each importing only the ones above it:

* ``core``: the ``Store`` (one lock, the webhook emitter, the domains' parts), errors, clock, ids, helpers;
  ``pricing``: invoice arithmetic.
* ``records``: the generic keyed-record table; ``masterdata``: creditors, debtors, products.
* ``invoice``: one invoice, its read models and capability flags; ``invoices``: the invoice rules; ``credits``:
  credit invoices; ``controls``: pause, dispute and postpone; ``pdf`` and ``files``: the invoice PDF and files.
* ``ledger``: money of attested invoices; ``payments``, ``reminders``, ``debtcollection``, ``autogiro``;
  ``money``: what a client does with money (registered payments, payment means, matching, Swish).

The names below were imported from the single ``state`` module this package replaces.
"""

from sandbox.billecta.state.core import BillectaError, luhn_check_digit, luhn_valid
from sandbox.billecta.state.pricing import price_records

__all__ = ["BillectaError", "luhn_check_digit", "luhn_valid", "price_records"]
