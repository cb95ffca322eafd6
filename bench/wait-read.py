"""One waiter at a time: `waitForMessage(address:)` asking for FIELDS on a new catch-all address
(or, with INBOXES=api, on an inbox created through the API just before), then a verification
mail to it; prints the median and p90 of the time from the mail's `250` to the answer. Run by
bench/wait-read."""

import json
import os
import smtplib
import statistics
import sys
import threading
import time
import urllib.request
import uuid

URL, PORT, FIELDS, REPS = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
KEY = os.environ["EPHEMAIL_API_KEY"]


INBOXES = os.environ.get("INBOXES", "catch-all")


def graphql(query):
    request = urllib.request.Request(URL, data=json.dumps({"query": query}).encode(), headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    return urllib.request.urlopen(request).read()


def wait(address, answered):
    body = graphql('{ waitForMessage(address: "%s", timeoutMs: 10000) { %s } }'
                   % (address, FIELDS))
    answered.append((time.monotonic(), body))


latencies = []
with smtplib.SMTP("127.0.0.1", PORT) as smtp:
    for n in range(REPS):
        local = f"wait{uuid.uuid4().hex[:12]}"
        address = f"{local}@disposable.test"
        if INBOXES == "api":
            created = graphql('mutation { createInbox(input: {domain: "disposable.test",'
                              ' localPart: "%s"}) { status } }' % local)
            if b'"CREATED"' not in created:
                sys.exit(f"wait-read: {created.decode()}")
        answered = []
        waiter = threading.Thread(target=wait, args=(address, answered))
        waiter.start()
        time.sleep(0.05)  # the wait is registered before the mail comes
        mail = (f"From: Shop <noreply@shop.example>\r\nTo: {address}\r\nSubject: Your code\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                f"<p>Your code is <b>{n:06d}</b>. <a href=\"https://shop.example/v?t={n}\">"
                "Confirm</a></p>\r\n")
        smtp.sendmail("noreply@shop.example", [address], mail.encode())
        accepted = time.monotonic()
        waiter.join()
        at, body = answered[0]
        if b'"errors"' in body:
            sys.exit(f"wait-read: {body.decode()}")
        latencies.append((at - accepted) * 1000)
latencies.sort()
print(f"{FIELDS:16s} 250 to answer: median {statistics.median(latencies):.2f} ms,"
      f" p90 {latencies[int(len(latencies) * 0.9)]:.2f} ms ({REPS} waits)")
