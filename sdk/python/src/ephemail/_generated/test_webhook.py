from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import WebhookChangeStatus


class TestWebhook(BaseModel):
    test_webhook: "TestWebhookTestWebhook" = Field(alias="testWebhook")


class TestWebhookTestWebhook(BaseModel):
    status: WebhookChangeStatus
    delivery_id: Optional[str] = Field(alias="deliveryId")


TestWebhook.model_rebuild()
