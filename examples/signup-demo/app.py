"""A tiny sign-up app to try the SDKs on: it sends a verification mail with a code and a link
over SMTP, and accepts either. Standard library only.

    SMTP_PORT=2525 DEMO_PORT=8090 python3 app.py
"""

import html
import os
import secrets
import smtplib
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SMTP_HOST = os.environ.get("SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2525"))
DEMO_PORT = int(os.environ.get("DEMO_PORT", "8090"))
BASE_URL = f"http://127.0.0.1:{DEMO_PORT}"

# email -> the code sent to it; verified emails.
pending: dict = {}
verified: set = set()

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Sign up</title></head>
<body><main>{}</main></body></html>"""

SIGNUP_FORM = """<h1>Sign up</h1>
<form method="post" action="/signup">
  <label>Email <input name="email" type="email" required></label>
  <button type="submit">Sign up</button>
</form>"""

VERIFY_FORM = """<h1>Check your email</h1>
<p>We sent a code to <b id="email">{email}</b>.</p>
<form method="post" action="/verify">
  <input type="hidden" name="email" value="{email}">
  <label>Code <input name="code" inputmode="numeric" required></label>
  <button type="submit">Verify</button>
</form>"""


def send_verification(email: str) -> None:
    code = f"{secrets.randbelow(1_000_000):06d}"
    pending[email] = code
    token = secrets.token_urlsafe(12)
    pending[token] = email
    message = EmailMessage()
    message["From"] = "Demo <no-reply@demo.example>"
    message["To"] = email
    message["Subject"] = "Verify your email"
    shown = f"{code[:3]} {code[3:]}"
    message.set_content(f"Your verification code is {shown}.\n\nOr open {BASE_URL}/verify?token={token}\n")
    message.add_alternative(
        f"<p>Your verification code is <b>{shown}</b>.</p>"
        f'<p><a href="{BASE_URL}/verify?token={token}">Verify my email</a></p>',
        subtype="html",
    )
    with smtplib.SMTP(SMTP_HOST, SMTP_PORT) as smtp:
        smtp.send_message(message)


class Handler(BaseHTTPRequestHandler):
    def page(self, body: str, status: int = 200) -> None:
        content = PAGE.format(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def form(self) -> dict:
        length = int(self.headers.get("Content-Length", "0"))
        fields = parse_qs(self.rfile.read(length).decode())
        return {name: values[0] for name, values in fields.items()}

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/verify":
            email = pending.pop(parse_qs(url.query).get("token", [""])[0], None)
            if email:
                verified.add(email)
                return self.page(f'<h1 id="done">Verified {html.escape(email)}</h1>')
            return self.page("<h1>Unknown link</h1>", 404)
        self.page(SIGNUP_FORM)

    def do_POST(self) -> None:
        fields = self.form()
        email = fields.get("email", "").strip().lower()
        if self.path == "/signup" and email:
            send_verification(email)
            return self.page(VERIFY_FORM.format(email=html.escape(email)))
        if self.path == "/verify" and pending.get(email) == fields.get("code", "").replace(" ", ""):
            verified.add(email)
            return self.page(f'<h1 id="done">Verified {html.escape(email)}</h1>')
        self.page("<h1>Wrong code</h1>", 400)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    print(f"signup demo on {BASE_URL}, mail to {SMTP_HOST}:{SMTP_PORT}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", DEMO_PORT), Handler).serve_forever()
