"""`interactions`: the one CLI. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from interaction_pipeline.cli import (
    analytics_cmd,
    clickhouse_cmd,
    counterfactual_cmd,
    demo_cmd,
    popularity_cmd,
    produce_cmd,
    schema_cmd,
    serve_cmd,
    simulate_cmd,
    stack_cmd,
    training_cmd,
)

app = typer.Typer(
    name="interactions",
    help="Capture search interactions; popularity boosts, history, analytics, training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for module in (
    stack_cmd,
    produce_cmd,
    schema_cmd,
    demo_cmd,
    serve_cmd,
    popularity_cmd,
    simulate_cmd,
    analytics_cmd,
    counterfactual_cmd,
    clickhouse_cmd,
    training_cmd,
):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
