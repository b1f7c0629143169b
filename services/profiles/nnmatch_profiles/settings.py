"""Settings of the profiles service (plus the shared ones)."""

from pydantic import Field

from nnmatch.settings import ServiceSettings


class ProfilesSettings(ServiceSettings):
    service_name: str = "profiles"
    port: int = Field(default=8001, description="profiles: HTTP port.")
    bulk_max_lines: int = Field(
        default=50_000, ge=1, description="profiles: most lines one bulk import may carry."
    )
    bulk_chunk_size: int = Field(
        default=500, ge=1, description="profiles: lines published to Kafka per round trip."
    )
    bulk_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="profiles: largest bulk import body (413 above it).",
    )
