from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.event_type_0 import EventType0
from ...models.event_type_1 import EventType1
from ...models.event_type_2 import EventType2
from ...models.event_type_3 import EventType3
from ...models.event_type_4 import EventType4
from ...models.event_type_5 import EventType5
from ...models.event_type_6 import EventType6
from ...models.event_type_7 import EventType7
from ...models.event_type_8 import EventType8
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: UUID,
    *,
    after_seq: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["after_seq"] = after_seq

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/executions/{id}/events".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> (
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
    | None
):
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in _response_200:

            def _parse_response_200_item(
                data: object,
            ) -> (
                EventType0
                | EventType1
                | EventType2
                | EventType3
                | EventType4
                | EventType5
                | EventType6
                | EventType7
                | EventType8
            ):
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_0 = EventType0.from_dict(data)

                    return componentsschemas_event_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_1 = EventType1.from_dict(data)

                    return componentsschemas_event_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_2 = EventType2.from_dict(data)

                    return componentsschemas_event_type_2
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_3 = EventType3.from_dict(data)

                    return componentsschemas_event_type_3
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_4 = EventType4.from_dict(data)

                    return componentsschemas_event_type_4
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_5 = EventType5.from_dict(data)

                    return componentsschemas_event_type_5
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_6 = EventType6.from_dict(data)

                    return componentsschemas_event_type_6
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_event_type_7 = EventType7.from_dict(data)

                    return componentsschemas_event_type_7
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_event_type_8 = EventType8.from_dict(data)

                return componentsschemas_event_type_8

            response_200_item = _parse_response_200_item(response_200_item_data)

            response_200.append(response_200_item)

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    after_seq: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
]:
    """Returns the events of an execution after `after_seq`, in order (the WebSocket's replay).

    Args:
        id (UUID):
        after_seq (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | list[EventType0 | EventType1 | EventType2 | EventType3 | EventType4 | EventType5 | EventType6 | EventType7 | EventType8]]
    """

    kwargs = _get_kwargs(
        id=id,
        after_seq=after_seq,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: UUID,
    *,
    client: AuthenticatedClient,
    after_seq: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> (
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
    | None
):
    """Returns the events of an execution after `after_seq`, in order (the WebSocket's replay).

    Args:
        id (UUID):
        after_seq (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | list[EventType0 | EventType1 | EventType2 | EventType3 | EventType4 | EventType5 | EventType6 | EventType7 | EventType8]
    """

    return sync_detailed(
        id=id,
        client=client,
        after_seq=after_seq,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    after_seq: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
]:
    """Returns the events of an execution after `after_seq`, in order (the WebSocket's replay).

    Args:
        id (UUID):
        after_seq (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | list[EventType0 | EventType1 | EventType2 | EventType3 | EventType4 | EventType5 | EventType6 | EventType7 | EventType8]]
    """

    kwargs = _get_kwargs(
        id=id,
        after_seq=after_seq,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: UUID,
    *,
    client: AuthenticatedClient,
    after_seq: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> (
    ErrorBody
    | list[
        EventType0
        | EventType1
        | EventType2
        | EventType3
        | EventType4
        | EventType5
        | EventType6
        | EventType7
        | EventType8
    ]
    | None
):
    """Returns the events of an execution after `after_seq`, in order (the WebSocket's replay).

    Args:
        id (UUID):
        after_seq (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | list[EventType0 | EventType1 | EventType2 | EventType3 | EventType4 | EventType5 | EventType6 | EventType7 | EventType8]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            after_seq=after_seq,
            limit=limit,
        )
    ).parsed
