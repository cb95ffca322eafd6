from pydantic import Field

from .base_model import BaseModel
from .enums import DeleteStatus


class DeleteMessage(BaseModel):
    delete_message: "DeleteMessageDeleteMessage" = Field(alias="deleteMessage")


class DeleteMessageDeleteMessage(BaseModel):
    status: DeleteStatus


DeleteMessage.model_rebuild()
