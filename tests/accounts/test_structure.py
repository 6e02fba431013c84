"""How the people code is put together: route modules stand alone, privacy has no central list."""

from __future__ import annotations

import ast
from pathlib import Path

import paperwire.web.routes as routes_package
from paperwire.accounts import privacy

ROUTES = Path(routes_package.__file__).parent
SHARED = {"common", "__init__"}


def _route_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                found.update([node.module] if node.module else [a.name for a in node.names])
            elif node.module and node.module.startswith("paperwire.web.routes."):
                found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.rsplit(".", 1)[1]
                for a in node.names
                if a.name.startswith("paperwire.web.routes.")
            )
    return found


def test_no_route_module_imports_another():
    modules = {p.stem for p in ROUTES.glob("*.py")} - SHARED
    assert {"auth", "account", "votes", "collections", "moderation", "api", "pages"} <= modules
    for name in sorted(modules):
        imported = _route_imports(ROUTES / f"{name}.py") - SHARED
        assert not imported & modules, f"routes/{name}.py imports {imported & modules}"


def test_the_privacy_registry_finds_every_domain_contribution():
    names = {c.name for c in privacy.contributors()}
    # accounts and inbox contribute today; none of them is listed in privacy.py.
    assert {"profile", "votes", "collections", "sessions", "api_tokens"} <= names
    assert {"subscriptions", "account_mail"} <= names
    assert privacy.contributors()[-1].name == "profile"  # the account row goes last
    source = Path(privacy.__file__).read_text()
    assert "paperwire.inbox" not in source and "subscriptions" not in source
