"""Background jobs that keep the catalog fresh by themselves.

- :mod:`.arxiv`: incremental OAI-PMH harvest of the configured categories;
- :mod:`.hf`: Hugging Face Daily Papers of the last few days (votes, submitters, code);
- :mod:`.embed`: vectors for pending papers;
- :mod:`.digests`: email digests that are due, after the harvests;
- :mod:`.scheduler`: due times, locks and recorded runs (:mod:`.runs`);
- :mod:`.status`: ``jobs status``, ``/healthz`` and the footer's "updated".

Jobs run from ``paperwire jobs run`` (cron), ``paperwire worker`` or inside
``paperwire serve``; all three use :func:`.scheduler.run_pass`.  The work
after new records arrive is :mod:`paperwire.pipeline`'s.
"""
