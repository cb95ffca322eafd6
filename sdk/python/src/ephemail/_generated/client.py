from collections.abc import AsyncIterator
from typing import Any, Optional, Union

from .async_base_client import AsyncBaseClient
from .base_model import UNSET, UnsetType
from .create_inbox import CreateInbox
from .create_webhook import CreateWebhook
from .delete_inbox import DeleteInbox
from .delete_message import DeleteMessage
from .delete_webhook import DeleteWebhook
from .domains import Domains
from .extend_inbox import ExtendInbox
from .inbox import Inbox
from .input_types import (
    CreateInboxInput,
    CreateWebhookInput,
    ExtendInboxInput,
    MessageFilter,
)
from .message import Message
from .message_received import MessageReceived
from .messages import Messages
from .test_webhook import TestWebhook
from .wait_for_message import WaitForMessage
from .webhooks import Webhooks


def gql(q: str) -> str:
    return q


class Client(AsyncBaseClient):
    async def domains(self, **kwargs: Any) -> Domains:
        query = gql("""
            query Domains {
              domains {
                name
                mode
              }
            }
            """)
        variables: dict[str, object] = {}
        response = await self.execute(
            query=query, operation_name="Domains", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Domains.model_validate(data)

    async def inbox(
        self,
        id: Union[Optional[str], UnsetType] = UNSET,
        address: Union[Optional[str], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> Inbox:
        query = gql("""
            query Inbox($id: ID, $address: String) {
              inbox(id: $id, address: $address) {
                ...InboxFields
              }
            }

            fragment InboxFields on Inbox {
              id
              address
              localPart
              domain
              tags
              createdAt
              expiresAt
              latestCursor
            }
            """)
        variables: dict[str, object] = {"id": id, "address": address}
        response = await self.execute(
            query=query, operation_name="Inbox", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Inbox.model_validate(data)

    async def create_inbox(self, input: CreateInboxInput, **kwargs: Any) -> CreateInbox:
        query = gql("""
            mutation CreateInbox($input: CreateInboxInput!) {
              createInbox(input: $input) {
                status
                maxTtlSeconds
                token
                inbox {
                  ...InboxFields
                }
              }
            }

            fragment InboxFields on Inbox {
              id
              address
              localPart
              domain
              tags
              createdAt
              expiresAt
              latestCursor
            }
            """)
        variables: dict[str, object] = {"input": input}
        response = await self.execute(
            query=query, operation_name="CreateInbox", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return CreateInbox.model_validate(data)

    async def extend_inbox(self, input: ExtendInboxInput, **kwargs: Any) -> ExtendInbox:
        query = gql("""
            mutation ExtendInbox($input: ExtendInboxInput!) {
              extendInbox(input: $input) {
                status
                maxTtlSeconds
                token
                inbox {
                  ...InboxFields
                }
              }
            }

            fragment InboxFields on Inbox {
              id
              address
              localPart
              domain
              tags
              createdAt
              expiresAt
              latestCursor
            }
            """)
        variables: dict[str, object] = {"input": input}
        response = await self.execute(
            query=query, operation_name="ExtendInbox", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return ExtendInbox.model_validate(data)

    async def delete_inbox(self, id: str, **kwargs: Any) -> DeleteInbox:
        query = gql("""
            mutation DeleteInbox($id: ID!) {
              deleteInbox(id: $id) {
                status
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="DeleteInbox", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return DeleteInbox.model_validate(data)

    async def message(self, id: str, **kwargs: Any) -> Message:
        query = gql("""
            query Message($id: ID!) {
              message(id: $id) {
                ...MessageFields
              }
            }

            fragment MessageFields on Message {
              id
              cursor
              subject
              from {
                name
                address
              }
              to {
                name
                address
              }
              cc {
                name
                address
              }
              mailFrom
              rcptTo
              date
              receivedAt
              messageId
              inReplyTo
              text
              html
              codes
              links {
                href
                text
              }
              attachments {
                id
                filename
                contentType
                contentId
                inline
                size
                url
              }
              rawUrl
              size
              seen
              tags
              parseError
              contentLimits
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="Message", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Message.model_validate(data)

    async def messages(
        self,
        inbox_id: str,
        after: Union[Optional[str], UnsetType] = UNSET,
        first: Union[Optional[int], UnsetType] = UNSET,
        filter_: Union[Optional[MessageFilter], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> Messages:
        query = gql("""
            query Messages($inboxId: ID!, $after: String, $first: Int, $filter: MessageFilter) {
              messages(inboxId: $inboxId, after: $after, first: $first, filter: $filter) {
                totalCount
                pageInfo {
                  hasNextPage
                  endCursor
                }
                nodes {
                  ...MessageFields
                }
              }
            }

            fragment MessageFields on Message {
              id
              cursor
              subject
              from {
                name
                address
              }
              to {
                name
                address
              }
              cc {
                name
                address
              }
              mailFrom
              rcptTo
              date
              receivedAt
              messageId
              inReplyTo
              text
              html
              codes
              links {
                href
                text
              }
              attachments {
                id
                filename
                contentType
                contentId
                inline
                size
                url
              }
              rawUrl
              size
              seen
              tags
              parseError
              contentLimits
            }
            """)
        variables: dict[str, object] = {
            "inboxId": inbox_id,
            "after": after,
            "first": first,
            "filter": filter_,
        }
        response = await self.execute(
            query=query, operation_name="Messages", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Messages.model_validate(data)

    async def wait_for_message(
        self,
        inbox_id: Union[Optional[str], UnsetType] = UNSET,
        address: Union[Optional[str], UnsetType] = UNSET,
        after: Union[Optional[str], UnsetType] = UNSET,
        filter_: Union[Optional[MessageFilter], UnsetType] = UNSET,
        mark_seen: Union[Optional[bool], UnsetType] = UNSET,
        timeout_ms: Union[Optional[int], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> WaitForMessage:
        query = gql("""
            query WaitForMessage($inboxId: ID, $address: String, $after: String, $filter: MessageFilter, $markSeen: Boolean, $timeoutMs: Int) {
              waitForMessage(
                inboxId: $inboxId
                address: $address
                after: $after
                filter: $filter
                markSeen: $markSeen
                timeoutMs: $timeoutMs
              ) {
                ...MessageFields
              }
            }

            fragment MessageFields on Message {
              id
              cursor
              subject
              from {
                name
                address
              }
              to {
                name
                address
              }
              cc {
                name
                address
              }
              mailFrom
              rcptTo
              date
              receivedAt
              messageId
              inReplyTo
              text
              html
              codes
              links {
                href
                text
              }
              attachments {
                id
                filename
                contentType
                contentId
                inline
                size
                url
              }
              rawUrl
              size
              seen
              tags
              parseError
              contentLimits
            }
            """)
        variables: dict[str, object] = {
            "inboxId": inbox_id,
            "address": address,
            "after": after,
            "filter": filter_,
            "markSeen": mark_seen,
            "timeoutMs": timeout_ms,
        }
        response = await self.execute(
            query=query, operation_name="WaitForMessage", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return WaitForMessage.model_validate(data)

    async def delete_message(self, id: str, **kwargs: Any) -> DeleteMessage:
        query = gql("""
            mutation DeleteMessage($id: ID!) {
              deleteMessage(id: $id) {
                status
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="DeleteMessage", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return DeleteMessage.model_validate(data)

    async def message_received(
        self,
        inbox_id: Union[Optional[str], UnsetType] = UNSET,
        address: Union[Optional[str], UnsetType] = UNSET,
        after: Union[Optional[str], UnsetType] = UNSET,
        filter_: Union[Optional[MessageFilter], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> AsyncIterator[MessageReceived]:
        query = gql("""
            subscription MessageReceived($inboxId: ID, $address: String, $after: String, $filter: MessageFilter) {
              messageReceived(
                inboxId: $inboxId
                address: $address
                after: $after
                filter: $filter
              ) {
                ...MessageFields
              }
            }

            fragment MessageFields on Message {
              id
              cursor
              subject
              from {
                name
                address
              }
              to {
                name
                address
              }
              cc {
                name
                address
              }
              mailFrom
              rcptTo
              date
              receivedAt
              messageId
              inReplyTo
              text
              html
              codes
              links {
                href
                text
              }
              attachments {
                id
                filename
                contentType
                contentId
                inline
                size
                url
              }
              rawUrl
              size
              seen
              tags
              parseError
              contentLimits
            }
            """)
        variables: dict[str, object] = {
            "inboxId": inbox_id,
            "address": address,
            "after": after,
            "filter": filter_,
        }
        async for data in self.execute_ws(
            query=query, operation_name="MessageReceived", variables=variables, **kwargs
        ):
            yield MessageReceived.model_validate(data)

    async def create_webhook(
        self, input: CreateWebhookInput, **kwargs: Any
    ) -> CreateWebhook:
        query = gql("""
            mutation CreateWebhook($input: CreateWebhookInput!) {
              createWebhook(input: $input) {
                status
                secret
                webhook {
                  ...WebhookFields
                }
              }
            }

            fragment WebhookFields on Webhook {
              id
              url
              events
              inboxId
              createdAt
              enabled
              failingSince
              disabledReason
            }
            """)
        variables: dict[str, object] = {"input": input}
        response = await self.execute(
            query=query, operation_name="CreateWebhook", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return CreateWebhook.model_validate(data)

    async def webhooks(self, **kwargs: Any) -> Webhooks:
        query = gql("""
            query Webhooks {
              webhooks {
                ...WebhookFields
              }
            }

            fragment WebhookFields on Webhook {
              id
              url
              events
              inboxId
              createdAt
              enabled
              failingSince
              disabledReason
            }
            """)
        variables: dict[str, object] = {}
        response = await self.execute(
            query=query, operation_name="Webhooks", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Webhooks.model_validate(data)

    async def delete_webhook(self, id: str, **kwargs: Any) -> DeleteWebhook:
        query = gql("""
            mutation DeleteWebhook($id: ID!) {
              deleteWebhook(id: $id) {
                status
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="DeleteWebhook", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return DeleteWebhook.model_validate(data)

    async def test_webhook(self, id: str, **kwargs: Any) -> TestWebhook:
        query = gql("""
            mutation TestWebhook($id: ID!) {
              testWebhook(id: $id) {
                status
                deliveryId
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="TestWebhook", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return TestWebhook.model_validate(data)
