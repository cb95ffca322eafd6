"""bench/by-id.py GRAPHQL_URL SMTP_PORT COUNT (see bench/by-id): sends 504 mails, spread evenly
over 1hour@disposable.test .. COUNThour@disposable.test (three each for 168), then times the API's look-ups by id of those
messages, one request after another, and prints the first 30 of each and the rest's p50 and max.
Every answer is checked (the message found, its raw source, one marked, one deleted). The API key is in
EPHEMAIL_API_KEY."""
import json
import os
import smtplib
import sys
import time
import urllib.request
from email.message import EmailMessage

graphql, smtp_port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
key = os.environ["EPHEMAIL_API_KEY"]
base = graphql.rsplit("/", 1)[0]
MAILS = 504
PER_INBOX = -(-MAILS // count)
FIRST = 30


def post(query, variables):
    request = urllib.request.Request(
        graphql, data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def gql(query, variables):
    body = post(query, variables)
    if body.get("errors"):
        sys.exit(f"{query}: {body['errors']}")
    return body["data"]


def not_found(query, variables):
    codes = [error["extensions"]["code"] for error in post(query, variables).get("errors", [])]
    if codes != ["NOT_FOUND"]:
        sys.exit(f"{query} {variables}: {codes}, not NOT_FOUND")


def raw(message_id):
    request = urllib.request.Request(f"{base}/messages/{message_id}/raw",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        if b"Subject: Your code" not in response.read():
            sys.exit(f"the raw download of {message_id} is not the mail sent")


with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
    for n in range(1, count + 1):
        for k in range(PER_INBOX):
            mail = EmailMessage()
            mail["From"], mail["To"] = "app@example.test", f"{n}hour@disposable.test"
            mail["Subject"] = f"Your code {n}-{k}"
            mail.set_content(f"Your verification code is {n:03}{k}")
            smtp.send_message(mail)
inboxes, ids = [], []
for n in range(1, count + 1):
    inbox = gql("query($a: String!) { inbox(address: $a) { id } }",
                {"a": f"{n}hour@disposable.test"})["inbox"]["id"]
    inboxes.append(inbox)
    after = None
    while True:
        page = gql("query($i: ID!, $a: String) { messages(inboxId: $i, first: 100, after: $a) {"
                   " nodes { id } pageInfo { hasNextPage endCursor } } }",
                   {"i": inbox, "a": after})["messages"]
        ids.extend(node["id"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
if len(ids) != PER_INBOX * count:
    sys.exit(f"stored {len(ids)} messages, not {PER_INBOX * count}")


def timed(label, call, targets):
    took = []
    for target in targets:
        start = time.perf_counter()
        call(target)
        took.append((time.perf_counter() - start) * 1000)
    rest = sorted(took[FIRST:])
    print(f"{label}, {len(took)} requests: the first {FIRST} (ms): "
          + " ".join(f"{ms:.1f}" for ms in took[:FIRST]))
    print(f"{label}: the other {len(rest)}: p50 {rest[len(rest) // 2]:.2f} ms, "
          f"max {rest[-1]:.2f} ms")


def expect(got, want, what):
    if got != want:
        sys.exit(f"{what}: {got!r}, not {want!r}")


third = len(ids) // 3
timed("inbox(id:) (no partitioned table)",
      lambda inbox: expect(gql("query($i: ID!) { inbox(id: $i) { id } }",
                               {"i": inbox})["inbox"]["id"], inbox, "inbox(id:)"),
      [inboxes[n % len(inboxes)] for n in range(third)])
timed("message(id:)",
      lambda message: expect(gql("query($i: ID!) { message(id: $i) { id } }",
                                 {"i": message})["message"]["id"], message, "message(id:)"),
      ids[:third])
timed("raw download", raw, ids[:third])
timed("markSeen",
      lambda message: expect(gql("mutation($i: ID!) { markSeen(ids: [$i]) { count } }",
                                 {"i": message})["markSeen"]["count"], 1, "markSeen"),
      ids[third:2 * third])
timed("deleteMessage",
      lambda message: expect(gql("mutation($i: ID!) { deleteMessage(id: $i) { status } }",
                                 {"i": message})["deleteMessage"]["status"], "DELETED",
                             "deleteMessage"),
      ids[2 * third:])
# Misses: the deleted messages, looked up again. Then every inbox's expiry moves (inbox n to
# 168.5 - n hours), taking its messages to another bucket while their ids tell the old one.
timed("message(id:) of a deleted message",
      lambda message: not_found("query($i: ID!) { message(id: $i) { id } }", {"i": message}),
      ids[2 * third:])
for n, inbox in enumerate(inboxes, start=1):
    expect(gql("mutation($i: ID!, $t: Int!) { extendInbox(input: {id: $i, ttlSeconds: $t})"
               " { status } }", {"i": inbox, "t": (count + 1 - n) * 3600 - 1800})
           ["extendInbox"]["status"], "EXTENDED", "extendInbox")
timed("message(id:) moved by extendInbox",
      lambda message: expect(gql("query($i: ID!) { message(id: $i) { id } }",
                                 {"i": message})["message"]["id"], message,
                             "message(id:) moved"),
      ids[:third])
