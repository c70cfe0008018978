"""Settings of the Django upstream (serve.py). The JWT side comes from the environment the test sets, and
must match the gateway's [tokens]: the same key, algorithm, issuer, audience and user id claim."""

import os
from pathlib import Path

DIRECTORY = Path(os.environ["DJANGO_UPSTREAM_DIR"])

# Django's own secret (unused: no sessions, no CSRF); never the JWT key.
SECRET_KEY = "django-upstream-of-the-gateway-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]  # loopback only; the gateway passes the client's Host on

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt",
]
MIDDLEWARE = ["upstream.received.record_requests"]
ROOT_URLCONF = "upstream.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DIRECTORY / "db.sqlite3"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Django's default (PBKDF2, a million rounds) makes each login cost about a second of a loaded test machine.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

ALGORITHM = os.environ["JWT_ALGORITHM"]
KEY = Path(os.environ["JWT_KEY_FILE"]).read_bytes()
if ALGORITHM.startswith("HS"):
    # The gateway's rule (docs/configuration.md tokens.secret_file): the file's content minus one trailing newline.
    SIGNING_KEY = KEY[:-1] if KEY.endswith(b"\n") else KEY
    VERIFYING_KEY = ""
else:
    # ES256 / RS256: only verification happens here, with the gateway's public key.
    SIGNING_KEY = None
    VERIFYING_KEY = KEY.decode()

SIMPLE_JWT = {
    "ALGORITHM": ALGORITHM,
    "SIGNING_KEY": SIGNING_KEY,
    "VERIFYING_KEY": VERIFYING_KEY,
    "ISSUER": os.environ["JWT_ISSUER"],
    "AUDIENCE": os.environ.get("JWT_AUDIENCE") or None,
    "USER_ID_CLAIM": os.environ["JWT_USER_ID_CLAIM"],
    "USER_ID_FIELD": "id",
    # simplejwt's defaults, spelled out: the gateway's tokens carry these claims (docs/http.md#tokens).
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
}
