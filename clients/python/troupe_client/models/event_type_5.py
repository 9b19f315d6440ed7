from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EventType5")


@_attrs_define
class EventType5:
    """An attempt called an LLM (one event per provider and model used by the attempt).

    Attributes:
        type_ (Literal['usage']):
        step (str): The step key.
        attempt (int): The attempt.
        provider (str): The provider.
        model (str): The model.
        prompt_tokens (int): Tokens of the prompts.
        completion_tokens (int): Tokens of the answers.
        cost_usd (float): What it cost, in US dollars (0 when no price is configured).
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
    """

    type_: Literal["usage"]
    step: str
    attempt: int
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    execution_id: UUID
    seq: int
    at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        step = self.step

        attempt = self.attempt

        provider = self.provider

        model = self.model

        prompt_tokens = self.prompt_tokens

        completion_tokens = self.completion_tokens

        cost_usd = self.cost_usd

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "step": step,
                "attempt": attempt,
                "provider": provider,
                "model": model,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost_usd,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["usage"], d.pop("type"))
        if type_ != "usage":
            raise ValueError(f"type must match const 'usage', got '{type_}'")

        step = d.pop("step")

        attempt = d.pop("attempt")

        provider = d.pop("provider")

        model = d.pop("model")

        prompt_tokens = d.pop("prompt_tokens")

        completion_tokens = d.pop("completion_tokens")

        cost_usd = d.pop("cost_usd")

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        event_type_5 = cls(
            type_=type_,
            step=step,
            attempt=attempt,
            provider=provider,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            execution_id=execution_id,
            seq=seq,
            at=at,
        )

        event_type_5.additional_properties = d
        return event_type_5

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
