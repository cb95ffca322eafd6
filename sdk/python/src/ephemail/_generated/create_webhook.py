from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import CreateWebhookStatus
from .fragments import WebhookFields


class CreateWebhook(BaseModel):
    create_webhook: "CreateWebhookCreateWebhook" = Field(alias="createWebhook")


class CreateWebhookCreateWebhook(BaseModel):
    status: CreateWebhookStatus
    secret: Optional[str]
    webhook: Optional["CreateWebhookCreateWebhookWebhook"]


CreateWebhookCreateWebhookWebhook = WebhookFields
CreateWebhook.model_rebuild()
CreateWebhookCreateWebhook.model_rebuild()
