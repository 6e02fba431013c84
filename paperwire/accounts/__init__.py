"""Accounts: users, sessions, upvotes, submissions, collections."""
