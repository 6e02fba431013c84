"""Inbox: subscriptions, digests, outbox and SMTP delivery."""
