"""Passage encoding as a stream of batches, in this process or spread over a Ray cluster.

An *encoding* turns passage texts into each signal's vectors and yields them batch by batch as
`(passage ids, {signal: vectors})`, so a backend can store each batch as it comes (Qdrant) or
gather them (the local index). `LocalEncoding` runs the models here; `RayEncoding` runs them on
Ray Data: `map_batches` over an actor pool, each actor holding one copy of every model.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from radlite.errors import RadliteError
from radlite.signals import BIENCODER, COLBERT

logger = logging.getLogger(__name__)

Batch = tuple[np.ndarray, dict[str, Any]]  # passage ids, signal -> (n, d) array or list of (L_i, d) arrays


class Encoding(Protocol):
    signals: list[str]

    def stream(self, texts: Sequence[str], progress: bool = False) -> Iterator[Batch]: ...


class LocalEncoding:
    """The models of this process, `chunk` passages at a time (each chunk in the model's batches)."""

    def __init__(self, encoders: dict[str, Any], chunk: int = 2048):
        self.encoders, self.chunk = encoders, chunk
        self.signals = list(encoders)

    def stream(self, texts: Sequence[str], progress: bool = False) -> Iterator[Batch]:
        texts = list(texts)
        whole = len(texts) <= self.chunk  # one call: the models' own progress bars
        bar = None
        if progress and not whole:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encoding passages", unit="passage")
        for start in range(0, len(texts), self.chunk):
            part = texts[start : start + self.chunk]
            vectors = {s: enc.encode_passages(part, progress=progress and whole) for s, enc in self.encoders.items()}
            if bar is not None:
                bar.update(len(part))
            yield np.arange(start, start + len(part), dtype=np.int64), vectors
        if bar is not None:
            bar.close()


def encode_all(encoding: Encoding | None, texts: Sequence[str], progress: bool = False) -> dict[str, Any]:
    """Every passage's vectors per signal: in this process one call per model (each with its own
    progress bar), elsewhere gathered from the encoding's stream. {} when `encoding` is None."""
    if encoding is None:
        return {}
    if isinstance(encoding, LocalEncoding):
        out = {}
        for s, enc in encoding.encoders.items():
            logger.info("%s: encoding %d passages", s, len(texts))
            out[s] = enc.encode_passages(texts, progress=progress)
        return out
    return gather(encoding, texts, progress=progress)


def gather(encoding: Encoding, texts: Sequence[str], progress: bool = False) -> dict[str, Any]:
    """Every passage's vectors, in passage order (batches may arrive in any order)."""
    n = len(texts)
    out: dict[str, list] = {s: [None] * n for s in encoding.signals}
    for pids, vectors in encoding.stream(texts, progress=progress):
        for s, vecs in vectors.items():
            for pid, v in zip(pids.tolist(), vecs):
                out[s][pid] = v
    missing = [s for s, rows in out.items() if any(v is None for v in rows)]
    if missing:
        raise RadliteError(f"encoding lost passages of signal {missing[0]} (a worker failed?); nothing was written")
    return {s: (np.stack(rows).astype(np.float32) if s == BIENCODER else rows) for s, rows in out.items()}


class _EncodeActor:
    """One Ray actor: loads each model once, then encodes the batches it is handed."""

    def __init__(self, models: dict[str, str], batch_size: int, threads: int):
        import torch

        torch.set_num_threads(threads)
        from radlite.models.encoders import BiEncoder, ColbertEncoder

        kinds = {BIENCODER: BiEncoder, COLBERT: ColbertEncoder}
        self.encoders = {s: kinds[s](Path(p), batch_size=batch_size) for s, p in models.items()}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        out = {"pid": np.asarray(batch["pid"], dtype=np.int64)}
        for s, enc in self.encoders.items():
            vecs = enc.encode_passages(texts)
            if s == BIENCODER:
                out[s] = np.asarray(vecs, dtype=np.float32)
            else:  # ragged (tokens, 128) matrices travel as raw float32 bytes plus their width
                out[s] = np.array([np.ascontiguousarray(v, dtype=np.float32).tobytes() for v in vecs], dtype=object)
                out[s + "_dim"] = np.array([v.shape[1] for v in vecs], dtype=np.int64)
        return out


class RayEncoding:
    """Encode on Ray Data. `address=None` starts a local Ray instance on this machine (and stops it
    after); otherwise connects to a running cluster ("auto", "ray://host:10001", "host:6379").

    `actors` model replicas (default: the cluster's CPUs / `threads`), each with `threads` torch
    threads. On a cluster every node loads the models from these paths: they must exist on every
    node (a shared folder, or the same $RADLITE_HOME).
    """

    def __init__(
        self,
        models: dict[str, str | Path],
        address: str | None = None,
        actors: int | None = None,
        threads: int = 1,
        batch_size: int = 32,
        rows_per_task: int = 256,
    ):
        self.models = {s: str(p) for s, p in models.items()}
        self.signals = list(models)
        self.address, self.actors, self.threads = address, actors, threads
        self.batch_size, self.rows_per_task = batch_size, rows_per_task
        self.used_actors: int | None = None

    def stream(self, texts: Sequence[str], progress: bool = False) -> Iterator[Batch]:
        try:
            import ray
            import ray.data
        except ImportError:
            raise RadliteError(
                "encoding on Ray needs Ray Data: pip install 'ray[data]' (or install radlite with the [ray] extra)",
                param="ray",
            ) from None
        started = self._connect(ray)
        try:
            actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads)
            self.used_actors = actors
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = progress
            ds = ray.data.from_items(
                [{"pid": i, "text": t} for i, t in enumerate(texts)],
                override_num_blocks=max(1, -(-len(texts) // self.rows_per_task)),
            )
            encoded = ds.map_batches(
                _EncodeActor,
                batch_format="numpy",
                batch_size=self.rows_per_task,
                fn_constructor_kwargs={"models": self.models, "batch_size": self.batch_size, "threads": self.threads},
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=self.threads,
            )
            for batch in _ray_errors(encoded.iter_batches(batch_size=None, batch_format="numpy"), ray):
                vectors: dict[str, Any] = {}
                for s in self.signals:
                    if s == BIENCODER:
                        vectors[s] = np.asarray(batch[s], dtype=np.float32)
                    else:
                        vectors[s] = [
                            np.frombuffer(b, dtype=np.float32).reshape(-1, int(d))
                            for b, d in zip(batch[s], batch[s + "_dim"])
                        ]
                yield np.asarray(batch["pid"], dtype=np.int64), vectors
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Join the cluster or start a local instance; True when this call started Ray."""
        if ray.is_initialized():
            return False
        env = {
            k: os.environ[k] for k in ("HF_HUB_OFFLINE", "RADLITE_HOME", "TRANSFORMERS_VERBOSITY") if k in os.environ
        }
        env.update({"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(self.threads)})
        kwargs: dict[str, Any] = {
            "runtime_env": {"env_vars": env},
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if self.address and self.address != "auto":
            _check_reachable(self.address)  # Ray's own connect waits a minute, then aborts the process
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(include_dashboard=False, num_cpus=os.cpu_count(), **kwargs)
        except Exception as exc:  # connection refused, no cluster at that address, ...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise RadliteError(f"cannot start or join {where}: {type(exc).__name__}: {exc}") from None
        return True


def _ray_errors(batches, ray):
    """Ray's errors (a model folder missing on a node, an actor killed) as one clear line."""
    try:
        yield from batches
    except ray.exceptions.RayError as exc:
        root: BaseException = exc
        for _ in range(10):  # Ray wraps the user's exception (cause / __cause__) in its own
            nxt = getattr(root, "cause", None) or root.__cause__
            if nxt is None or nxt is root:
                break
            root = nxt
        if root is exc:  # no chained exception: the last "SomeError: message" line of Ray's text
            lines = [ln.strip() for ln in str(exc).splitlines() if re.match(r"^[\w.]+(Error|Exception): ", ln.strip())]
            text = lines[-1] if lines else str(exc).splitlines()[0]
        else:
            text = f"{type(root).__name__}: {root}"
        raise RadliteError(f"encoding on Ray failed: {text[:400]}") from None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds with a clear message when nothing listens at a Ray address."""
    import socket

    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        port_n = int(port)
    except ValueError:
        raise RadliteError(
            f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or 'auto'", param="ray"
        ) from None
    try:
        socket.create_connection((host or "127.0.0.1", port_n), timeout=timeout).close()
    except OSError as exc:
        raise RadliteError(
            f"cannot start or join the Ray cluster at {address}: nothing answers there ({exc})"
        ) from None
