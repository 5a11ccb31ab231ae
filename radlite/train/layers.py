"""Loading a base model to train, and the layer surgery of the recipes: keep only some layers (a
smaller cross-encoder), or train only the top ones."""

from __future__ import annotations

import logging
import re

from radlite.errors import ModelError, RadliteError
from radlite.signals import BIENCODER, COLBERT
from radlite.train.config import TrainConfig

logger = logging.getLogger(__name__)


def base_path(name: str) -> str:
    """The folder of base model `name` ('default': all-MiniLM-L6-v2)."""
    from radlite.models.resolve import DEFAULT, _locate, minilm_path

    return str(minilm_path() if name in (None, "", DEFAULT) else _locate(name))


def load_trainable(cfg: TrainConfig):
    """The base model of `cfg`, ready to train: PyLate ColBERT (a new 128-d projection), a SentenceTransformer,
    or a one-logit CrossEncoder.

    Raises:
        ModelError: the base cannot be loaded."""
    import torch

    path = base_path(cfg.base)
    torch.manual_seed(cfg.seed)  # a new projection or head starts from the same weights every run
    try:
        if cfg.kind == COLBERT:
            from pylate import models

            model = models.ColBERT(
                model_name_or_path=path, document_length=cfg.max_length, query_length=cfg.query_length
            )
        elif cfg.kind == BIENCODER:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(path)
            model.max_seq_length = cfg.max_length
        else:
            from sentence_transformers import CrossEncoder

            model = CrossEncoder(path, num_labels=1, max_length=cfg.max_length)
            if model.config.num_labels != 1:
                raise ModelError(f"base {cfg.base} has {model.config.num_labels} outputs; a one-logit model is needed")
            if cfg.keep_layers is not None:
                keep_bottom_layers(model, cfg.keep_layers)
    except RadliteError:
        raise
    except Exception as exc:
        raise ModelError(
            f"could not load base model {cfg.base!r} for {cfg.kind}: {type(exc).__name__}: {exc}"
        ) from None
    if cfg.train_layers is not None:
        freeze_lower_layers(model, cfg.train_layers)
    return model


_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


def keep_bottom_layers(model, keep) -> None:
    """Cut a BERT-style cross-encoder to fewer transformer layers (fewer FLOPs per pair): `keep` is a
    count (the bottom N) or the indices of the layers to keep, in order.

    all-MiniLM-L6-v2 was trained with mean pooling: its [CLS] state, which the classification head
    reads, is nearly the same for every input until the last layer, so a student of its bottom layers
    gives the head nothing to learn from; keeping the last layer on top (e.g. [0, 1, 5]) does (the
    measurement is in the cross-encoder's model card).
    """
    inner = model.model
    encoder = getattr(getattr(inner, inner.base_model_prefix, inner), "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ModelError("keep_layers needs a BERT-style model (encoder.layer)")
    if isinstance(keep, int):
        if not 1 <= keep <= len(layers):
            raise ModelError(f"keep_layers must be from 1 to {len(layers)}, got {keep}")
        keep = list(range(keep))
    if not keep or any(not 0 <= i < len(layers) for i in keep) or len(set(keep)) != len(keep):
        raise ModelError(f"keep_layers must name distinct layers from 0 to {len(layers) - 1}, got {keep}")
    import torch

    encoder.layer = torch.nn.ModuleList([layers[i] for i in keep])
    inner.config.num_hidden_layers = len(keep)


def freeze_lower_layers(model, train_layers: int) -> int:
    """Freeze the embeddings and all but the top `train_layers` transformer layers; returns trainable count."""
    names = [n for n, _ in model.named_parameters()]
    layers = {int(m.group(1)) for n in names if (m := _LAYER.search(n))}
    if not layers:
        raise ModelError("train_layers needs a BERT-style model (encoder.layer.N parameters)", param="train_layers")
    cutoff = max(layers) + 1 - train_layers
    trainable = 0
    for n, p in model.named_parameters():
        m = _LAYER.search(n)
        frozen = "embeddings." in n or (m is not None and int(m.group(1)) < cutoff)
        p.requires_grad = not frozen
        trainable += 0 if frozen else p.numel()
    logger.info("training the top %d layers: %d parameters", train_layers, trainable)
    return trainable


# -- datasets ---------------------------------------------------------------------------------


def load_saved(kind: str, folder: str):
    """A trained model folder of `kind`, loaded by its library."""
    if kind == COLBERT:
        from pylate import models

        return models.ColBERT(model_name_or_path=folder)
    if kind == BIENCODER:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(folder)
    from sentence_transformers import CrossEncoder

    return CrossEncoder(folder)
