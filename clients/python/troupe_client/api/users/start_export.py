from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.export_view import ExportView
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/users/me/export",
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | ExportView | None:
    if response.status_code == 202:
        response_202 = ExportView.from_dict(response.json())

        return response_202

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
) -> Response[ErrorBody | ExportView]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | ExportView]:
    """Starts preparing one archive (`.tar.gz`) of everything the caller owns: account, projects,
    pipelines, executions with steps, attempts, events, logs and artifacts, uploaded files,
    memories (decrypted), consent history and usage, with a `manifest.json` (each entry's path,
    size and SHA-256). Poll `GET /users/me/exports/{id}` until `ready`; the archive is sealed at
    rest and can be downloaded for a day.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExportView]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> ErrorBody | ExportView | None:
    """Starts preparing one archive (`.tar.gz`) of everything the caller owns: account, projects,
    pipelines, executions with steps, attempts, events, logs and artifacts, uploaded files,
    memories (decrypted), consent history and usage, with a `manifest.json` (each entry's path,
    size and SHA-256). Poll `GET /users/me/exports/{id}` until `ready`; the archive is sealed at
    rest and can be downloaded for a day.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExportView
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | ExportView]:
    """Starts preparing one archive (`.tar.gz`) of everything the caller owns: account, projects,
    pipelines, executions with steps, attempts, events, logs and artifacts, uploaded files,
    memories (decrypted), consent history and usage, with a `manifest.json` (each entry's path,
    size and SHA-256). Poll `GET /users/me/exports/{id}` until `ready`; the archive is sealed at
    rest and can be downloaded for a day.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ExportView]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> ErrorBody | ExportView | None:
    """Starts preparing one archive (`.tar.gz`) of everything the caller owns: account, projects,
    pipelines, executions with steps, attempts, events, logs and artifacts, uploaded files,
    memories (decrypted), consent history and usage, with a `manifest.json` (each entry's path,
    size and SHA-256). Poll `GET /users/me/exports/{id}` until `ready`; the archive is sealed at
    rest and can be downloaded for a day.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ExportView
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
