"""Per-session streaming metrics in the app's Prometheus registry (``/metrics``).

Series are labelled by the session's id and removed when the session ends, so a long-running
server does not accumulate the label sets of every game ever played.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["SessionMetrics", "StreamMetrics"]

_MS_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16, 33, 50, 100, 250)


class StreamMetrics:
    """The metric families; one instance per app (a registry refuses a family registered twice)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["session"]
        self.frames = Counter("treazr_play_frames", "Video frames received from the session's worker",
                              label, registry=registry)
        self.late_frames = Counter("treazr_play_late_frames",
                                   "Frames that reached the web process more than one frame period late",
                                   label, registry=registry)
        self.fps = Gauge("treazr_play_fps", "Frames per second over the last second", label, registry=registry)
        self.viewers = Gauge("treazr_play_viewers", "Viewers connected to the session", label, registry=registry)
        self.bytes_sent = Counter("treazr_play_bytes_sent", "Bytes sent to viewers (video, audio, control)",
                                  label, registry=registry)
        self.dropped_frames = Counter("treazr_play_dropped_frames",
                                      "Frames not sent to a slow viewer (it skipped to the next IDR)",
                                      label, registry=registry)
        self.malformed = Counter("treazr_play_malformed_messages", "Client messages ignored as malformed",
                                 label, registry=registry)
        self.inputs = Counter("treazr_play_inputs", "Inputs applied (from a viewer holding the port)",
                              label, registry=registry)
        self.inputs_ignored = Counter("treazr_play_inputs_ignored",
                                      "Inputs not applied: duplicate, stale, or for a port the viewer does not hold",
                                      ["session", "reason"], registry=registry)
        self.input_gaps = Counter("treazr_play_input_gaps", "Input sequence numbers never received (gaps)",
                                  label, registry=registry)
        self.chat = Counter("treazr_play_chat_messages", "Chat messages delivered", label, registry=registry)
        self.encode_ms = Histogram("treazr_play_encode_ms", "Encode time per frame in the worker (ms)",
                                   label, registry=registry, buckets=_MS_BUCKETS)
        self.input_latency_ms = Histogram(
            "treazr_play_input_latency_ms",
            "From an input reaching the server to the first frame that reflects it leaving it (ms)",
            label, registry=registry, buckets=_MS_BUCKETS)
        self.client_input_latency_ms = Histogram(
            "treazr_play_client_input_latency_ms",
            "Input-to-frame latency the players measured: key press to decoded frame (ms)",
            label, registry=registry, buckets=_MS_BUCKETS)

    def for_session(self, session: str) -> SessionMetrics:
        return SessionMetrics(self, session)


class SessionMetrics:
    """The children of every family for one session (looked up once, not per frame)."""

    def __init__(self, families: StreamMetrics, session: str) -> None:
        self._families = families
        self.session = session
        self.frames = families.frames.labels(session)
        self.late_frames = families.late_frames.labels(session)
        self.fps = families.fps.labels(session)
        self.viewers = families.viewers.labels(session)
        self.bytes_sent = families.bytes_sent.labels(session)
        self.dropped_frames = families.dropped_frames.labels(session)
        self.malformed = families.malformed.labels(session)
        self.encode_ms = families.encode_ms.labels(session)
        self.inputs = families.inputs.labels(session)
        self.input_gaps = families.input_gaps.labels(session)
        self.chat = families.chat.labels(session)
        self.inputs_ignored = {reason: families.inputs_ignored.labels(session, reason)
                               for reason in ("duplicate", "stale", "port")}
        self.input_latency_ms = families.input_latency_ms.labels(session)
        self.client_input_latency_ms = families.client_input_latency_ms.labels(session)

    def remove(self) -> None:
        families = self._families
        for family in (families.frames, families.late_frames, families.fps, families.viewers, families.bytes_sent,
                       families.dropped_frames, families.malformed, families.encode_ms, families.input_latency_ms,
                       families.client_input_latency_ms, families.inputs, families.input_gaps, families.chat):
            try:
                family.remove(self.session)
            except KeyError:
                pass
        for reason in self.inputs_ignored:
            try:
                families.inputs_ignored.remove(self.session, reason)
            except KeyError:
                pass
