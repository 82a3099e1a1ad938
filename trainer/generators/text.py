"""Text from entity vectors: a frozen causal LM conditioned on a soft prompt and the entity's facts.

The condition has two halves (in the spirit of prefix tuning, Li & Liang 2021, and
graph-to-text with soft prompts):

.. math::

    P = \\mathrm{reshape}(W \\, \\mathrm{LayerNorm}(v_e)) \\in \\mathbb{R}^{p \\times H}, \\qquad
    x = [P; \\mathrm{emb}(\\mathrm{prompt}(\\mathrm{name}_e, \\mathrm{facts}_e)); \\mathrm{emb}(y_{<t})]

where :math:`v_e` is the entity's vector from the KG model (the fused one for a multimodal
model), :math:`p` soft-prompt positions of the LM's width :math:`H`, and the prompt names
the entity, verbalises its own facts (:mod:`trainer.generators.context`) and shows, as
exemplars, the descriptions of the :math:`k` *training* entities whose vectors are closest
to :math:`v_e` (retrieval-augmented generation, Lewis et al. 2020; never the entity itself,
never a held-out entity), so the LM learns to edit and compose formulaic descriptions
("American actor", "city in Ohio, United States") from its neighbours and facts. Training
minimises the cross-entropy of the description :math:`y` only; the LM stays frozen except
for optional LoRA adapters (Hu et al. 2021, ``peft``) on its attention projections.

.. note:: A KG model trained with ``--modalities text`` has read each entity's description
   into its vector; a generator on top of it partly *reconstructs* the description. Held-out
   figures are therefore only a fair test of generation on a structure-only (or image-only)
   KG model; the benchmark uses one.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from trainer.generators.context import MAX_CHARS, MAX_FACTS
from trainer.precision import check_precision, compute_dtype

SYSTEM = "You write short encyclopedia descriptions."
# A short description never says the same three tokens twice; a small LM stuck in a loop
# ("American film production company, American film production company, ...") does.
NO_REPEAT_NGRAM = 3
PROMPTS = ("compact", "chat")


@dataclass
class TextGeneratorConfig:
    """How a text generator is built and trained; saved in its checkpoint.

    language_model: ``smollm2`` (offline default) or a local Hugging Face causal-LM folder.
    num_prefix: soft-prompt positions made from the entity vector.
    lora_rank: rank of LoRA adapters on the attention's q/v projections (0 = none: only the
        projection learns).
    lr, batch_size, epochs, max_seconds: optimisation (AdamW); the first cap reached stops it.
        The step size warms up over 10 steps, then decays (cosine) to a tenth of ``lr`` at
        the end of the run: of the epochs, or of ``max_seconds`` when that ends it first
        (:func:`lr_factor`).
    max_target_tokens: description tokens trained on (longer ones are cut), and the longest
        text ``generators eval`` asks for. None: chosen from the training descriptions
        (:func:`description_budget`), so a generator of two-word Wikidata descriptions and
        one of 60-word plot overviews each write what they learned; the resolved value is saved.
    max_facts / max_context_chars: the verbalised context's caps.
    neighbour_hint: retrieval through the vector on or off: show the LM the descriptions of the
        closest training entities (never the entity itself, never a held-out entity).
    exemplars: how many such descriptions (the k nearest training entities, closest first);
        0 with ``neighbour_hint`` is the first format's single "name: description" hint.
    max_exemplar_chars: each exemplar is cut to this many characters.
    prompt: ``compact`` (plain text, no chat template: about half the tokens, so twice the
        training examples per second; the adapters learn the format) or ``chat`` (the LM's
        chat template with a system line: what the untrained baselines are prompted with, and
        what generators trained before ``exemplars`` existed use).
    heldout: entities with a description kept out of training for evaluation (at most 10 %).
    seed: seeds the held-out split, the initialisation and the batch order.
    precision: what the frozen LM computes in (:mod:`trainer.precision`): ``auto`` is bfloat16
        where the device runs it fast (a CPU with AMX, a recent GPU), float32 elsewhere. The
        trained adapters and projection stay float32. On this project's 2-core AMX CPU a
        training step of 16 takes about a third of the float32 time.
    """

    language_model: str = "smollm2"
    num_prefix: int = 4
    lora_rank: int = 8
    lora_alpha: int = 16
    lr: float = 2e-3
    batch_size: int = 16
    epochs: int = 1
    max_seconds: float | None = None
    max_target_tokens: int | None = None
    max_facts: int = MAX_FACTS
    max_context_chars: int = MAX_CHARS
    neighbour_hint: bool = True
    exemplars: int = 4
    max_exemplar_chars: int = 80
    prompt: str = "compact"
    heldout: int = 200
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.prompt not in PROMPTS:
            raise ValueError(f"prompt must be one of {', '.join(PROMPTS)}, not {self.prompt!r}")
        if self.exemplars < 0:
            raise ValueError(f"exemplars must be 0 or more, not {self.exemplars}")
        check_precision(self.precision)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> TextGeneratorConfig:
        """The config a checkpoint recorded. Generators saved before exemplars existed lack
        ``exemplars`` and ``prompt``: they used the chat prompt and one neighbour hint."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise ValueError(f"text generator config has unknown fields {unknown}: it was written by a newer "
                             "kgstore; upgrade kgstore or train the generator again")
        values = dict(saved)
        if "prompt" not in values:
            values.update(prompt="chat", exemplars=0)
        return cls(**values)


