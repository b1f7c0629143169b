"""Webhook safety rules without I/O: URL checks, address ranges, signatures, sealed secrets."""

from __future__ import annotations

import ipaddress

import pytest

from nnmatch_notifications.webhooks import (
    SecretSealer,
    UnsafeWebhook,
    WebhookPolicy,
    check_url,
    new_secret,
    sign,
)

STRICT = WebhookPolicy()


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The example from the Standard Webhooks specification.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_unique_and_usable() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert sign(first, "m", 1, b"x") != sign(second, "m", 1, b"x")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.org/x", "must be https"),
        ("ftp://hooks.example.org/x", "must be https"),
        ("https://user:pw@hooks.example.org/x", "credentials"),
        ("https:///nohost", "needs a host"),
        ("https://hooks.example.org:99999/x", "bad port"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeWebhook, match=reason):
        check_url(url, STRICT)


def test_http_is_accepted_only_when_the_policy_allows_it() -> None:
    assert check_url("http://127.0.0.1:8080/h", WebhookPolicy(require_https=False)) == (
        "http",
        "127.0.0.1",
        8080,
    )
    assert check_url("https://hooks.example.org/h", STRICT) == ("https", "hooks.example.org", 443)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 is unwrapped
        ("100.64.0.1", "non-global"),  # carrier-grade NAT
    ],
)
def test_internal_addresses_are_refused(address: str, kind: str) -> None:
    refusal = STRICT.address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert kind in refusal


def test_public_addresses_pass_and_the_allow_list_opens_only_its_ranges() -> None:
    assert STRICT.address_refusal(ipaddress.ip_address("93.184.216.34")) is None
    dev = WebhookPolicy.from_settings(
        require_https=False,
        allow_networks=["127.0.0.0/8"],
        connect_timeout_s=1,
        read_timeout_s=1,
        max_response_bytes=10,
    )
    assert dev.address_refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert dev.address_refusal(ipaddress.ip_address("10.0.0.1")) is not None


def test_sealed_secrets_do_not_show_the_secret_and_open_only_with_the_key() -> None:
    sealer = SecretSealer(SecretSealer.new_key())
    secret = new_secret()
    sealed = sealer.seal(secret)
    assert secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    assert sealer.open(sealed) == secret
    with pytest.raises(ValueError, match="does not open"):
        SecretSealer(SecretSealer.new_key()).open(sealed)
