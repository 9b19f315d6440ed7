from enum import StrEnum


class ListExecutionsStatus(StrEnum):
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    CORRECTING = "correcting"
    FAILED = "failed"
    PLANNED = "planned"
    RUNNING = "running"
    VALIDATING = "validating"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
