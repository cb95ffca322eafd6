"""bench/storage-mix.py PORT COUNT [MIX]: sends bench/storage's mail mix to 127.0.0.1:PORT and
prints the raw bytes sent (each mail once). MIX is `default` (the mix below) or `text`: only
verification mails built like the ingest benchmark's (bench/peer-bench.sh's msg.eml, ~5.6 KB of
text and HTML alternatives), each with its own code, links, date and Message-ID."""
import random
import smtplib
import sys
import textwrap
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

port, count = int(sys.argv[1]), int(sys.argv[2])
mix = sys.argv[3] if len(sys.argv) > 3 else "default"
if mix not in ("default", "text"):
    sys.exit(f"MIX is default or text, not {mix}")
rng = random.Random(7)
PARAGRAPH = ("Hello, thanks for signing up. Use the code below to verify your address. "
             "If you did not request this, ignore this message. ")


def verification(n):
    message = EmailMessage()
    code = f"{rng.randrange(10**6):06d}"
    message["Subject"] = f"Your verification code is {code}"
    text = PARAGRAPH * 20 + f"\nYour code: {code}\n"
    message.set_content(text)
    message.add_alternative(f"<html><body><p>{PARAGRAPH * 20}</p><p>Your code: <b>{code}</b></p>"
                            f"<a href=\"https://app.example.com/verify?n={n}\">Verify</a></body></html>",
                            subtype="html")
    return message


def with_attachment(size):
    message = EmailMessage()
    message["Subject"] = "Your invoice"
    message.set_content(PARAGRAPH * 3)
    message.add_attachment(rng.randbytes(size), maintype="application", subtype="pdf",
                           filename="invoice.pdf")
    return message


def ingest_verification(n, recipient):
    """The ingest benchmark's mail (bench/peer-bench.sh), with this mail's code and links."""
    message = EmailMessage()
    code = f"{rng.randrange(10**6):06d}"
    sent = datetime(2026, 11, 28, tzinfo=timezone.utc) + timedelta(seconds=n)
    message["From"] = "Sender Example <sender@example.test>"
    message["To"] = recipient
    message["Subject"] = f"Your verification code is {code}"
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = f"<bench-{n:06d}-{rng.getrandbits(32):08x}@example.test>"
    para = ("Hello, thanks for signing up. Use the code below to verify your address. "
            "If you did not request this, ignore this message. ")
    message.set_content("\n".join(textwrap.wrap(para * 16, 76)) + f"\n\nCode: {code}\n")
    token = f"{rng.getrandbits(64):016x}"
    message.add_alternative(
        "<html><body>" + "".join(
            f'<p style="font-family:Arial">{para * 2}'
            f'<a href="https://example.test/v/{token}/{i}">verify</a></p>\n' for i in range(9))
        + "</body></html>\n", subtype="html")
    return message


raw = 0
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for n in range(count):
        if mix == "text":
            recipient = f"user{n}@disposable.test"
            data = ingest_verification(n, recipient).as_bytes()
            smtp.sendmail("sender@example.test", [recipient], data)
            raw += len(data)
            continue
        kind = n % 10
        if kind < 7:
            message, recipients = verification(n), [f"user{n}@disposable.test"]
        elif kind < 9:
            message, recipients = with_attachment(50_000), [f"user{n}@disposable.test"]
        else:
            message = with_attachment(20_000)
            recipients = [f"team{n}-{r}@disposable.test" for r in range(5)]
        message["From"] = "sender@example.com"
        message["To"] = ", ".join(recipients)
        data = message.as_bytes()
        smtp.sendmail("sender@example.com", recipients, data)
        raw += len(data)
print(raw)
