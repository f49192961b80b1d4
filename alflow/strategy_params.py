"""Each strategy's parameters as a pydantic model: ``strategy.params`` is checked against it
when the config loads (an unknown key or a wrong type is a config error, not a failure after the
scoring pass). Light on purpose: config checks import no numpy, scikit-learn or FAISS.

A strategy whose model has a ``utility`` field ranks its candidates by that utility in the
scoring pass (``StrategySpec.with_params``); ``docs/strategies.md`` lists every parameter (a
unit test keeps it equal to these models).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo

Utility = Literal["least_confidence", "margin", "entropy"]


class Params(BaseModel):
    """No parameters: any key is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UtilityParams(Params):
    """The uncertainty utility the strategy ranks by."""

    utility: Utility = Field(
        "margin", description="the utility the candidates are pre-ranked and chosen by"
    )


TopFactor = Annotated[int, Field(ge=1, description="keep the top factor x B by utility first")]
Beta = Annotated[float, Field(ge=0.0, description="weight of density: utility x density^beta")]


class Typiclust(Params):
    neighbours: Annotated[
        int, Field(ge=1, description="neighbours a point's typicality is measured over")
    ] = 20


class InformationDensity(UtilityParams):
    beta: Beta = 1.0


class KmeansRoundRobin(UtilityParams):
    top_factor: TopFactor = 10


class MarginCoreset(UtilityParams):
    top_factor: TopFactor = 3


class ClusterMargin(Params):
    top_factor: TopFactor = 10
    n_clusters: Annotated[
        int | None, Field(ge=1, description="clusters of the k-means (B when unset)")
    ] = None


class MarginExplore(UtilityParams):
    explore: Annotated[
        float, Field(ge=0.0, le=1.0, description="share of the batch drawn uniformly")
    ] = 0.1
    explore_at_least: Annotated[
        int,
        Field(
            ge=0,
            description="uniform draws per batch at least, never past a fifth of the batch "
            "(none when explore is 0)",
        ),
    ] = 4


class StochasticPower(UtilityParams):
    power: Annotated[float, Field(ge=0.0, description="P proportional to utility^power")] = 4.0


class StochasticSoftmax(UtilityParams):
    temperature: Annotated[
        float, Field(gt=0.0, description="P proportional to exp(utility / temperature)")
    ] = 0.1


class DensityCoreset(UtilityParams):
    beta: Beta = 1.0
    top_factor: TopFactor = 3


EvalSize = Annotated[
    int, Field(ge=1, description="a seeded subsample of candidates the look-ahead is measured on")
]


class ExpectedErrorReduction(Params):
    max_candidates: Annotated[
        int, Field(ge=1, description="top candidates by margin that are looked ahead")
    ] = 100
    eval_size: EvalSize = 300
    loss: Literal["log", "zero_one"] = Field(
        "log", description="the loss whose expectation is minimised"
    )


class VarianceReduction(Params):
    eval_size: EvalSize = 1000
    reg: Annotated[
        float, Field(gt=0.0, description="prior precision (1/C of an L2 logistic regression)")
    ] = 1.0


STRATEGY_PARAMS: dict[str, type[Params]] = {
    "bald": Params,
    "class_quota": UtilityParams,
    "cluster_margin": ClusterMargin,
    "cluster_stratified": Params,
    "coreset": Params,
    "density_coreset": DensityCoreset,
    "egl": Params,
    "entropy": Params,
    "expected_error_reduction": ExpectedErrorReduction,
    "information_density": InformationDensity,
    "kmeans_round_robin": KmeansRoundRobin,
    "least_confidence": Params,
    "margin": Params,
    "margin_coreset": MarginCoreset,
    "margin_explore": MarginExplore,
    "qbc_consensus_entropy": Params,
    "qbc_kl": Params,
    "qbc_vote_entropy": Params,
    "random": Params,
    "stochastic_power": StochasticPower,
    "stochastic_softmax": StochasticSoftmax,
    "typicality": Params,
    "typiclust": Typiclust,
    "variance_reduction": VarianceReduction,
}
PORTFOLIO = "portfolio"


def known_strategy(name: str) -> str:
    """``name`` if a strategy is registered under it, else a ValueError naming the known ones."""
    if name not in STRATEGY_PARAMS:
        raise ValueError(
            f"unknown strategy {name!r}; known: {sorted(STRATEGY_PARAMS)} or {PORTFOLIO!r}"
        )
    return name


class Arm(Params):
    """A portfolio arm: a strategy and its parameters (a bare name means its defaults)."""

    name: str = Field(description="a registered strategy")
    params: dict[str, Any] = Field(default_factory=dict, description="that strategy's params")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return known_strategy(name)

    @field_validator("params")
    @classmethod
    def _checked(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return checked_params(params, info)


class Portfolio(Params):
    arms: Annotated[
        list[Arm], Field(min_length=2, description="2+ strategies (names, or name and params)")
    ]
    gamma: Annotated[float, Field(gt=0.0, le=1.0, description="EXP3's exploration rate")] = 0.2

    @field_validator("arms")
    @classmethod
    def _distinct(cls, arms: list[Arm]) -> list[Arm]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValueError("each strategy may be an arm once (the history is kept by name)")
        return arms

    def arm(self, name: str) -> Arm:
        """The arm of strategy ``name``."""
        return next(a for a in self.arms if a.name == name)


def params_model(name: str) -> type[Params]:
    """The parameter model of strategy ``name`` (or of the portfolio)."""
    return Portfolio if name == PORTFOLIO else STRATEGY_PARAMS[name]


def checked_params(params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """A ``params`` field validator: ``params`` checked by the model of the strategy ``name``
    beside them (nothing to check when that name was itself refused)."""
    if "name" in info.data:
        params_model(info.data["name"]).model_validate(params)
    return params


def _type(field: FieldInfo) -> str:
    """A parameter's type and bounds, as the docs show them."""
    ann = field.annotation
    if get_origin(ann) is Literal:
        text = " or ".join(f"`{v}`" for v in get_args(ann))
    else:
        name = ann.__name__ if isinstance(ann, type) else str(ann)
        text = f"`{name.replace(f'{__name__}.', '')}`"
    bounds = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "min length"}
    for m in field.metadata:
        text += "".join(f", {sign} {getattr(m, k)}" for k, sign in bounds.items() if hasattr(m, k))
    return text.replace("|", "or")


def params_table() -> str:
    """Every strategy's parameters as a markdown table (``docs/strategies.md`` holds it)."""
    rows = ["| strategy | parameter | type | default | what |", "|---|---|---|---|---|"]
    for name in [*sorted(STRATEGY_PARAMS), PORTFOLIO]:
        for key, field in params_model(name).model_fields.items():
            default = "required" if field.is_required() else f"`{field.get_default()!r}`"
            desc = field.description or ""
            rows.append(f"| `{name}` | `{key}` | {_type(field)} | {default} | {desc} |")
    return "\n".join(rows)