@dataclass
class EntityText:
    """What the generator knows of one entity besides its vector."""

    key: str
    name: str
    context: str  # verbalised facts
    description: str | None = None  # the reference text (training target / evaluation reference)
    neighbour: str = ""  # first format: the closest training entity by vector as "name: description"
    # The descriptions of the closest training entities by vector, closest first (retrieval exemplars).
    exemplars: list[str] = field(default_factory=list)


def prompt_text(entity: EntityText) -> str:
    similar = f"\nSimilar entity: {entity.neighbour}" if entity.neighbour else ""
    if entity.exemplars:
        similar += "\nDescriptions of similar entities: " + "; ".join(entity.exemplars)
    return (f"Entity: {entity.name or 'unnamed'}\nFacts: {entity.context or 'none known'}{similar}\n"
            "Describe it in a few words.")


def chat_prompt(tokenizer: Any, entity: EntityText) -> str:
    """The prompt as the LM expects it: its chat template when it has one, plain text otherwise."""
    user = prompt_text(entity)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                                             add_generation_prompt=True, tokenize=False)
    return f"{SYSTEM}\n{user}\nDescription:"


def compact_prompt(entity: EntityText) -> str:
    """Plain text, exemplars first: what a trained decoder reads (no chat template, no instruction)."""
    lines = [f"Similar: {' | '.join(entity.exemplars)}"] if entity.exemplars else []
    if entity.neighbour:
        lines.append(f"Similar entity: {entity.neighbour}")
    lines += [f"Name: {entity.name or 'unnamed'}", f"Facts: {entity.context or 'none known'}", "Description:"]
    return "\n".join(lines)


def prompt_ids(tokenizer: Any, entity: EntityText, style: str) -> list[int]:
    """The prompt's token ids in ``style`` (``compact`` or ``chat``)."""
    text = compact_prompt(entity) if style == "compact" else chat_prompt(tokenizer, entity)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


TARGET_QUANTILE = 0.9
TARGET_TOKENS = (16, 128)  # the bounds of a chosen description budget


def description_budget(tokenizer: Any, descriptions: Sequence[str]) -> int:
    """Tokens enough for 90 % of ``descriptions`` (plus the end token), within 16-128: long
    enough that most texts are learned whole, short enough that a few essays do not set the
    cost of every step."""
    if not descriptions:
        return TARGET_TOKENS[0]
    encoded = tokenizer([" " + d.strip() for d in descriptions], add_special_tokens=False)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    wanted = int(math.ceil(float(np.quantile(lengths, TARGET_QUANTILE)))) + 1
    return max(TARGET_TOKENS[0], min(TARGET_TOKENS[1], wanted))


def target_ids(tokenizer: Any, description: str, style: str, *, max_tokens: int, end_token: int) -> list[int]:
    """The description's token ids as the LM continues the prompt, cut to ``max_tokens``, then the end token."""
    text = description.strip()
    if style == "compact" or not getattr(tokenizer, "chat_template", None):
        text = " " + text  # continues "Description:"
    return tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens] + [end_token]


def _end_token(tokenizer: Any) -> int:
    """The token a description ends with: the chat turn's end when there is one, else EOS."""
    for token in ("<|im_end|>", "<|eot_id|>"):
        ids = tokenizer.convert_tokens_to_ids(token)
        if isinstance(ids, int) and ids != tokenizer.unk_token_id:
            return ids
    return tokenizer.eos_token_id


