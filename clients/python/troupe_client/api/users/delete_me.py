from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.delete_account import DeleteAccount
from ...models.deletion_report import DeletionReport
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    *,
    body: DeleteAccount,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/api/v1/users/me",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DeletionReport | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DeletionReport.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

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
) -> Response[DeletionReport | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: DeleteAccount,
) -> Response[DeletionReport | ErrorBody]:
    """Deletes the caller's account and everything it owns: live executions are cancelled, then
    executions (steps, attempts, events, logs, artifacts), pipelines, projects, uploaded files,
    memories (records and vectors), research consent and pending observations, sessions, API
    keys and the execution workspaces go. The audit log keeps only the deletion, with the bare
    id. The last admin cannot be deleted.

    Args:
        body (DeleteAccount): The password that confirms deleting one's own account.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeletionReport | ErrorBody]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: DeleteAccount,
) -> DeletionReport | ErrorBody | None:
    """Deletes the caller's account and everything it owns: live executions are cancelled, then
    executions (steps, attempts, events, logs, artifacts), pipelines, projects, uploaded files,
    memories (records and vectors), research consent and pending observations, sessions, API
    keys and the execution workspaces go. The audit log keeps only the deletion, with the bare
    id. The last admin cannot be deleted.

    Args:
        body (DeleteAccount): The password that confirms deleting one's own account.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeletionReport | ErrorBody
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: DeleteAccount,
) -> Response[DeletionReport | ErrorBody]:
    """Deletes the caller's account and everything it owns: live executions are cancelled, then
    executions (steps, attempts, events, logs, artifacts), pipelines, projects, uploaded files,
    memories (records and vectors), research consent and pending observations, sessions, API
    keys and the execution workspaces go. The audit log keeps only the deletion, with the bare
    id. The last admin cannot be deleted.

    Args:
        body (DeleteAccount): The password that confirms deleting one's own account.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeletionReport | ErrorBody]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: DeleteAccount,
) -> DeletionReport | ErrorBody | None:
    """Deletes the caller's account and everything it owns: live executions are cancelled, then
    executions (steps, attempts, events, logs, artifacts), pipelines, projects, uploaded files,
    memories (records and vectors), research consent and pending observations, sessions, API
    keys and the execution workspaces go. The audit log keeps only the deletion, with the bare
    id. The last admin cannot be deleted.

    Args:
        body (DeleteAccount): The password that confirms deleting one's own account.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeletionReport | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
