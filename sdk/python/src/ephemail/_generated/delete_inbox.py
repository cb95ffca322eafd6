from pydantic import Field

from .base_model import BaseModel
from .enums import DeleteStatus


class DeleteInbox(BaseModel):
    delete_inbox: "DeleteInboxDeleteInbox" = Field(alias="deleteInbox")


class DeleteInboxDeleteInbox(BaseModel):
    status: DeleteStatus


DeleteInbox.model_rebuild()
