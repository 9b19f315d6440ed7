from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_execution import CreateExecution
from ...models.error_body import ErrorBody
from ...models.execution_view import ExecutionView
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: CreateExecution,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/executions",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | ExecutionView | None:
    if response.status_code == 200:
        response_200 = ExecutionView.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = ExecutionView.from_dict(response.json())

        return response_201

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

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

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
) -> Response[ErrorBody | ExecutionView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateExecution,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | ExecutionView]:
    """Starts an execution. It answers at once (`planned` or `running`); follow it over the
    WebSocket or `GET …/events`. With an `Idempotency-Key` header, repeating the request answers
    the first execution (200) instead of starting another.

    Args:
        idempotency_key (None | str | Unset):
        body (CreateExecution): A new execution.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExecutionView]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateExecution,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | ExecutionView | None:
    """Starts an execution. It answers at once (`planned` or `running`); follow it over the
    WebSocket or `GET …/events`. With an `Idempotency-Key` header, repeating the request answers
    the first execution (200) instead of starting another.

    Args:
        idempotency_key (None | str | Unset):
        body (CreateExecution): A new execution.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExecutionView
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateExecution,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | ExecutionView]:
    """Starts an execution. It answers at once (`planned` or `running`); follow it over the
    WebSocket or `GET …/events`. With an `Idempotency-Key` header, repeating the request answers
    the first execution (200) instead of starting another.

    Args:
        idempotency_key (None | str | Unset):
        body (CreateExecution): A new execution.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExecutionView]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateExecution,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | ExecutionView | None:
    """Starts an execution. It answers at once (`planned` or `running`); follow it over the
    WebSocket or `GET …/events`. With an `Idempotency-Key` header, repeating the request answers
    the first execution (200) instead of starting another.

    Args:
        idempotency_key (None | str | Unset):
        body (CreateExecution): A new execution.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExecutionView
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
