"""Sends bench/storage's mail mix to 127.0.0.1:PORT and prints the raw bytes sent (each mail once)."""
import random
import smtplib
import sys
from email.message import EmailMessage

port, count = int(sys.argv[1]), int(sys.argv[2])
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


raw = 0
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for n in range(count):
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
