from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.budget_def import BudgetDef
    from ..models.step_def import StepDef


T = TypeVar("T", bound="PipelineDefinition")


@_attrs_define
class PipelineDefinition:
    """A pipeline definition as written: a named DAG of steps.

    Attributes:
        name (str): The pipeline's name, unique per owner (built-in templates use plain names).
        steps (list[StepDef]): The steps; order does not matter, `depends_on` decides it.
        description (None | str | Unset): What the pipeline does, for people.
        on_failure (None | str | Unset): The step to run when any step fails for good, unless the step names its own.
        max_dynamic_steps (int | None | Unset): The most steps that may be appended while the pipeline runs (default
            20).
        max_recoveries (int | None | Unset): How many times failure handlers may have steps re-run in one execution
            (default 2).
        budget (BudgetDef | None | Unset): Caps on LLM use per execution; crossing one stops the execution with
            `budget_exceeded`.
        input_schema (Any | Unset): A JSON Schema (draft 2020-12) the execution's input must satisfy: a request whose
            input
            does not is refused naming the field, and the web console builds its form from it.
    """

    name: str
    steps: list[StepDef]
    description: None | str | Unset = UNSET
    on_failure: None | str | Unset = UNSET
    max_dynamic_steps: int | None | Unset = UNSET
    max_recoveries: int | None | Unset = UNSET
    budget: BudgetDef | None | Unset = UNSET
    input_schema: Any | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.budget_def import BudgetDef  # noqa: PLC0415

        name = self.name

        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        on_failure: None | str | Unset
        if isinstance(self.on_failure, Unset):
            on_failure = UNSET
        else:
            on_failure = self.on_failure

        max_dynamic_steps: int | None | Unset
        if isinstance(self.max_dynamic_steps, Unset):
            max_dynamic_steps = UNSET
        else:
            max_dynamic_steps = self.max_dynamic_steps

        max_recoveries: int | None | Unset
        if isinstance(self.max_recoveries, Unset):
            max_recoveries = UNSET
        else:
            max_recoveries = self.max_recoveries

        budget: dict[str, Any] | None | Unset
        if isinstance(self.budget, Unset):
            budget = UNSET
        elif isinstance(self.budget, BudgetDef):
            budget = self.budget.to_dict()
        else:
            budget = self.budget

        input_schema = self.input_schema

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "steps": steps,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if on_failure is not UNSET:
            field_dict["on_failure"] = on_failure
        if max_dynamic_steps is not UNSET:
            field_dict["max_dynamic_steps"] = max_dynamic_steps
        if max_recoveries is not UNSET:
            field_dict["max_recoveries"] = max_recoveries
        if budget is not UNSET:
            field_dict["budget"] = budget
        if input_schema is not UNSET:
            field_dict["input_schema"] = input_schema

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.budget_def import BudgetDef  # noqa: PLC0415
        from ..models.step_def import StepDef  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in _steps:
            steps_item = StepDef.from_dict(steps_item_data)

            steps.append(steps_item)

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_on_failure(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        on_failure = _parse_on_failure(d.pop("on_failure", UNSET))

        def _parse_max_dynamic_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_dynamic_steps = _parse_max_dynamic_steps(d.pop("max_dynamic_steps", UNSET))

        def _parse_max_recoveries(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_recoveries = _parse_max_recoveries(d.pop("max_recoveries", UNSET))

        def _parse_budget(data: object) -> BudgetDef | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                budget_type_0 = BudgetDef.from_dict(data)

                return budget_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BudgetDef | None | Unset, data)

        budget = _parse_budget(d.pop("budget", UNSET))

        input_schema = d.pop("input_schema", UNSET)

        pipeline_definition = cls(
            name=name,
            steps=steps,
            description=description,
            on_failure=on_failure,
            max_dynamic_steps=max_dynamic_steps,
            max_recoveries=max_recoveries,
            budget=budget,
            input_schema=input_schema,
        )

        return pipeline_definition
