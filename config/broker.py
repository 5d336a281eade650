"""The embedded broker: kombu's filesystem transport, made to stop polling once the worker stops.

With a transport that cannot be awaited (this one), Celery's consumer loop checks for a shutdown
request only between `drain_events(timeout=2.0)` polls and runs one more poll after it: a worker
told to stop (Ctrl-C in `make run`) kept polling for 4–6 s, past the 5 s the process manager
waits before it sends SIGKILL. Once the worker is shutting down this channel takes no further
message and ends the poll at once, as an empty poll ends at its timeout; the warm shutdown then
finishes the running tasks and exits. Unconsumed messages stay in the folder for the next start.
"""

from celery.worker import state
from kombu.transport import filesystem


def _stopping() -> bool:
    # Identity, as in celery.worker.state.maybe_shutdown: a warm shutdown sets should_stop = 0.
    return any(flag is not None and flag is not False for flag in (state.should_stop, state.should_terminate))


class Channel(filesystem.Channel):
    def _get(self, queue):
        if _stopping():
            raise TimeoutError("the worker is shutting down")
        return super()._get(queue)


class Transport(filesystem.Transport):
    Channel = Channel
