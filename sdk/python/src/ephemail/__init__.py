"""Client for ephemail, the self-hosted disposable-email service.

>>> from ephemail import Ephemail
>>> mail = Ephemail()  # EPHEMAIL_URL, EPHEMAIL_API_KEY
>>> inbox = mail.create_inbox(domain="localhost", ttl_seconds=600)
>>> code = mail.wait_for_code(inbox_id=inbox.id, timeout_ms=30000)
"""

from ._generated.input_types import MessageFilter
from .client import AsyncEphemail, Inbox, Message, Webhook
from .errors import EphemailError
from .sync import Ephemail

__all__ = ["AsyncEphemail", "Ephemail", "EphemailError", "Inbox", "Message", "MessageFilter", "Webhook"]
