"""bench/api-inboxes.py GRAPHQL_URL DOMAIN COUNT [--over-hours]: creates the inboxes 1box@DOMAIN ..
COUNTbox@DOMAIN through the GraphQL API (`createInbox`, the API key in EPHEMAIL_API_KEY), the
addresses smtp-source -N sends to with `-t box@DOMAIN`, and prints how long that took. With
--over-hours, the inboxes are 1hour@DOMAIN .. COUNThour@DOMAIN instead, inbox n living n hours, so
that each has an expiry bucket (an hour, `--purge-bucket`'s default) and its partitions to itself.
Fails unless every one is CREATED. Documents of 50 aliased mutations (the schema's alias limit),
four requests at a time."""
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

url, domain, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if sys.argv[4:] not in ([], ["--over-hours"]):
    sys.exit("usage: bench/api-inboxes.py GRAPHQL_URL DOMAIN COUNT [--over-hours]")
over_hours = sys.argv[4:] == ["--over-hours"]
key = os.environ["EPHEMAIL_API_KEY"]
PER_DOCUMENT = 50
TTL = 86400  # outlives any run; mail to an expired inbox would be refused


def inbox(n):
    """Inbox n's local part and lifetime in seconds."""
    return (f"{n}hour", n * 3600) if over_hours else (f"{n}box", TTL)


def create(first):
    numbers = range(first, min(first + PER_DOCUMENT, count + 1))
    fields = " ".join(
        f'i{n}: createInbox(input: {{domain: "{domain}", localPart: "{inbox(n)[0]}", '
        f'ttlSeconds: {inbox(n)[1]}}}) {{ status inbox {{ address }} }}' for n in numbers)
    request = urllib.request.Request(
        url, data=json.dumps({"query": f"mutation {{ {fields} }}"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    if body.get("errors"):
        sys.exit(f"createInbox failed: {body['errors']}")
    for n in numbers:
        payload = body["data"][f"i{n}"]
        address = f"{inbox(n)[0]}@{domain}"
        if payload["status"] != "CREATED" or payload["inbox"]["address"] != address:
            sys.exit(f"createInbox {address}: {payload}")
    return len(numbers)


start = time.monotonic()
with ThreadPoolExecutor(4) as pool:
    created = sum(pool.map(create, range(1, count + 1, PER_DOCUMENT)))
elapsed = time.monotonic() - start
print(f"inboxes: created {created} through the API (createInbox, {PER_DOCUMENT} per request) "
      f"in {elapsed:.1f} s, {created / elapsed:.0f} inboxes/s")
