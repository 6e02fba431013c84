"""Community tests run against the accounts suite's live sites (SQLite and PostgreSQL).

Each test module keeps its own helpers; the servers, the SMTP sink and the
account helpers are shared with ``tests/accounts``.
"""

from tests.accounts.conftest import backend, mail_sink, site  # noqa: F401
