from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.decision_name import DecisionName
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.approvers_view import ApproversView


T = TypeVar("T", bound="ApprovalView")


@_attrs_define
class ApprovalView:
    """An approval an approval step asked for, and its decision once made.

    Attributes:
        approvers (ApproversView): Who may decide an approval.
        attempt (int): The step's attempt that asked.
        execution_id (UUID): The execution.
        prompt (str): What is to be approved.
        requested_at (datetime.datetime): When it was asked.
        step (str): The approval step.
        comment (None | str | Unset): The decider's comment.
        deadline (datetime.datetime | None | Unset): When it times out, if it does.
        decided_at (datetime.datetime | None | Unset): When.
        decided_by (None | Unset | UUID): Who decided (absent for a timeout).
        decision (DecisionName | None | Unset):
    """

    approvers: ApproversView
    attempt: int
    execution_id: UUID
    prompt: str
    requested_at: datetime.datetime
    step: str
    comment: None | str | Unset = UNSET
    deadline: datetime.datetime | None | Unset = UNSET
    decided_at: datetime.datetime | None | Unset = UNSET
    decided_by: None | Unset | UUID = UNSET
    decision: DecisionName | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        approvers = self.approvers.to_dict()

        attempt = self.attempt

        execution_id = str(self.execution_id)

        prompt = self.prompt

        requested_at = self.requested_at.isoformat()

        step = self.step

        comment: None | str | Unset
        if isinstance(self.comment, Unset):
            comment = UNSET
        else:
            comment = self.comment

        deadline: None | str | Unset
        if isinstance(self.deadline, Unset):
            deadline = UNSET
        elif isinstance(self.deadline, datetime.datetime):
            deadline = self.deadline.isoformat()
        else:
            deadline = self.deadline

        decided_at: None | str | Unset
        if isinstance(self.decided_at, Unset):
            decided_at = UNSET
        elif isinstance(self.decided_at, datetime.datetime):
            decided_at = self.decided_at.isoformat()
        else:
            decided_at = self.decided_at

        decided_by: None | str | Unset
        if isinstance(self.decided_by, Unset):
            decided_by = UNSET
        elif isinstance(self.decided_by, UUID):
            decided_by = str(self.decided_by)
        else:
            decided_by = self.decided_by

        decision: None | str | Unset
        if isinstance(self.decision, Unset):
            decision = UNSET
        elif isinstance(self.decision, DecisionName):
            decision = self.decision.value
        else:
            decision = self.decision

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "approvers": approvers,
                "attempt": attempt,
                "execution_id": execution_id,
                "prompt": prompt,
                "requested_at": requested_at,
                "step": step,
            }
        )
        if comment is not UNSET:
            field_dict["comment"] = comment
        if deadline is not UNSET:
            field_dict["deadline"] = deadline
        if decided_at is not UNSET:
            field_dict["decided_at"] = decided_at
        if decided_by is not UNSET:
            field_dict["decided_by"] = decided_by
        if decision is not UNSET:
            field_dict["decision"] = decision

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.approvers_view import ApproversView  # noqa: PLC0415

        d = dict(src_dict)
        approvers = ApproversView.from_dict(d.pop("approvers"))

        attempt = d.pop("attempt")

        execution_id = UUID(d.pop("execution_id"))

        prompt = d.pop("prompt")

        requested_at = datetime.datetime.fromisoformat(d.pop("requested_at"))

        step = d.pop("step")

        def _parse_comment(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        comment = _parse_comment(d.pop("comment", UNSET))

        def _parse_deadline(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                deadline_type_0 = datetime.datetime.fromisoformat(data)

                return deadline_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        deadline = _parse_deadline(d.pop("deadline", UNSET))

        def _parse_decided_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                decided_at_type_0 = datetime.datetime.fromisoformat(data)

                return decided_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        decided_at = _parse_decided_at(d.pop("decided_at", UNSET))

        def _parse_decided_by(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                decided_by_type_0 = UUID(data)

                return decided_by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        decided_by = _parse_decided_by(d.pop("decided_by", UNSET))

        def _parse_decision(data: object) -> DecisionName | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                decision_type_1 = DecisionName(data)

                return decision_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DecisionName | None | Unset, data)

        decision = _parse_decision(d.pop("decision", UNSET))

        approval_view = cls(
            approvers=approvers,
            attempt=attempt,
            execution_id=execution_id,
            prompt=prompt,
            requested_at=requested_at,
            step=step,
            comment=comment,
            deadline=deadline,
            decided_at=decided_at,
            decided_by=decided_by,
            decision=decision,
        )

        approval_view.additional_properties = d
        return approval_view

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
