"""User commands: create an admin, list users, ban and unban, promote.

Actions taken here are recorded in the moderation log as done from the
command line.  A user is named by email or by numeric id.  Exit status: 0
done, 1 no such user or not allowed, 2 bad usage.
"""

from __future__ import annotations

import sys

import click

from ..accounts import moderation
from ..accounts import users as accounts
from ..accounts.clock import utcnow
from ..accounts.errors import AccountError, NotFound, ValidationError
from ..search.backend import get_backend
from .common import database, print_json, settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _user(db, who: str) -> accounts.User:  # type: ignore[no-untyped-def]
    try:
        return accounts.require_user(db, who)
    except NotFound as exc:
        _fail(str(exc))
        raise  # unreachable


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("users")
def users_group() -> None:
    """Accounts: create an admin, list users, ban and unban, promote."""


@users_group.command("create-admin")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def create_admin_cmd(email: str, name: str, password_stdin: bool) -> None:
    """Create an administrator account (its address counts as confirmed).

    Asks for the password twice, or reads it with --password-stdin (for scripts).
    An existing account is not changed: use `paperwire users promote` for it.
    """
    db = database()
    if accounts.get_user_by_email(db, email) is not None:
        _fail(f"{email} already has an account; run: paperwire users promote {email} --role admin")
    password = _password(password_stdin)
    try:
        user = accounts.create_user(
            db, email, password, now=utcnow(), display_name=name, role="admin", verified=True
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    moderation.record_cli_action(db, "create_admin", user.id, now=utcnow())
    click.echo(f"created admin #{user.id} {user.email}")


@users_group.command("list")
@click.option("--role", type=click.Choice(accounts.ROLES), help="Only users with this role.")
@click.option("--banned", is_flag=True, help="Only banned users.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(role: str | None, banned: bool, as_json: bool) -> None:
    """List users, oldest first."""
    found = [
        u
        for u in accounts.list_users(database(), limit=1_000_000)
        if (role is None or u.role == role) and (not banned or u.banned)
    ]
    if as_json:
        print_json(
            [
                {
                    "id": u.id,
                    "email": u.email,
                    "name": u.display_name,
                    "role": u.role,
                    "verified": u.verified,
                    "banned": u.banned,
                    "created_at": u.created_at.isoformat(),
                }
                for u in found
            ]
        )
        return
    if not found:
        click.echo("no users")
        return
    for u in found:
        flags = (
            [u.role] + (["banned"] if u.banned else []) + ([] if u.verified else ["unconfirmed"])
        )
        click.echo(f"#{u.id}\t{u.email}\t{u.display_name or '-'}\t{', '.join(flags)}")


def _set_banned(who: str, banned: bool, reason: str | None) -> None:
    cfg = settings()
    db = database(cfg)
    user = _user(db, who)
    try:
        changed = moderation.set_banned(db, None, user.id, banned, now=utcnow(), note=reason)
    except AccountError as exc:
        _fail(str(exc))
    if changed:
        get_backend(cfg).votes_changed(db, changed)
    state = "banned" if banned else "unbanned"
    click.echo(f"{state} #{user.id} {user.email}; {len(changed)} paper(s) recounted")


@users_group.command("ban")
@click.argument("user")
@click.option("--reason", help="Why (kept in the moderation log).")
def ban_cmd(user: str, reason: str | None) -> None:
    """Ban USER (email or id): logs them out, revokes their tokens, stops counting their votes."""
    _set_banned(user, True, reason)


@users_group.command("unban")
@click.argument("user")
@click.option("--reason", help="Why (kept in the moderation log).")
def unban_cmd(user: str, reason: str | None) -> None:
    """Lift a ban: USER may log in again and their votes count again."""
    _set_banned(user, False, reason)


@users_group.command("promote")
@click.argument("user")
@click.option(
    "--role",
    type=click.Choice(accounts.ROLES),
    default="moderator",
    show_default=True,
    help="The new role (user demotes).",
)
def promote_cmd(user: str, role: str) -> None:
    """Give USER (email or id) a role: moderator, admin, or back to user."""
    db = database()
    target = _user(db, user)
    changed = moderation.set_role(db, None, target.id, role, now=utcnow())
    click.echo(f"#{target.id} {target.email} is {'now' if changed else 'already'} {role}")


def register(cli: click.Group) -> None:
    cli.add_command(users_group)
