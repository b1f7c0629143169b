"""Settings of the notifications service (plus the shared ones)."""

from pydantic import Field, SecretStr

from nnmatch.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    port: int = Field(default=8003, description="notifications: HTTP port.")
    inbox_max_items: int = Field(
        default=500, ge=10, description="notifications: newest inbox items kept per member."
    )
    suggestions_per_update: int = Field(
        default=5,
        ge=1,
        description="notifications: most new suggestions one matches update adds to an inbox.",
    )
    min_score: float = Field(
        default=0.0, description="notifications: suggestions scoring below this are not sent."
    )
    max_records: int = Field(default=256, ge=1, description="notifications: records per batch.")
    webhook_require_https: bool = Field(
        default=True, description="notifications: refuse webhook URLs that are not https."
    )
    webhook_allow_networks: list[str] = Field(
        default_factory=list,
        description="notifications: address ranges a webhook may reach although private or "
        'loopback (JSON list, e.g. `["127.0.0.0/8"]` for the dev stack).',
    )
    webhook_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="notifications: webhook connect time-out."
    )
    webhook_read_timeout_s: float = Field(
        default=5.0, gt=0, description="notifications: webhook read time-out."
    )
    webhook_max_response_bytes: int = Field(
        default=65_536, ge=0, description="notifications: most of a webhook answer read."
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        description="notifications: Fernet key sealing webhook secrets at rest.",
    )