def build_decoder(config: TextGeneratorConfig, vector_dim: int, *, language_model: tuple[Any, Any] | None = None):  # noqa: ANN201
    """``TextDecoder`` with its LM (loaded unless given as ``(model, tokenizer)``) and LoRA adapters,
    computing in the config's precision (the frozen weights are cast once, here)."""
    import torch

    from trainer.generators.language_model import load_language_model

    lm, tokenizer = language_model or load_language_model(config.language_model)
    dtype = compute_dtype(config.precision, config.device)
    lm.to(dtype)
    if not config.device.startswith("cuda"):
        # Measured on 2 CPU cores, batches of 16 x ~160 tokens: PyTorch's CPU flash-attention
        # backward took 2 of a step's 7 s; plain matmul attention is faster at these lengths.
        lm.config._attn_implementation = "eager"
    if config.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lm = get_peft_model(lm, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                                           target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(config.seed)
    decoder = TextDecoder(lm, tokenizer, vector_dim=vector_dim, num_prefix=config.num_prefix)
    decoder.prompt_style = config.prompt
    decoder.compute_dtype = dtype
    return decoder


def _decoder_class():  # noqa: ANN202 - torch is imported late, so the class is made on first use
    import torch
    from torch import nn

    class _TextDecoder(nn.Module):
        """Soft prompt from the entity vector + prompt tokens → the frozen (LoRA-adapted) LM."""

        def __init__(self, lm: Any, tokenizer: Any, *, vector_dim: int, num_prefix: int) -> None:
            super().__init__()
            self.lm, self.tokenizer, self.num_prefix = lm, tokenizer, num_prefix
            hidden = lm.get_input_embeddings().weight.shape[1]
            self.project = nn.Sequential(nn.LayerNorm(vector_dim), nn.Linear(vector_dim, num_prefix * hidden))
            # Start the soft prompt at the scale of the LM's own token embeddings.
            scale = float(lm.get_input_embeddings().weight.std())
            nn.init.normal_(self.project[1].weight, std=scale / math.sqrt(vector_dim))
            nn.init.zeros_(self.project[1].bias)
            self.end_token = _end_token(tokenizer)
            self.prompt_style = "chat"  # build_decoder sets the config's
            self.compute_dtype = torch.float32  # build_decoder sets the config's

        def _autocast(self) -> Any:
            device = self.project[1].weight.device.type
            return torch.autocast(device, dtype=torch.bfloat16, enabled=self.compute_dtype == torch.bfloat16)

        def _parts(self) -> tuple[Any, Any]:
            """The LM's transformer body and its output head (LoRA layers live inside the body)."""
            base = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
            return base.get_decoder(), base.get_output_embeddings()

        def _rows(self, vectors: torch.Tensor | None, tokens: list[list[int]]) -> list[torch.Tensor]:
            """Each row's input embeddings: soft prompt (when ``vectors``) then its tokens."""
            prefixes = self.prefix(vectors) if vectors is not None else None
            rows = []
            for i, ids in enumerate(tokens):
                embedded = self._embed(ids)
                rows.append(embedded if prefixes is None else torch.cat([prefixes[i].to(embedded.dtype), embedded]))
            return rows

        def prefix(self, vectors: torch.Tensor) -> torch.Tensor:
            return self.project(vectors).view(vectors.shape[0], self.num_prefix, -1)

        def trainable_state(self) -> dict[str, torch.Tensor]:
            names = {name for name, p in self.named_parameters() if p.requires_grad}
            return {k: v for k, v in self.state_dict().items() if k in names}

        def _embed(self, ids: list[int]) -> torch.Tensor:
            table = self.lm.get_input_embeddings()
            return table(torch.tensor(ids, dtype=torch.long, device=table.weight.device))

        def loss(self, vectors: torch.Tensor | None, prompts: list[list[int]],
                 targets: list[list[int]]) -> torch.Tensor:
            """Mean cross-entropy of the target tokens (right-padded batch).

            The vocabulary head runs on the target positions only: a description is a tenth of
            a row, and the head's logits over 49k tokens at every prompt position cost more
            than a fifth of the step."""
            with self._autocast():
                rows = self._rows(vectors, [prompt + target for prompt, target in zip(prompts, targets, strict=True)])
                offset = self.num_prefix if vectors is not None else 0
                labels = [[-100] * (offset + len(prompt)) + target for prompt, target in zip(prompts, targets,
                                                                                               strict=True)]
            width = max(len(label) for label in labels)
            hidden = rows[0].shape[1]
            embeds = torch.zeros(len(rows), width, hidden, device=rows[0].device, dtype=rows[0].dtype)
            mask = torch.zeros(len(rows), width, dtype=torch.long, device=rows[0].device)
            label_tensor = torch.full((len(rows), width), -100, dtype=torch.long, device=rows[0].device)
            for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
                embeds[i, : len(row)] = row
                mask[i, : len(row)] = 1
                label_tensor[i, : len(label)] = torch.tensor(label)
            body, head = self._parts()
            with self._autocast():
                states = body(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
                following = label_tensor[:, 1:]  # position t predicts token t + 1
                chosen = following != -100
                logits = head(states[:, :-1][chosen])
            return torch.nn.functional.cross_entropy(logits.float(), following[chosen])

        @torch.no_grad()
        def generate(self, vectors: torch.Tensor | None, prompts: list[list[int]], *, max_tokens: int,
                     temperature: float, seed: int | None, beams: int = 1) -> list[str]:
            """Left-padded batch generation; greedy when ``temperature`` is 0, beam search with ``beams`` > 1."""
            with self._autocast():
                rows = self._rows(vectors, prompts)
            width = max(len(row) for row in rows)
            hidden = rows[0].shape[1]
            embeds = torch.zeros(len(rows), width, hidden, device=rows[0].device, dtype=rows[0].dtype)
            mask = torch.zeros(len(rows), width, dtype=torch.long, device=rows[0].device)
            for i, row in enumerate(rows):
                embeds[i, width - len(row):] = row
                mask[i, width - len(row):] = 1
            if seed is not None:
                torch.manual_seed(seed)
            sampling = temperature > 0
            with self._autocast(), warnings.catch_warnings():
                # transformers warns that the n-gram rule skips the prompt: skipping it is the point.
                warnings.filterwarnings("ignore", message=".*no_repeat_ngram_size.*")
                # min_new_tokens: a description is never empty, even from a generator whose
                # likeliest first token is the end.
                out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_tokens,
                                       min_new_tokens=1,
                                       do_sample=sampling, temperature=temperature if sampling else None,
                                       top_p=0.95 if sampling else None, top_k=None,
                                       no_repeat_ngram_size=NO_REPEAT_NGRAM, num_beams=beams,
                                       eos_token_id=[self.end_token, self.tokenizer.eos_token_id],
                                       pad_token_id=self.tokenizer.pad_token_id)
            return [clean(self.tokenizer.decode(row, skip_special_tokens=True)) for row in out]

    return _TextDecoder


def TextDecoder(lm: Any, tokenizer: Any, *, vector_dim: int, num_prefix: int):  # noqa: ANN201, N802 - a class factory
    return _decoder_class()(lm, tokenizer, vector_dim=vector_dim, num_prefix=num_prefix)


def clean(text: str) -> str:
    """One line, no surrounding quotes or spaces."""
    return " ".join(text.split()).strip().strip('"').strip()


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0


def train_decoder(decoder: Any, entities: Sequence[EntityText], vectors: np.ndarray, config: TextGeneratorConfig, *,
                  progress: bool = True, on_step: Callable[[int, float], None] | None = None) -> TrainLog:
    """Fit the soft-prompt projection (and LoRA) on ``entities``' descriptions; ``vectors[i]`` is entity i's."""
    import torch
    from tqdm.auto import tqdm

    tokenizer = decoder.tokenizer
    prompts = [prompt_ids(tokenizer, e, decoder.prompt_style) for e in entities]
    if config.max_target_tokens is None:
        raise ValueError("config.max_target_tokens is None: resolve it with description_budget first "
                         "(train_text_generator does, and saves it)")
    targets = [target_ids(tokenizer, e.description or "", decoder.prompt_style, max_tokens=config.max_target_tokens,
                          end_token=decoder.end_token) for e in entities]
    lengths = np.array([len(p) + len(t) for p, t in zip(prompts, targets, strict=True)])
    trainable = [p for p in decoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(entities) / config.batch_size)
    total = steps_per_epoch * config.epochs
    log, started = TrainLog(), time.monotonic()

    def time_fraction() -> float:
        return (time.monotonic() - started) / config.max_seconds if config.max_seconds else 0.0

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, time_fraction()))
    rng = np.random.default_rng(config.seed)
    all_vectors = torch.as_tensor(vectors, dtype=torch.float32, device=config.device)
    decoder.train()
    bar = tqdm(total=total, desc="text generator", unit="step", disable=not progress)
    step, smoothed = 0, None
    try:
        for _ in range(config.epochs):
            for batch in _length_bucketed(rng, lengths, steps_per_epoch):
                loss = decoder.loss(all_vectors[batch], [prompts[i] for i in batch], [targets[i] for i in batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                value = loss.item()
                smoothed = value if smoothed is None else 0.9 * smoothed + 0.1 * value
                log.steps.append(step)
                log.losses.append(value)
                log.examples += len(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{smoothed:.3f}")
                if on_step is not None:
                    on_step(step, value)
                if config.max_seconds is not None and time.monotonic() - started > config.max_seconds:
                    return log
    finally:
        bar.close()
        decoder.eval()
        log.seconds = time.monotonic() - started
    return log


WARMUP_STEPS = 10
FINAL_LR = 0.1  # the step size at the end of a run, as a fraction of ``lr``


def lr_factor(step: int, total_steps: int, time_fraction: float = 0.0) -> float:
    """The step size of step ``step`` as a fraction of ``lr``: a linear warm-up, then a cosine
    decay to :data:`FINAL_LR`. The run's progress is the further along of its steps and its
    time budget (``time_fraction``: elapsed / max_seconds), so a run cut by its time cap still
    ends on small steps instead of stopping mid-stride."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    steps_done = (step + 1 - WARMUP_STEPS) / max(total_steps - WARMUP_STEPS, 1)
    progress = min(1.0, max(steps_done, time_fraction, 0.0))
    return warm * (FINAL_LR + (1 - FINAL_LR) * 0.5 * (1 + math.cos(math.pi * progress)))


def _length_bucketed(rng: np.random.Generator, lengths: np.ndarray, num_batches: int) -> list[np.ndarray]:
    """One epoch's batches: shuffled, then sorted by length within windows of 8 batches (less
    padding, so more examples per second), in shuffled order."""
    order = rng.permutation(len(lengths))
    window = max(1, 8 * math.ceil(len(lengths) / num_batches))
    order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                            for chunk in np.array_split(order, math.ceil(len(order) / window))])
    batches = np.array_split(order, num_batches)
    return [batches[i] for i in rng.permutation(len(batches))]


def generate_texts(decoder: Any, entities: Sequence[EntityText], vectors: np.ndarray | None, *, max_tokens: int = 48,
                   temperature: float = 0.0, seed: int | None = 0, batch_size: int = 16,
                   progress: bool = False, prompt: str | None = None, beams: int = 1) -> list[str]:
    """One text per entity; ``vectors=None`` prompts the LM with the context alone (no soft prompt).
    ``prompt`` is the prompt style (default: the decoder's; the untrained baselines use ``chat``).
    ``beams`` > 1: beam search, which keeps the likeliest whole text rather than the likeliest
    next token (FB15k-237's held-out descriptions: BLEU 0.314 with 4 beams, 0.291 greedy)."""
    if beams < 1:
        raise ValueError(f"beams must be 1 or more, not {beams}")
    import torch
    from tqdm.auto import tqdm

    tokenizer = decoder.tokenizer
    style = prompt or decoder.prompt_style
    device = next(decoder.parameters()).device
    texts: list[str] = []
    starts = range(0, len(entities), batch_size)
    for start in tqdm(starts, desc="generating", unit="batch", disable=not progress):
        chunk = entities[start: start + batch_size]
        prompts = [prompt_ids(tokenizer, e, style) for e in chunk]
        batch_vectors = None if vectors is None else torch.as_tensor(
            vectors[start: start + batch_size], dtype=torch.float32, device=device)
        # One seed per batch start, so a text depends on its seed and batch, not on earlier batches.
        batch_seed = None if seed is None else seed + start
        texts += decoder.generate(batch_vectors, prompts, max_tokens=max_tokens, temperature=temperature,
                                  seed=batch_seed, beams=beams)
    return texts


def context_only(decoder: Any) -> Any:
    """The same LM without the adapters: the ``context_only`` baseline prompts it with the facts alone."""
    lm = decoder.lm
    return lm.disable_adapter() if hasattr(lm, "disable_adapter") else _NullContext()


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
