"""Settings of the notifications service (plus the shared ones)."""

from pydantic import Field

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
