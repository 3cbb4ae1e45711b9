"""Attention over a lesion's slices (multiple-instance learning): a patient is one bag of every
slice its lesions span, with the context slices; the 2-D body embeds each slice, gated
attention pooling (Ilse, Tomczak and Welling 2018) weighs them into one patient embedding, and
one linear layer scores the patient. The loss is the patient's; the weights say which slices
decided (they sum to 1 over a patient's slices) and go into the explanation figures.

A bag is an array (slices, channels + 1, h, w): the last channel is 1 on a slice and 0 on the
padding that makes patients' bags one array. Mixup is off: it mixes two inputs pixel by pixel,
and two patients' slices at the same place in their bags are not the same anatomy.
"""

import numpy as np
import torch
from torch import nn

from egfrmet.training.model import body_features, body_options, fastai_head, input_body
from egfrmet.training.networks.base import Family


class GatedAttention(nn.Module):
    """Weights of a bag's embeddings h (bags, slices, features): softmax over the valid slices
    of w . (tanh(V h) * sigmoid(U h))."""

    def __init__(self, features, hidden):
        super().__init__()
        self.V, self.U, self.w = nn.Linear(features, hidden), nn.Linear(features, hidden), nn.Linear(hidden, 1)

    def forward(self, h, valid):
        scores = self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h))).squeeze(-1)
        return torch.softmax(scores.float().masked_fill(~valid, float("-inf")), dim=1)


class AttentionHead(nn.Module):
    """fastai's head (model.fastai_head) cut after its embedding: each slice's body features
    pooled and embedded, the embeddings weighed by gated attention, the weighted mean scored
    by the head's last dropout and linear layer (2 classes)."""

    def __init__(self, n_features, hidden, attention_hidden, dropout):
        super().__init__()
        head = fastai_head(n_features, hidden, dropout)
        self.embed, self.classify = head[:-2], head[-2:]  # the last two: dropout[1], linear
        self.attention = GatedAttention(hidden, attention_hidden)

    def forward(self, features, valid):
        embedded = self.embed(features)
        h = embedded.new_zeros((*valid.shape, embedded.shape[1]))
        h[valid] = embedded
        weights = self.attention(h, valid)
        pooled = (weights.unsqueeze(-1).to(h.dtype) * h).sum(1)
        return self.classify(pooled), weights


class AttentionMIL(nn.Sequential):
    """[body, head]: indexable as the 2-D networks are (freezing and fine-tuning take
    model[0] as the body); forward takes bags (bags, slices, channels + 1, h, w)."""

    def attend(self, bags):
        """(logits (bags, 2), weights (bags, slices), 0 on padding)."""
        valid = bags[:, :, -1, 0, 0] > 0.5
        slices = bags[:, :, :-1][valid]
        if self.is_channels_last:
            slices = slices.contiguous(memory_format=torch.channels_last)
        return self[1](self[0](slices), valid)

    @property
    def is_channels_last(self):
        weight = next(self[0].parameters())
        return weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)

    def forward(self, bags):
        return self.attend(bags)[0]


class Attention(Family):
    name = "attention"
    description = "one probability from a bag of every lesion slice, weighed by attention"
    mixes = False

    def instances(self, channels, layout, model_settings):
        valid = np.ones((len(channels), 1, *channels.shape[2:]), dtype=channels.dtype)
        return np.concatenate([channels, valid], axis=1)[None]

    def positions(self, layout):
        """A bag is drawn on its middle crop slice (in the figures of slice scores)."""
        return [len(layout["lesion_area"]) // 2]

    def join(self, instances):
        """Bags padded with empty slices (validity 0) to the longest."""
        longest = max(bag.shape[1] for bag in instances)
        return np.concatenate(
            [np.pad(bag, [(0, 0), (0, longest - bag.shape[1]), (0, 0), (0, 0), (0, 0)]) for bag in instances]
        )

    def build(self, model_settings):
        options = self.create_options(model_settings)
        body = input_body(**body_options(options))
        head = AttentionHead(
            body_features(body), options["head_hidden"], model_settings["attention"]["hidden"], options["dropout"]
        )
        return AttentionMIL(body, head)

    def batch_size(self, settings, model_settings):
        return model_settings["attention"]["bags_per_batch"]

    @torch.no_grad()
    def explanation(self, model, x, target):
        logits, weights = model.eval().attend(x)
        valid = x[0, :, -1, 0, 0] > 0.5
        n = int(valid.sum())
        probability = float(torch.softmax(logits.float(), 1)[0, 1])
        chosen = int(logits[0].argmax()) if target == "predicted" else 1
        return {
            "probability": np.full(n, probability),
            "target": np.full(n, chosen),
            "attention": weights[0, valid].float().numpy(),
            "targets": [chosen],
        }


FAMILY = Attention()
