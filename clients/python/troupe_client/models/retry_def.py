from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.backoff_def import BackoffDef


T = TypeVar("T", bound="RetryDef")


@_attrs_define
class RetryDef:
    """The retry policy of a step as written.

    Attributes:
        max_attempts (int | None | Unset): Total attempts including the first (default 3, at least 1).
        backoff (BackoffDef | None | Unset): Exponential backoff between attempts, with jitter.
    """

    max_attempts: int | None | Unset = UNSET
    backoff: BackoffDef | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.backoff_def import BackoffDef  # noqa: PLC0415

        max_attempts: int | None | Unset
        if isinstance(self.max_attempts, Unset):
            max_attempts = UNSET
        else:
            max_attempts = self.max_attempts

        backoff: dict[str, Any] | None | Unset
        if isinstance(self.backoff, Unset):
            backoff = UNSET
        elif isinstance(self.backoff, BackoffDef):
            backoff = self.backoff.to_dict()
        else:
            backoff = self.backoff

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if max_attempts is not UNSET:
            field_dict["max_attempts"] = max_attempts
        if backoff is not UNSET:
            field_dict["backoff"] = backoff

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.backoff_def import BackoffDef  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_max_attempts(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_attempts = _parse_max_attempts(d.pop("max_attempts", UNSET))

        def _parse_backoff(data: object) -> BackoffDef | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                backoff_type_0 = BackoffDef.from_dict(data)

                return backoff_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BackoffDef | None | Unset, data)

        backoff = _parse_backoff(d.pop("backoff", UNSET))

        retry_def = cls(
            max_attempts=max_attempts,
            backoff=backoff,
        )

        return retry_def
