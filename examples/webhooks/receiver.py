"""Receives ephemail's webhooks, checks their signatures and prints each new mail's code."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # the `whsec_...` createWebhook returned
seen = set()  # deliveries are at least once: a retry repeats its webhook-id


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            return self.send_error(401)
        if event["type"] == "message.received" and self.headers["webhook-id"] not in seen:
            seen.add(self.headers["webhook-id"])
            mail = event["data"]
            print(mail["address"], mail["subject"], mail["codes"][:1], flush=True)
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver).serve_forever()
