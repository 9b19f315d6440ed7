from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.retry_def import RetryDef


T = TypeVar("T", bound="StepDef")


@_attrs_define
class StepDef:
    """One step of a pipeline: which agent runs, after what, and under which policy.

    Attributes:
        key (str): Unique key of the step within the pipeline: lowercase letters, digits, `_` and `-`.
        agent (str): The agent kind that runs the step.
        depends_on (list[str] | Unset): Keys of the steps that must finish first; their outputs reach this step's
            context.
        when (None | str | Unset): A JMESPath expression over `{"input": …, "steps": {"<key>": {"output": …}}}`; the
            step
            runs only when it is truthy, and is skipped otherwise.
        retry (None | RetryDef | Unset): How often and how patiently to retry a failed attempt.
        timeout (None | str | Unset): The longest one attempt may run, as a humantime duration such as `"30s"` (default
            5m).
        validate (list[str] | Unset): Validators to run on the step's output, by name.
        max_corrections (int | None | Unset): How many times a rejected output is sent back for correction (default 2).
        optional (bool | Unset): When true, the execution goes on (and can complete) if this step fails.
        on_failure (None | str | Unset): The step to run if this one fails for good (for example `recovery`).
        output_schema (Any | Unset): A JSON Schema the output must satisfy, used by the `json_schema` validator.
        params (Any | Unset): Free-form parameters handed to the agent.
        added_by (None | str | Unset): Set by the runtime on steps appended while the execution ran: the step that added
            it.
    """

    key: str
    agent: str
    depends_on: list[str] | Unset = UNSET
    when: None | str | Unset = UNSET
    retry: None | RetryDef | Unset = UNSET
    timeout: None | str | Unset = UNSET
    validate: list[str] | Unset = UNSET
    max_corrections: int | None | Unset = UNSET
    optional: bool | Unset = UNSET
    on_failure: None | str | Unset = UNSET
    output_schema: Any | Unset = UNSET
    params: Any | Unset = UNSET
    added_by: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.retry_def import RetryDef  # noqa: PLC0415

        key = self.key

        agent = self.agent

        depends_on: list[str] | Unset = UNSET
        if not isinstance(self.depends_on, Unset):
            depends_on = self.depends_on

        when: None | str | Unset
        if isinstance(self.when, Unset):
            when = UNSET
        else:
            when = self.when

        retry: dict[str, Any] | None | Unset
        if isinstance(self.retry, Unset):
            retry = UNSET
        elif isinstance(self.retry, RetryDef):
            retry = self.retry.to_dict()
        else:
            retry = self.retry

        timeout: None | str | Unset
        if isinstance(self.timeout, Unset):
            timeout = UNSET
        else:
            timeout = self.timeout

        validate: list[str] | Unset = UNSET
        if not isinstance(self.validate, Unset):
            validate = self.validate

        max_corrections: int | None | Unset
        if isinstance(self.max_corrections, Unset):
            max_corrections = UNSET
        else:
            max_corrections = self.max_corrections

        optional = self.optional

        on_failure: None | str | Unset
        if isinstance(self.on_failure, Unset):
            on_failure = UNSET
        else:
            on_failure = self.on_failure

        output_schema = self.output_schema

        params = self.params

        added_by: None | str | Unset
        if isinstance(self.added_by, Unset):
            added_by = UNSET
        else:
            added_by = self.added_by

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "key": key,
                "agent": agent,
            }
        )
        if depends_on is not UNSET:
            field_dict["depends_on"] = depends_on
        if when is not UNSET:
            field_dict["when"] = when
        if retry is not UNSET:
            field_dict["retry"] = retry
        if timeout is not UNSET:
            field_dict["timeout"] = timeout
        if validate is not UNSET:
            field_dict["validate"] = validate
        if max_corrections is not UNSET:
            field_dict["max_corrections"] = max_corrections
        if optional is not UNSET:
            field_dict["optional"] = optional
        if on_failure is not UNSET:
            field_dict["on_failure"] = on_failure
        if output_schema is not UNSET:
            field_dict["output_schema"] = output_schema
        if params is not UNSET:
            field_dict["params"] = params
        if added_by is not UNSET:
            field_dict["added_by"] = added_by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.retry_def import RetryDef  # noqa: PLC0415

        d = dict(src_dict)
        key = d.pop("key")

        agent = d.pop("agent")

        depends_on = cast(list[str], d.pop("depends_on", UNSET))

        def _parse_when(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        when = _parse_when(d.pop("when", UNSET))

        def _parse_retry(data: object) -> None | RetryDef | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                retry_type_0 = RetryDef.from_dict(data)

                return retry_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RetryDef | Unset, data)

        retry = _parse_retry(d.pop("retry", UNSET))

        def _parse_timeout(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        timeout = _parse_timeout(d.pop("timeout", UNSET))

        validate = cast(list[str], d.pop("validate", UNSET))

        def _parse_max_corrections(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_corrections = _parse_max_corrections(d.pop("max_corrections", UNSET))

        optional = d.pop("optional", UNSET)

        def _parse_on_failure(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        on_failure = _parse_on_failure(d.pop("on_failure", UNSET))

        output_schema = d.pop("output_schema", UNSET)

        params = d.pop("params", UNSET)

        def _parse_added_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        added_by = _parse_added_by(d.pop("added_by", UNSET))

        step_def = cls(
            key=key,
            agent=agent,
            depends_on=depends_on,
            when=when,
            retry=retry,
            timeout=timeout,
            validate=validate,
            max_corrections=max_corrections,
            optional=optional,
            on_failure=on_failure,
            output_schema=output_schema,
            params=params,
            added_by=added_by,
        )

        return step_def
