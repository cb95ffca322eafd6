from pydantic import Field

from .base_model import BaseModel
from .enums import DeleteStatus


class DeleteWebhook(BaseModel):
    delete_webhook: "DeleteWebhookDeleteWebhook" = Field(alias="deleteWebhook")


class DeleteWebhookDeleteWebhook(BaseModel):
    status: DeleteStatus


DeleteWebhook.model_rebuild()
