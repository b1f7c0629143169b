"""Settings of the web pages (plus the shared ones: host, log format, token verification)."""

from pathlib import Path

from pydantic import Field, SecretStr

from nnmatch.settings import AuthSettings, HttpSettings


class WebSettings(HttpSettings, AuthSettings):
    service_name: str = "web"
    port: int = Field(default=8000, description="web: HTTP port.")
    profiles_url: str = Field(
        default="http://127.0.0.1:8001", description="web: the profiles service's API."
    )
    matching_url: str = Field(
        default="http://127.0.0.1:8002", description="web: the matching service's API."
    )
    notifications_url: str = Field(
        default="http://127.0.0.1:8003", description="web: the notifications service's API."
    )
    grafana_url: str = Field(
        default="http://127.0.0.1:3000",
        description="web: Grafana, linked from the operators' status page.",
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090",
        description="web: Prometheus; the status page links its `/alerts`.",
    )
    web_dev_auth_dir: Path | None = Field(
        default=None,
        description="web: directory of the dev stack's signing key (`.nnmatch/auth`); when set, "
        "the sign-in page signs anyone in as any member, hub or operator. Dev stack only: never "
        "set it in production.",
    )
    web_token_header: str | None = Field(
        default=None,
        description="web: request header in which a sign-in proxy in front of the pages passes "
        "the identity provider's token (e.g. `X-Forwarded-Access-Token` from oauth2-proxy).",
    )
    web_session_key: SecretStr | None = Field(
        default=None,
        description="web: key for the forms' anti-forgery tokens (32+ random bytes, shared by "
        "every replica); unset: a random key per process (forms open before a restart fail once).",
    )
    web_cookie_secure: bool = Field(
        default=False,
        description="web: mark cookies `Secure` (true behind https; requests over https get it "
        "anyway).",
    )
    web_api_timeout_s: float = Field(
        default=10.0, gt=0, description="web: time-out of each call to a service's API."
    )
