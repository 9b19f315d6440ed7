from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.execution_page import ExecutionPage
from ...models.list_executions_status import ListExecutionsStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: ListExecutionsStatus | Unset = UNSET,
    pipeline: str | Unset = UNSET,
    project_id: UUID | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["pipeline"] = pipeline

    json_project_id: str | Unset = UNSET
    if not isinstance(project_id, Unset):
        json_project_id = str(project_id)
    params["project_id"] = json_project_id

    json_cursor: str | Unset = UNSET
    if not isinstance(cursor, Unset):
        json_cursor = str(cursor)
    params["cursor"] = json_cursor

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/executions",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | ExecutionPage | None:
    if response.status_code == 200:
        response_200 = ExecutionPage.from_dict(response.json())

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
) -> Response[ErrorBody | ExecutionPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    status: ListExecutionsStatus | Unset = UNSET,
    pipeline: str | Unset = UNSET,
    project_id: UUID | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[ErrorBody | ExecutionPage]:
    """Lists the caller's executions, newest first (an admin sees everyone's), each with its LLM
    use in all.

    Args:
        status (ListExecutionsStatus | Unset): An execution's status.
        pipeline (str | Unset):
        project_id (UUID | Unset):
        cursor (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExecutionPage]
    """

    kwargs = _get_kwargs(
        status=status,
        pipeline=pipeline,
        project_id=project_id,
        cursor=cursor,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    status: ListExecutionsStatus | Unset = UNSET,
    pipeline: str | Unset = UNSET,
    project_id: UUID | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> ErrorBody | ExecutionPage | None:
    """Lists the caller's executions, newest first (an admin sees everyone's), each with its LLM
    use in all.

    Args:
        status (ListExecutionsStatus | Unset): An execution's status.
        pipeline (str | Unset):
        project_id (UUID | Unset):
        cursor (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExecutionPage
    """

    return sync_detailed(
        client=client,
        status=status,
        pipeline=pipeline,
        project_id=project_id,
        cursor=cursor,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    status: ListExecutionsStatus | Unset = UNSET,
    pipeline: str | Unset = UNSET,
    project_id: UUID | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[ErrorBody | ExecutionPage]:
    """Lists the caller's executions, newest first (an admin sees everyone's), each with its LLM
    use in all.

    Args:
        status (ListExecutionsStatus | Unset): An execution's status.
        pipeline (str | Unset):
        project_id (UUID | Unset):
        cursor (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExecutionPage]
    """

    kwargs = _get_kwargs(
        status=status,
        pipeline=pipeline,
        project_id=project_id,
        cursor=cursor,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    status: ListExecutionsStatus | Unset = UNSET,
    pipeline: str | Unset = UNSET,
    project_id: UUID | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> ErrorBody | ExecutionPage | None:
    """Lists the caller's executions, newest first (an admin sees everyone's), each with its LLM
    use in all.

    Args:
        status (ListExecutionsStatus | Unset): An execution's status.
        pipeline (str | Unset):
        project_id (UUID | Unset):
        cursor (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExecutionPage
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            pipeline=pipeline,
            project_id=project_id,
            cursor=cursor,
            limit=limit,
        )
    ).parsed
