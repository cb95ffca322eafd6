import time

import pytest

from conftest import EphemailServer
from ephemail import Ephemail, EphemailError


@pytest.fixture(scope="module")
def limited():
    # 120 requests a minute: a burst of 120, then one more every half second.
    server = EphemailServer("--quota-requests-per-minute", "120")
    yield server
    server.stop()


def test_429_is_retried_after_retry_after_and_without_retries_is_quota_exceeded(limited):
    with Ephemail(limited.url, limited.api_key, max_retries=0) as impatient:
        inbox = impatient.create_inbox(domain="localhost")
        refused = None
        for _ in range(200):
            try:
                impatient.extend_inbox(id=inbox.id, ttl_seconds=600)
            except EphemailError as error:
                refused = error
                break
        assert refused is not None and refused.code == "QUOTA_EXCEEDED"
        assert refused.retry_after >= 1
    with Ephemail(limited.url, limited.api_key) as patient:
        # Right after the refusal the bucket holds less than one request; three need a second
        # and a half of refill, so at least one of them is answered 429 first and retried.
        started = time.monotonic()
        for _ in range(3):
            assert patient.extend_inbox(id=inbox.id, ttl_seconds=600).id == inbox.id
        assert time.monotonic() - started >= 0.9, "the answers came only after waiting out Retry-After"
