from datetime import datetime
from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import ContentLimit, WebhookEvent


class InboxFields(BaseModel):
    id: str
    address: str
    local_part: str = Field(alias="localPart")
    domain: str
    tags: list[str]
    created_at: datetime = Field(alias="createdAt")
    expires_at: datetime = Field(alias="expiresAt")
    latest_cursor: str = Field(alias="latestCursor")


class MessageFields(BaseModel):
    id: str
    cursor: str
    subject: Optional[str]
    from_: Optional["MessageFieldsFrom"] = Field(alias="from")
    to: list["MessageFieldsTo"]
    cc: list["MessageFieldsCc"]
    mail_from: Optional[str] = Field(alias="mailFrom")
    rcpt_to: list[str] = Field(alias="rcptTo")
    date: Optional[datetime]
    received_at: datetime = Field(alias="receivedAt")
    message_id: Optional[str] = Field(alias="messageId")
    in_reply_to: Optional[str] = Field(alias="inReplyTo")
    text: Optional[str]
    html: Optional[str]
    codes: list[str]
    links: list["MessageFieldsLinks"]
    attachments: list["MessageFieldsAttachments"]
    raw_url: str = Field(alias="rawUrl")
    size: int
    seen: bool
    tags: list[str]
    parse_error: Optional[str] = Field(alias="parseError")
    content_limits: list[ContentLimit] = Field(alias="contentLimits")


class MessageFieldsFrom(BaseModel):
    name: Optional[str]
    address: Optional[str]


class MessageFieldsTo(BaseModel):
    name: Optional[str]
    address: Optional[str]


class MessageFieldsCc(BaseModel):
    name: Optional[str]
    address: Optional[str]


class MessageFieldsLinks(BaseModel):
    href: str
    text: Optional[str]


class MessageFieldsAttachments(BaseModel):
    id: str
    filename: Optional[str]
    content_type: str = Field(alias="contentType")
    content_id: Optional[str] = Field(alias="contentId")
    inline: bool
    size: int
    url: str


class WebhookFields(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    inbox_id: Optional[str] = Field(alias="inboxId")
    created_at: datetime = Field(alias="createdAt")
    enabled: bool
    failing_since: Optional[datetime] = Field(alias="failingSince")
    disabled_reason: Optional[str] = Field(alias="disabledReason")


InboxFields.model_rebuild()
MessageFields.model_rebuild()
WebhookFields.model_rebuild()
