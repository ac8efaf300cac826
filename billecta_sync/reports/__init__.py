"""Financial reports: accounts receivable (aging), account reconciliation Lime ↔ Billecta, prepaid payments
and the configured reports of ``definitions``. Each report module gathers its data into a ``model.Report``
(amounts in minor units, ints); ``render_xlsx`` / ``render_pdf`` format it; ``store`` keeps the file as a Lime
``document`` linked to the creditor. No Flask, no Celery: the jobs in ``catalogue`` call the use-cases here.
"""
