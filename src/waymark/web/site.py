"""The web app as the composition root mounts it: page routes, static files, the template
engine, and error pages for the paths that are pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.types import ExceptionHandlersMap

from waymark.features.accounts.service import Accounts
from waymark.features.auth.federation import Federation
from waymark.features.auth.mfa import Mfa
from waymark.features.auth.passkeys import Passkeys
from waymark.features.auth.service import AuthService
from waymark.features.notes.service import Notes
from waymark.features.notifications.service import Notifications
from waymark.features.portability.service import Portability
from waymark.features.progress.schemas import STATUSES
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps import coverage
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.service import Teams
from waymark.features.webhooks.service import Webhooks
from waymark.infra.sql.database import Database
from waymark.kernel.authz import Action
from waymark.transport.http.fast import FastRoute
from waymark.transport.http.identity import RequestIdentity
from waymark.transport.http.router import Router
from waymark.web import filters
from waymark.web.account_pages import account_pages
from waymark.web.admin_pages import admin_pages
from waymark.web.assets import Assets
from waymark.web.diagram import STATUS_KEYS, STATUS_LABELS
from waymark.web.drawing import PageDrawer
from waymark.web.errors import with_error_pages
from waymark.web.learning import LearningPages
from waymark.web.mfa_pages import mfa_pages
from waymark.web.notification_pages import notification_pages
from waymark.web.rendering import NOTICES
from waymark.web.roadmap_pages import RoadmapForms, roadmap_page_fast_route, roadmap_pages
from waymark.web.settings_pages import settings_pages
from waymark.web.sign_in_pages import sign_in_pages
from waymark.web.team_pages import team_pages
from waymark.web.team_view import TeamView
from waymark.web.topic_pages import topic_pages
from waymark.web.visitor import CSRF_FIELD, THEME_COOKIE, THEMES, Visitors
from waymark.web.webhook_pages import webhook_pages

TEMPLATE_DIR = Path(__file__).parent / "templates"
COVERED_ROADMAPS = ("backend",)
"""Built-in roadmaps whose topics Waymark itself builds: their pages say how."""


@dataclass(frozen=True)
class WebSite:
    routes: list[Router]
    template_config: TemplateConfig[JinjaTemplateEngine]
    fast_routes: list[FastRoute]
    """The pages answered before routing (`transport/http/fast.py`), when the app has them."""

    def error_pages(self, handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
        return with_error_pages(handlers)


def web_site(
    *,
    catalog: RoadmapCatalog,
    accounts: Accounts,
    auth: AuthService,
    federation: Federation,
    mfa: Mfa,
    passkeys: Passkeys,
    identity: RequestIdentity,
    progress: ProgressService,
    notes: Notes,
    portability: Portability,
    teams: Teams,
    notifications: Notifications,
    webhooks: Webhooks,
    db: Database,
) -> WebSite:
    assets = Assets()
    env = _environment(assets)
    env.globals["sign_in_options"] = federation.options()
    env.globals["passkeys"] = passkeys  # pages ask `passkeys.on`
    covered = {
        slug: coverage.load(coverage.builtin_path(slug))
        for slug in COVERED_ROADMAPS
        if coverage.builtin_path(slug).is_file()
    }
    learning = LearningPages(catalog=catalog, progress=progress, notes=notes, db=db)
    roadmap_forms = RoadmapForms(learning, covered)
    pages = Router(
        path="/",
        route_handlers=[
            *roadmap_pages(learning, progress, roadmap_forms),
            *topic_pages(notes, learning.renderer, roadmap_forms),
            *account_pages(accounts, auth),
            *settings_pages(accounts, auth, portability, federation, passkeys, identity.step_up),
            *sign_in_pages(federation),
            *mfa_pages(mfa, federation),
            *admin_pages(accounts),
            *team_pages(teams, TeamView(teams, catalog), auth.renew_session, identity.step_up),
            *notification_pages(notifications),
            *webhook_pages(webhooks),
        ],
        dependencies=Visitors(identity, notifications.unread).dependencies(),
        include_in_schema=False,
    )
    static = Router(path="/", route_handlers=[assets.route()], include_in_schema=False)
    drawer = PageDrawer(env, covered, THEME_COOKIE)
    return WebSite(
        routes=[pages, static],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        fast_routes=[roadmap_page_fast_route(learning, drawer, identity, notifications.unread)],
    )


def _environment(assets: Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(("html", "svg")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    globals_: dict[str, Any] = {
        "asset": assets.url,
        "notices": NOTICES,
        "csrf_field": CSRF_FIELD,
        "theme_cookie": THEME_COOKIE,
        "themes": THEMES,
        "coverage_labels": coverage.STATUS_LABEL,
        "statuses": STATUSES,
        "status_labels": STATUS_LABELS,
        "status_keys": STATUS_KEYS,
        "actions": Action,
        "stencil": None,  # a page drawn with holes sets it (web/stencil.py)
    }
    env.globals.update(globals_)
    env.filters.update(filters.FILTERS)
    return env
