"""Which officers are live on this node: one Stream per officer publishing here.

The publishing side changes it; everyone else asks it questions. Streams pulled from
other nodes (a cascade) are not in it: their officers are live elsewhere.
"""

from __future__ import annotations

from relay.signals import Presence
from relay.stream import Stream


class StreamDirectory:
    """The officer → stream map of this node, with the questions the node asks of it."""

    def __init__(self) -> None:
        self._streams: dict[str, Stream] = {}

    # -- changes (the publishing side only) -------------------------------------------

    def put(self, stream: Stream) -> None:
        """Make this the officer's stream here."""
        self._streams[stream.officer] = stream

    def pop(self, officer: str) -> Stream | None:
        """Forget the officer's stream; returns it."""
        return self._streams.pop(officer, None)

    # -- questions --------------------------------------------------------------------

    def get(self, officer: str) -> Stream | None:
        """The officer's stream, if the officer publishes to this node."""
        return self._streams.get(officer)

    def __contains__(self, officer: object) -> bool:
        return officer in self._streams

    def __len__(self) -> int:
        return len(self._streams)

    def officers(self) -> list[str]:
        """Every officer with a stream here."""
        return list(self._streams)

    def as_dict(self) -> dict[str, Stream]:
        """The map itself, read-only by convention (tests look inside the relay with it)."""
        return self._streams

    def presence(self) -> list[Presence]:
        """The current presence of every officer with a stream on this node."""
        return [presence_of(s, live=True) for s in self._streams.values()]

    def publishing(self) -> int:
        """Officers whose phone is connected now (not waiting out a reconnect)."""
        return sum(1 for s in self._streams.values() if s.publication is not None)

    def recording(self) -> int:
        """Live sessions whose media is being written."""
        return sum(1 for s in self._streams.values() if s.recording)

    def not_recording(self) -> int:
        """Live sessions that cannot write their media (disk full or failing)."""
        return sum(1 for s in self._streams.values() if not s.recording)

    def viewers(self) -> int:
        """Viewers attached to the streams of this node's officers."""
        return sum(len(s.viewers) for s in self._streams.values())


def presence_of(stream: Stream, live: bool) -> Presence:
    """What the command center is told about a stream's officer."""
    return Presence(stream.officer, live=live, state=stream.state, since=stream.started_at,
                    recording=stream.recording, session=stream.session_id)
