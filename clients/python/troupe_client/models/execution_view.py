from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.execution_status_name import ExecutionStatusName
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_info import ErrorInfo
    from ..models.execution_view_definition_type_0 import ExecutionViewDefinitionType0
    from ..models.usage_view import UsageView


T = TypeVar("T", bound="ExecutionView")


@_attrs_define
class ExecutionView:
    """An execution.

    Attributes:
        created_at (datetime.datetime):
        id (UUID):
        input_ (Any): The input it was started with (any JSON).
        owner (UUID):
        pipeline (str):
        pipeline_hash (str):
        status (ExecutionStatusName): An execution's status.
        updated_at (datetime.datetime):
        definition (ExecutionViewDefinitionType0 | None | Unset): The pinned pipeline definition, steps appended at run
            time included (on the execution
            detail only).
        error (ErrorInfo | None | Unset):
        finished_at (datetime.datetime | None | Unset):
        idempotency_key (None | str | Unset):
        project_id (None | Unset | UUID):
        started_at (datetime.datetime | None | Unset):
        usage (None | Unset | UsageView):
    """

    created_at: datetime.datetime
    id: UUID
    input_: Any
    owner: UUID
    pipeline: str
    pipeline_hash: str
    status: ExecutionStatusName
    updated_at: datetime.datetime
    definition: ExecutionViewDefinitionType0 | None | Unset = UNSET
    error: ErrorInfo | None | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    idempotency_key: None | str | Unset = UNSET
    project_id: None | Unset | UUID = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    usage: None | Unset | UsageView = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415
        from ..models.execution_view_definition_type_0 import ExecutionViewDefinitionType0  # noqa: PLC0415
        from ..models.usage_view import UsageView  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        id = str(self.id)

        input_ = self.input_

        owner = str(self.owner)

        pipeline = self.pipeline

        pipeline_hash = self.pipeline_hash

        status = self.status.value

        updated_at = self.updated_at.isoformat()

        definition: dict[str, Any] | None | Unset
        if isinstance(self.definition, Unset):
            definition = UNSET
        elif isinstance(self.definition, ExecutionViewDefinitionType0):
            definition = self.definition.to_dict()
        else:
            definition = self.definition

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorInfo):
            error = self.error.to_dict()
        else:
            error = self.error

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        idempotency_key: None | str | Unset
        if isinstance(self.idempotency_key, Unset):
            idempotency_key = UNSET
        else:
            idempotency_key = self.idempotency_key

        project_id: None | str | Unset
        if isinstance(self.project_id, Unset):
            project_id = UNSET
        elif isinstance(self.project_id, UUID):
            project_id = str(self.project_id)
        else:
            project_id = self.project_id

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        usage: dict[str, Any] | None | Unset
        if isinstance(self.usage, Unset):
            usage = UNSET
        elif isinstance(self.usage, UsageView):
            usage = self.usage.to_dict()
        else:
            usage = self.usage

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "input": input_,
                "owner": owner,
                "pipeline": pipeline,
                "pipeline_hash": pipeline_hash,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if definition is not UNSET:
            field_dict["definition"] = definition
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if idempotency_key is not UNSET:
            field_dict["idempotency_key"] = idempotency_key
        if project_id is not UNSET:
            field_dict["project_id"] = project_id
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if usage is not UNSET:
            field_dict["usage"] = usage

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415
        from ..models.execution_view_definition_type_0 import ExecutionViewDefinitionType0  # noqa: PLC0415
        from ..models.usage_view import UsageView  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        input_ = d.pop("input")

        owner = UUID(d.pop("owner"))

        pipeline = d.pop("pipeline")

        pipeline_hash = d.pop("pipeline_hash")

        status = ExecutionStatusName(d.pop("status"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_definition(data: object) -> ExecutionViewDefinitionType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                definition_type_0 = ExecutionViewDefinitionType0.from_dict(data)

                return definition_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExecutionViewDefinitionType0 | None | Unset, data)

        definition = _parse_definition(d.pop("definition", UNSET))

        def _parse_error(data: object) -> ErrorInfo | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_1 = ErrorInfo.from_dict(data)

                return error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorInfo | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_idempotency_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        idempotency_key = _parse_idempotency_key(d.pop("idempotency_key", UNSET))

        def _parse_project_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                project_id_type_0 = UUID(data)

                return project_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        project_id = _parse_project_id(d.pop("project_id", UNSET))

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        def _parse_usage(data: object) -> None | Unset | UsageView:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                usage_type_1 = UsageView.from_dict(data)

                return usage_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UsageView, data)

        usage = _parse_usage(d.pop("usage", UNSET))

        execution_view = cls(
            created_at=created_at,
            id=id,
            input_=input_,
            owner=owner,
            pipeline=pipeline,
            pipeline_hash=pipeline_hash,
            status=status,
            updated_at=updated_at,
            definition=definition,
            error=error,
            finished_at=finished_at,
            idempotency_key=idempotency_key,
            project_id=project_id,
            started_at=started_at,
            usage=usage,
        )

        execution_view.additional_properties = d
        return execution_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
