"""Settings of the notifications service (plus the shared ones)."""

from typing import Literal

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
    notify_settle_seconds: float = Field(
        default=30.0,
        ge=0,
        description="notifications: quiet imports: suggestions a bulk import causes wait until "
        "the member's list and the import have been still this long (0: deliver every update "
        "at once).",
    )
    notify_settle_max_seconds: float = Field(
        default=7200.0,
        gt=0,
        description="notifications: quiet imports: an imported member still without a list "
        "after this long (e.g. dead-lettered) no longer holds the others' lists back.",
    )
    settled_suggestions: int = Field(
        default=5,
        ge=1,
        description="notifications: most new suggestions a settled list adds to an inbox.",
    )
    min_score: float = Field(
        default=0.0, description="notifications: suggestions scoring below this are not sent."
    )
    max_records: int = Field(default=256, ge=1, description="notifications: records per batch.")
    health_top_hubs: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="notifications: the hubs product-health metrics name (JSON list, the largest "
        "first; at most 20); members of other hubs count as `other`.",
    )
    health_stale_days: float = Field(
        default=7.0,
        gt=0,
        description="notifications: a member's list older than this counts as stale.",
    )
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
    smtp_host: str = Field(default="127.0.0.1", description="notifications: SMTP server host.")
    smtp_port: int = Field(
        default=1025, ge=1, le=65535, description="notifications: SMTP server port."
    )
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="none",
        description="notifications: SMTP transport security: `none`, `starttls` (upgrade after "
        "connect, usually port 587) or `tls` (TLS from the start, usually port 465).",
    )
    smtp_username: str | None = Field(
        default=None, description="notifications: SMTP login (none: send without logging in)."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="notifications: SMTP password for `NNMATCH_SMTP_USERNAME`."
    )
    smtp_timeout_s: float = Field(
        default=10.0, gt=0, description="notifications: SMTP time-out per connect and command."
    )
    mail_from: str = Field(
        default="nnmatch <no-reply@nnmatch.invalid>",
        description="notifications: `From` of every e-mail; its domain also names Message-IDs.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="notifications: address of the web pages that e-mails link to.",
    )
    notifications_public_url: str = Field(
        default="http://127.0.0.1:8003",
        description="notifications: public address of this service, for unsubscribe links.",
    )
    unsubscribe_key: SecretStr | None = Field(
        default=None,
        description="notifications: key (at least 16 bytes) signing unsubscribe links; "
        "needed to send e-mail.",
    )
    unsubscribe_ttl_days: int = Field(
        default=90, ge=1, description="notifications: days an unsubscribe link keeps working."
    )
    delivery_attempts: int = Field(
        default=5, ge=1, le=20, description="notifications: tries per e-mail/webhook delivery."
    )
    delivery_backoff_s: float = Field(
        default=1.0, gt=0, description="notifications: first retry wait (doubles, with jitter)."
    )
    delivery_backoff_max_s: float = Field(
        default=60.0, gt=0, description="notifications: longest wait between retries."
    )
    delivery_tick_s: float = Field(
        default=0.5,
        gt=0,
        description="notifications: how often the scheduler looks for due deliveries.",
    )
    resuggest_after_days: int = Field(
        default=0,
        ge=0,
        description="notifications: cooling-off before a pair may be suggested again (0: never).",
    )
