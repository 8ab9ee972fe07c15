"""savings-bot: the application core (settings, services, rendering, the command line)."""

import os

# Opt in to PTB's time-delta values (RetryAfter.retry_after, durations) now rather than
# reading its deprecated int/float properties, which warn.
os.environ.setdefault("PTB_TIMEDELTA", "1")
