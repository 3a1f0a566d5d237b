"""Office Chat admin backend: the Chalice app. Wiring only; every rule lives in chalicelib/."""

from chalice.app import Chalice

from chalicelib.api import (
    admin,
    auth,
    chats,
    devices,
    files,
    groups,
    health,
    hooks,
    imports,
    integrations,
    platform,
    support,
    users,
)
from chalicelib.api.http import error_middleware
from chalicelib.core.log import configure_logging_in_lambda
from chalicelib.events import handlers

configure_logging_in_lambda()

app = Chalice(app_name="office-chat")
app.register_middleware(error_middleware, "http")

for blueprint in (
    health.bp,
    platform.bp,
    auth.bp,
    admin.bp,
    users.bp,
    groups.bp,
    chats.bp,
    files.bp,
    devices.bp,
    imports.bp,
    integrations.bp,
    hooks.bp,
    support.bp,
    handlers.bp,
):
    app.register_blueprint(blueprint)
