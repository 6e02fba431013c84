"""Account tables: users, sessions, API tokens, upvotes, collections, moderation."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from .base import metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True, doc="lower-cased"),
    Column("password_hash", Text, nullable=False, doc="argon2id"),
    Column("display_name", String(255), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("email_verified_at", DateTime(timezone=True), nullable=True, doc="None: unconfirmed"),
    Column("role", String(16), nullable=False, server_default="user", doc="user|moderator|admin"),
    Column("banned_at", DateTime(timezone=True), nullable=True, doc="None: not banned"),
    Column("notify_replies", Boolean, nullable=False, server_default=false(), doc="opt-in"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(128), primary_key=True, doc="sha256 of the session token"),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=True),
    Column("user_agent", String(200), nullable=True, doc="shortened, for the session list"),
)
Index("ix_sessions_user_id", sessions.c.user_id)

# Personal access tokens for scripts: only the sha256 of a token is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("scope", String(8), nullable=False, doc="read|write"),
    Column("token_hash", String(64), nullable=False, unique=True, doc="sha256 of the token"),
    Column("prefix", String(16), nullable=False, doc="the token's first characters, shown"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)
Index("ix_api_tokens_user_id", api_tokens.c.user_id)

upvotes = Table(
    "upvotes",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_upvotes_paper_id", upvotes.c.paper_id)

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("slug", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("visibility", String(8), nullable=False, server_default="private"),
    Column("description", Text, nullable=False, server_default=""),
    Column("share_id", String(32), nullable=True, doc="random, for its URL"),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "slug"),
)
Index("ix_collections_visibility", collections.c.visibility)
Index("uq_collections_share_id", collections.c.share_id, unique=True)

collection_items = Table(
    "collection_items",
    metadata,
    Column("collection_id", ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("position", Integer, nullable=False, server_default="0", doc="the owner's order"),
)

# Recent authentication attempts, for the sliding-window rate limits on login and
# sign-up (paperwire.accounts.ratelimit).  ``key`` is a sha256, never a raw email/IP.
auth_attempts = Table(
    "auth_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(32), nullable=False, doc="e.g. 'login-ip', 'login-account'"),
    Column("key", String(64), nullable=False, doc="sha256 of the IP address or email"),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_auth_attempts_scope_key_at", auth_attempts.c.scope, auth_attempts.c.key, auth_attempts.c.at
)

# Every moderator action (hide a paper, remove a submission, ban, role change).
# ``actor_id`` is None for the command line (``via`` = cli) and once the actor has
# deleted their account.
moderation_log = Table(
    "moderation_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("via", String(8), nullable=False, doc="site|cli"),
    Column("action", String(32), nullable=False, doc="e.g. hide_paper, ban_user"),
    Column("target_kind", String(16), nullable=False, doc="paper|submission|user"),
    Column("target_id", String(64), nullable=False),
    Column("note", Text, nullable=True),
)
Index("ix_moderation_log_at", moderation_log.c.at)
