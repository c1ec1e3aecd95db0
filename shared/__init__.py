"""What Casetrail's services truly share: the event envelope, store/outbox/consumer plumbing,
settings and metrics helpers."""
import os

# psycopg picks its wait function when it is imported; under eventlet it must be the
# select-based one, or every query blocks the hub (see ../shared/stack-notes.md).
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")


import warnings  # noqa: E402

# eventlet announces its deprecation on import; nameko needs it. Keep it off operators' terminals.
warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")
