from datetime import datetime
from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import Scope, WebhookEvent


class CreateApiKeyInput(BaseModel):
    name: str = ""
    "A label to recognize the key by."
    scope: Scope
    tenant_id: str = Field(alias="tenantId")


class CreateInboxInput(BaseModel):
    domain: str
    "A domain ephemail serves."
    local_part: Optional[str] = Field(alias="localPart", default=None)
    "The part before `@`; random when omitted."
    tags: list[str] = Field(default_factory=lambda: [])
    "Labels to find the inbox by later."
    ttl_seconds: Optional[int] = Field(alias="ttlSeconds", default=None)
    "Lifetime in seconds; the server's default when omitted, at most its maximum."


class CreateWebhookInput(BaseModel):
    events: list[WebhookEvent]
    inbox_id: Optional[str] = Field(alias="inboxId", default=None)
    "Only this inbox's events; without it, every inbox of the tenant."
    url: str
    "An `http` or `https` URL; it must reach a public address unless the server runs with\n`--webhook-allow-private`. Redirects are not followed."


class ExtendInboxInput(BaseModel):
    id: str
    ttl_seconds: int = Field(alias="ttlSeconds")
    "The inbox expires this many seconds from now; at most the server's maximum TTL."


class MessageFilter(BaseModel):
    """Which messages to return; every criterion given must hold."""

    from_: Optional[str] = Field(alias="from", default=None)
    "Case-insensitive substring of the From: header (name or address)."
    has_attachments: Optional[bool] = Field(alias="hasAttachments", default=None)
    received_after: Optional[datetime] = Field(alias="receivedAfter", default=None)
    received_before: Optional[datetime] = Field(alias="receivedBefore", default=None)
    seen: Optional[bool] = None
    subject: Optional[str] = None
    "Case-insensitive substring of the subject."
    tag: Optional[str] = None
    "The plus-address tag: mail to `local+signup@domain` carries the tag `signup`."
    to: Optional[str] = None
    "Case-insensitive substring of To:, Cc: or the envelope recipients."
