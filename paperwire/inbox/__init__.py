"""Inbox: subscriptions, digests, outbox and SMTP delivery.

- :mod:`.subscriptions`: subscribe (double opt-in), confirm, manage, unsubscribe.
- :mod:`.periods`: which digest period is due for a subscriber, in their time zone.
- :mod:`.compose`: what goes into a digest, grouped and cached across subscribers.
- :mod:`.render`: the multipart (HTML + text) messages.
- :mod:`.outbox`: the transactional outbox and its delivery state machine.
- :mod:`.smtp`: one SMTP connection, failures classified as temporary or permanent.
- :mod:`.runner`: ``run()``: compose what is due, then deliver the outbox.
"""
