from .async_base_client import AsyncBaseClient
from .base_model import BaseModel, Upload
from .client import Client
from .create_inbox import (
    CreateInbox,
    CreateInboxCreateInbox,
    CreateInboxCreateInboxInbox,
)
from .create_webhook import (
    CreateWebhook,
    CreateWebhookCreateWebhook,
    CreateWebhookCreateWebhookWebhook,
)
from .delete_inbox import DeleteInbox, DeleteInboxDeleteInbox
from .delete_message import DeleteMessage, DeleteMessageDeleteMessage
from .delete_webhook import DeleteWebhook, DeleteWebhookDeleteWebhook
from .domains import Domains, DomainsDomains
from .enums import (
    CallerKind,
    ContentLimit,
    CreateApiKeyStatus,
    CreateInboxStatus,
    CreateInboxTokenStatus,
    CreateTenantStatus,
    CreateWebhookStatus,
    DeleteStatus,
    DomainMode,
    ExtendInboxStatus,
    RevokeApiKeyStatus,
    Scope,
    WebhookChangeStatus,
    WebhookDeliveryState,
    WebhookEvent,
)
from .exceptions import (
    GraphQLClientError,
    GraphQLClientGraphQLError,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    GraphQLClientInvalidResponseError,
)
from .extend_inbox import (
    ExtendInbox,
    ExtendInboxExtendInbox,
    ExtendInboxExtendInboxInbox,
)
from .fragments import (
    InboxFields,
    MessageFields,
    MessageFieldsAttachments,
    MessageFieldsCc,
    MessageFieldsFrom,
    MessageFieldsLinks,
    MessageFieldsTo,
    WebhookFields,
)
from .inbox import Inbox, InboxInbox
from .input_types import (
    CreateApiKeyInput,
    CreateInboxInput,
    CreateWebhookInput,
    ExtendInboxInput,
    MessageFilter,
)
from .message import Message, MessageMessage
from .message_received import MessageReceived, MessageReceivedMessageReceived
from .messages import (
    Messages,
    MessagesMessages,
    MessagesMessagesNodes,
    MessagesMessagesPageInfo,
)
from .test_webhook import TestWebhook, TestWebhookTestWebhook
from .wait_for_message import WaitForMessage, WaitForMessageWaitForMessage
from .webhooks import Webhooks, WebhooksWebhooks

__all__ = [
    "AsyncBaseClient",
    "BaseModel",
    "CallerKind",
    "Client",
    "ContentLimit",
    "CreateApiKeyInput",
    "CreateApiKeyStatus",
    "CreateInbox",
    "CreateInboxCreateInbox",
    "CreateInboxCreateInboxInbox",
    "CreateInboxInput",
    "CreateInboxStatus",
    "CreateInboxTokenStatus",
    "CreateTenantStatus",
    "CreateWebhook",
    "CreateWebhookCreateWebhook",
    "CreateWebhookCreateWebhookWebhook",
    "CreateWebhookInput",
    "CreateWebhookStatus",
    "DeleteInbox",
    "DeleteInboxDeleteInbox",
    "DeleteMessage",
    "DeleteMessageDeleteMessage",
    "DeleteStatus",
    "DeleteWebhook",
    "DeleteWebhookDeleteWebhook",
    "DomainMode",
    "Domains",
    "DomainsDomains",
    "ExtendInbox",
    "ExtendInboxExtendInbox",
    "ExtendInboxExtendInboxInbox",
    "ExtendInboxInput",
    "ExtendInboxStatus",
    "GraphQLClientError",
    "GraphQLClientGraphQLError",
    "GraphQLClientGraphQLMultiError",
    "GraphQLClientHttpError",
    "GraphQLClientInvalidResponseError",
    "Inbox",
    "InboxFields",
    "InboxInbox",
    "Message",
    "MessageFields",
    "MessageFieldsAttachments",
    "MessageFieldsCc",
    "MessageFieldsFrom",
    "MessageFieldsLinks",
    "MessageFieldsTo",
    "MessageFilter",
    "MessageMessage",
    "MessageReceived",
    "MessageReceivedMessageReceived",
    "Messages",
    "MessagesMessages",
    "MessagesMessagesNodes",
    "MessagesMessagesPageInfo",
    "RevokeApiKeyStatus",
    "Scope",
    "TestWebhook",
    "TestWebhookTestWebhook",
    "Upload",
    "WaitForMessage",
    "WaitForMessageWaitForMessage",
    "WebhookChangeStatus",
    "WebhookDeliveryState",
    "WebhookEvent",
    "WebhookFields",
    "Webhooks",
    "WebhooksWebhooks",
]
