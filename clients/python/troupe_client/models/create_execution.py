from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.budget import Budget
    from ..models.pipeline_definition import PipelineDefinition


T = TypeVar("T", bound="CreateExecution")


@_attrs_define
class CreateExecution:
    """A new execution.

    Attributes:
        pipeline (PipelineDefinition | str): A pipeline given by name (the caller's own, else a built-in one) or defined
            inline.
        budget (Budget | None | Unset):
        input_ (Any | Unset): The execution's input (any JSON; default `{}`).
        project_id (None | Unset | UUID): One of the caller's projects.
    """

    pipeline: PipelineDefinition | str
    budget: Budget | None | Unset = UNSET
    input_: Any | Unset = UNSET
    project_id: None | Unset | UUID = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.budget import Budget  # noqa: PLC0415
        from ..models.pipeline_definition import PipelineDefinition  # noqa: PLC0415

        pipeline: dict[str, Any] | str
        if isinstance(self.pipeline, PipelineDefinition):
            pipeline = self.pipeline.to_dict()
        else:
            pipeline = self.pipeline

        budget: dict[str, Any] | None | Unset
        if isinstance(self.budget, Unset):
            budget = UNSET
        elif isinstance(self.budget, Budget):
            budget = self.budget.to_dict()
        else:
            budget = self.budget

        input_ = self.input_

        project_id: None | str | Unset
        if isinstance(self.project_id, Unset):
            project_id = UNSET
        elif isinstance(self.project_id, UUID):
            project_id = str(self.project_id)
        else:
            project_id = self.project_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "pipeline": pipeline,
            }
        )
        if budget is not UNSET:
            field_dict["budget"] = budget
        if input_ is not UNSET:
            field_dict["input"] = input_
        if project_id is not UNSET:
            field_dict["project_id"] = project_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.budget import Budget  # noqa: PLC0415
        from ..models.pipeline_definition import PipelineDefinition  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_pipeline(data: object) -> PipelineDefinition | str:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_pipeline_ref_type_1 = PipelineDefinition.from_dict(data)

                return componentsschemas_pipeline_ref_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(PipelineDefinition | str, data)

        pipeline = _parse_pipeline(d.pop("pipeline"))

        def _parse_budget(data: object) -> Budget | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                budget_type_1 = Budget.from_dict(data)

                return budget_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Budget | None | Unset, data)

        budget = _parse_budget(d.pop("budget", UNSET))

        input_ = d.pop("input", UNSET)

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

        create_execution = cls(
            pipeline=pipeline,
            budget=budget,
            input_=input_,
            project_id=project_id,
        )

        return create_execution
