from enum import StrEnum


class AttemptStatusName(StrEnum):
    CANCELLED = "cancelled"
    CRASHED = "crashed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    TIMED_OUT = "timed_out"

    def __str__(self) -> str:
        return str(self.value)
