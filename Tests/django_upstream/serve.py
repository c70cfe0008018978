#!/usr/bin/env python3
"""A real Django REST framework API with djangorestframework-simplejwt, used as the gateway's upstream by
Tests/GatewayIntegrationTests/DjangoSimpleJWTTests.swift (issue 17): simplejwt's own JWTAuthentication
must accept the tokens the gateway issues and renews.

    DJANGO_UPSTREAM_DIR=/tmp/x JWT_ALGORITHM=HS256 JWT_KEY_FILE=/tmp/x/secret.key \\
    JWT_ISSUER=auth-gateway JWT_AUDIENCE=my-api JWT_USER_ID_CLAIM=user_id python3 serve.py

Creates the SQLite database in DJANGO_UPSTREAM_DIR, runs the migrations, creates the demo users, then runs
Django's own development server (runserver, no reloader) on 127.0.0.1 and an ephemeral port, printing
`listening on 127.0.0.1:PORT` once it is bound. Exits when its standard input reaches EOF, so a test that
dies takes its server with it. Settings: upstream/settings.py.
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upstream.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.commands.runserver import Command as RunServer  # noqa: E402

from upstream.users import DEMO_USERS  # noqa: E402


class ServeCommand(RunServer):
    """runserver that names the port it bound (the address asks for port 0)."""

    def on_bind(self, server_port):
        print(f"listening on 127.0.0.1:{server_port}", flush=True)


def exit_at_end_of_stdin():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    call_command("migrate", interactive=False, verbosity=0)
    users = get_user_model()
    for username, password in DEMO_USERS:
        users.objects.create_user(username=username, password=password)
    if not sys.stdin.isatty():
        threading.Thread(target=exit_at_end_of_stdin, daemon=True).start()
    call_command(ServeCommand(), "127.0.0.1:0", use_reloader=False, skip_checks=True)


if __name__ == "__main__":
    main()
