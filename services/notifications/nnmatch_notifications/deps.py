"""What the notifications routes are given, typed: the adapters the bootstrap built, by
dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from nnmatch.publishing import EventPublisher
from nnmatch_notifications.contacts import ContactBook
from nnmatch_notifications.delivery_state import DeliveryStates
from nnmatch_notifications.invitation_desk import InvitationDesk
from nnmatch_notifications.sender import DeliveryScheduler
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_notifications.store import Inbox


@dataclass(frozen=True)
class NotificationsServices:
    """Everything the app holds, built once by the bootstrap (`app.state.services`): what the
    routes read, and the scheduler and HTTP client its start and stop hooks run and close."""

    settings: NotificationsSettings
    inbox: Inbox
    publisher: EventPublisher
    contact_book: ContactBook
    unsubscribe_key: bytes | None  # None: e-mail and unsubscribe links are off here
    scheduler: DeliveryScheduler
    http: httpx.AsyncClient
    delivery_states: DeliveryStates
    invitations: InvitationDesk


def get_services(request: Request) -> NotificationsServices:
    services: NotificationsServices = request.app.state.services
    return services


Services = Annotated[NotificationsServices, Depends(get_services)]


def get_inbox(services: Services) -> Inbox:
    return services.inbox


def get_publisher(services: Services) -> EventPublisher:
    return services.publisher


def get_contact_book(services: Services) -> ContactBook:
    return services.contact_book


def get_unsubscribe_key(services: Services) -> bytes | None:
    return services.unsubscribe_key


def get_delivery_states(services: Services) -> DeliveryStates:
    return services.delivery_states


InboxDep = Annotated[Inbox, Depends(get_inbox)]
DeliveryStatesDep = Annotated[DeliveryStates, Depends(get_delivery_states)]
PublisherDep = Annotated[EventPublisher, Depends(get_publisher)]
ContactBookDep = Annotated[ContactBook, Depends(get_contact_book)]
UnsubscribeKeyDep = Annotated[bytes | None, Depends(get_unsubscribe_key)]
